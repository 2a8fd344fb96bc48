"""Training (the original's ``train.py``): two Adam optimisers on one total loss, staircase LR decay,
TensorBoard summaries, resumable checkpoints, progress bar; optionally under a ``tf.distribute`` strategy
(:mod:`shared_data.tfdist`, issue 14).

Distributed training keeps the config's ``batch_size`` as the **global** batch (each of R replicas gets
``batch_size / R`` crops of the same global batch a one-device run would see), so the recipe — learning rate,
schedule, ``itr_per_epoch`` — does not change with the replica count and a one-device run is untouched.
CPM's loss is not a mean of per-example losses: BatchNorm uses batch moments, MS-SSIM is one batch-level value
(every mean over the whole batch, survey §5 / the original's ``MultiScaleSSIM``) and the rate term is a hinge
β·max(H_soft − H_target, 0) of batch means. So every batch mean in the train step is the mean over the
*global* batch: per-example means → :func:`shared_data.tfdist.average` (``tf.nn.compute_average_loss``,
Σ over this replica / global batch) → all-reduced (SUM) across replicas (:func:`global_mean`), and BN moments
likewise (:func:`sync_moments`, synchronised BatchNorm). Every replica then holds the one-device loss L; it
minimises L / R (all-reduce's gradient is an all-reduce, so the summed gradients are exactly ∂L/∂θ).
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import tensorflow as tf
from tqdm import tqdm

from . import codec as codec_mod
from .checkpoints import checkpoint_at_or_before, log_dir_of_restore_flag, restore_training_state
from .codec_distance import CodecDistance, CodecDistanceReadException
from .config import Config, short_name
from .data import make_dataset
from .losses import distortion_loss, rate_losses, weight_regularization
from .model import CPM

SUM = tf.distribute.ReduceOp.SUM


def global_mean(global_batch: int):
    """``mean(t)`` over the global batch of a per-example tensor ``t`` (N_replica, ...), in replica context:
    per-example means, :func:`shared_data.tfdist.average` over ``global_batch``, summed across replicas."""
    from shared_data import tfdist

    def mean(t):
        per_example = tf.reduce_mean(tf.reshape(t, [tf.shape(t)[0], -1]), axis=1)
        return tf.distribute.get_replica_context().all_reduce(SUM, tfdist.average(per_example, global_batch))
    return mean


def sync_moments(x):
    """BatchNorm moments over the global batch (replica context; equal per-replica batches): like
    ``tf.nn.moments(x, [0, 1, 2])`` of the concatenated batch. Returns (mean, var, element count)."""
    ctx = tf.distribute.get_replica_context()
    n = tf.cast(tf.reduce_prod(tf.shape(x)[:3]) * ctx.num_replicas_in_sync, tf.float32)
    mean = ctx.all_reduce(SUM, tf.reduce_sum(x, axis=[0, 1, 2])) / n
    sq = tf.reduce_sum(tf.math.squared_difference(x, tf.stop_gradient(mean)), axis=[0, 1, 2])
    return mean, ctx.all_reduce(SUM, sq) / n, n


def _esc(s: str) -> str:
    return s.replace("/", "@").replace("-", "*")


def log_dir_name(ae_name: str, pc_name: str, now: datetime | None = None, restore: str | None = None) -> str:
    """``"{MMDD_HHMM} {ae_cfg} {pc_cfg}[ RESTORE@{root}@{job_id}]"`` with ``/``→``@`` and ``-``→``*``
    (the original's ``logdir_helpers.create_unique_log_dir``); ``restore`` is the already formatted
    ``{root}@{job_id}`` of :func:`restore_suffix`."""
    name = f"{(now or datetime.now()).strftime('%m%d_%H%M')} {_esc(ae_name)} {_esc(pc_name)}"
    if restore:
        name += f" RESTORE@{restore}"
    return name


def is_log_date(s: str) -> bool:
    try:
        datetime.strptime(s, "%m%d_%H%M")
        return True
    except ValueError:
        return False


def restore_suffix(restore_log_dir: str | Path) -> str:
    """``{root with / as @}@{job_id}`` for a restored log dir ``root/{job_id} ae pc`` (the original's format)."""
    parts = Path(restore_log_dir).parts
    for i, comp in enumerate(parts):
        if is_log_date(comp.split(" ")[0]):
            root = "@".join(p for p in parts[:i] if p != "/")
            return f"{root}@{comp.split(' ')[0]}" if root else comp.split(" ")[0]
    raise ValueError(f"not a log dir (no MMDD_HHMM component): {restore_log_dir}")


def unique_log_dir(log_dir_root: str | Path, ae_name: str, pc_name: str, restore: str | None = None) -> Path:
    """A new log dir; if one with the same MMDD_HHMM exists, the next minute is used (as the original)."""
    root = Path(log_dir_root)
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.now()
    taken = {d.name.split(" ")[0] for d in root.iterdir() if d.is_dir()}
    while now.strftime("%m%d_%H%M") in taken:
        now += timedelta(minutes=1)
    d = root / log_dir_name(ae_name, pc_name, now, restore)
    d.mkdir(parents=True)
    return d


def lr_schedule(cfg: Config, itr_per_epoch: int):
    if cfg.lr_schedule == "FIXED":
        return cfg.lr_initial
    return tf.keras.optimizers.schedules.ExponentialDecay(
        cfg.lr_initial, decay_steps=max(1, itr_per_epoch * cfg.lr_schedule_decay_interval),
        decay_rate=cfg.lr_schedule_decay_rate, staircase=bool(getattr(cfg, "lr_schedule_decay_staircase", True)))


def make_optimizer(cfg: Config, itr_per_epoch: int):
    lr = lr_schedule(cfg, itr_per_epoch)
    if cfg.optimizer == "ADAM":
        return tf.keras.optimizers.Adam(lr, epsilon=1e-8)  # tf.train.AdamOptimizer's ε (keras: 1e-7)
    if cfg.optimizer == "MOMENTUM":
        return tf.keras.optimizers.SGD(lr, momentum=cfg.optimizer_momentum)
    return tf.keras.optimizers.SGD(lr)


class Trainer:
    """``strategy``: a ``tf.distribute`` strategy whose scope the model was built in (None: one device, the
    original step); then ``dist_step`` runs one step on a distributed global batch of ``global_batch``."""

    def __init__(self, model: CPM, itr_per_epoch: int, summarize_grads: bool = False, jit: bool = False,
                 strategy=None, global_batch: int | None = None):
        self.model = model
        self.strategy = strategy
        ae, pc = model.ae_config, model.pc_config
        self.opt_ae = make_optimizer(ae, itr_per_epoch)   # Adam_AE: all non-PC variables incl. centers
        self.opt_pc = make_optimizer(pc, itr_per_epoch)   # Adam_PC: probclass3d variables
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.ae_vars, self.pc_vars = model.ae_variables(), model.pc_variables()
        self.summarize_grads = summarize_grads
        # jit: XLA-compiled step (measured slower on the AVX2 CPU, see zoo/*/TRAINING.md; for GPUs)
        self.train_step = tf.function(self._train_step, reduce_retracing=True, jit_compile=bool(jit) or None)
        self.test_step = tf.function(self._test_step, reduce_retracing=True)
        if strategy is not None:
            if jit:
                raise NotImplementedError("jit (XLA) with a tf.distribute strategy is not implemented")
            self.global_batch = int(global_batch)
            model.batch_moments = sync_moments
            self.dist_step = tf.function(self._dist_step, reduce_retracing=True)

    def _losses(self, x, training, mean=None):
        m, cfg = self.model, self.model.ae_config
        enc = m.encode(x, training=training)
        q = enc.qbar if training else enc.qhard
        x_out = m.decode(q, training=training)
        # stop_gradient: the encoder receives rate gradients only through the heatmap (H_mask)
        bc = m.bitcost(tf.stop_gradient(q), enc.symbols)
        H_target = cfg.H_target if cfg.H_target is not None else 0.0
        hw = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
        if mean is None:  # one device: the original's batch means
            H_real, H_mask, H_soft, pc_loss = rate_losses(bc, enc.heatmap, cfg.beta, H_target)
            d_loss, msssim = distortion_loss(x, x_out, cfg)
            bpp = tf.reduce_sum(bc) / tf.cast(tf.shape(x)[0], tf.float32) / hw  # logged bpp, not masked
            heatmap_sum = tf.reduce_mean(tf.reduce_sum(enc.heatmap, axis=-1))
        else:  # tf.distribute: the same means over the global batch
            H_real, H_mask, H_soft, pc_loss = rate_losses(bc, enc.heatmap, cfg.beta, H_target, mean=mean)
            d_loss, msssim = distortion_loss(x, x_out, cfg, mean=mean)
            bpp = mean(tf.reduce_sum(bc, axis=[1, 2, 3])) / hw
            heatmap_sum = mean(tf.reduce_sum(enc.heatmap, axis=-1))
        reg = weight_regularization(m)
        total = d_loss + pc_loss + reg
        out = dict(total=total, d_loss=d_loss, pc_loss=pc_loss, reg=reg, H_real=H_real, H_mask=H_mask,
                   H_soft=H_soft, bpp=bpp, heatmap_sum=heatmap_sum)
        if msssim is not None:
            out["ms_ssim"] = msssim
        return out, x_out, enc

    def _train_step(self, x):
        with tf.GradientTape(persistent=True) as tape:
            out, _, _ = self._losses(x, training=True)
        g_ae = tape.gradient(out["total"], self.ae_vars)
        g_pc = tape.gradient(out["total"], self.pc_vars)
        del tape
        self.opt_ae.apply_gradients(zip(g_ae, self.ae_vars))
        self.opt_pc.apply_gradients(zip(g_pc, self.pc_vars))
        self.step.assign_add(1)
        if self.summarize_grads:  # -lgrads: gradients go to TensorBoard at the train log interval
            return out, (g_ae, g_pc)
        return out, ()

    def _replica_step(self, x):
        """One replica's share of a distributed step (see the module docstring): the global loss L, L / R
        differentiated, gradients all-reduced (SUM) and applied by each replica's optimiser copy."""
        ctx = tf.distribute.get_replica_context()
        with tf.GradientTape() as tape:
            out, _, _ = self._losses(x, training=True, mean=global_mean(self.global_batch))
            loss = out["total"] / tf.cast(ctx.num_replicas_in_sync, tf.float32)
        vs = self.ae_vars + self.pc_vars
        grads = [tf.zeros_like(v) if g is None else g for v, g in zip(vs, tape.gradient(loss, vs))]
        grads = ctx.all_reduce(SUM, grads)
        g_ae, g_pc = grads[:len(self.ae_vars)], grads[len(self.ae_vars):]
        self.opt_ae.apply_gradients(zip(g_ae, self.ae_vars), skip_gradients_aggregation=True)
        self.opt_pc.apply_gradients(zip(g_pc, self.pc_vars), skip_gradients_aggregation=True)
        return out, ((g_ae, g_pc) if self.summarize_grads else ())

    def _dist_step(self, x):
        out, grads = self.strategy.run(self._replica_step, args=(x,))
        self.step.assign_add(1)

        def first(v):  # every replica holds the same global values
            return self.strategy.experimental_local_results(v)[0]
        return tf.nest.map_structure(first, out), tf.nest.map_structure(first, grads)

    def _test_step(self, x):
        out, x_out, enc = self._losses(x, training=False)
        return out, x_out, tf.reduce_sum(enc.heatmap, axis=-1), enc.qbar

    def checkpoint(self):
        return tf.train.Checkpoint(step=self.step, model=self.model, opt_ae=self.opt_ae, opt_pc=self.opt_pc)


def _write_description(log_dir: Path, ae_name, pc_name, description, log_dir_root, is_continue):
    """``--description``: the original appended a row to a Google Sheet (sheets_logger.py); here the same
    fields go to ``LOG_DIR/description.txt`` (appended, one tab-separated line per run)."""
    job = log_dir.name.split(" ")[0] + ("c" if is_continue else "")
    line = "\t".join([job, os.environ.get("JOB_ID", "N/A"), ae_name, pc_name, description, "",
                      os.environ.get("QSUBA_GIT_REF", ""), str(log_dir_root)])
    with open(log_dir / "description.txt", "a") as f:
        f.write(line + "\n")


CSV_COLUMNS = ("total", "d_loss", "pc_loss", "reg", "H_real", "H_mask", "H_soft", "bpp", "heatmap_sum", "ms_ssim")


def _append_csv(path: Path, step: int, wall_s: float, vals: dict) -> None:
    """One line per logged step; the header is written with the first line (appends survive a SIGKILL as
    at most one torn last line, which :func:`read_train_log` skips)."""
    new = not path.exists()
    with open(path, "a") as f:
        if new:
            f.write("step,wall_s_this_run," + ",".join(CSV_COLUMNS) + "\n")
        f.write(f"{step},{wall_s:.1f}," + ",".join(f"{vals.get(k, float('nan')):.6g}" for k in CSV_COLUMNS) + "\n")


def read_train_log(path: str | os.PathLike) -> list[dict]:
    """Rows of ``train_log.csv`` sorted by step, the last row of a step logged twice (resumed runs) kept;
    torn or malformed lines are skipped."""
    rows: dict[int, dict] = {}
    lines = Path(path).read_text().splitlines()
    if not lines:
        return []
    head = lines[0].split(",")
    for ln in lines[1:]:
        parts = ln.split(",")
        if len(parts) != len(head):
            continue
        try:
            r = {k: float(v) for k, v in zip(head, parts)}
        except ValueError:
            continue
        rows[int(r["step"])] = r
    return [rows[k] for k in sorted(rows)]


def train(ae_path, pc_path, dataset_train, dataset_test, log_dir_root, restore=None, max_steps=None,
          max_minutes=None, log_train=100, log_save=1000, log_test=1000, ckpt_interval=1.0, temporary=False,
          seed=1234, quiet=False, restore_itr=-1, restore_continue=False, restore_skip_vars=None,
          from_identity=None, log_run_metadata=False, summarize_grads=False, description=None,
          dataset_codec_distance=None, data_cache=None, jit=False, csv_log=False, init_weights=None,
          ae_overrides=(), strategy=None):
    """Train until ``max_steps``/``max_minutes`` (the original runs forever). Returns the log dir.

    Restoring follows the original ``RestoreManager``: ``restore`` (a log dir or its ``ckpts/``) restores
    the latest checkpoint, or the latest with step <= ``restore_itr``; the run writes to a new log dir
    ``"... RESTORE@{root}@{job_id}"`` unless ``restore_continue`` (then the restored log dir is continued).
    ``restore_skip_vars`` (comma list) leaves variables whose original name contains one of the strings
    fresh; ``from_identity`` = restore that dir with ``global_step,Adam`` skipped (the original's help text
    promises a KMeans init of the centers, which the original never implemented; neither do we).
    (new, zoo recipe) ``data_cache="decoded"`` keeps the decoded training images in memory
    (:func:`cpm.data.decoded_dataset`); ``jit`` compiles the step with XLA; ``csv_log`` appends the logged
    scalars to ``LOG_DIR/train_log.csv`` (step, wall seconds, losses; a resumed run appends, so a step
    logged twice keeps its last row when read back). ``init_weights``: a model directory (``weights.npz``
    of the same architecture, e.g. zoo/mini) whose weights initialise a fresh run (step 0, fresh Adam; not
    used when restoring a checkpoint). ``ae_overrides``: ``KEY=VALUE`` strings applied to the autoencoder
    config after its file (:func:`cpm.config.parse`; ``reproduce.py --set``).
    ``strategy``: a ``tf.distribute`` strategy (:func:`shared_data.tfdist.make_strategy`; None or the default
    strategy: one device, unchanged). ``batch_size`` stays the global batch (see the module docstring);
    under ``MultiWorkerMirroredStrategy`` only the chief writes the log dir; the other workers write their
    (required) checkpoint copies to :func:`shared_data.tfdist.write_dir` and discard them, and return None.
    """
    import contextlib
    import shutil

    from shared_data import tfdist
    from shared_data.errors import ConfigError

    from .config import load_ae_config, load_pc_config
    if strategy is not None and strategy is tf.distribute.get_strategy():
        strategy = None  # the default strategy: the one-device code path, bit for bit
    multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    chief = not multiworker or tfdist.is_chief()
    tf.random.set_seed(seed)
    ae, pc = load_ae_config(ae_path, ae_overrides), load_pc_config(pc_path)
    replicas = tfdist.replicas(strategy) if strategy is not None else 1
    if ae.batch_size % replicas:
        raise ConfigError(f"{ae_path}: batch_size {ae.batch_size} (the global batch) is not a multiple of the "
                          f"{replicas} replicas of --strategy")
    per_replica = ae.batch_size // replicas
    ae_name, pc_name = short_name(ae_path, "ae_configs"), short_name(pc_path, "pc_configs")
    if temporary:  # the original appends _TMP to LOG_DIR_ROOT
        log_dir_root = str(log_dir_root).rstrip("/") + "_TMP"
    if from_identity:
        restore, restore_skip_vars = from_identity, "global_step,Adam"
    def scope():
        return strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope():
        model = CPM(ae, pc, seed=seed)
    ds_train, n_images = make_dataset(dataset_train, ae.crop_size, ae.batch_size, seed=666, cache=data_cache)
    itr_per_epoch = max(1, (n_images or 1) // ae.batch_size)
    if strategy is not None:
        # every worker runs the same pipeline and keeps its replicas' share of each global batch, so the
        # global batches are the one-device run's
        opts = tf.data.Options()
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        ds_train = strategy.experimental_distribute_dataset(ds_train.with_options(opts))
    with scope():
        trainer = Trainer(model, itr_per_epoch, summarize_grads=summarize_grads, jit=jit, strategy=strategy,
                          global_batch=tfdist.global_batch(per_replica, strategy) if strategy else None)
    restore_from = None
    if restore:
        rdir = log_dir_of_restore_flag(restore)
        restore_from = checkpoint_at_or_before(rdir / "ckpts", restore_itr)
    if not chief:  # a private folder for this worker's checkpoint copies, removed at the end
        log_dir = Path(tfdist.write_dir(rdir if restore and restore_continue else log_dir_root))
        shutil.rmtree(log_dir, ignore_errors=True)
        log_dir.mkdir(parents=True)
    elif restore:
        log_dir = rdir if restore_continue else unique_log_dir(log_dir_root, ae_name, pc_name, restore_suffix(rdir))
    else:
        log_dir = unique_log_dir(log_dir_root, ae_name, pc_name)
    ckpt = trainer.checkpoint()
    if init_weights and not restore_from:
        import numpy as np
        with np.load(Path(init_weights) / "weights.npz") as w:
            model.load_weights(dict(w))
        if not quiet:
            print(f"initialised from {init_weights}/weights.npz")
    if restore_from:
        with scope():  # any replica count: the checkpoint holds one copy of each variable
            n_ok, n_skip = restore_training_state(
                trainer, restore_from[1], restore_skip_vars,
                make_trainer=lambda: Trainer(CPM(ae, pc, seed=seed), itr_per_epoch))
        if not quiet:
            print(f"restored {restore_from[1]} (step {restore_from[0]}): {n_ok} variables"
                  + (f", {n_skip} skipped (matching {restore_skip_vars})" if n_skip else "")
                  + f"; now at step {int(trainer.step.numpy())}")
    manager = tf.train.CheckpointManager(ckpt, str(log_dir / "ckpts"), max_to_keep=1,
                                         keep_checkpoint_every_n_hours=ckpt_interval)
    if description and not temporary and chief:
        _write_description(log_dir, ae_name, pc_name, description, log_dir_root, restore_continue)
    if chief:
        writer = tf.summary.create_file_writer(str(log_dir / "train"))
        test_writer = tf.summary.create_file_writer(str(log_dir / "test"))
    else:
        writer = test_writer = tf.summary.create_noop_writer()
    csv_log = csv_log and chief
    ds_test = None
    if dataset_test and log_test > 0 and chief:
        ds_test = iter(make_dataset(dataset_test, ae.crop_size, ae.batch_size, seed=1)[0])
    bpg_distance = None
    if dataset_codec_distance and ds_test is not None:
        try:
            bpg_distance = CodecDistance(dataset_codec_distance, codec="bpg", metric="ms-ssim")
        except CodecDistanceReadException as e:
            if not quiet:
                print(f"Cannot compute CodecDistance: {e}")
    meta = {"ae_config_path": str(ae_path), "pc_config_path": str(pc_path), "dataset_train": dataset_train,
            "itr_per_epoch": itr_per_epoch}
    if strategy is not None:
        meta["strategy"] = {"type": type(strategy).__name__, "replicas": replicas, "global_batch": ae.batch_size,
                            "per_replica_batch": per_replica}
    if restore_from:
        meta["restored_from"] = restore_from[1]
    if init_weights:
        meta["init_weights"] = str(init_weights)

    def save():
        manager.save(checkpoint_number=int(trainer.step.numpy()))  # every worker (a collective save)
        if chief:
            codec_mod.save_model(model, log_dir, ae_name, pc_name,
                                 extra={"train": {**meta, "step": int(trainer.step.numpy())}})

    names = {id(v): k for k, v in model.vars.items()}
    t0 = time.time()
    start = int(trainer.step.numpy())
    total = max_steps - start if max_steps else None
    bar = tqdm(total=total, desc="train", disable=quiet or not chief, dynamic_ncols=True)
    it = iter(ds_train)
    traced = False
    while True:
        step = int(trainer.step.numpy())
        if (max_steps and step >= max_steps) or (max_minutes and (time.time() - t0) / 60 >= max_minutes):
            break
        x = next(it)
        if log_run_metadata and not traced:  # -lmeta: graph + profile of the first step, once
            tf.summary.trace_on(graph=True, profiler=True)
        out, grads = trainer.train_step(x) if strategy is None else trainer.dist_step(x)
        step += 1
        if log_run_metadata and not traced:
            with writer.as_default():
                tf.summary.trace_export("train_step", step=step, profiler_outdir=str(log_dir / "train"))
            traced = True
        bar.update(1)
        if step % log_train == 0 or step == 1:
            vals = {k: float(v.numpy()) for k, v in out.items()}
            with writer.as_default(step=step):
                for k, v in vals.items():
                    tf.summary.scalar(k, v)
                tf.summary.scalar("lr_ae", float(trainer.opt_ae.learning_rate.numpy()) if hasattr(
                    trainer.opt_ae.learning_rate, "numpy") else 0.0)
                if grads:
                    g_ae, g_pc = grads
                    tf.summary.scalar("gradients/global_norm_AE", float(tf.linalg.global_norm(g_ae)))
                    tf.summary.scalar("gradients/global_norm_PC", float(tf.linalg.global_norm(g_pc)))
                    for v, g in zip(trainer.ae_vars + trainer.pc_vars, list(g_ae) + list(g_pc)):
                        tf.summary.histogram(f"gradients/{names[id(v)]}", g)
            if csv_log:
                _append_csv(log_dir / "train_log.csv", step, time.time() - t0, vals)
            bar.set_postfix(loss=f"{vals['total']:.2f}", bpp=f"{vals['bpp']:.3f}",
                            msssim=f"{vals.get('ms_ssim', float('nan')):.4f}")
        if ds_test is not None and step % log_test == 0:
            x_test = next(ds_test)
            tout, x_out, hm, qbar = trainer.test_step(x_test)
            with test_writer.as_default(step=step):
                for k, v in tout.items():
                    tf.summary.scalar(k, float(v.numpy()))
                tf.summary.image("x_in", tf.cast(x_test[:3], tf.uint8))
                tf.summary.image("x_out", tf.cast(x_out[:3], tf.uint8))
                hm = hm[:3, ..., None]  # importance map summed over channels (the original's test/hm)
                tf.summary.image("hm", hm / (tf.reduce_max(hm) + 1e-8))
                tf.summary.histogram("centers", model.centers)
                tf.summary.histogram("qbar", qbar[: max(1, ae.batch_size // 2)])
                if bpg_distance is not None and "ms_ssim" in tout:
                    d = bpg_distance.distance(float(tout["bpp"]), float(tout["ms_ssim"]))
                    if d is not None:
                        tf.summary.scalar("distance_BPG_MS-SSIM", d)
        if step % log_save == 0:
            save()
    bar.close()
    save()
    writer.flush()
    test_writer.flush()
    if not chief:
        tfdist.discard_write_dir(log_dir)
        return None
    (log_dir / "train_info.json").write_text(json.dumps(
        {**meta, "steps": int(trainer.step.numpy()), "wall_s_this_run": round(time.time() - t0, 1)}, indent=1))
    return log_dir
