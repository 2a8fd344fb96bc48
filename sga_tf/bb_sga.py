"""bb_sga.py — SGA + bits-back (M2): SGA on y jointly with q(z), then q re-fitted to the rounded y; real bits-back ANS coding. See sga/bitsback.py and README.md.

Usage: python bb_sga.py --num_filters N --checkpoint_dir D compress RUN_NAME IMAGES --results_dir R
(RUN_NAME: a bits-back model, mbt2018_bb-num_filters=N-lmbda=λ)
"""
import sys

from sga.cli import main

if __name__ == "__main__":
    sys.exit(main("bb_sga.py", "bb_sga"))
