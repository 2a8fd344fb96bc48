"""Run in a fresh process by test_distribute.py (the CPU split must precede TensorFlow's start): the batched
iterative inference of 3 same-size crops on one device vs split over 2 logical-CPU replicas
(:func:`sga.distribute.make_distributed_inference`); prints one JSON line of max |Δ| per method."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    from shared_data import tfdist

    strategy = tfdist.make_strategy("mirrored", cpu_replicas=2)
    import numpy as np
    import tensorflow as tf
    from sga.checkpoints import load_model
    from sga.distribute import make_distributed_inference
    from sga.inference import METHODS, IterativeInference, with_overrides

    from shared_data.imageio import sample_images

    model, _ = load_model(ROOT / "zoo" / "mini" / "mbt2018-num_filters=32-lmbda=0.01")
    img = sample_images(("astronaut",))["astronaut"]
    x = tf.constant(np.stack([img[i * 64:i * 64 + 64, 100:164] for i in range(3)]).astype(np.float32) / 255.0)
    out = {"replicas": strategy.num_replicas_in_sync}
    for name in ("danneal", "map"):
        meth = with_overrides(METHODS[name], its=int(sys.argv[1]), compress_schedule=True)
        y1, z1, tr1 = IterativeInference(model, 0.01, meth).run(x, progress=False, seed=5)
        y2, z2, tr2 = make_distributed_inference(strategy, model, 0.01, meth).run(x, progress=False, seed=5)
        y0 = model.analysis_transform(x)
        out[name] = {"dy": float(tf.reduce_max(tf.abs(y1 - y2))), "dz": float(tf.reduce_max(tf.abs(z1 - z2))),
                     "moved": float(tf.reduce_max(tf.abs(y1 - y0))), "its": [len(tr1), len(tr2)],
                     "loss": [tr1[-1]["rd_loss"], tr2[-1]["rd_loss"]] if tr1 and tr2 else []}
    meth = with_overrides(METHODS["sga"], its=int(sys.argv[1]), compress_schedule=True)
    y2, z2, tr2 = make_distributed_inference(strategy, model, 0.01, meth).run(x, progress=False, seed=5)
    out["sga_shape"] = [list(y2.shape), list(z2.shape)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
