"""Tiny distributed trainings for test_distribute.py, in a fresh process (the CPU split precedes TF's start)::

    python tests/_dist_train.py compare MODEL STEPS OUT    # mirrored over 1 vs 2 logical CPUs, same global batch
    -> prints JSON {"max_abs_diff": ..., "max_update": ..., "loss1": [...], "loss2": [...]}

MODEL: lossy (large_level_2_vae, N=8, M=8, 64² crops) or lossless (resnet_vae, 2 blocks, 8/4 filters, 16² crops);
global batch 4.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS = {"lossy": (dict(model="large_level_2_vae", level_1_filters=8, level_2_filters=8), 64),
           "lossless": (dict(model="resnet_vae", num_res_blocks=2, deterministic_filters=8, stochastic_filters=4,
                             lamb=0.1, likelihood_log_scale_init=-4.0), 16)}
BATCH = 4


def batches(crop: int, seed: int = 1):
    """Seeded random crops of the scikit-image sample photos (the same global batches in every process)."""
    import numpy as np

    from shared_data.imageio import sample_images

    imgs = [v for _, v in sorted(sample_images(("coffee", "astronaut", "chelsea", "rocket")).items())]
    rs = np.random.RandomState(seed)
    while True:
        out = np.empty((BATCH, crop, crop, 3), np.uint8)
        for i in range(BATCH):
            im = imgs[rs.randint(len(imgs))]
            y, x = rs.randint(im.shape[0] - crop + 1), rs.randint(im.shape[1] - crop + 1)
            out[i] = im[y:y + crop, x:x + crop]
        yield out


def train(kind, strategy, steps, out, seed=0):
    import tensorflow as tf
    from rec.train import train_lossless, train_lossy

    config, crop = CONFIGS[kind]
    tf.keras.utils.set_random_seed(seed)  # python, numpy, TF seeds: the same initial weights in every run
    if kind == "lossy":
        model, hist = train_lossy(config, batches(crop), steps, out, beta=0.01, learning_rate=1e-3, log_freq=1000,
                                  strategy=strategy, noise_seed=seed)
    else:
        model, hist = train_lossless(config, batches(crop), steps, out, learning_rate=1e-3, log_freq=1000,
                                     strategy=strategy, noise_seed=seed, ema_decay=0.9)
    return hist


def weights(d):
    import numpy as np

    with np.load(Path(d) / "weights.npz") as w:
        return dict(w)


def compare(kind, steps, out):
    import numpy as np
    import tensorflow as tf
    from rec.distribute import make
    from rec.experiment import limit_threads

    from shared_data import tfdist

    tfdist.split_cpu(2)
    assert len(tf.config.list_logical_devices("CPU")) == 2  # initialised: a later split request cannot undo it
    limit_threads(1)
    out = Path(out)
    h0 = train(kind, make("mirrored", 1), 0, out / "init")  # the initial weights (0 steps)
    h1 = train(kind, make("mirrored", 1), steps, out / "one")
    h2 = train(kind, make("mirrored", 2), steps, out / "two")
    w0, w1, w2 = weights(out / "init"), weights(out / "one"), weights(out / "two")
    assert w1.keys() == w2.keys()
    diff = max(float(np.max(np.abs(w1[k] - w2[k]))) for k in w1)
    upd = max(float(np.max(np.abs(w1[k] - w0[k]))) for k in w1)
    print(json.dumps({"max_abs_diff": diff, "max_update": upd, "loss1": [h["loss"] for h in h1],
                      "loss2": [h["loss"] for h in h2], "h0": len(h0)}))


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        compare(sys.argv[2], int(sys.argv[3]), sys.argv[4])
