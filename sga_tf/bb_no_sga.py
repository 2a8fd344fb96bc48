"""bb_no_sga.py — bits-back without SGA (A5): y = round(g_a(x)), q(z) fitted (Adam .005, 1000 its); real bits-back ANS coding. See sga/bitsback.py and README.md.

Usage: python bb_no_sga.py --num_filters N --checkpoint_dir D compress RUN_NAME IMAGES --results_dir R
(RUN_NAME: a bits-back model, mbt2018_bb-num_filters=N-lmbda=λ)
"""
import sys

from sga.cli import main

if __name__ == "__main__":
    sys.exit(main("bb_no_sga.py", "bb_no_sga"))
