"""Training loops shared by the sacred experiments and reproduce.py.

* :func:`train_lossy` — ``large_level_2_vae``: loss = β·distortion + (KL₁+KL₂)/(H·W·ln 2) (survey §2, lossy),
  distortion ``mse`` = MSE·255² or ``ms-ssim`` = (1 − MS-SSIM)·255; Adam; stops on NaN/inf.
* :func:`train_lossless` — ``resnet_vae``: loss = −log p(x|z) + β·KL_free-bits (per-channel free bits λ);
  Adamax; the lr is multiplied by ``learning_rate_drop_rate`` every ``drop_learning_rate_after_iter`` steps
  (up to 4 times, as at 50k…200k); EMA copies (decay 0.999, the original's update without warm-up) are
  what gets saved (the original swaps them in for coding: ``compression_performance.py``).

Both write TensorBoard summaries to ``log_dir`` and the model directory (config.json + weights.npz) to
``save_dir`` every ``log_freq`` steps and at the end, and show a tqdm progress bar. Both resume: the
training state (step, weights, optimizer; EMA and lr) goes to ``save_dir/train_state/`` at the same times
and a run started on a ``save_dir`` holding one continues from its step (:mod:`rec.resume`, the original's
CheckpointManager semantics).

Both take ``strategy`` (issue 14; :mod:`rec.distribute`): None — the one-device step above, unchanged — or a
``MirroredStrategy`` / ``MultiWorkerMirroredStrategy``. Then the batches are the **global** batch (split over the
replicas), model, optimizer and training state are built under ``strategy.scope()``, each replica's loss is its
share of the global-batch mean (the local mean × local/global batch, i.e. Σ over its examples / global batch as
``tf.nn.compute_average_loss``; the optimizer sums the replicas' gradients), the lossless free-bits KL uses the
per-channel KL mean over the *global* batch (all-reduced), and the noise is :func:`rec.distribute.replica_noise`
(seeded by ``noise_seed`` and the step). Only the chief writes the model directory and TensorBoard; every worker
takes part in the training-state save, a non-chief into its private folder, removed at the end.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from .codec import build, save_model
from .resume import TrainState


class TrainingDiverged(RuntimeError):
    pass


def lossy_loss(model, x, beta, loss_fn="mse", kl_weight=1.0, noise=None):
    """β·distortion + w·(KL₁+KL₂)/(H·W·ln 2) on x ∈ [0,1] (the original's ``train_lossy_model.py``);
    returns (loss, bpp, distortion, x̂, KL₁, KL₂)."""
    x_hat, kl1, kl2 = model(x, training=True, noise=noise)
    hw = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
    bpp = (kl1 + kl2) / (hw * math.log(2.0))
    if loss_fn == "mse":
        dist = tf.reduce_mean(tf.square(x - x_hat)) * 255.0 ** 2
    elif loss_fn == "ms-ssim":
        dist = (1.0 - tf.reduce_mean(tf.image.ssim_multiscale(x, tf.clip_by_value(x_hat, 0, 1), 1.0,
                                                              power_factors=(1.0,) * 5))) * 255.0
    else:
        raise NotImplementedError(f"loss_fn={loss_fn!r} is not part of this reproduction: the paper's "
                                  "lossy models are trained for 'mse' and 'ms-ssim' only")
    return beta * dist + kl_weight * bpp, bpp, dist, x_hat, kl1, kl2


def lossless_loss(model, pixels, beta=1.0, noise=None):
    """−mean log p(x|z) + β·KL_free-bits with the single-sample KL (the original's
    ``train_generative_model.py``); returns (loss, nll, kl, per-block KL maps, reconstruction, log p(x|z))."""
    recon, ll, kls = model(pixels, training=True, noise=noise)
    kl = model.free_bits_kl(kls)
    nll = -tf.reduce_mean(ll)
    return nll + beta * kl, nll, kl, kls, recon, ll


def ema_update(ema, variables, decay):
    """The original's ``update_ema_variables``: e ← e − (1 − d)·(e − v) after every step (no warm-up), with
    1 − d taken in float32 as there (0.00099998713 for d = 0.999)."""
    keep = 1.0 - tf.cast(decay, tf.float32)
    for e, v in zip(ema, variables):
        e.assign_sub(keep * (e - v))


def _check_finite(model, loss):
    if not np.isfinite(loss):
        raise TrainingDiverged(f"loss became {loss}")
    for v in model.trainable_variables:
        if not np.all(np.isfinite(v.numpy())):
            raise TrainingDiverged(f"weight {v.name} is not finite")


def train_lossy(config: dict, batches, iters: int, save_dir, log_dir=None, beta: float = 0.01,
                loss_fn: str = "mse", learning_rate: float = 1e-4, log_freq: int = 300,
                anneal_kl: bool = False, anneal_end: int = 60000, max_seconds: float | None = None,
                init_from=None, strategy=None, noise_seed: int = 0):
    """Train a ``large_level_2_vae`` on uint8 batches (optionally starting from the weights of the model
    directory ``init_from``); returns (model, history list of dicts). A new model gets
    ``layer_flavour="original"`` unless ``config`` names one; ``init_from`` keeps that model's flavour.
    ``strategy`` / ``noise_seed``: distributed training (module docstring)."""
    if loss_fn not in ("mse", "ms-ssim"):
        raise NotImplementedError(f"loss_fn={loss_fn!r} is not part of this reproduction: the paper's lossy "
                                  "models are trained for 'mse' and 'ms-ssim' only")
    par = _Dist(strategy, save_dir, max_seconds)
    with par.scope():
        if init_from:
            from .codec import load_model

            model = load_model(init_from).model
            config = {**config, "layer_flavour": model.layer_flavour}
        else:
            from .models import NEW_LOSSY_FLAVOUR

            config = {"layer_flavour": NEW_LOSSY_FLAVOUR, **config}  # new models: the original's layers
            model = build(config)
        opt = tf.keras.optimizers.Adam(learning_rate)
        beta_v = tf.Variable(float(beta), trainable=False)
        kl_w = tf.Variable(1.0, trainable=False)
        state = TrainState(save_dir, opt, model.trainable_variables, write_dir=par.write_dir, model=model)
        start = done = state.restore()  # the same command again continues the run (as the original)
    writer = tf.summary.create_file_writer(str(log_dir)) if log_dir and par.chief else None

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss, bpp, dist, x_hat, kl1, kl2 = lossy_loss(model, x, beta_v, loss_fn, kl_w)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        mse = tf.reduce_mean(tf.square(x - tf.clip_by_value(x_hat, 0.0, 1.0)))
        return loss, bpp, dist, -10.0 * tf.math.log(mse) / math.log(10.0), kl1, kl2

    def replica_step(x, it):
        """One replica's share of a distributed step: every returned value is its share of the global-batch
        mean (summed over the replicas by the caller)."""
        from .distribute import replica_noise

        ctx = tf.distribute.get_replica_context()
        share = tf.cast(tf.shape(x)[0], tf.float32) / par.global_batch
        noise = replica_noise(noise_seed, it, ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync)
        with tf.GradientTape() as tape:
            loss, bpp, d, x_hat, kl1, kl2 = lossy_loss(model, x, beta_v, loss_fn, kl_w, noise=noise)
            loss = loss * share
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))  # summed over the replicas
        mse = tf.reduce_mean(tf.square(x - tf.clip_by_value(x_hat, 0.0, 1.0)))
        return loss, bpp * share, d * share, mse * share, kl1 * share, kl2 * share

    @tf.function
    def dist_step(x, it):
        loss, bpp, d, mse, kl1, kl2 = par.sum(par.strategy.run(replica_step, args=(x, it)))
        return loss, bpp, d, -10.0 * tf.math.log(mse) / math.log(10.0), kl1, kl2

    history, t0 = [], time.time()
    bar = tqdm(range(start + 1, iters + 1), desc="train large_level_2_vae", mininterval=5, disable=not par.chief)
    for it in bar:
        if anneal_kl:
            kl_w.assign(min(1.0, it / anneal_end))
        if par.strategy is None:
            x = tf.constant(next(batches).astype(np.float32) / 255.0)
            out = step(x)
        else:
            out = dist_step(par.split(next(batches).astype(np.float32) / 255.0), tf.constant(it, tf.int64))
        loss, bpp, dist_v, psnr, kl1, kl2 = (float(v) for v in out)
        if it % 10 == 0 or it == 1:
            _check_finite(model, loss)
            bar.set_postfix(loss=f"{loss:.3f}", bpp=f"{bpp:.3f}", psnr=f"{psnr:.2f}")
        if writer and (it % 10 == 0 or it == 1):
            with writer.as_default(step=it):
                for k, v in dict(loss=loss, bpp=bpp, distortion=dist_v, psnr=psnr, kl1=kl1, kl2=kl2).items():
                    tf.summary.scalar(k, v)
        history.append(dict(iter=it, loss=loss, bpp=bpp, psnr=psnr))
        done = it
        timeout = max_seconds is not None and time.time() - t0 > max_seconds
        if it % log_freq == 0 or it == iters or timeout:
            if par.chief:
                save_model(model, config, save_dir)
            state.save(it)
        if timeout:
            break
    bar.close()
    if par.chief:
        save_model(model, config, save_dir)
    state.save(done)
    par.finish()
    return model, history


def train_lossless(config: dict, batches, iters: int, save_dir, log_dir=None, beta: float = 1.0,
                   learning_rate: float = 1e-3, drop_learning_rate_after_iter: int = 50000,
                   learning_rate_drop_rate: float = 0.3, ema_decay: float = 0.999,
                   log_freq: int = 1000, max_seconds: float | None = None, optimizer: str = "adamax",
                   anneal: bool = False, annealing_end: int = 0, strategy=None, noise_seed: int = 0):
    """Train a ``resnet_vae`` on uint8 batches; saves the EMA weights; returns (model, history).

    ``optimizer``: ``adamax`` (the paper's) or ``adam``. ``anneal``: the KL weight grows linearly from 0 to β
    over ``annealing_end`` steps (the original's option; the paper trains with β = 1 and no annealing).
    ``strategy`` / ``noise_seed``: distributed training (module docstring; the data-dependent init runs once
    on the whole first global batch, its prior samples from :func:`rec.distribute.replica_noise` at step 0)."""
    optimizers = {"adamax": tf.keras.optimizers.Adamax, "adam": tf.keras.optimizers.Adam}
    if optimizer not in optimizers:
        raise ValueError(f"optimizer={optimizer!r}: use one of {sorted(optimizers)}")
    if anneal and annealing_end < 1:
        raise ValueError("anneal=True needs annealing_end >= 1")
    par = _Dist(strategy, save_dir, max_seconds)
    with par.scope():
        model = build(config)
        # data-dependent init of the weight-norm convs on the first real batch
        first = next(batches)
        for layer in _wn_layers(model):
            layer.initialized.assign(0.0)
        if par.strategy is None:
            model(tf.constant(first))
        else:
            from .distribute import replica_noise

            model(tf.constant(first), noise=replica_noise(noise_seed, 0, 0, 1))
        lr = tf.Variable(learning_rate, trainable=False)
        opt = optimizers[optimizer](lr)
        kl_w = tf.Variable(0.0 if anneal else 1.0, trainable=False)
        ema = [tf.Variable(v, trainable=False) for v in model.trainable_variables]
        state = TrainState(save_dir, opt, model.trainable_variables, write_dir=par.write_dir, model=model,
                           ema=ema, learning_rate=lr)
        start = done = state.restore()  # the same command again continues the run (as the original)
    writer = tf.summary.create_file_writer(str(log_dir)) if log_dir and par.chief else None
    pixels_per_image = float(np.prod(first.shape[1:]))
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss, nll, kl, _, _, _ = lossless_loss(model, x, kl_w * beta)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        ema_update(ema, model.trainable_variables, ema_decay)
        return loss, nll, kl

    def replica_step(x, it):
        """One replica's share of a distributed step: Σ_local −log p / global batch + (β·KL_free-bits of the
        global batch) / R — every replica computes the same free-bits term from the all-reduced per-channel
        sums, and the all-reduce's gradient is an all-reduce, so the summed gradients are the one-device ones."""
        from .distribute import replica_noise

        ctx = tf.distribute.get_replica_context()
        reps = tf.cast(ctx.num_replicas_in_sync, tf.float32)

        def global_mean(t):  # mean over the global batch of per-example values t (b, ...)
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(t, 0)) / par.global_batch

        noise = replica_noise(noise_seed, it, ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync)
        with tf.GradientTape() as tape:
            recon, ll, kls = model(x, training=True, noise=noise)
            nll = tf.reduce_sum(-ll) / par.global_batch
            kl = model.free_bits_kl(kls, global_mean) / reps
            loss = nll + kl_w * beta * kl
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))  # summed over the replicas
        return loss, nll, kl

    @tf.function
    def dist_step(x, it):
        out = par.sum(par.strategy.run(replica_step, args=(x, it)))
        ema_update(ema, model.trainable_variables, ema_decay)  # cross-replica: every copy the same update
        return out

    history, t0 = [], time.time()
    bar = tqdm(range(start + 1, iters + 1), desc="train resnet_vae", mininterval=5, disable=not par.chief)
    for it in bar:
        if it % drop_learning_rate_after_iter == 0 and it <= 4 * drop_learning_rate_after_iter:
            lr.assign(lr * learning_rate_drop_rate)
        if anneal:
            kl_w.assign(min(1.0, it / annealing_end))
        if par.strategy is None:
            out = step(tf.constant(next(batches)))
        else:
            out = dist_step(par.split(next(batches)), tf.constant(it, tf.int64))
        loss, nll, kl = (float(v) for v in out)
        bpd = loss / (pixels_per_image * math.log(2))
        if it % 10 == 0 or it == 1:
            _check_finite(model, loss)
            bar.set_postfix(bpd=f"{bpd:.3f}")
        if writer and (it % 10 == 0 or it == 1):
            with writer.as_default(step=it):
                for k, v in dict(loss=loss, nll=nll, kl=kl, bpd=bpd, learning_rate=float(lr.numpy())).items():
                    tf.summary.scalar(k, v)
        history.append(dict(iter=it, loss=loss, bpd=bpd))
        done = it
        timeout = max_seconds is not None and time.time() - t0 > max_seconds
        if it % log_freq == 0 or it == iters or timeout:
            if par.chief:
                _save_ema(model, ema, config, save_dir)
            state.save(it)
        if timeout:
            break
    bar.close()
    if par.chief:
        _save_ema(model, ema, config, save_dir)
    state.save(done)
    par.finish()
    return model, history


class _Dist:
    """The distributed-training plumbing of one run: ``strategy`` None = the one-device step (no scope, the
    chief, no split)."""

    def __init__(self, strategy, save_dir, max_seconds=None):
        import contextlib

        from shared_data import tfdist
        from shared_data.errors import ConfigError

        self.strategy = strategy
        self.chief = strategy is None or tfdist.is_chief()
        self.write_dir = None if self.chief else tfdist.write_dir(save_dir)
        self.global_batch = None
        self._null = contextlib.nullcontext
        if strategy is not None and max_seconds and isinstance(
                strategy, tf.distribute.MultiWorkerMirroredStrategy):
            raise ConfigError("max_seconds with --strategy multiworker is not supported: the workers would stop "
                              "at different steps (use iters)")

    def scope(self):
        return self._null() if self.strategy is None else self.strategy.scope()

    def split(self, x):
        from .distribute import split_batch

        if self.global_batch is None:
            self.global_batch = float(x.shape[0])
        return split_batch(self.strategy, x)

    def sum(self, values):
        return [self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in values]

    def finish(self):
        if self.write_dir is not None:
            from shared_data import tfdist

            tfdist.discard_write_dir(self.write_dir)


def _wn_layers(model):
    from .models.layers import WNConv2D

    return [m for m in model.submodules if isinstance(m, WNConv2D)]


def _save_ema(model, ema, config, save_dir):
    live = [v.numpy() for v in model.trainable_variables]
    for v, e in zip(model.trainable_variables, ema):
        v.assign(e)
    save_model(model, config, Path(save_dir))
    for v, w in zip(model.trainable_variables, live):
        v.assign(w)
