"""A tiny tf.distribute training (linear regression, SGD) for test_tfdist.py, run in a fresh process:

    python _tfdist_worker.py STRATEGY REPLICAS STEPS OUT_DIR      -> prints the final weights as JSON
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from shared_data import tfdist  # noqa: E402


def main(name: str, reps: int, steps: int, out: str) -> None:
    strategy = tfdist.make_strategy(name, cpu_replicas=reps if name == "mirrored" else None)
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8 * steps, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32) + 0.1).astype(np.float32)
    gb = 8  # the global batch, whatever the replica count
    ds = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(gb))
    with strategy.scope():
        w = tf.Variable(tf.zeros(4))
        b = tf.Variable(0.0)
        opt = tf.keras.optimizers.SGD(0.1)
        step = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def train_step(batch):
        def fn(xb, yb):
            with tf.GradientTape() as tape:
                per_example = tf.square(tf.linalg.matvec(xb, w) + b - yb)
                loss = tfdist.average(per_example, gb)
            grads = tape.gradient(loss, [w, b])
            opt.apply_gradients(zip(grads, [w, b]))
            return loss
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(fn, args=batch), axis=None)

    for batch in ds:
        train_step(batch)
        step.assign_add(1)
    ckpt = tf.train.Checkpoint(w=w, b=b, step=step)
    where = tfdist.write_dir(out)
    ckpt.write(os.path.join(where, "ckpt"))
    tfdist.discard_write_dir(where)
    print(json.dumps({"w": w.numpy().tolist(), "b": float(b.numpy()), "replicas": tfdist.replicas(strategy),
                      "chief": tfdist.is_chief()}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
