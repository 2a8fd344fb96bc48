"""bb_plain.py — bits-back without iterative inference (A6): y = round(g_a(x)), q = N(h_a(y)); real bits-back ANS coding. See sga/bitsback.py and README.md.

Usage: python bb_plain.py --num_filters N --checkpoint_dir D compress RUN_NAME IMAGES --results_dir R
(RUN_NAME: a bits-back model, mbt2018_bb-num_filters=N-lmbda=λ)
Also: python bb_plain.py --num_filters N --checkpoint_dir D train ... (trains the bits-back model, as mbt2018_bb.py)
"""
import sys

from sga.cli import main

if __name__ == "__main__":
    sys.exit(main("bb_plain.py", "bb_plain"))
