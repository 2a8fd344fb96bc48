"""mbt2018.py — Base hyperprior, amortized inference (M3); also train/decompress. See sga/inference.py and README.md.

Usage: python mbt2018.py --num_filters N --checkpoint_dir D compress RUN_NAME IMAGES --results_dir R
"""
import sys

from sga.cli import main

if __name__ == "__main__":
    sys.exit(main("mbt2018.py", "m3"))
