"""sga.py — SGA, stochastic Gumbel annealing (M1). See sga/inference.py and README.md.

Usage: python sga.py --num_filters N --checkpoint_dir D compress RUN_NAME IMAGES --results_dir R
"""
import sys

from sga.cli import main

if __name__ == "__main__":
    sys.exit(main("sga.py", "sga"))
