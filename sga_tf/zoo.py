"""The SGA zoo (issue 19): mean-scale hyperprior models (Minnen et al. 2018 without context model, as
``II:main/mbt2018.py train``) at three λ, then amortized (M3) and SGA (M1, Yang et al. 2020) inference on Kodak
with real files.

    .venv/bin/python zoo.py train            # resumable (SIGKILL-safe checkpoints), TensorBoard, progress bar
    .venv/bin/python zoo.py export           # final float32 weights -> zoo/<name>/, integerized (portable)
    .venv/bin/python zoo.py evaluate         # Kodak: M3 on all 24 images, M1 (reduced its), measures.csv + reference
    .venv/bin/python zoo.py all              # the three in order (make zoo-sga)

The recipe (``RECIPE``) and why it differs from the original's (width, steps, crop, lr) is in
``zoo/ms/TRAINING.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from shared_data import paths

HERE = Path(__file__).resolve().parent
ZOO_DIR = HERE / "zoo" / "ms"
REFERENCE = HERE.parent / "ci" / "references" / "sga-zoo-ms.csv"
DEFAULT_TRAIN = str(paths.train_dir())
DEFAULT_KODAK = str(paths.kodak_dir())

# The zoo recipe (zoo/ms/TRAINING.md). ``steps``: what three deadline-stopped runs reached (lr 1e-3 constant, then a
# ``--warm_start`` continuation at lr 2e-4, ramp 200); a rerun from scratch trains at lr 1e-3 throughout.
RECIPE = dict(num_filters=64, batchsize=8, patchsize=128, seed=1, lr=1e-3, lr_final=1e-4, lr_decay_at=1.0,
              lambdas=(0.003, 0.012, 0.045), steps={"0.003": 4088, "0.012": 4070, "0.045": 3911}, rdft="tfc2")


class MemoryCrops:
    """The ``sga`` reader preset (one random ``crop`` per photo per epoch, shuffled, no flip, [0, 1]; photos
    smaller than the crop skipped with a warning naming them) with the photos decoded ONCE into memory instead
    of one PNG decode per crop (measured: the decode is a large share of a step on this CPU, TRAINING.md)."""

    def __init__(self, train_glob, max_files: int | None = None):
        from shared_data.imageio import read_image
        from shared_data.readers import list_images

        files = list_images(train_glob)[:max_files]
        self.images = [read_image(f) for f in files]
        self.files = files

    def dataset(self, batchsize: int, crop: int, seed: int):
        import tensorflow as tf

        keep = []
        for f, im in zip(self.files, self.images):
            if min(im.shape[:2]) < crop:
                print(f"warning: {f}: {im.shape[1]}x{im.shape[0]} is smaller than the crop {crop}; skipped",
                      file=sys.stderr)
            else:
                keep.append(im)
        if not keep:
            raise FileNotFoundError(f"no training image is at least {crop}x{crop}")

        def gen():
            rng = np.random.default_rng(seed)
            while True:
                for i in rng.permutation(len(keep)):
                    im = keep[i]
                    r = rng.integers(0, im.shape[0] - crop + 1)
                    c = rng.integers(0, im.shape[1] - crop + 1)
                    yield im[r:r + crop, c:c + crop]

        ds = tf.data.Dataset.from_generator(gen, output_signature=tf.TensorSpec((crop, crop, 3), tf.uint8))
        ds = ds.batch(batchsize, drop_remainder=True).map(lambda x: tf.cast(x, tf.float32) / 255.0)
        return ds.prefetch(2)


def make_train_step(model, optimizer, lmbda):
    """The training step of :func:`sga.train.train` (mbt2018), compiled; for the speed measurements only."""
    import tensorflow as tf

    variables = None

    @tf.function
    def step(x):
        nonlocal variables
        with tf.GradientTape() as tape:
            y = model.analysis_transform(x)
            z = model.hyper_analysis_transform(y)
            y_tilde = y + tf.random.uniform(tf.shape(y), -0.5, 0.5)
            z_tilde = z + tf.random.uniform(tf.shape(z), -0.5, 0.5)
            _, y_bits, z_bits, mse = model.rd_terms(x, y_tilde, z_tilde)
            npx = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
            bpp = tf.reduce_mean(y_bits + z_bits) / npx
            loss = lmbda * mse * 255.0 ** 2 + bpp
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss, bpp, mse

    return step


# --- training ----------------------------------------------------------------------------------------------
def steps_of(lmbda: float, recipe: dict) -> int:
    """The recipe's step count for λ (``steps``: one int, or {"λ": int} per model)."""
    st = recipe["steps"]
    return int(st[f"{lmbda:g}"]) if isinstance(st, dict) else int(st)


def lr_at(step: int, recipe: dict, last_step: int) -> float:
    """Piecewise-constant lr: ``lr`` until ``lr_decay_at``·last_step, then ``lr_final`` (the original trained at
    a constant 1e-4 for 2M steps; a short run needs a larger lr first, TRAINING.md)."""
    return recipe["lr"] if step < int(recipe["lr_decay_at"] * last_step) else recipe["lr_final"]


def model_args(lmbda: float, recipe: dict, last_step: int) -> dict:
    """``args.json`` of a zoo run (the fields of :func:`sga.train.train`'s, plus the zoo recipe)."""
    return dict(num_filters=recipe["num_filters"], lmbda=lmbda, train_glob="$TRAIN_DIR", batchsize=recipe["batchsize"],
                patchsize=recipe["patchsize"], last_step=last_step, lr=recipe["lr"], lr_final=recipe["lr_final"],
                lr_decay_at=recipe["lr_decay_at"], scale_semantics="tf1", model="mbt2018", gdn="original",
                rdft=recipe["rdft"], inference_scale_bound=False, seed=recipe["seed"])


def run_name_of(lmbda: float, recipe: dict) -> str:
    from sga.train import run_name

    return run_name(recipe["num_filters"], lmbda)


def _atomic_write(path: Path, text: str):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _rdft_kw(recipe: dict) -> dict:
    """``rdft=`` for :func:`sga.train.build_model` where the library has the RDFT flavours (else tfc 2's)."""
    import inspect

    from sga.train import build_model

    return {"rdft": recipe["rdft"]} if "rdft" in inspect.signature(build_model).parameters else {}


def _restore(ckpt, model, path: str):
    """Restore model + optimizer + step from ``path``; every model variable must be in it (Adam's slots are
    created at the first step and restored then)."""
    import tensorflow as tf

    tf.train.Checkpoint(model=model).read(path).expect_partial().assert_existing_objects_matched()
    ckpt.read(path).expect_partial()


def train_one(lmbda: float, recipe: dict, work: Path, train_glob: str, last_step: int, stop_at: float | None = None,
              save_secs: float = 120, progress: bool = True, data: MemoryCrops | None = None,
              warm_start: Path | None = None) -> int:
    """Train (or resume) the zoo run of λ under ``work/<runname>`` up to ``last_step``; returns the step reached.


    Loss of ``II:main/mbt2018.py train``: λ·255²·MSE(x, g_s(ỹ)) + bpp(ỹ, z̃), ỹ = y + U, z̃ = h_a(y) + U; Adam
    (ε = 1e-8, as tf.train.AdamOptimizer). Checkpoints via ``tf.train.CheckpointManager`` (state file replaced
    atomically: a SIGKILL leaves the previous complete checkpoint), TensorBoard under ``work/logs/<runname>``,
    ``loss.csv`` (step, loss, bpp, mse, psnr, wall) for the curve. ``stop_at``: a time.time() deadline; the run saves and stops
    there (resumed later by the same command). ``warm_start``: a zoo folder (``zoo/ms``); a run with no checkpoint
    in ``work`` starts from its exported model there (weights, step, loss.csv / record.txt; fresh Adam state: the
    export has none), so training continues in a fresh clone where ``work`` is gone. A fresh Adam moves every
    weight by ≈ lr per step at first (m̂/√v̂ ≈ ±1; measured: lr 1e-3 took λ = 0.012's training loss from 2.3 to
    15 within 19 steps), so the lr ramps up linearly over ``recipe["warm_start_ramp"]`` steps (default 500)."""
    import tensorflow as tf
    from sga.train import build_model
    from tqdm import tqdm

    name = run_name_of(lmbda, recipe)
    run_dir = work / name
    run_dir.mkdir(parents=True, exist_ok=True)
    args = model_args(lmbda, recipe, last_step)
    _atomic_write(run_dir / "args.json", json.dumps(args, indent=2, sort_keys=True) + "\n")
    tf.random.set_seed(recipe["seed"])
    model = build_model("mbt2018", recipe["num_filters"], "tf1", "original", **_rdft_kw(recipe))
    optimizer = tf.keras.optimizers.Adam(learning_rate=recipe["lr"], beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(ckpt, str(run_dir), max_to_keep=2)
    ramp_from, ramp = 0, 0  # no lr ramp unless warm-started (a resumed run has its Adam state)
    if manager.latest_checkpoint:
        _restore(ckpt, model, manager.latest_checkpoint)
        print(f"{name}: resumed {manager.latest_checkpoint} at step {int(step)}")
    elif warm_start is not None:
        src = Path(warm_start) / name
        if not (src / "weights.index").is_file():
            raise FileNotFoundError(f"{src}: no exported model to warm-start {name} from")
        tf.train.Checkpoint(model=model).read(str(src / "weights")).expect_partial().assert_existing_objects_matched()
        step.assign(int(json.loads((src / "args.json").read_text())["last_step"]))
        for f in ("loss.csv", "record.txt"):
            if (src / f).is_file():
                shutil.copy(src / f, run_dir / f)
        with (run_dir / "record.txt").open("a") as r:
            r.write(f"warm start from {src} at step {int(step)} (fresh Adam state)\n")
        print(f"{name}: warm start from {src} at step {int(step)} (fresh Adam state)")
        ramp_from, ramp = int(step), int(recipe.get("warm_start_ramp", 500))
    if int(step) >= last_step:
        return int(step)
    data = data or MemoryCrops(train_glob)
    # a resumed run continues with a new crop stream (seeded by the step it resumes from)
    it = iter(data.dataset(recipe["batchsize"], recipe["patchsize"], seed=recipe["seed"] * 1_000_003 + int(step)))
    writer = tf.summary.create_file_writer(str(work / "logs" / name))
    variables = None

    @tf.function
    def train_step(x):
        nonlocal variables
        with tf.GradientTape() as tape:
            y = model.analysis_transform(x)
            z = model.hyper_analysis_transform(y)
            y_tilde = y + tf.random.uniform(tf.shape(y), -0.5, 0.5)
            z_tilde = z + tf.random.uniform(tf.shape(z), -0.5, 0.5)
            _, y_bits, z_bits, mse = model.rd_terms(x, y_tilde, z_tilde)
            npx = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
            bpp = tf.reduce_mean(y_bits + z_bits) / npx
            loss = lmbda * mse * 255.0 ** 2 + bpp
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss, bpp, mse

    log = (run_dir / "loss.csv").open("a")
    if log.tell() == 0:
        log.write("step,loss,bpp,mse,psnr,lr,wall_s\n")
    t_start = t_ckpt = time.time()
    acc = []
    bar = tqdm(total=last_step, initial=int(step), desc=name, disable=not progress, mininterval=10)
    with (run_dir / "record.txt").open("a") as record:
        record.write(f"start step {int(step)} at {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}\n")
        record.flush()
        while int(step) < last_step:
            s = int(step)
            lr_s = lr_at(s, recipe, last_step) * (min(1.0, (s - ramp_from + 1) / ramp) if ramp else 1.0)
            optimizer.learning_rate.assign(lr_s)
            loss, bpp, mse = train_step(next(it))
            step.assign_add(1)
            bar.update(1)
            acc.append((float(loss), float(bpp), float(mse)))
            if not np.isfinite(acc[-1][0]):
                raise FloatingPointError(f"{name}: non-finite loss at step {s + 1}; last checkpoint "
                                         f"{manager.latest_checkpoint}")
            if (s + 1) % 50 == 0:
                lo, bp, ms = np.mean(acc, axis=0)
                acc = []
                log.write(f"{s + 1},{lo:.5f},{bp:.5f},{ms * 255 ** 2:.3f},{10 * np.log10(1 / ms):.3f},"
                          f"{lr_s:g},{time.time() - t_start:.1f}\n")
                log.flush()
                with writer.as_default():
                    for k, v in (("loss", lo), ("bpp", bp), ("mse", ms * 255 ** 2), ("psnr", 10 * np.log10(1 / ms))):
                        tf.summary.scalar(k, v, step=s + 1)
                bar.set_postfix(loss=f"{lo:.4f}", bpp=f"{bp:.3f}")
            now = time.time()
            if now - t_ckpt >= save_secs:
                manager.save(checkpoint_number=step)
                t_ckpt = now
            if stop_at is not None and now >= stop_at:
                break
        manager.save(checkpoint_number=step)
        record.write(f"stop step {int(step)} wall {time.time() - t_start:.1f}s at {time.strftime('%H:%M:%S')}\n")
    bar.close()
    log.close()
    return int(step)


def cmd_train(a, recipe: dict) -> int:
    """Train the three λ in parallel processes (each resumable), up to ``steps``."""
    work = Path(a.work)
    base_cmd = [sys.executable, str(Path(__file__).resolve()), "--work", str(work), "--train_glob", a.train_glob,
                "--threads", str(a.threads), "--recipe", json.dumps(recipe)] + (["--stop_at", a.stop_at] if a.stop_at else []) \
        + (["--warm_start", "--zoo", a.zoo] if a.warm_start else [])
    procs = [subprocess.Popen(base_cmd + ["train-one", "--lmbda", str(lm), "--last_step", str(steps_of(lm, recipe))]
                              + ([] if i == len(recipe["lambdas"]) // 2 else ["--no_progress"]))
             for i, lm in enumerate(recipe["lambdas"])]
    return max(p.wait() for p in procs)


def cmd_export(a, recipe: dict) -> int:
    """Each run's newest checkpoint -> ``zoo/ms/<runname>/`` (args.json + float32 weights, no optimizer state),
    then ``python -m sga integerize`` in place (portable files), and the training logs (loss.csv, record.txt)."""
    import tensorflow as tf
    from sga.checkpoints import export_weights
    from sga.portable import integerize

    out_root = Path(a.zoo)
    for lm in recipe["lambdas"]:
        name = run_name_of(lm, recipe)
        run = Path(a.work) / name
        path = tf.train.latest_checkpoint(str(run))
        if path is None:
            raise FileNotFoundError(f"{run}: no checkpoint (train first)")
        args = json.loads((run / "args.json").read_text())
        from sga.train import build_model

        model = build_model("mbt2018", recipe["num_filters"], "tf1", "original", **_rdft_kw(recipe))
        _restore(tf.train.Checkpoint(model=model), model, path)
        args["last_step"] = int(path.rsplit("-", 1)[1])
        tmp = out_root / (name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        export_weights(model, args, tmp)
        for f in ("loss.csv", "record.txt"):
            shutil.copy(run / f, tmp / f)
        integerize(tmp, tmp)
        final = out_root / name
        if final.exists():
            shutil.rmtree(final)
        tmp.replace(final)
        print(f"exported {path} -> {final} (step {args['last_step']})")
    plot_curves(recipe, out_root)
    return 0


def plot_curves(recipe: dict, out_root: Path) -> Path:
    """``loss.png``: training loss, bpp and PSNR (50-step means of the training batches) vs step per λ."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 3), dpi=80)
    for lm in recipe["lambdas"]:
        f = out_root / run_name_of(lm, recipe) / "loss.csv"
        if not f.is_file():
            continue
        d = np.genfromtxt(f, delimiter=",", names=True)
        if d.size < 2:
            continue
        for ax, k in zip(axes, ("loss", "bpp", "psnr")):
            ax.plot(d["step"], d[k], label=f"λ={lm:g}")
    for ax, k in zip(axes, ("loss (λ·255²·MSE + bpp)", "bpp (train crops)", "PSNR dB (train crops)")):
        ax.set_xlabel("step")
        ax.set_title(k, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    out = out_root / "loss.png"
    tmp = out.with_name("loss.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
    return out


REF_CROPS = ("kodim01.png", "kodim15.png")  # 256x256 centre crops: the regression reference (M3, real files)


def _mean(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def jpeg_curve(path: Path):
    """Image-mean (bpp, PSNR) per quality of ``ci/baselines/kodak/jpeg/measures.csv`` (Pillow, whole files)."""
    from shared_eval.measures_csv import read_measures

    by_q = {}
    for r in read_measures(path):
        by_q.setdefault(float(r["quality"]), []).append(r)
    pts = sorted((_mean(v, "bpp"), _mean(v, "psnr")) for v in by_q.values())
    return [p[0] for p in pts], [p[1] for p in pts]


def summarize(rows: list[dict], jpeg: Path) -> dict:
    """Per (λ, method) means; BD-rate (PCHIP, PSNR) of M3 vs JPEG and of M1 vs M3 on M1's images; R-D loss
    (λ·MSE + bpp, real files) of M1 vs M3 on the same images."""
    from shared_eval.bdrate import BDError, bd_rate, rate_gap_at_quality

    out = {"points": [], "notes": []}
    lambdas = sorted({r["lambda"] for r in rows})
    for lm in lambdas:
        for meth in ("m3", "sga"):
            sel = [r for r in rows if r["lambda"] == lm and r["method"] == meth]
            if sel:
                out["points"].append({"lambda": lm, "method": meth, "images": len(sel),
                                      **{k: _mean(sel, k) for k in ("bpp", "bpp_estimated", "psnr", "ms-ssim",
                                                                    "rd_loss_real", "rd_loss_estimated", "enc_s",
                                                                    "dec_s")}})
    m3 = [p for p in out["points"] if p["method"] == "m3"]
    if m3 and any(p["images"] != 24 for p in m3):
        out["notes"].append("M3 not on all 24 Kodak images: the JPEG anchor is the 24-image mean")
    jb, jp = jpeg_curve(jpeg)
    out["jpeg"] = {"bpp": jb, "psnr": jp}
    try:
        out["bd_rate_m3_vs_jpeg_psnr"] = bd_rate(jb, jp, [p["bpp"] for p in m3], [p["psnr"] for p in m3], "pchip")
    except BDError as e:
        out["bd_rate_m3_vs_jpeg_psnr"] = None
        out["notes"].append(f"M3 vs JPEG: {e}")
    m1_sets = [{r["img_name"] for r in rows if r["lambda"] == lm and r["method"] == "sga"} for lm in lambdas]
    common = set.intersection(*[m for m in m1_sets if m]) if any(m1_sets) else set()

    def pair(lm, names):
        s1 = {r["img_name"]: r for r in rows if r["lambda"] == lm and r["method"] == "sga" and r["img_name"] in names}
        s3 = {r["img_name"]: r for r in rows if r["lambda"] == lm and r["method"] == "m3" and r["img_name"] in s1}
        a, b = list(s3.values()), [s1[k] for k in s3]
        if not a:
            return None
        return {"lambda": lm, "images": sorted(s3), "m3_bpp": _mean(a, "bpp"), "m3_psnr": _mean(a, "psnr"),
                "m1_bpp": _mean(b, "bpp"), "m1_psnr": _mean(b, "psnr"), "m3_rd_loss_real": _mean(a, "rd_loss_real"),
                "m1_rd_loss_real": _mean(b, "rd_loss_real"),
                "m1_lowers_rd_loss": bool(_mean(b, "rd_loss_real") < _mean(a, "rd_loss_real"))}

    out["m1_vs_m3"] = [p for p in (pair(lm, m) for lm, m in zip(lambdas, m1_sets)) if p]  # every M1 image
    common_pairs = [p for p in (pair(lm, common) for lm, m in zip(lambdas, m1_sets) if m) if p]
    out["m1_vs_m3_common_images"] = sorted(common)
    if len(common_pairs) >= 2:  # BD-rate over the λ that have M1, on the images all of them have
        try:
            out["bd_rate_m1_vs_m3_psnr"] = bd_rate([p["m3_bpp"] for p in common_pairs],
                                                   [p["m3_psnr"] for p in common_pairs],
                                                   [p["m1_bpp"] for p in common_pairs],
                                                   [p["m1_psnr"] for p in common_pairs], "pchip")
        except BDError as e:
            out["bd_rate_m1_vs_m3_psnr"] = None
            out["notes"].append(f"M1 vs M3: {e}")
    elif common_pairs and m3:  # one M1 point: its rate gap to the 24-image M3 curve at the same PSNR
        p = common_pairs[0]
        try:
            out["rate_gap_m1_vs_m3_curve_psnr"] = rate_gap_at_quality([q["bpp"] for q in m3], [q["psnr"] for q in m3],
                                                                       p["m1_bpp"], p["m1_psnr"])
        except BDError as e:
            out["notes"].append(f"M1 rate gap: {e}")
    return out


def cmd_evaluate(a, recipe: dict) -> int:
    """Kodak, real files, per model of ``--lambdas`` (default: all): M3 on every image, then M1 (SGA,
    ``--sga_its`` iterations, temperature schedule compressed to the same shape) on ``--sga_images`` if the λ
    is in ``--sga_lambdas``, until ``--stop_at``. Writes ``zoo/ms/<runname>/measures.csv`` (rewritten after
    each M1 image: a partial run counts) and ``reference.csv`` (M3 on 256x256 centre crops of REF_CROPS);
    ``summarize`` merges them. Separate processes per model may run in parallel."""
    _set_threads(a.threads)
    from sga.checkpoints import load_model
    from sga.cli import expand_images
    from sga.evaluate import EXTRA_COLUMNS, run_method
    from sga.inference import METHODS, with_overrides

    from shared_data.imageio import read_image
    from shared_data.transforms import center_crop
    from shared_eval.measures_csv import write_measures

    paths = expand_images(a.kodak)[:a.n_images]
    sga_names = None if a.sga_images == "all" else a.sga_images.split(",")
    sga_paths = paths if sga_names is None else [Path(a.kodak) / n for n in sga_names]
    lambdas = _lambdas(a.lambdas, recipe)
    sga_lambdas = _lambdas(a.sga_lambdas, recipe) if a.sga_its > 0 else []
    deadline = _deadline(a.stop_at)
    meth = with_overrides(METHODS["sga"], its=a.sga_its, compress_schedule=True)
    for lm in lambdas:
        name = run_name_of(lm, recipe)
        model, _ = load_model(Path(a.zoo) / name)
        res = Path(a.work) / "eval" / name
        t = time.time()
        rows = run_method(model, lm, METHODS["m3"], paths, res, runname=name, progress=False, write_npz=False)
        print(f"{name}: M3 on {len(rows)} images: bpp {_mean(rows, 'bpp'):.4f} PSNR {_mean(rows, 'psnr'):.2f} dB "
              f"({time.time() - t:.0f} s)", flush=True)
        crops = [(f"{Path(n).stem}_c256", center_crop(read_image(Path(a.kodak) / n), 256)) for n in REF_CROPS]
        ref = [{"img_name": r["img_name"], "bpp": r["bpp"], "ms-ssim": r["ms-ssim"], "psnr": r["psnr"],
                "enc_s": r["enc_s"], "dec_s": r["dec_s"], "model": name, "method": "m3"}
               for r in run_method(model, lm, METHODS["m3"], None, res / "ref", runname=name, progress=False,
                                   write_npz=False, images=crops)]
        write_measures(Path(a.zoo) / name / "reference.csv", ref, ("model", "method"))
        write_measures(Path(a.zoo) / name / "measures.csv", rows, EXTRA_COLUMNS)
        for p in (sga_paths if lm in sga_lambdas else []):
            if deadline is not None and time.time() >= deadline:
                print(f"deadline {a.stop_at}: M1 stopped before {name} {p.name}", flush=True)
                break
            t = time.time()
            r1 = run_method(model, lm, meth, [p], res, runname=name, progress=False, write_npz=False)
            for r in r1:
                r["sga_its"] = a.sga_its
            rows += r1
            print(f"{name}: M1 ({a.sga_its} its) {p.name}: bpp {r1[0]['bpp']:.4f} PSNR {r1[0]['psnr']:.2f} dB "
                  f"rd {r1[0]['rd_loss_real']:.4f} ({time.time() - t:.0f} s)", flush=True)
            write_measures(Path(a.zoo) / name / "measures.csv", rows, EXTRA_COLUMNS)
    return 0


def _lambdas(spec: str, recipe: dict) -> list[float]:
    if spec == "all":
        return list(recipe["lambdas"])
    vals = [float(v) for v in spec.split(",")]
    if any(v not in recipe["lambdas"] for v in vals):
        raise ValueError(f"λ list {spec!r}: not all in the recipe's {list(recipe['lambdas'])}")
    return vals


def cmd_summarize(a, recipe: dict) -> int:
    """Merge the models' measures into ``zoo/ms/measures.csv`` + ``summary.json`` and their reference rows into
    the zoo regression reference (``ci/references/sga-zoo-ms.csv``)."""
    from sga.evaluate import EXTRA_COLUMNS

    from shared_eval.measures_csv import read_measures, write_measures

    rows, ref = [], []
    for lm in recipe["lambdas"]:
        d = Path(a.zoo) / run_name_of(lm, recipe)
        for r in read_measures(d / "measures.csv"):
            r["lambda"] = float(r["lambda"])
            rows.append(r)
        ref += read_measures(d / "reference.csv")
    write_measures(Path(a.zoo) / "measures.csv", rows, EXTRA_COLUMNS)
    write_measures(Path(a.reference), ref, ("model", "method"))
    summary = summarize(rows, Path(a.jpeg))
    summary["sga_its"] = sorted({int(float(r["sga_its"])) for r in rows if r.get("sga_its") not in (None, "")})
    _atomic_write(Path(a.zoo) / "summary.json", json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "jpeg"}, indent=1))
    return 0


def _deadline(spec: str | None) -> float | None:
    """``HH:MM[:SS]`` (today, local time) -> time.time() value."""
    if not spec:
        return None
    hh, mm, ss = ([int(v) for v in spec.split(":")] + [0])[:3]
    t = time.localtime()
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, hh, mm, ss, 0, 0, -1))


def _set_threads(n: int):
    import tensorflow as tf  # noqa: F401 - imported first, so that threads.limit configures it

    from shared_data import threads

    threads.limit(n)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="zoo.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default=str(HERE.parent / "runs" / "sga" / "zoo"), help="checkpoints, logs, results")
    p.add_argument("--train_glob", default=DEFAULT_TRAIN)
    p.add_argument("--kodak", default=DEFAULT_KODAK)
    p.add_argument("--threads", type=int, default=1, help="TF intra/inter-op threads per training process")
    p.add_argument("--stop_at", default=None, help="HH:MM: save and stop there (resume with the same command)")
    p.add_argument("--minutes", type=float, default=None, help="stop training after M minutes (and M1 at 2M)")
    p.add_argument("--recipe", default=None, help="JSON object overriding RECIPE entries (tests, GPU runs)")
    p.add_argument("--warm_start", action="store_true",
                   help="a run with no checkpoint under --work starts from its exported model in --zoo (weights and "
                        "step; fresh optimizer state): continue the committed models in a fresh clone")
    sub = p.add_subparsers(dest="command", required=True)
    p.add_argument("--zoo", default=str(ZOO_DIR), help="exported models, measures.csv, summary.json")
    p.add_argument("--reference", default=str(REFERENCE))
    p.add_argument("--jpeg", default=str(HERE.parent / "ci" / "baselines" / "kodak" / "jpeg" / "measures.csv"))
    sub.add_parser("train")
    sub.add_parser("export")
    ev = sub.add_parser("evaluate")
    ev.add_argument("--sga_its", type=int, default=100, help="M1 iterations (paper: 2000; 0: M3 only)")
    ev.add_argument("--sga_images", default="all", help="comma list of Kodak file names for M1, or 'all'")
    ev.add_argument("--lambdas", default="all", help="comma list of the models' λ to evaluate, or 'all'")
    ev.add_argument("--n_images", type=int, default=None, help="first N Kodak images only (default: all 24)")
    ev.add_argument("--sga_lambdas", default="all", help="comma list of λ for M1, or 'all'")
    sub.add_parser("summarize")
    al = sub.add_parser("all")
    al.add_argument("--sga_its", type=int, default=100)
    al.add_argument("--sga_images", default="all")
    al.add_argument("--lambdas", default="all", help="comma list of the models' λ to evaluate, or 'all'")
    al.add_argument("--n_images", type=int, default=None, help="first N Kodak images only (default: all 24)")
    al.add_argument("--sga_lambdas", default="all")
    t1 = sub.add_parser("train-one")
    t1.add_argument("--lmbda", type=float, required=True)
    t1.add_argument("--last_step", type=int, required=True)
    t1.add_argument("--save_secs", type=float, default=120, help="checkpoint interval (seconds)")
    t1.add_argument("--progress", action="store_true", default=True)
    t1.add_argument("--no_progress", dest="progress", action="store_false")
    a = p.parse_args(argv)
    recipe = dict(RECIPE, **json.loads(a.recipe or "{}"))
    if a.minutes is not None and a.command in ("train", "all"):
        a.stop_at = time.strftime("%H:%M:%S", time.localtime(time.time() + 60 * a.minutes))
    if a.command == "train":
        return cmd_train(a, recipe)
    if a.command == "train-one":
        _set_threads(a.threads)
        train_one(a.lmbda, recipe, Path(a.work), a.train_glob, a.last_step, _deadline(a.stop_at), save_secs=a.save_secs,
                  progress=a.progress, warm_start=Path(a.zoo) if a.warm_start else None)
        return 0
    if a.command == "export":
        return cmd_export(a, recipe)
    if a.command == "evaluate":
        return cmd_evaluate(a, recipe)
    if a.command == "summarize":
        return cmd_summarize(a, recipe)
    if a.command == "all":
        rc = cmd_train(a, recipe) or cmd_export(a, recipe)
        if rc:
            return rc
        if a.minutes is not None:  # M1 gets up to as long again
            a.stop_at = time.strftime("%H:%M:%S", time.localtime(time.time() + 60 * a.minutes))
        return cmd_evaluate(a, recipe) or cmd_summarize(a, recipe)
    raise AssertionError(a.command)


if __name__ == "__main__":
    sys.exit(main())
