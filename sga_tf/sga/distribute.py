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

        v = self.strategy.run(lambda: tf.cast(f, tf.int32))  # ReduceOp has SUM and MEAN only
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) > 0

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
           "split_rows", "make_distributed_inference",
           "DistributedStep", "distribute_dataset"]


# --- the batched SGA inference under a strategy -------------------------------------------------------------
def split_rows(n: int, replicas: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) rows of a batch of ``n`` for each replica (sizes differ by at most one)."""
    base, extra = divmod(n, replicas)
    out, a = [], 0
    for r in range(replicas):
        b = a + base + (1 if r < extra else 0)
        out.append((a, b))
        a = b
    return out


def make_distributed_inference(strategy, model, lmbda, method):
    """:class:`DistributedInference` (defined lazily: :mod:`sga.inference` imports TensorFlow)."""
    import tensorflow as tf

    from .inference import IterativeInference

    class DistributedInference(IterativeInference):
        """:meth:`IterativeInference.run` of a batch of same-size images split over the replicas of
        ``strategy``: the images' latents are independent, so each replica runs Adam on its own images'
        (y, z) with its share Σ_{i∈replica} ℓ_i / B of the batch objective (λ·MSE·255² and bits/#px are means
        over the B images), and the replicas only meet to sum the objective (logging, MAP/STE early stopping).
        Deterministic methods then give the one-device latents up to float32 rounding; the stochastic ones
        (SGA's Gumbel draws, U-noise, the bits-back z samples) draw other noise of the same law."""

        def __init__(self):
            super().__init__(model, lmbda, method)
            self.strategy = strategy
            self._total = None
            self._dstep = tf.function(self._dist_step)
            self._deval = tf.function(self._dist_eval)

        def objective(self, x, y, z, seed=None, num_pixels=None):
            loss, bpp, mse = super().objective(x, y, z, seed=seed, num_pixels=num_pixels)
            if self._total is None:
                return loss, bpp, mse
            share = tf.cast(tf.shape(y)[0], tf.float32) / float(self._total)
            return loss * share, bpp * share, mse * share

        def _dist_step(self, x, y, z, state, t, lr, temperature, seed, num_pixels):
            out = self.strategy.run(self._step_eager, args=(x, y, z, state, t, lr, temperature, seed, num_pixels))
            y, z, state, loss = out
            return y, z, state, self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)

        def _dist_eval(self, x, y, z, num_pixels):
            out = self.strategy.run(self._eval_eager, args=(x, y, z, num_pixels))
            return tuple(self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in out)

        def _split(self, t):
            rows = split_rows(int(t.shape[0]), self.strategy.num_replicas_in_sync)
            return self.strategy.experimental_distribute_values_from_function(
                lambda ctx: t[rows[ctx.replica_id_in_sync_group][0]:rows[ctx.replica_id_in_sync_group][1]])

        def run(self, x, progress=True, record=None, y_init=None, num_pixels=None, seed=None):
            import numpy as np
            from tqdm import tqdm

            m = self.method
            x = None if x is None else tf.convert_to_tensor(x, tf.float32)
            y0, z0 = self.init_latents(x, y_init)
            n = int(y0.shape[0])
            if (m.its <= 0 or (m.relaxation == "none" and m.optimize_y) or n < self.strategy.num_replicas_in_sync
                    or x is None):  # nothing to optimise, fewer images than replicas, or a q fit: one device
                return super().run(x, progress, record, y_init, num_pixels, seed)
            if num_pixels is None:
                num_pixels = int(x.shape[1]) * int(x.shape[2])
            npx = tf.constant(float(num_pixels), tf.float32)
            if seed is None:
                seed = int(np.random.randint(0, 2 ** 31 - 1))
            self._total = n
            xs, y, z = self._split(x), self._split(y0), self._split(z0)
            zeros = tuple(self._split(tf.zeros_like(v)) for v in (y0, y0, z0, z0))
            state, lr = zeros, tf.constant(m.lr, tf.float32)
            trajectory, best, prev = [], None, (y, z)
            if m.early_stop:
                best = float(self._deval(xs, y, z, npx)[0])
            bar = tqdm(range(m.its), desc=f"{m.name} ({m.table_id}) ×{self.strategy.num_replicas_in_sync}",
                       disable=not progress, leave=False)
            for t in bar:
                temp = tf.constant(m.temperature_at(t), tf.float32)
                y, z, state, loss = self._dstep(xs, y, z, state, tf.constant(t, tf.int64), lr, temp,
                                                tf.constant([seed, t], tf.int64), npx)
                if (t + 1) % 10 == 0 and record is not False:
                    rounded = self._deval(xs, y, z, npx)
                    rec = {"it": t + 1, "T": float(temp), "rd_loss": float(loss),
                           "rd_loss_after_rounding": float(rounded[0])}
                    trajectory.append(rec)
                    if m.early_stop:
                        if rec["rd_loss_after_rounding"] >= best:
                            y, z = prev
                            break
                        best, prev = rec["rd_loss_after_rounding"], (y, z)
            bar.close()
            self._total = None
            y, z = self.strategy.gather(y, axis=0), self.strategy.gather(z, axis=0)
            if not np.all(np.isfinite(y.numpy())) or not np.all(np.isfinite(z.numpy())):
                raise FloatingPointError(f"{m.name}: latents became non-finite during optimization")
            return y, z, trajectory

    return DistributedInference()
