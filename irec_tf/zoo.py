#!/usr/bin/env python
"""The iREC zoo (issue 19; not upstream): one command trains, exports and evaluates a named lossy recipe.

    .venv/bin/python zoo.py all cpu              # make zoo-irec: train, export, evaluate
    .venv/bin/python zoo.py train cpu [--minutes M]   # the phases of the recipe (resumable)
    .venv/bin/python zoo.py export cpu           # last phase's model -> zoo/cpu/ (float32 + integer network)
    .venv/bin/python zoo.py evaluate cpu         # all 24 Kodak images, real files, actual vs ideal, JPEG
    .venv/bin/python zoo.py speed cpu [--steps 20] [--cases ...]   # s/step of training options on this CPU

The model is the paper's 2-level lossy VAE (``large_level_2_vae``, Flamich et al. 2020, with the original's
layers: ``layer_flavour="original"``, issue 18), trained by the sacred experiment
``examples/lossy/train_lossy_model.py`` (one subprocess per phase; loss β·MSE·255² + bpp, Adam, TensorBoard
under ``<phase>/logs/train``, a tqdm bar). Resumable after SIGKILL: the experiment restores its
``train_state/`` checkpoint (``tf.train.CheckpointManager``: the state file names a checkpoint only once it
is complete) when the same command runs again. ``--minutes M`` is a wall-time guard over all phases (the
experiment's ``max_seconds``); a phase stopped by it is continued by the same command. Export:
``config.json`` + float32 ``weights.npz`` + the exact integer network (``python -m rec integerize``, issue
15), the format ``python -m rec --model DIR`` loads. The ResNet-VAE lossless model gets no zoo recipe: its
target data (CIFAR-10 / ImageNet32) are not on this machine and issue 19's iREC target is the lossy model.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: The zoo recipes: widths N, M (level_1/level_2_filters), β, seed and the training phases (each a run of
#: train_lossy_model.py; a later phase starts from the previous one's weights, ``init_from``). ``iters``
#: None = open-ended: the phase gets ``share`` of ``--minutes``.
RECIPES = {
    # CPU: 2x zoo/mini's widths (N=96, M=64; paper 196/128); as zoo/mini, 64² crops first (fast), then 256²
    # crops so that the hyperprior sees z maps larger than 1x1 (zoo/mini/TRAINING.md: without it the KL
    # explodes on whole images); β = 0.01 (loss 0.01·MSE·255² + bpp), lr 1e-3 then 5e-4 (paper 1e-4, 200k its)
    "cpu": dict(N=96, M=64, beta=0.01, seed=1, threads=2, max_images=373, phases=[
        dict(crop=64, batch=8, lr=1e-3, iters=6000, log_freq=200),
        dict(crop=256, batch=2, lr=5e-4, iters=2000, log_freq=100)]),
    # a lent GPU (tools/device/train_zoo.sh irec --minutes M): the paper's widths and crops, batch 8; lr 3e-4
    # (the paper's 1e-4 is for 200k iterations; a run of minutes needs a larger step); open-ended.
    "gpu": dict(N=196, M=128, beta=0.01, seed=1, threads=8, max_images=373, phases=[
        dict(crop=256, batch=8, lr=3e-4, iters=None, share=1.0, log_freq=200)]),
    # tests: seconds on a CPU (two phases, to exercise init_from); open-ended like gpu (train_zoo.sh --models
    # tiny runs the gpu path: phase 1 until 60 % of M, phase 2 the rest), the tests give --iters N1,N2
    "tiny": dict(N=8, M=8, beta=0.01, seed=1, threads=1, max_images=8, phases=[
        dict(crop=64, batch=2, lr=1e-3, iters=None, share=0.6, log_freq=1),
        dict(crop=64, batch=1, lr=5e-4, iters=None, share=1.0, log_freq=1)]),
}
REF_CROPS = ("kodim01.png", "kodim15.png")  # 256² centre crops: the zoo regression reference
BIG = 10 ** 9


class ZooError(ValueError):
    """A bad recipe name or a missing prerequisite (printed as one line)."""


def recipe(name: str) -> dict:
    if name not in RECIPES:
        raise ZooError(f"unknown recipe {name!r} (have {', '.join(sorted(RECIPES))})")
    return RECIPES[name]


def saved_step(save_dir: Path) -> int:
    """The step of the newest complete training checkpoint (``train_state/checkpoint`` names it only once its
    files are written), 0 when there is none. Read as text: no TensorFlow start."""
    state = save_dir / "train_state" / "checkpoint"
    if not state.is_file():
        return 0
    m = re.search(r'^model_checkpoint_path:\s*"(?:.*[/\\])?ckpt-(\d+)"', state.read_text(), re.M)
    return int(m.group(1)) if m else 0


def phase_dir(out: Path, name: str, i: int) -> Path:
    return out / name / f"phase{i + 1}"


def phase_done(d: Path, iters: int | None) -> bool:
    return (d / "DONE").is_file() or (iters is not None and saved_step(d) >= iters
                                      and (d / "weights.npz").is_file())


# ------------------------------------------------------------------------------------------------- train
def phase_config(r: dict, ph: dict, d: Path, init_from: Path | None, train_dir: str | None,
                 max_seconds: float) -> dict:
    """The sacred config of one phase of ``examples/lossy/train_lossy_model.py`` (dotted keys for the
    ``dataset`` ingredient)."""
    cfg = {"model": "large_level_2_vae", "loss_fn": "mse", "level_1_filters": r["N"], "level_2_filters": r["M"],
           "beta": r["beta"], "learning_rate": ph["lr"], "crop_size": ph["crop"], "batch_size": ph["batch"],
           "iters": ph["iters"] or BIG, "log_freq": ph["log_freq"], "max_seconds": round(float(max_seconds), 1),
           "max_images": r["max_images"], "model_save_dir": str(d), "seed": r["seed"],
           "dataset.dataset_name": "train_photos"}
    if train_dir:
        cfg["dataset.dataset_base_path"] = str(train_dir)
    if init_from is not None:
        cfg["init_from"] = str(init_from)
    return cfg


TRAIN_SCRIPT = HERE / "examples" / "lossy" / "train_lossy_model.py"


def run_phase(cfg: dict, env: dict, in_process: bool) -> int:
    """Run the training experiment with ``cfg``: a subprocess (``python train_lossy_model.py with k=v ...``),
    or with ``in_process`` the imported experiment's ``ex.run`` (one TensorFlow start for tests)."""
    if not in_process:
        cmd = [sys.executable, str(TRAIN_SCRIPT), "with", *[f"{k}={v}" for k, v in cfg.items()]]
        return subprocess.run(cmd, cwd=HERE, env=env).returncode
    import importlib.util

    os.environ.update({k: env[k] for k in ("IREC_SACRED_DIR",)})
    updates: dict = {}
    for k, v in cfg.items():
        head, _, tail = k.partition(".")
        if tail:
            updates.setdefault(head, {})[tail] = v
        else:
            updates[k] = v
    sys.modules.pop("datasets", None)
    sys.path.insert(0, str(TRAIN_SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("_zoo_train_lossy_model", TRAIN_SCRIPT)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.ex.run(config_updates=updates)
    finally:
        sys.path.remove(str(TRAIN_SCRIPT.parent))
        sys.modules.pop("datasets", None)
    return 0


def cmd_train(a) -> int:
    """The recipe's phases in order; 0 when all are complete, 3 when the time guard stopped one (rerun the
    same command to continue)."""
    r = recipe(a.name)
    out = Path(a.out)
    iters = a.iters or [ph["iters"] for ph in r["phases"]]
    if len(iters) != len(r["phases"]):
        raise ZooError(f"--iters: recipe {a.name!r} has {len(r['phases'])} phases, got {len(iters)} counts")
    t_start = time.time()
    deadline = t_start + 60 * a.minutes if a.minutes else None
    if any(n is None for n in iters) and deadline is None:
        raise ZooError(f"recipe {a.name!r} is open-ended: give --minutes M (or --iters N1,N2)")
    env = dict(os.environ, LIC_THREADS=str(a.threads or r["threads"]),
               IREC_SACRED_DIR=os.environ.get("IREC_SACRED_DIR", str(out / a.name / "sacred")))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for i, ph in enumerate(r["phases"]):
        ph = {**ph, "iters": iters[i]}
        d = phase_dir(out, a.name, i)
        if phase_done(d, ph["iters"]):
            print(f"{a.name} phase {i + 1}: complete ({saved_step(d)} iterations)", flush=True)
            continue
        at = saved_step(d)
        budget = 0.0
        if deadline is not None:
            left = deadline - time.time()
            if ph["iters"] is None:
                left = min(left, ph.get("share", 1.0) * 60 * a.minutes - (time.time() - t_start))
            if left <= 0 and ph["iters"] is not None:
                print(f"{a.name} phase {i + 1}: --minutes {a.minutes} used up at iteration {at}; rerun to continue",
                      flush=True)
                return 3
            budget = max(left, 1.0)  # an open-ended phase trains at least one iteration
        init = phase_dir(out, a.name, i - 1) if i else None
        print(f"{a.name} phase {i + 1}: {'resume at iteration ' + str(at) if at else 'fresh'}"
              f"{' from ' + str(init) if init and not at else ''}, {ph['iters'] or 'open-ended'} iterations"
              + (f", time guard {budget / 60:.1f} min" if budget else ""), flush=True)
        d.mkdir(parents=True, exist_ok=True)
        rc = run_phase(phase_config(r, ph, d, init, a.train_dir, budget), env, a.in_process)
        if rc:
            print(f"zoo.py: error: phase {i + 1} training exited with status {rc}", file=sys.stderr)
            return rc
        reached = saved_step(d)
        if ph["iters"] is None:
            (d / "DONE").write_text(f"{reached}\n")
        elif reached < ph["iters"]:
            print(f"{a.name} phase {i + 1}: stopped by --minutes at iteration {reached} of {ph['iters']}; "
                  "rerun to continue", flush=True)
            return 3
    return 0


# ------------------------------------------------------------------------------------------------ export
def cmd_export(a) -> int:
    """The last phase's model -> ``zoo/NAME`` (config.json + float32 weights.npz + the integer network),
    plus the training curves (curve.json, loss.png)."""
    import numpy as np
    from rec.codec import integerize_model

    r = recipe(a.name)
    out = Path(a.out)
    last = phase_dir(out, a.name, len(r["phases"]) - 1)
    if not (last / "weights.npz").is_file():
        raise ZooError(f"{last}: no trained model (run zoo.py train {a.name})")
    dest = Path(a.dest) if a.dest else HERE / "zoo" / a.name
    tmp = dest.with_name(dest.name + ".export.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in ("config.json", "weights.npz"):
        shutil.copy(last / f, tmp / f)
    with np.load(tmp / "weights.npz") as w:
        bad = [k for k in w.files if w[k].dtype.kind == "f" and w[k].dtype != np.float32]
    if bad:
        raise AssertionError(f"{last}: non-float32 weights {bad[:3]}")
    lm = integerize_model(tmp, tmp)
    rows = curve(out, a.name, r)
    (tmp / "curve.json").write_text(json.dumps(rows) + "\n")
    plot_curve(rows, tmp / "loss.png", f"iREC zoo {a.name}: N={r['N']} M={r['M']} β={r['beta']}")
    keep = [f for f in ("TRAINING.md", "measures.csv", "summary.json") if (dest / f).is_file()]
    for f in keep:  # the folder's documentation and last evaluation stay until re-evaluated
        shutil.copy(dest / f, tmp / f)
    if dest.exists():
        shutil.rmtree(dest)
    tmp.replace(dest)
    print(f"exported {last} (iteration {saved_step(last)}) -> {dest} (fingerprint {lm.fingerprint.hex()}, "
          f"float {lm.float_fingerprint.hex()})", flush=True)
    return 0


def curve(out: Path, name: str, r: dict) -> list[dict]:
    """(phase, iteration, loss, bpp, psnr, ...) from every phase's TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rows = []
    for i in range(len(r["phases"])):
        by: dict[int, dict] = {}
        for ev in sorted((phase_dir(out, name, i) / "logs" / "train").glob("events.out.tfevents.*")):
            acc = EventAccumulator(str(ev), size_guidance={"scalars": 0, "tensors": 0})
            acc.Reload()
            tags = acc.Tags()
            for tag in tags.get("scalars", []):
                for e in acc.Scalars(tag):
                    by.setdefault(e.step, {"phase": i + 1, "step": e.step})[tag] = e.value
            for tag in tags.get("tensors", []):  # tf.summary.scalar in TF2 writes tensors
                import tensorflow as tf

                for e in acc.Tensors(tag):
                    by.setdefault(e.step, {"phase": i + 1, "step": e.step})[tag] = float(tf.make_ndarray(e.tensor_proto))
        rows += [by[k] for k in sorted(by)]
    return rows


def plot_curve(rows: list[dict], png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), dpi=80)
    offs, off = {}, 0
    for p in sorted({r["phase"] for r in rows}):
        offs[p] = off
        off += max(r["step"] for r in rows if r["phase"] == p)
    for p in offs:
        sel = [r for r in rows if r["phase"] == p]
        for ax, tag in zip(axes, ("bpp", "psnr")):
            pts = [(r["step"] + offs[p], r[tag]) for r in sel if tag in r]
            if pts:
                ax.plot(*zip(*pts), lw=0.8, label=f"phase {p}")
    for ax, t in zip(axes, ("bpp (KL, train crops)", "PSNR dB (train crops)")):
        ax.set_xlabel("iteration (phases in sequence)")
        ax.set_title(t, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    tmp = png.with_name(png.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, png)


# ---------------------------------------------------------------------------------------------- evaluate
def _images(a) -> list[tuple[str, object]]:
    from shared_data.imageio import read_image
    from shared_data.paths import kodak_images
    from shared_data.transforms import center_crop

    out = []
    for f in kodak_images()[: a.n_images or None]:
        img = read_image(f)
        out.append((f.name, center_crop(img, a.crop) if a.crop else img))
    return out


def _eval_worker(a, dest: Path, work: Path, k: int, n: int) -> int:
    """Images k, k+n, ... not evaluated yet: a real file each (rec.evaluate: encode, decode, actual vs ideal),
    its row written atomically to ``work/rows/<stem>.json`` (an interrupted evaluation resumes there)."""
    from rec.codec import load_model
    from rec.evaluate import evaluate

    from shared_data.imageio import atomic_write_bytes

    lm = load_model(dest)
    rows_dir = work / f"rows_{lm.fingerprint.hex()}"
    rows_dir.mkdir(parents=True, exist_ok=True)
    for name, img in _images(a)[k::n]:
        stem = Path(name).stem
        if (rows_dir / f"{stem}.json").is_file():
            continue
        rows, _ = evaluate(lm, [(name, img)], work / "files", save_reconstructions=True)
        atomic_write_bytes(rows_dir / f"{stem}.json", (json.dumps(rows[0]) + "\n").encode())
        r = rows[0]
        print(f"{name}: {r['bpp']:.4f} bpp (ideal {r['bpp_ideal']:.4f}) {r['psnr']:.2f} dB, encode "
              f"{r['enc_s']:.1f} s", flush=True)
    return 0


def jpeg_matched(img, bpp: float) -> dict:
    """Pillow JPEG (``shared_eval.baselines``) at the quality whose file is closest to ``bpp``."""
    from shared_eval.baselines import encode_at_bpp
    from shared_eval.metrics import bpp as bpp_of
    from shared_eval.metrics import ms_ssim, psnr

    data, rec, q = encode_at_bpp(img, "jpeg", bpp, mode="closest")
    h, w = img.shape[:2]
    return {"bpp": bpp_of(len(data), h, w), "psnr": psnr(img, rec),
            "ms-ssim": ms_ssim(img, rec) if min(h, w) >= 176 else None, "quality": q}


def _mean(rows, k):
    v = [float(r[k]) for r in rows if r.get(k) not in (None, "")]
    return sum(v) / len(v) if v else None


def cmd_evaluate(a) -> int:
    """Kodak (default all 24 whole images) with real files in ``--jobs`` processes; JPEG at matched bpp;
    measures.csv, summary.json (actual vs ideal code length) and the zoo regression reference."""
    from shared_data import threads
    from shared_eval.check import update_mini_reference
    from shared_eval.measures_csv import write_measures, write_summary

    r = recipe(a.name)
    dest = Path(a.model) if a.model else HERE / "zoo" / a.name
    if not (dest / "weights.npz").is_file():
        raise ZooError(f"{dest}: no exported model (run zoo.py export {a.name})")
    work = Path(a.out) / a.name / ("eval" if not a.crop else f"eval_c{a.crop}")
    if a.worker:
        k, n = (int(v) for v in a.worker.split("/"))
        threads.limit(1)
        return _eval_worker(a, dest, work, k, n)
    images = _images(a)
    if not images:
        raise ZooError("no Kodak images (set KODAK_DIR)")
    t0 = time.time()
    base = [sys.executable, str(Path(__file__).resolve()), "evaluate", a.name, "--out", a.out, "--model", str(dest),
            "--n_images", str(a.n_images), "--crop", str(a.crop)]
    jobs = max(1, min(a.jobs, len(images)))
    procs = [subprocess.Popen([*base, "--worker", f"{k}/{jobs}"], cwd=HERE) for k in range(jobs)]
    if any(p.wait() for p in procs):
        print("zoo.py: error: an evaluation worker failed", file=sys.stderr)
        return 1
    from rec.codec import load_model

    lm = load_model(dest)
    rows_dir = work / f"rows_{lm.fingerprint.hex()}"
    rows = [json.loads((rows_dir / f"{Path(n).stem}.json").read_text()) for n, _ in images]
    jrows = []
    for row, (n, img) in zip(rows, images):
        row["model"] = f"irec {a.name}"
        jrows.append({"img_name": Path(n).stem, **jpeg_matched(img, row["bpp"]), "model": "jpeg"})
    extra = ("mode", "bpp_ideal", "bpp_kl_coded", "psnr_ideal", "ms_ssim_ideal", "kl_bits", "index_bits",
             "overhead_bits", "file_bytes", "model", "quality")
    write_measures(dest / "measures.csv", rows + jrows, extra)
    summ = {"recipe": a.name, "config": r, "model_config": lm.config, "fingerprint": lm.fingerprint.hex(),
            "n_images": len(images), "crop": a.crop or None, "coding": "B=10, 1+eps=1, Omega=3 (codec defaults)",
            "eval_wall_s": round(time.time() - t0, 1),
            "irec": {k: _mean(rows, k) for k in ("bpp", "bpp_ideal", "bpp_kl_coded", "psnr", "psnr_ideal", "ms-ssim",
                                                 "enc_s", "dec_s", "overhead_bits")},
            "jpeg_matched": {k: _mean(jrows, k) for k in ("bpp", "psnr", "ms-ssim")}}
    s = summ["irec"]
    summ["actual_vs_ideal"] = {"actual_bpp": s["bpp"], "ideal_kl_bpp": s["bpp_ideal"],
                               "overhead_pct": 100 * (s["bpp"] / s["bpp_ideal"] - 1) if s["bpp_ideal"] else None}
    summ["psnr_minus_jpeg_db"] = s["psnr"] - summ["jpeg_matched"]["psnr"]
    summ["targets"] = {"within_1db_of_jpeg": summ["psnr_minus_jpeg_db"] >= -1.0}
    write_summary(dest / "summary.json", summ)
    print(json.dumps({k: summ[k] for k in ("irec", "jpeg_matched", "actual_vs_ideal", "targets")}, indent=1))
    if not a.no_reference:
        ref_rows = _reference_rows(lm, work)
        if ref_rows:
            tmp = work / "reference.csv"
            write_measures(tmp, ref_rows)
            ref = Path(a.reference) if a.reference else REPO / "ci" / "references" / f"irec-zoo-{a.name}.csv"
            update_mini_reference("irec", tmp, ref, "zoo")
            print(f"wrote {ref}")
    return 0


def _reference_rows(lm, work: Path) -> list[dict]:
    from rec.evaluate import evaluate

    from shared_data.imageio import read_image
    from shared_data.paths import kodak_dir
    from shared_data.transforms import center_crop

    crops = []
    for n in REF_CROPS:
        f = kodak_dir() / n
        if not f.is_file():
            return []
        crops.append((f"{Path(n).stem}_c256", center_crop(read_image(f), 256)))
    rows, _ = evaluate(lm, crops, work / "ref", save_reconstructions=False)
    return [{k: row[k] for k in ("img_name", "bpp", "ms-ssim", "psnr", "enc_s", "dec_s")} for row in rows]


def cmd_all(a) -> int:
    rc = cmd_train(a)
    if rc:
        return rc
    return cmd_export(a) or cmd_evaluate(a)


# ----------------------------------------------------------------------------------------------- speed

#: ``zoo.py speed`` cases (each in a fresh process: TF's threads and precision policy are set before it
#: starts): overrides of the baseline, the recipe's first phase (its crop, batch and threads, float32
#: ``tf.function``). ``policy``: a Keras mixed-precision policy (``mixed_bfloat16``: bf16 compute, float32
#: variables; training only: the committed weights are float32 and coding runs the integer network).
SPEED_CASES = {
    "base": {},
    "threads1": {"threads": 1},
    "jit": {"jit": True},
    "mixed_bfloat16": {"policy": "mixed_bfloat16"},
}


def _speed_worker(a) -> int:
    """One case in this process: seconds per training step of ``rec.train.train_lossy``'s step (forward,
    loss, gradients, Adam) on fixed decoded crops, after 3 warm-up steps (the first traces)."""
    kw = json.loads(a.worker_case)
    from shared_data import paths, threads

    threads.limit(kw["threads"])
    import math

    import numpy as np
    import tensorflow as tf

    if kw.get("policy"):
        tf.keras.mixed_precision.set_global_policy(kw["policy"])
    from rec.codec import build
    from rec.data import random_crops
    from rec.models import NEW_LOSSY_FLAVOUR
    from rec.train import lossy_loss

    from shared_data.imageio import list_images

    r = recipe(a.name)
    ph = r["phases"][0]
    tf.random.set_seed(r["seed"])
    model = build({"model": "large_level_2_vae", "level_1_filters": r["N"], "level_2_filters": r["M"],
                   "layer_flavour": NEW_LOSSY_FLAVOUR})
    opt = tf.keras.optimizers.Adam(ph["lr"])
    beta = tf.Variable(float(r["beta"]), trainable=False)
    files = list_images(a.train_dir or paths.train_dir())
    gen = random_crops(files, ph["crop"], ph["batch"], seed=0, max_images=16)
    batches = [tf.constant(next(gen).astype(np.float32) / 255.0) for _ in range(4)]

    @tf.function(jit_compile=bool(kw.get("jit")))
    def step(x):
        with tf.GradientTape() as tape:
            loss, bpp, dist, _, _, _ = lossy_loss(model, x, beta)
            loss = tf.cast(loss, tf.float32)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses, t = [], 0.0
    for i in range(3 + a.steps):
        t0 = time.perf_counter()
        loss = float(step(batches[i % len(batches)]))
        if i >= 3:
            t += time.perf_counter() - t0
            losses.append(loss)
    if not all(math.isfinite(v) for v in losses):
        raise FloatingPointError(f"non-finite loss: {losses}")
    print("SPEED " + json.dumps({"s_per_step": t / a.steps, "steps_per_s": a.steps / t,
                                 "loss_mean": float(np.mean(losses))}), flush=True)
    return 0


def cmd_speed(a) -> int:
    if a.worker_case:
        return _speed_worker(a)
    from shared_data.speed import run_cases

    r = recipe(a.name)

    def run(kw):
        cmd = [sys.executable, str(Path(__file__).resolve()), "speed", a.name, "--steps", str(a.steps),
               "--worker_case", json.dumps(kw)] + (["--train_dir", a.train_dir] if a.train_dir else [])
        p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        got = [ln[6:] for ln in p.stdout.splitlines() if ln.startswith("SPEED ")]
        if p.returncode == 0 and got:
            return json.loads(got[-1])
        # e.g. a precision policy a layer does not support: reported, not fatal
        lines = [ln.strip() for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith((" ", "\t"))]
        k = max((i for i, ln in enumerate(lines) if "Error" in ln.split(":")[0]), default=None)
        return {"error": (" ".join(lines[k:k + 3]) if k is not None else f"exit {p.returncode}")[:400]}

    run_cases(SPEED_CASES, a.cases, {"threads": r["threads"]}, run,
              {"recipe": a.name, "crop": r["phases"][0]["crop"], "batch": r["phases"][0]["batch"]}, a.json, ZooError)
    return 0


def _ints(s: str) -> list[int]:
    try:
        v = [int(x) for x in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma list of iteration counts, got {s!r}") from None
    if any(x < 1 for x in v):
        raise argparse.ArgumentTypeError(f"iteration counts must be >= 1, got {s!r}")
    return v


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="zoo.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for cmd in ("train", "export", "evaluate", "all", "speed"):
        c = sub.add_parser(cmd)
        c.add_argument("name", help=f"recipe: {', '.join(sorted(RECIPES))}")
        c.add_argument("--out", default=str(REPO / "runs" / "irec" / "zoo"), help="runs (checkpoints, TensorBoard)")
        if cmd == "speed":
            c.add_argument("--steps", type=int, default=20, help="timed steps per case (after 3 warm-up steps)")
            c.add_argument("--cases", default=None, help=f"comma list of {', '.join(SPEED_CASES)} (default all)")
            c.add_argument("--train_dir", default=None, help="training photos (default $TRAIN_DIR)")
            c.add_argument("--json", default=None, help="write the rows as JSON here")
            c.add_argument("--worker_case", default=None, help=argparse.SUPPRESS)
        if cmd in ("train", "all"):
            c.add_argument("--minutes", type=float, default=None, help="wall-time guard (resumable)")
            c.add_argument("--train_dir", default=None, help="training photos (default $TRAIN_DIR)")
            c.add_argument("--threads", type=int, default=0, help="TF intra-op threads (default: the recipe's)")
            c.add_argument("--iters", type=_ints, default=None, metavar="N1,N2",
                           help="override the recipe's iterations per phase")
            c.add_argument("--in_process", action="store_true",
                           help="run the training experiment in this process (tests: one TensorFlow start)")
        if cmd in ("export", "all"):
            c.add_argument("--dest", default=None, help="model folder (default zoo/NAME)")
        if cmd in ("evaluate", "all"):
            c.add_argument("--model", default=None, help="model folder (default zoo/NAME, or --dest)")
            c.add_argument("--n_images", type=int, default=0, help="first N Kodak images (default all 24)")
            c.add_argument("--crop", type=int, default=0, help="centre crops of this size (default whole images)")
            c.add_argument("--jobs", type=int, default=2, help="evaluation processes (one thread each)")
            c.add_argument("--reference", default=None, help="default ci/references/irec-zoo-NAME.csv")
            c.add_argument("--no_reference", action="store_true", help="do not write the regression reference")
            c.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    recipe(a.name)
    if a.cmd == "all":
        a.model = a.model or a.dest
    return {"train": cmd_train, "export": cmd_export, "evaluate": cmd_evaluate, "all": cmd_all,
            "speed": cmd_speed}[a.cmd](a)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ZooError, FileNotFoundError, NotImplementedError) as e:
        print(f"zoo.py: error: {e}", file=sys.stderr)
        sys.exit(2)
    except Exception as e:  # the library's one-line errors (LicError family)
        from shared_data.errors import LicError

        if isinstance(e, LicError):
            print(f"zoo.py: error: {e}", file=sys.stderr)
            sys.exit(2)
        raise
