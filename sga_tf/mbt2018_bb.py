"""mbt2018_bb.py — the bits-back mean-scale hyperprior (Gaussian q(z|x), flexible density prior); training only,
as the original. See sga/model_bb.py and README.md.

Usage: python mbt2018_bb.py --num_filters N --checkpoint_dir D train --train_glob G --batchsize 8 \
    --patchsize 256 --lambda λ --last_step S          (writes D/mbt2018_bb-num_filters=N-lmbda=λ)
"""
import sys

from sga.cli import main

if __name__ == "__main__":
    sys.exit(main("mbt2018_bb.py", "bb_model"))
