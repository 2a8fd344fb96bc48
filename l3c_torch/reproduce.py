#!/usr/bin/env python
"""Reproduction driver (``make reproduce-l3c SCALE=mini|full``): writes ``OUT/measures.csv`` and
``OUT/summary.json``.

mini: trains the reduced configs on ``$TRAIN_DIR`` (:data:`MINI_PLAN`: L3C ``cr_mini.cf`` 3000 iterations,
RGB Shared and RGB 1000 each; 32x32 crops, batch 8, one torch thread per training, L3C beside the two
baselines: ~30 min of an idle 2-core CPU) into ``OUT/logs`` (resumable: finished runs are reused), then
real-file bpsp on Kodak (:data:`MINI_IMAGES` images, centre :data:`MINI_CROP` crops; every file encoded,
decoded and checked bit-exact) of the three models, beside the lossless classical codecs of
``shared_eval.baselines`` (PNG, WebP-lossless, JPEG2000-lossless, JPEG XL-lossless) on the same crops.
``--zoo`` evaluates the committed ``zoo/mini`` L3C only, without training.

full: ``cr.cf`` (+ the baselines with ``--with_baselines``) on the Open Images preprocessing of
``shared_data`` (``--train_dir``/``--val_dir`` or ``$OI_TRAIN``/``$OI_VAL``), on a GPU, DDP over several GPUs
with ``torchrun`` (``--nproc``), then real-file bpsp on the validation images. It needs CUDA (``--allow_cpu``
for tests) and the data, and says so otherwise.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

LOSSLESS = ("png", "webp-lossless", "jpeg2000-lossless", "jpegxl-lossless")


TOOLS_PY = HERE.parent / ".venv" / "bin" / "python"  # the repository's tools env (has imagecodecs)


def classical_rows(files, crop: int | None = None, work: Path | None = None) -> tuple[list[dict], list[str]]:
    """The lossless classical codecs of ``shared_eval.baselines`` on the same (cropped) images: real encoded
    sizes. A codec this env cannot run (JPEG XL needs imagecodecs, which is not pinned here) is run by the
    repository's tools env (``.venv`` at the root) on the crops written as PNGs into ``work``."""
    from l3c.evaluate import center_crop

    from shared_data.imageio import read_image, write_png
    from shared_eval import baselines
    from shared_eval.measures_csv import read_measures

    rows, notes = [], []
    imgs = {(Path(f).name if not crop else f"{Path(f).stem}_c{crop}{Path(f).suffix}"): center_crop(read_image(f), crop)
            for f in files}
    for codec in LOSSLESS:
        try:
            for name, img in imgs.items():
                t0 = time.perf_counter()
                data = baselines.encode(img, codec, baselines.CODECS[codec].default_qualities[0])
                enc_s = time.perf_counter() - t0
                h, w = img.shape[:2]
                rows.append({"img_name": name, "model": codec, "bpp": 8 * len(data) / (h * w),
                             "bpsp": 8 * len(data) / (3 * h * w), "bytes": len(data), "enc_s": enc_s})
        except Exception as e:  # e.g. imagecodecs missing for JPEG XL
            rows = [r for r in rows if r["model"] != codec]
            if work is None or not TOOLS_PY.exists():
                notes.append(f"{codec}: not measured ({type(e).__name__}: {e})")
                continue
            src, dst = work / "images", work / "classical"
            for name, img in imgs.items():
                write_png(src / (Path(name).stem + ".png"), img)
            r = subprocess.run([str(TOOLS_PY), "-m", "shared_eval.baselines", "--images", str(src), "--codecs",
                                codec, "--out", str(dst)], capture_output=True, text=True, cwd=HERE.parent)
            if r.returncode != 0:
                notes.append(f"{codec}: not measured (tools env failed: {r.stderr.strip()[-300:]})")
                continue
            sizes = {name: img.shape[:2] for name, img in imgs.items()}
            for m in read_measures(dst / codec / "measures.csv"):
                h, w = sizes[m["img_name"]]
                bpp = float(m["bpp"])
                rows.append({"img_name": m["img_name"], "model": codec, "bpp": bpp, "bpsp": bpp / 3,
                             "bytes": round(bpp * h * w / 8), "enc_s": float(m["enc_s"])})
            notes.append(f"{codec}: measured by the tools env ({TOOLS_PY}: imagecodecs) on the same crops")
    return rows, notes


# The mini plan: (name, ms config, iterations). Crops 32x32, batch 8 (configs/dl/mini.cf + crop_size=32),
# one torch thread per training (faster than two on a shared 2-core CPU), L3C in parallel with the two
# baselines (which run one after the other): about 15 + 2x5 minutes of one core each on an idle 2-core CPU.
MINI_PLAN = (("L3C", "cr_mini.cf", 3000), ("RGB Shared", "cr_rgb_shared_mini.cf", 1000),
             ("RGB", "cr_rgb_mini.cf", 1000))
MINI_OVERRIDES = ("crop_size=32",)
# Mini evaluation: 12 of the 24 Kodak images (evenly spread: kodim01 03 05 07 09 11 14 16 18 20 22 24), centre crop
# 128 x 128, real files for all three models and the classical codecs (the whole set takes hours on the
# shared 2-core CPU; --max_images 0 --crop 0 evaluates all 24 whole images).
MINI_IMAGES = 12
MINI_CROP = 128


def spread(files: list, n: int | None) -> list:
    """n files evenly spread over the sorted list (upstream ``test.py -m``: a linspace subsample)."""
    import numpy as np

    if not n or len(files) <= n:
        return files
    idx = np.linspace(0, len(files) - 1, n).round().astype(int)
    return [files[i] for i in sorted(set(idx))]


def _runs_for(log_root: Path, cf: str) -> list[Path]:
    """Run dirs of ``cf`` under log_root, oldest first (names ``MMDD_HHMM <ms> <dl> ...``)."""
    if not log_root.is_dir():
        return []
    stem = Path(cf).stem
    return sorted(p for p in log_root.iterdir() if p.is_dir() and p.name.split(" ")[1:2] == [stem])


def _train_cmd(cf: str, steps: int | None, log_root: Path, threads: int, dl: str = "mini.cf",
               overrides=MINI_OVERRIDES, extra=("-lval", "500", "-si", "500", "-sk", "1", "-ltrain", "50"),
               launcher=None, minutes: float | None = None) -> list[str]:
    """The train.py command for ``cf`` (``[]`` when log_root already holds a run with >= steps iterations;
    ``--restore ... --restore_continue`` when it holds an unfinished one)."""
    from l3c.model_io import list_ckpts

    cmd = [*(launcher or [sys.executable]), str(HERE / "train.py"), str(HERE / "configs/ms" / cf),
           str(HERE / "configs/dl" / dl), str(log_root), "--threads", str(threads), *extra]
    if steps is not None:
        cmd += ["--max_steps", str(steps)]
    if minutes is not None:
        cmd += ["--max_minutes", str(minutes)]
    for o in overrides:
        cmd += ["-p", o]
    if steps is None:
        return cmd
    runs = _runs_for(log_root, cf)
    if runs:
        last = runs[-1]
        done = max((i for i, _ in list_ckpts(last)), default=-1)
        if done >= steps:
            return []  # finished earlier (reproduce.py is resumable): reuse
        if done > 0:
            cmd += ["--restore", str(last), "--restore_continue"]
    return cmd


def train_mini(plan, log_root: Path, threads: int = 1, parallel: bool = True) -> dict[str, Path]:
    """Train every (name, cf, steps) of ``plan`` into log_root (niced; resumes or reuses runs found there).
    With ``parallel`` the first entry trains beside the others (which run in sequence)."""
    log_root.mkdir(parents=True, exist_ok=True)

    def run_seq(items):
        procs = []
        for _, cf, steps in items:
            cmd = _train_cmd(cf, steps, log_root, threads)
            if cmd:
                procs.append(cmd)
        return procs

    groups = [plan[:1], plan[1:]] if parallel else [plan]
    # each group is a shell-free chain of commands; groups run concurrently
    import threading

    errors = []

    def worker(items):
        for cmd in run_seq(items):
            print("+", " ".join(repr(c) if " " in c else c for c in cmd), flush=True)
            r = subprocess.run(["nice", "-n", "10", *cmd])
            if r.returncode != 0:
                errors.append(f"training failed ({r.returncode}): {' '.join(cmd)}")
                return

    ts = [threading.Thread(target=worker, args=(g,)) for g in groups if g]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("; ".join(errors))
    out = {}
    for name, cf, _ in plan:
        runs = _runs_for(log_root, cf)
        if not runs:
            raise RuntimeError(f"no run directory for {cf} in {log_root}")
        out[name] = runs[-1]
    return out


FULL_PLAN = (("L3C", "cr.cf"), ("RGB Shared", "cr_rgb_shared.cf"), ("RGB", "cr_rgb.cf"))


def run_full(a, out: Path) -> int:
    """Full scale: cr.cf (and with --with_baselines cr_rgb_shared.cf, cr_rgb.cf) on the Open Images
    preprocessing (configs/dl/oi.cf: crops 128, batch 30), one GPU or DDP over --nproc GPUs with torchrun,
    then real-file bpsp of every model on the validation images -> measures.csv + summary.json.
    Resumable: an existing run in OUT/logs is continued (or reused when it reached --steps)."""
    import torch
    from l3c.data import resolve_glob
    from l3c.evaluate import evaluate_files
    from l3c.model_io import load_model

    from shared_eval.measures_csv import summarize, write_measures, write_summary

    cuda = torch.cuda.is_available()
    if not cuda and not a.allow_cpu:
        print("reproduce.py --scale full: needs a CUDA GPU (the released models trained ~5 days on a Titan Xp); "
              "--allow_cpu runs it on the CPU anyway (tests). Nothing was run.", file=sys.stderr)
        return 2
    missing = [n for n, d in (("--train_dir/$OI_TRAIN", a.train_dir), ("--val_dir/$OI_VAL", a.val_dir))
               if not d or not resolve_glob(d)]
    if missing:
        print(f"reproduce.py --scale full: no images for {', '.join(missing)}; prepare Open Images with "
              "`python -m shared_data prepare openimages-l3c --src train_0 --out data/train_oi --seed 123` "
              "(and the validation set with --max-images 500). Nothing was run.", file=sys.stderr)
        return 2
    nproc = a.nproc if a.nproc is not None else max(1, torch.cuda.device_count() if cuda else 1)
    launcher = None
    if nproc > 1:
        launcher = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node",
                    str(nproc)]
    log_root = out / "logs"
    log_root.mkdir(parents=True, exist_ok=True)
    plan = FULL_PLAN if a.with_baselines else FULL_PLAN[:1]
    overrides = [f"train_imgs_glob={a.train_dir}", f"val_glob={a.val_dir}", *a.global_config]
    models = {}
    t0 = time.time()
    for name, cf in plan:
        cmd = _train_cmd(cf, a.steps, log_root, threads=2, dl="oi.cf", overrides=overrides,
                         extra=("-W", str(a.workers)), launcher=launcher,
                         minutes=None if a.steps else a.minutes)
        if cmd:
            print("+", " ".join(cmd), flush=True)
            r = subprocess.run(cmd)
            if r.returncode != 0:
                print(f"reproduce.py: training {cf} failed ({r.returncode})", file=sys.stderr)
                return 1
        runs = _runs_for(log_root, cf)
        if not runs:
            print(f"reproduce.py: no run directory for {cf} in {log_root}", file=sys.stderr)
            return 1
        models[name] = runs[-1]
    files = spread(resolve_glob(a.val_dir), a.max_images if a.max_images != MINI_IMAGES else 0)
    rows, meta = [], {"scale": "full", "val_dir": str(a.val_dir), "n_images": len(files), "nproc": nproc,
                      "device": "cuda" if cuda else "cpu", "backend": a.backend, "torch": torch.__version__,
                      "train_wall_s": time.time() - t0, "models": {}}
    for name, run in models.items():
        net, fp, itr = load_model(run, a.steps if a.steps else -1)
        meta["models"][name] = {"run": str(run), "itr": itr, "fingerprint": fp.hex()}
        for r in evaluate_files(net, fp, files, a.backend, theory=True):
            r["model"] = name
            rows.append(r)
    write_measures(out / "measures.csv", rows)
    summ = {**meta, "per_model": {}}
    for name in models:
        summ["per_model"][name] = summarize([{k: v for k, v in r.items() if k not in ("model", "backend")}
                                             for r in rows if r["model"] == name])
        print(f"{name:12s} real bpsp {summ['per_model'][name]['bpsp']:.4f} on {len(files)} images")
    write_summary(out / "summary.json", summ)
    print(f"wrote {out / 'measures.csv'} and {out / 'summary.json'}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=["mini", "full"], default="mini")
    p.add_argument("--out", required=True)
    p.add_argument("--max_images", type=int, default=MINI_IMAGES,
                   help=f"N images evenly spread over the sorted set (upstream test.py -m; mini default "
                        f"{MINI_IMAGES} of Kodak's 24; 0 = all)")
    p.add_argument("--crop", type=int, default=MINI_CROP,
                   help=f"centre crop N x N of every image (upstream test.py --crop; mini default {MINI_CROP}; "
                        "0 = whole images)")
    p.add_argument("--zoo", action="store_true", help="evaluate the committed zoo/mini L3C only (no training)")
    p.add_argument("--train_only", action="store_true", help="train (or resume) the mini models, no evaluation")
    p.add_argument("--sequential", action="store_true", help="train the mini models one after the other")
    p.add_argument("--backend", default="constriction", choices=["constriction", "torchac"])
    p.add_argument("--no_classical", action="store_true")
    f = p.add_argument_group("full scale")
    f.add_argument("--train_dir", default=os.environ.get("OI_TRAIN"),
                   help="Open Images train images, prepared by `python -m shared_data prepare openimages-l3c` "
                        "(default $OI_TRAIN)")
    f.add_argument("--val_dir", default=os.environ.get("OI_VAL"),
                   help="the 500 prepared validation images (default $OI_VAL)")
    f.add_argument("--nproc", type=int, default=None, help="DDP processes via torchrun (default: the GPU count)")
    f.add_argument("--steps", type=int, default=None, help="iterations per model (default: --minutes)")
    f.add_argument("--minutes", type=float, default=7200, help="wall minutes per model (5 days, as released)")
    f.add_argument("--with_baselines", action="store_true", help="also train RGB Shared and RGB (cr_rgb*.cf)")
    f.add_argument("--allow_cpu", action="store_true", help="run without CUDA (for tests; gloo for DDP)")
    f.add_argument("--workers", type=int, default=8, help="data-loader workers per process (upstream -W 8)")
    f.add_argument("-p", "--global_config", action="append", default=[], help="key=value passed to train.py")
    a = p.parse_args(argv)

    import torch
    from l3c.data import default_dir, resolve_glob
    from l3c.evaluate import evaluate_files
    from l3c.model_io import DEFAULT_MODEL, load_model

    from shared_data import threads
    from shared_eval.measures_csv import summarize, write_measures, write_summary

    threads.limit(2)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.scale == "full":
        return run_full(a, out)

    kodak = default_dir("KODAK_DIR")
    files = resolve_glob(str(kodak))
    if not files:
        print(f"reproduce.py: no Kodak images in {kodak} (set KODAK_DIR)", file=sys.stderr)
        return 2
    files = spread(files, a.max_images)
    models = {"L3C": DEFAULT_MODEL}
    if not a.zoo:
        t_train = time.time()
        models = train_mini(MINI_PLAN, out / "logs", threads=1, parallel=not a.sequential)
        print(f"training (or reuse) took {time.time() - t_train:.0f} s", flush=True)
        if a.train_only:
            return 0
    rows, meta = [], {"scale": a.scale, "kodak_dir": str(kodak), "n_images": len(files), "crop": a.crop or None,
                      "images": [Path(f).name for f in files], "backend": a.backend,
                      "torch": torch.__version__, "python": platform.python_version(), "models": {}}
    t0 = time.time()
    steps = {name: n for name, _, n in MINI_PLAN}
    for name, run in models.items():
        net, fp, itr = load_model(run, -1 if a.zoo else steps[name])
        meta["models"][name] = {"run": str(run), "itr": itr, "fingerprint": fp.hex(),
                                "params": sum(p.numel() for p in net.parameters())}
        for r in evaluate_files(net, fp, files, a.backend, theory=True, crop=a.crop or None):
            r["model"] = name
            rows.append(r)
    notes = []
    if not a.no_classical:
        crow, notes = classical_rows(files, a.crop or None, out / "classical_work")
        rows += crow
    write_measures(out / "measures.csv", rows)
    summ = {"wall_s": time.time() - t0, **meta, "notes": notes, "per_model": {}}
    for name in dict.fromkeys(r["model"] for r in rows):
        summ["per_model"][name] = summarize([{k: v for k, v in r.items() if k not in ("model", "backend")}
                                             for r in rows if r["model"] == name])
    write_summary(out / "summary.json", summ)
    for name, s in summ["per_model"].items():
        print(f"{name:20s} bpsp {s.get('bpsp', float('nan')):.4f}"
              + (f"  (estimate {s['bpsp_estimated']:.4f}, theory {s['bpsp_theory']:.4f})"
                 if "bpsp_estimated" in s else ""))
    print(f"wrote {out / 'measures.csv'} and {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
