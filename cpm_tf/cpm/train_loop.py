"""Training (the original's ``train.py``): two Adam optimisers on one total loss, staircase LR decay,
TensorBoard summaries, resumable checkpoints, progress bar."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import tensorflow as tf
from tqdm import tqdm

from . import codec as codec_mod
from .config import Config, short_name
from .data import make_dataset
from .losses import distortion_loss, rate_losses, weight_regularization
from .model import CPM


def log_dir_name(ae_name: str, pc_name: str, now: datetime | None = None, restore: str | None = None,
                 temporary: bool = False) -> str:
    """``"{MMDD_HHMM} {ae_cfg} {pc_cfg}"`` with ``/``→``@`` and ``-``→``*`` (the original's logdir_helpers)."""
    def esc(s):
        return s.replace("/", "@").replace("-", "*")
    name = f"{(now or datetime.now()).strftime('%m%d_%H%M')} {esc(ae_name)} {esc(pc_name)}"
    if restore:
        name += f" RESTORE@{esc(restore)}"
    return name + ("_TMP" if temporary else "")


def lr_schedule(cfg: Config, itr_per_epoch: int):
    if cfg.lr_schedule == "FIXED":
        return cfg.lr_initial
    return tf.keras.optimizers.schedules.ExponentialDecay(
        cfg.lr_initial, decay_steps=max(1, itr_per_epoch * cfg.lr_schedule_decay_interval),
        decay_rate=cfg.lr_schedule_decay_rate, staircase=bool(getattr(cfg, "lr_schedule_decay_staircase", True)))


def make_optimizer(cfg: Config, itr_per_epoch: int):
    lr = lr_schedule(cfg, itr_per_epoch)
    if cfg.optimizer == "ADAM":
        return tf.keras.optimizers.Adam(lr)
    if cfg.optimizer == "MOMENTUM":
        return tf.keras.optimizers.SGD(lr, momentum=cfg.optimizer_momentum)
    return tf.keras.optimizers.SGD(lr)


class Trainer:
    def __init__(self, model: CPM, itr_per_epoch: int):
        self.model = model
        ae, pc = model.ae_config, model.pc_config
        self.opt_ae = make_optimizer(ae, itr_per_epoch)   # Adam_AE: all non-PC variables incl. centers
        self.opt_pc = make_optimizer(pc, itr_per_epoch)   # Adam_PC: probclass3d variables
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.ae_vars, self.pc_vars = model.ae_variables(), model.pc_variables()
        self.train_step = tf.function(self._train_step, reduce_retracing=True)
        self.test_step = tf.function(self._test_step, reduce_retracing=True)

    def _losses(self, x, training):
        m, cfg = self.model, self.model.ae_config
        enc = m.encode(x, training=training)
        q = enc.qbar if training else enc.qhard
        x_out = m.decode(q, training=training)
        # stop_gradient: the encoder receives rate gradients only through the heatmap (H_mask)
        bc = m.bitcost(tf.stop_gradient(q), enc.symbols)
        H_real, H_mask, H_soft, pc_loss = rate_losses(bc, enc.heatmap, cfg.beta,
                                                      cfg.H_target if cfg.H_target is not None else 0.0)
        d_loss, msssim = distortion_loss(x, x_out, cfg)
        reg = weight_regularization(m)
        total = d_loss + pc_loss + reg
        hw = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
        bpp = tf.reduce_sum(bc) / tf.cast(tf.shape(x)[0], tf.float32) / hw  # logged bpp, not masked
        heatmap_sum = tf.reduce_mean(tf.reduce_sum(enc.heatmap, axis=-1))
        out = dict(total=total, d_loss=d_loss, pc_loss=pc_loss, reg=reg, H_real=H_real, H_mask=H_mask,
                   H_soft=H_soft, bpp=bpp, heatmap_sum=heatmap_sum)
        if msssim is not None:
            out["ms_ssim"] = msssim
        return out, x_out

    def _train_step(self, x):
        with tf.GradientTape(persistent=True) as tape:
            out, _ = self._losses(x, training=True)
        g_ae = tape.gradient(out["total"], self.ae_vars)
        g_pc = tape.gradient(out["total"], self.pc_vars)
        del tape
        self.opt_ae.apply_gradients(zip(g_ae, self.ae_vars))
        self.opt_pc.apply_gradients(zip(g_pc, self.pc_vars))
        self.step.assign_add(1)
        return out

    def _test_step(self, x):
        out, x_out = self._losses(x, training=False)
        return out, x_out

    def checkpoint(self):
        return tf.train.Checkpoint(step=self.step, model=self.model, opt_ae=self.opt_ae, opt_pc=self.opt_pc)


def train(ae_path, pc_path, dataset_train, dataset_test, log_dir_root, restore=None, max_steps=None,
          max_minutes=None, log_train=100, log_save=1000, log_test=1000, ckpt_interval=1.0, temporary=False,
          seed=1234, quiet=False):
    """Train until ``max_steps``/``max_minutes`` (the original runs forever). Returns the log dir."""
    from .config import load_ae_config, load_pc_config
    tf.random.set_seed(seed)
    ae, pc = load_ae_config(ae_path), load_pc_config(pc_path)
    ae_name, pc_name = short_name(ae_path, "ae_configs"), short_name(pc_path, "pc_configs")
    model = CPM(ae, pc, seed=seed)
    ds_train, n_images = make_dataset(dataset_train, ae.crop_size, ae.batch_size, seed=666)
    itr_per_epoch = max(1, (n_images or 1) // ae.batch_size)
    trainer = Trainer(model, itr_per_epoch)
    if restore:
        log_dir = Path(restore)
        if not (log_dir / "ckpts").is_dir():
            raise FileNotFoundError(f"--restore {restore}: no ckpts/ folder there")
    else:
        log_dir = Path(log_dir_root) / log_dir_name(ae_name, pc_name, temporary=temporary)
    ckpt = trainer.checkpoint()
    manager = tf.train.CheckpointManager(ckpt, str(log_dir / "ckpts"), max_to_keep=1,
                                         keep_checkpoint_every_n_hours=ckpt_interval)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).expect_partial()
        if not quiet:
            print(f"restored {manager.latest_checkpoint} at step {int(trainer.step.numpy())}")
    log_dir.mkdir(parents=True, exist_ok=True)
    writer = tf.summary.create_file_writer(str(log_dir / "train"))
    test_writer = tf.summary.create_file_writer(str(log_dir / "test"))
    ds_test = None
    if dataset_test and log_test > 0:
        ds_test = iter(make_dataset(dataset_test, ae.crop_size, ae.batch_size, seed=1)[0])
    meta = {"ae_config_path": str(ae_path), "pc_config_path": str(pc_path), "dataset_train": dataset_train,
            "itr_per_epoch": itr_per_epoch}

    def save():
        manager.save(checkpoint_number=int(trainer.step.numpy()))
        codec_mod.save_model(model, log_dir, ae_name, pc_name,
                             extra={"train": {**meta, "step": int(trainer.step.numpy())}})

    t0 = time.time()
    start = int(trainer.step.numpy())
    total = max_steps - start if max_steps else None
    bar = tqdm(total=total, desc="train", disable=quiet, dynamic_ncols=True)
    it = iter(ds_train)
    while True:
        step = int(trainer.step.numpy())
        if (max_steps and step >= max_steps) or (max_minutes and (time.time() - t0) / 60 >= max_minutes):
            break
        out = trainer.train_step(next(it))
        step += 1
        bar.update(1)
        if step % log_train == 0 or step == 1:
            vals = {k: float(v.numpy()) for k, v in out.items()}
            with writer.as_default(step=step):
                for k, v in vals.items():
                    tf.summary.scalar(k, v)
                tf.summary.scalar("lr_ae", float(trainer.opt_ae.learning_rate.numpy()) if hasattr(
                    trainer.opt_ae.learning_rate, "numpy") else 0.0)
            bar.set_postfix(loss=f"{vals['total']:.2f}", bpp=f"{vals['bpp']:.3f}",
                            msssim=f"{vals.get('ms_ssim', float('nan')):.4f}")
        if ds_test is not None and step % log_test == 0:
            tout, x_out = trainer.test_step(next(ds_test))
            with test_writer.as_default(step=step):
                for k, v in tout.items():
                    tf.summary.scalar(k, float(v.numpy()))
                tf.summary.image("reconstruction", tf.cast(x_out[:2], tf.uint8))
        if step % log_save == 0:
            save()
    bar.close()
    save()
    writer.flush()
    test_writer.flush()
    (log_dir / "train_info.json").write_text(json.dumps(
        {**meta, "steps": int(trainer.step.numpy()), "wall_s_this_run": round(time.time() - t0, 1)}, indent=1))
    return log_dir
