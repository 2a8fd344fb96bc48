"""Training of the mean-scale hyperprior (``II:main/mbt2018.py train`` + ``tf_boilerplate.py``).

Loss (Ballé et al. 2018 / Minnen et al. 2018 rate-distortion Lagrangian, as in II):
    L = λ · MSE(x, g_s(ỹ)) · 255² + [−log₂ p(ỹ|z̃) − log₂ p(z̃)] / (batch · H · W),
    ỹ = g_a(x) + U(−½, ½),  z̃ = h_a(g_a(x)) + U(−½, ½)   (h_a sees the continuous y).
Adam lr 1e-4 (``--lr`` to change it); random ``patchsize`` crops of PNGs scaled to [0, 1], batch ``batchsize``.
Checkpoints (resumable) every ``save_checkpoint_secs`` into ``checkpoint_dir/<runname>``; TensorBoard summaries
into ``logdir/<runname>``; training stops with an error on a non-finite loss (TF1's ``NanTensorHook``).
Under a ``tf.distribute`` strategy (``strategy=``, issue 14) see :mod:`sga.distribute`: ``batchsize`` is the
global batch, the chief alone writes the run directory and the logs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from .model import MBT2018


def run_name(num_filters: int, lmbda: float, model: str = "mbt2018") -> str:
    """The original run naming: ``<model>-num_filters=N-lmbda=λ`` (model ``mbt2018`` or ``mbt2018_bb``)."""
    return f"{model}-num_filters={num_filters}-lmbda={lmbda:g}"


def build_model(kind: str, num_filters: int, scale_semantics: str = "tf1", gdn: str = "original",
                rdft: str = "tfc1"):
    """``mbt2018`` (:class:`sga.model.MBT2018`) or ``mbt2018_bb`` (:class:`sga.model_bb.MBT2018BB`)."""
    if kind == "mbt2018":
        return MBT2018(num_filters, scale_semantics, gdn, rdft)
    if kind == "mbt2018_bb":
        from .model_bb import MBT2018BB

        return MBT2018BB(num_filters, scale_semantics, gdn, rdft)
    raise ValueError(f"unknown model {kind!r} (expected 'mbt2018' or 'mbt2018_bb')")


def make_dataset(train_glob, batchsize: int, patchsize: int, seed: int | None = None):
    """Training batches from ``shared_data.readers.tf_data`` with its ``sga`` preset (II: PNGs scaled to
    [0, 1], one random ``patchsize`` crop per image, no flip, images smaller than the crop skipped with a
    warning naming them), shuffled, repeated. ``train_glob``: a glob, a folder or a list of them. Returns
    (dataset, number of files)."""
    from shared_data.readers import ReaderError, list_images, tf_data

    try:
        nfiles = len(list_images(train_glob))
        ds = tf_data.dataset(train_glob, preset="sga", batch_size=batchsize, crop=patchsize, seed=seed)
    except ReaderError as e:
        raise FileNotFoundError(f"no usable training images for --train_glob {train_glob!r} ({e})") from None
    return ds, nfiles


def make_optimizer(lr: float):
    """Adam as the original's ``tf.train.AdamOptimizer(lr)`` (β1 .9, β2 .999, ε 1e-8; Keras' default ε is 1e-7)."""
    return tf.keras.optimizers.Adam(learning_rate=lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def training_loss(model, x, lmbda: float, noise_y=None, noise_z=None):
    """(loss, bpp, mse) of one training batch (module docstring); ``noise_y``/``noise_z`` replace the uniform
    draws (parity tests replay the original's). Bits-back: z ~ q is drawn inside ``rd_terms``."""
    bits_back = getattr(model, "is_bits_back", False)
    y = model.analysis_transform(x)
    z = model.hyper_analysis_transform(y)  # bits-back: (m, s) of q(z|x), fed the continuous y
    y_tilde = y + (tf.random.uniform(tf.shape(y), -0.5, 0.5) if noise_y is None else noise_y)
    # bits-back: rd_terms samples z ~ q itself and returns the net z bits (z bits − bits back)
    z_tilde = z if bits_back else z + (tf.random.uniform(tf.shape(z), -0.5, 0.5) if noise_z is None else noise_z)
    _, y_bits, z_bits, mse = model.rd_terms(x, y_tilde, z_tilde)
    num_pixels = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
    bpp = tf.reduce_mean(y_bits + z_bits) / num_pixels
    return lmbda * mse * 255.0 ** 2 + bpp, bpp, mse


def _describe_run(num_filters, lmbda, train_glob, checkpoint_dir, batchsize, patchsize, last_step, lr,
                  scale_semantics, extra_args, model_kind, gdn, rdft):
    """(run name, run directory, the ``args.json`` dict) of a new or resumed run; the GDN / RDFT flavours of
    a resumed run are its own (an explicit other one is refused). Writes nothing."""
    from .model import LEGACY_GDN, LEGACY_RDFT, check_gdn, check_rdft

    if gdn is not None:
        check_gdn(gdn)
    if rdft is not None:
        check_rdft(rdft)
    if num_filters <= 0:
        raise ValueError(f"--num_filters must be given (> 0) for training, got {num_filters}")
    name = run_name(num_filters, lmbda, model_kind)
    run_dir = Path(checkpoint_dir) / name
    old = run_dir / "args.json"
    if old.is_file() and tf.train.latest_checkpoint(str(run_dir)):
        try:
            prev = json.loads(old.read_text())
        except ValueError as e:
            raise ValueError(f"{old}: unreadable run description ({e})") from None
        for key, want, legacy in (("gdn", gdn, LEGACY_GDN), ("rdft", rdft, LEGACY_RDFT)):
            had = prev.get(key, legacy)
            if want is not None and had != want:
                raise ValueError(f"{old}: the run to resume was trained with {key}={had!r}, but {key}={want!r} "
                                 f"was requested (pass --{key} {had} or use another --checkpoint_dir)")
        gdn, rdft = prev.get("gdn", LEGACY_GDN), prev.get("rdft", LEGACY_RDFT)
    gdn = check_gdn(gdn or "original")
    rdft = check_rdft(rdft or "tfc1")
    args = dict(num_filters=num_filters, lmbda=lmbda, train_glob=train_glob, batchsize=batchsize,
                patchsize=patchsize, last_step=last_step, lr=lr, scale_semantics=scale_semantics,
                model=model_kind, gdn=gdn, rdft=rdft, **(extra_args or {}))
    if model_kind == "mbt2018":
        args.setdefault("inference_scale_bound", False)  # the original's inference objective (no 0.11 bound)
    return name, run_dir, args


def train(num_filters: int, lmbda: float, train_glob: str, checkpoint_dir: str, batchsize: int = 8,
          patchsize: int = 256, last_step: int = 1_000_000, logdir: str = "/tmp/tf_logs", lr: float = 1e-4,
          save_checkpoint_secs: float = 300, save_summary_secs: float = 60, scale_semantics: str = "tf1",
          seed: int | None = None, progress: bool = True, extra_args: dict | None = None, jit: bool = True,
          model_kind: str = "mbt2018", dataset=None, gdn: str | None = None, rdft: str | None = None,
          strategy=None) -> Path | None:
    """Train (or resume) a run; returns the run directory. ``jit=False`` runs the step eagerly (tests).

    ``model_kind="mbt2018_bb"`` trains the bits-back model (``II:main/mbt2018_bb.py``): ỹ = y + U(−½,½),
    z = m + e^{s/2}ε from q(z|x) = N(h_a(y)), loss λ·MSE·255² + [−log₂ p(ỹ|z) − log₂ p(z) + log₂ q(z|x)]/#px
    with σ ≤ √10 during training; no auxiliary loss.

    ``gdn``: ``"original"`` (tfc 1.3's x/√(β+Σγx²)) or ``"simplified"`` (:mod:`sga.model`); ``rdft``: the
    kernels' RDFT parameterization, ``"tfc1"`` (the original's) or ``"tfc2"``. ``None`` (default): a new run
    gets the original's (``"original"``, ``"tfc1"``), a resumed run keeps what its ``args.json`` records (no
    field: the pre-fix ``"simplified"`` / ``"tfc2"``); an explicit value that differs from a resumed run's is
    refused.

    ``strategy``: a ``tf.distribute`` strategy (:func:`shared_data.tfdist.make_strategy`; None or the default
    strategy: the one-device loop below, unchanged). Model, optimizer and step are built in its scope,
    ``batchsize`` is the global batch (a multiple of the replicas), the loss is averaged over the global batch
    (:mod:`sga.distribute`); a checkpoint resumes under any replica count. Under ``MultiWorkerMirroredStrategy``
    only the chief writes ``args.json``, ``record.txt``, the summaries and the checkpoints (the other workers'
    required checkpoint copies go to :func:`shared_data.tfdist.write_dir` and are removed); they return None."""
    from .distribute import is_default
    if not is_default(strategy):
        return _train_distributed(strategy, num_filters, lmbda, train_glob, checkpoint_dir, batchsize, patchsize,
                                  last_step, logdir, lr, save_checkpoint_secs, save_summary_secs, scale_semantics,
                                  seed, progress, extra_args, model_kind, dataset, gdn, rdft)
    name, run_dir, args = _describe_run(num_filters, lmbda, train_glob, checkpoint_dir, batchsize, patchsize,
                                        last_step, lr, scale_semantics, extra_args, model_kind, gdn, rdft)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "args.json").write_text(json.dumps(args, indent=2, sort_keys=True) + "\n")
    gdn, rdft = args["gdn"], args["rdft"]
    if seed is not None:
        tf.random.set_seed(seed)
    model = build_model(model_kind, num_filters, scale_semantics, gdn, rdft)
    bits_back = model_kind == "mbt2018_bb"
    optimizer = make_optimizer(lr)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(ckpt, str(run_dir), max_to_keep=2)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint)
        print(f"resumed {manager.latest_checkpoint} at step {int(step)}")
    ds, nfiles = dataset if dataset is not None else make_dataset(train_glob, batchsize, patchsize, seed)
    writer = tf.summary.create_file_writer(str(Path(logdir) / name))
    variables = model.trainable_variables

    def train_step(x):
        with tf.GradientTape() as tape:
            loss, bpp, mse = training_loss(model, x, lmbda)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss, bpp, mse

    if bits_back:
        model.training_bound = True  # σ ≤ √10 while tracing the training step only
    if jit:
        train_step = tf.function(train_step)
    t_ckpt = t_sum = time.time()
    t_start = time.time()
    it = iter(ds)
    bar = tqdm(total=last_step, initial=int(step), desc=name, disable=not progress)
    with (run_dir / "record.txt").open("a") as record:
        record.write(f"start step {int(step)} files {nfiles} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        while int(step) < last_step:
            loss, bpp, mse = train_step(next(it))
            step.assign_add(1)
            bar.update(1)
            if not np.isfinite(float(loss)):
                raise FloatingPointError(f"non-finite loss at step {int(step)} (NaN stop); last checkpoint "
                                         f"{manager.latest_checkpoint}")
            now = time.time()
            if now - t_sum >= save_summary_secs or int(step) == last_step:
                with writer.as_default():
                    tf.summary.scalar("loss", loss, step=step)
                    tf.summary.scalar("bpp", bpp, step=step)
                    tf.summary.scalar("mse", mse * 255.0 ** 2, step=step)
                    tf.summary.scalar("psnr", 10 * np.log10(1.0 / max(float(mse), 1e-12)), step=step)
                bar.set_postfix(loss=f"{float(loss):.4f}", bpp=f"{float(bpp):.3f}")
                t_sum = now
            if now - t_ckpt >= save_checkpoint_secs:
                manager.save(checkpoint_number=step)
                t_ckpt = now
        manager.save(checkpoint_number=step)
        record.write(f"end step {int(step)} wall {time.time() - t_start:.1f}s loss {float(loss):.5f} "
                     f"bpp {float(bpp):.4f} mse {float(mse) * 255 ** 2:.3f}\n")
    bar.close()
    return run_dir


def _train_distributed(strategy, num_filters, lmbda, train_glob, checkpoint_dir, batchsize, patchsize, last_step,
                       logdir, lr, save_checkpoint_secs, save_summary_secs, scale_semantics, seed, progress,
                       extra_args, model_kind, dataset, gdn, rdft):
    """:func:`train` under a ``tf.distribute`` strategy (:mod:`sga.distribute`)."""
    import shutil

    from shared_data import tfdist
    from shared_data.errors import ConfigError
    from shared_data.imageio import atomic_write_bytes

    from .distribute import DistributedStep, distribute_dataset

    multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    chief = not multiworker or tfdist.is_chief()
    replicas = tfdist.replicas(strategy)
    if batchsize % replicas:
        raise ConfigError(f"--batchsize {batchsize} (the global batch) is not a multiple of the {replicas} "
                          "replicas of --strategy")
    seed = 0 if seed is None else int(seed)  # every worker must draw the same global batches
    name, run_dir, args = _describe_run(num_filters, lmbda, train_glob, checkpoint_dir, batchsize, patchsize,
                                        last_step, lr, scale_semantics, extra_args, model_kind, gdn, rdft)
    # (TF 2.14's class name of MultiWorkerMirroredStrategy is CollectiveAllReduceStrategy)
    stype = "MultiWorkerMirroredStrategy" if multiworker else type(strategy).__name__
    args["strategy"] = {"type": stype, "replicas": replicas, "global_batch": batchsize,
                        "per_replica_batch": batchsize // replicas, "seed": seed}
    ckpt_dir = Path(tfdist.write_dir(run_dir))
    if chief:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(run_dir / "args.json", (json.dumps(args, indent=2, sort_keys=True) + "\n").encode())
    else:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        ckpt_dir.mkdir(parents=True)
    with strategy.scope():
        model = build_model(model_kind, num_filters, scale_semantics, args["gdn"], args["rdft"])
        optimizer = make_optimizer(lr)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    latest = tf.train.latest_checkpoint(str(run_dir))
    if latest:
        with strategy.scope():  # any replica count: the checkpoint holds one copy of each variable
            ckpt.restore(latest)
        if chief:
            print(f"resumed {latest} at step {int(step.numpy())}")
    else:  # the same initial weights on every worker and under any replica count: built outside the scope
        tf.keras.utils.set_random_seed(seed)  # (Keras' unseeded initializers draw their seeds from Python's random)
        ref = build_model(model_kind, num_filters, scale_semantics, args["gdn"], args["rdft"])
        for v, r in zip(model.variables, ref.variables, strict=True):
            v.assign(r)
        del ref
    manager = tf.train.CheckpointManager(ckpt, str(ckpt_dir), max_to_keep=2)
    ds, nfiles = dataset if dataset is not None else make_dataset(train_glob, batchsize, patchsize, seed)
    dist_ds = distribute_dataset(strategy, ds, batchsize, int(step.numpy()))
    if getattr(model, "is_bits_back", False):
        model.training_bound = True  # σ ≤ √10 while tracing the training step only
    train_step = DistributedStep(strategy, model, optimizer, lmbda, batchsize, seed)
    writer = tf.summary.create_file_writer(str(Path(logdir) / name)) if chief else tf.summary.create_noop_writer()
    t_ckpt = t_sum = t_start = time.time()
    it = iter(dist_ds)
    bar = tqdm(total=last_step, initial=int(step.numpy()), desc=name, disable=not progress or not chief)
    record = (run_dir / "record.txt").open("a") if chief else None
    loss = bpp = mse = float("nan")
    try:
        if record:
            record.write(f"start step {int(step.numpy())} files {nfiles} at {time.strftime('%Y-%m-%d %H:%M:%S')} "
                         f"strategy {stype} replicas {replicas}\n")
        while int(step.numpy()) < last_step:
            loss, bpp, mse = train_step(next(it))
            step.assign_add(1)
            bar.update(1)
            if not np.isfinite(float(loss)):  # the global loss: every worker stops at the same step
                raise FloatingPointError(f"non-finite loss at step {int(step.numpy())} (NaN stop); last checkpoint "
                                         f"{manager.latest_checkpoint}")
            now = time.time()
            if now - t_sum >= save_summary_secs or int(step.numpy()) == last_step:
                with writer.as_default():
                    tf.summary.scalar("loss", loss, step=int(step.numpy()))
                    tf.summary.scalar("bpp", bpp, step=int(step.numpy()))
                    tf.summary.scalar("mse", mse * 255.0 ** 2, step=int(step.numpy()))
                    tf.summary.scalar("psnr", 10 * np.log10(1.0 / max(float(mse), 1e-12)), step=int(step.numpy()))
                bar.set_postfix(loss=f"{float(loss):.4f}", bpp=f"{float(bpp):.3f}")
                t_sum = now
            due = now - t_ckpt >= save_checkpoint_secs
            if (train_step.any_worker(due) if multiworker else due) and int(step.numpy()) < last_step:
                manager.save(checkpoint_number=int(step.numpy()))  # every worker (a collective save)
                t_ckpt = now
        manager.save(checkpoint_number=int(step.numpy()))
        if record:
            record.write(f"end step {int(step.numpy())} wall {time.time() - t_start:.1f}s loss {float(loss):.5f} "
                         f"bpp {float(bpp):.4f} mse {float(mse) * 255 ** 2:.3f}\n")
    finally:
        if record:
            record.close()
        bar.close()
        tfdist.discard_write_dir(ckpt_dir)
    return run_dir if chief else None
