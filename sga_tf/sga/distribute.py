"""tf.distribute for sga_tf (issue 14): the training step of both models under a strategy
(:mod:`shared_data.tfdist`: ``--strategy default|mirrored|multiworker``, ``--cpu_replicas N``).

``--batchsize`` is the **global** batch (as cpm_tf): each of R replicas gets ``batchsize / R`` crops of the
global batch a one-device run would see, so the recipe (lr, steps) does not change with the replica count.
The loss of Ballé et al. 2018 / Minnen et al. 2018 (``sga.train``) is a mean of per-example terms
(all crops have the same size), L = mean_i [λ·MSE_i·255² + bits_i/#px], so every replica minimises
Σ_{i∈replica} ℓ_i / global batch (:func:`shared_data.tfdist.average`, ``tf.nn.compute_average_loss``) and
the optimizer sums the replicas' gradients: a step of R replicas equals one replica on the same global batch
up to float32 summation order.

The training noise (ỹ = y + U(−½, ½), z̃ = z + U(−½, ½); bits-back: ε of z = m + e^{s/2}ε) is drawn per
example from a stateless generator keyed by (seed, stream, the example's global index), so it does not depend
on how the global batch is split. The one-device path (``--strategy default``) keeps the stateful draws of
the original and is unchanged.
"""

from __future__ import annotations

import sys

# TensorFlow is imported inside the functions: the scripts' parsers (and their one-line flag errors) stay fast


def add_arguments(parser) -> None:
    """``--strategy`` (:func:`shared_data.tfdist.add_strategy_argument`) and ``--cpu_replicas N``."""
    from shared_data import tfdist

    tfdist.add_strategy_argument(parser)
    parser.add_argument("--cpu_replicas", type=int, default=None, metavar="N",
                        help="(testing aid) with --strategy mirrored: split the CPU into N logical devices, one "
                             "replica each (how the tests check distributed training without GPUs)")


def check_arguments(strategy: str, cpu_replicas: int | None) -> None:
    """Bad ``--strategy`` / ``--cpu_replicas`` / ``$TF_CONFIG``: :class:`ConfigError` (one line), before
    TensorFlow runs anything and before any file is written."""
    from shared_data import tfdist
    from shared_data.errors import ConfigError

    tfdist.check_name(strategy)
    if cpu_replicas is not None and (strategy != "mirrored" or cpu_replicas < 1):
        raise ConfigError(f"--cpu_replicas {cpu_replicas}: needs --strategy mirrored and N >= 1")
    if strategy == "multiworker":
        tfdist.check_tf_config()


def strategy_from_args(args, script: str):
    """The strategy of the parsed ``--strategy`` / ``--cpu_replicas`` (None: the default, one device), or
    exit 1 with one line on stderr."""
    from shared_data import tfdist
    from shared_data.errors import ConfigError

    name, n = getattr(args, "strategy", "default"), getattr(args, "cpu_replicas", None)
    try:
        check_arguments(name, n)
        if name == "default":
            return None
        return tfdist.make_strategy(name, cpu_replicas=n)
    except ConfigError as e:
        print(f"{script}: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None


def is_default(strategy) -> bool:
    import tensorflow as tf

    return strategy is None or strategy is tf.distribute.get_strategy()


def example_noise(idx, shape, seed, stream: int, kind: str = "uniform"):
    """Per-example draws of ``shape`` for the global example indices ``idx`` (int64 [n]): U(−½, ½) or N(0, 1)
    from ``tf.random.stateless_*`` with seed (8·seed + stream, index) — independent of the replica split."""
    import tensorflow as tf

    base = tf.cast(seed, tf.int64) * 8 + stream

    def one(i):
        s = tf.stack([base, i])
        if kind == "uniform":
            return tf.random.stateless_uniform(shape, s, -0.5, 0.5)
        return tf.random.stateless_normal(shape, s)

    return tf.map_fn(one, idx, fn_output_signature=tf.float32)


def replica_loss(model, x, idx, lmbda: float, global_batch: int, seed: int):
    """This replica's share of the global training loss (module docstring): (loss, bpp, mse) each as
    Σ_{i∈replica} term_i / global batch, so their sums over the replicas are the global batch means."""
    import tensorflow as tf

    from shared_data import tfdist

    bits_back = getattr(model, "is_bits_back", False)
    y = model.analysis_transform(x)
    z = model.hyper_analysis_transform(y)  # bits-back: q(z|x)'s (m, s), fed the continuous y
    y_tilde = y + example_noise(idx, tf.shape(y)[1:], seed, 0)
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    if bits_back:  # as MBT2018BB.rd_terms, with the per-example ε
        m, _ = model.split_posterior(z)
        eps = example_noise(idx, tf.shape(m)[1:], seed, 2, "normal")
        y_bits, z_bits, back, _ = model.bits(y_tilde, z, eps=eps)
        z_bits = z_bits - back
        x_hat = model.synthesis_transform(y_tilde)[:, :h, :w, :]
    else:
        z_tilde = z + example_noise(idx, tf.shape(z)[1:], seed, 1)
        x_hat, y_bits, z_bits, _ = model.rd_terms(x, y_tilde, z_tilde)
    num_pixels = tf.cast(h * w, tf.float32)
    mse_i = tf.reduce_mean(tf.math.squared_difference(x, x_hat), axis=[1, 2, 3])
    bpp_i = (y_bits + z_bits) / num_pixels
    loss = tfdist.average(lmbda * mse_i * 255.0 ** 2 + bpp_i, global_batch)
    return loss, tfdist.average(bpp_i, global_batch), tfdist.average(mse_i, global_batch)


class DistributedStep:
    """One training step on a distributed global batch ``(x, idx)``: every replica computes its share of the
    loss and its gradients; ``optimizer.apply_gradients`` (Keras, replica context) sums them across replicas.
    Returns the global (loss, bpp, mse)."""

    def __init__(self, strategy, model, optimizer, lmbda: float, global_batch: int, seed: int):
        import tensorflow as tf

        self.strategy, self.model, self.optimizer = strategy, model, optimizer
        self.lmbda, self.global_batch, self.seed = float(lmbda), int(global_batch), int(seed)
        self.variables = model.trainable_variables
        self._step = tf.function(self._dist_step)
        self._flag = tf.function(self._dist_flag)

    def _replica_step(self, x, idx):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, bpp, mse = replica_loss(self.model, x, idx, self.lmbda, self.global_batch, self.seed)
        grads = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return loss, bpp, mse

    def _dist_step(self, x, idx):
        import tensorflow as tf

        out = self.strategy.run(self._replica_step, args=(x, idx))
        return tuple(self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in out)

    def __call__(self, batch):
        return self._step(*batch)

    def _dist_flag(self, f):
        import tensorflow as tf

        v = self.strategy.run(lambda: tf.cast(f, tf.int32))
        return self.strategy.reduce(tf.distribute.ReduceOp.MAX, v, axis=None)

    def any_worker(self, flag: bool) -> bool:
        """True if ``flag`` is true on any worker (a collective: every worker must call it at the same step;
        used for the time-based checkpoints, whose clocks differ between workers)."""
        import tensorflow as tf

        return bool(self._flag(tf.constant(bool(flag))))


def distribute_dataset(strategy, ds, global_batch: int, start_step: int):
    """``(x, idx)`` global batches (idx: each example's global index, step·B + i, which keys its noise),
    distributed over the replicas. Every worker runs the same (seeded) pipeline and keeps its replicas' share
    of each global batch (``AutoShardPolicy.DATA``), so the global batches are the one-device run's."""
    import tensorflow as tf

    b = tf.constant(global_batch, tf.int64)

    def with_index(k, x):
        return x, k * b + tf.range(tf.shape(x, out_type=tf.int64)[0])

    ds = ds.enumerate(start=start_step).map(with_index)
    opts = tf.data.Options()
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(ds.with_options(opts))


__all__ = ["add_arguments", "check_arguments", "strategy_from_args", "is_default", "example_noise", "replica_loss",
           "DistributedStep", "distribute_dataset"]
