"""map.py — MAP, continuous relaxation with early stopping (A1). See sga/inference.py and README.md.

Usage: python map.py --num_filters N --checkpoint_dir D compress RUN_NAME IMAGES --results_dir R
"""
import sys

from sga.cli import main

if __name__ == "__main__":
    sys.exit(main("map.py", "map"))
