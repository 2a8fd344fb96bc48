"""Train, convert and evaluate the CPM zoo models (issue 19): ``make zoo-cpm`` = ``python zoo_train.py``.

    python zoo_train.py [--models cpu_low,cpu_med] [--out ../runs/cpm/zoo] [--export zoo] [--jobs 2]
        [--threads 1] [--steps N] [--minutes M] [--n_images 24] [--no_train] [--no_eval]

For each model of ``RECIPES`` (config files, steps, seed; the recipe is documented in
``zoo/<name>/TRAINING.md``): train with ``cpm.train_loop.train`` on $TRAIN_DIR into ``OUT/<name>/logs/<log
dir>`` — resumable: a rerun continues the log dir's latest checkpoint (``--restore_continue`` semantics;
TF's CheckpointManager writes the checkpoint files first and the ``checkpoint`` state file atomically, so a
SIGKILL leaves the previous checkpoint as the latest); TensorBoard logs in the log dir, a tqdm bar, the
scalars also in ``train_log.csv``. Then: convert (``python -m cpm integerize``, as zoo/mini) into
``EXPORT/<name>/``, plot the loss curve (``loss.png``), evaluate all ``--n_images`` Kodak images with real
``.lic`` files (format 3) and write ``EXPORT/<name>/measures.csv`` + ``summary.json`` (with colour measures:
mean CIEDE2000 ΔE and Cb/Cr PSNR; JPEG (Pillow, ``shared_eval.baselines``) at the same per-image bpp,
``at_most``), and the zoo regression reference ``ci/references/cpm-zoo-<name>.csv`` (the Kodak check crops
of ``make test``). ``--jobs 2`` trains the models concurrently, one process each with ``--threads``
threads (measured faster than one after the other on 2 cores, see TRAINING.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent

#: name -> recipe. ``steps`` is the fixed training length (the committed models got exactly these);
#: ``--minutes`` only guards the wall time (a run stopped by it is said so in summary.json).
RECIPES = {
    # initialised from zoo/mini's weights (the same architecture, 1,241 steps at H_target 0.4), fresh Adam;
    # steps: 300 in a first run, then resumed to where a wall-time guard (--minutes) stopped it (TRAINING.md)
    "cpu_low": {"ae": "ae_configs/zoo/cpu_low", "pc": "pc_configs/zoo/res_shallow", "steps": 3423, "seed": 1234,
                "init": "zoo/mini"},
    "cpu_med": {"ae": "ae_configs/zoo/cpu_med", "pc": "pc_configs/zoo/res_shallow", "steps": 3306, "seed": 1234,
                "init": "zoo/mini"},
    # paper-like width (n=128, B=5, 160 px crops, batch 30) for tools/device/train_zoo.sh on a GPU: --minutes
    "gpu_low": {"ae": "ae_configs/zoo/gpu_low", "pc": "pc_configs/zoo/gpu_res_shallow", "steps": 1_000_000, "seed": 1234},
    "gpu_med": {"ae": "ae_configs/zoo/gpu_med", "pc": "pc_configs/zoo/gpu_res_shallow", "steps": 1_000_000, "seed": 1234},
    # a tiny configuration for the tests of this script and of train_zoo.sh (seconds on a CPU)
    "tiny": {"ae": "ae_configs/zoo/tiny", "pc": "pc_configs/zoo/tiny", "steps": 6, "seed": 1234},
}
CHECK_IMAGES = ("kodim01", "kodim15")  # shared_eval.demo.ZOO_CHECK_IMAGES: the zoo regression crops
CHECK_CROP = 256


def train_dir() -> str:
    from shared_data import paths
    return str(paths.train_dir())


def kodak_dir() -> Path:
    from shared_data import paths
    return paths.kodak_dir()


def latest_log_dir(logs: Path) -> Path | None:
    """The newest log dir under ``logs`` that holds a checkpoint (what a rerun continues), else None."""
    if not logs.is_dir():
        return None
    cands = sorted(d for d in logs.iterdir() if d.is_dir() and (d / "ckpts" / "checkpoint").is_file())
    return cands[-1] if cands else None


def train_one(name: str, out: Path, threads: int, steps: int | None, minutes: float | None, quiet=False) -> Path:
    from cpm.tfsetup import limit_threads
    limit_threads(threads)
    from cpm.train_loop import train
    r = RECIPES[name]
    logs = out / name / "logs"
    prev = latest_log_dir(logs)
    t0 = time.time()
    d = train(ROOT / r["ae"], ROOT / r["pc"], train_dir(), None, logs, restore=str(prev) if prev else None,
              restore_continue=bool(prev), max_steps=steps or r["steps"], max_minutes=minutes, log_train=25,
              log_save=100, log_test=-1, seed=r["seed"], data_cache="decoded", csv_log=True, quiet=quiet,
              init_weights=ROOT / r["init"] if r.get("init") else None)
    info = json.loads((d / "train_info.json").read_text())
    hist = out / name / "runs.jsonl"  # one line per (re)start: steps reached and wall time of that run
    with open(hist, "a") as f:
        f.write(json.dumps({"log_dir": str(d), "resumed_from": str(prev) if prev else None, "threads": threads,
                            "steps": info["steps"], "wall_s": round(time.time() - t0, 1),
                            "ended": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
    return d


def plot_curve(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    steps = np.array([r["step"] for r in rows])
    fig, ax = plt.subplots(1, 3, figsize=(10, 2.8), dpi=80)
    k = max(1, min(8, len(rows) // 4))  # moving average over k logged batches (one batch is noisy)
    for a, key, label, c in ((ax[0], "total", "total loss", "C0"), (ax[1], "ms_ssim", "MS-SSIM (train batch)", "C1"),
                             (ax[2], "bpp", "bpp (train batch, CE)", "C2")):
        v = np.array([r[key] for r in rows])
        a.plot(steps, v, color=c, alpha=0.3, lw=0.8)
        if k > 1:
            a.plot(steps[k - 1:], np.convolve(v, np.ones(k) / k, mode="valid"), color=c, label=f"mean of {k}")
            a.legend(fontsize=7)
        a.set_title(label, fontsize=9)
    for a in ax:
        a.set_xlabel("step")
        a.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    tmp = path.with_name("." + path.name + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def colour_measures(img, rec) -> dict:
    """Mean CIEDE2000 ΔE (skimage, D65) and PSNR of Y, Cb, Cr (BT.601 full range) of rec vs img (uint8 RGB)."""
    import numpy as np
    from skimage.color import deltaE_ciede2000, rgb2lab
    x, y = img.astype(np.float64), rec.astype(np.float64)

    def ycc(t):
        r, g, b = t[..., 0], t[..., 1], t[..., 2]
        return (0.299 * r + 0.587 * g + 0.114 * b, 128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
                128 + 0.5 * r - 0.418688 * g - 0.081312 * b)

    def p(a, b):
        m = float(np.mean((a - b) ** 2))
        return float("inf") if m == 0 else 10 * np.log10(255.0 ** 2 / m)
    (Y0, Cb0, Cr0), (Y1, Cb1, Cr1) = ycc(x), ycc(y)
    return {"delta_e00": float(deltaE_ciede2000(rgb2lab(img), rgb2lab(rec)).mean()), "psnr_y": p(Y0, Y1),
            "psnr_cb": p(Cb0, Cb1), "psnr_cr": p(Cr0, Cr1),
            "chroma": float(np.mean(np.hypot(Cb1 - 128, Cr1 - 128))),
            "chroma_orig": float(np.mean(np.hypot(Cb0 - 128, Cr0 - 128)))}


EVAL_COLUMNS = ("model", "bpp_estimated", "bpp_factorized", "overhead_pct", "padded_h", "padded_w", "real_bpp",
                "delta_e00", "psnr_y", "psnr_cb", "psnr_cr", "chroma", "chroma_orig", "jpeg_bpp", "jpeg_ms-ssim",
                "jpeg_psnr", "jpeg_quality")


def evaluate_model(model_dir: Path, name: str, n_images: int, quiet=False) -> list[dict]:
    """All (first ``n_images``) Kodak images with real files; colour measures on the (uncropped) image;
    JPEG at the same bpp (``at_most``: the highest quality whose file is not larger)."""
    import tempfile

    from cpm.codec import load_codec
    from cpm.evaluate import dataset_images, evaluate_image
    from tqdm import tqdm

    from shared_data.imageio import pad_to_multiple, read_image
    from shared_eval import baselines
    from shared_eval.metrics import ms_ssim, psnr
    codec = load_codec(model_dir)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in tqdm(dataset_images("kodak")[:n_images], desc=f"kodak {name}", disable=quiet):
            img = read_image(f)
            r = evaluate_image(codec, img, f.name, real_bpp=True, save_dir=tmp)
            rec_p = read_image(Path(tmp) / f"{f.stem}.png")
            padded, _ = pad_to_multiple(img, 8, mode="constant", split="center")
            r.update(colour_measures(padded, rec_p))
            data, jrec, q = baselines.encode_at_bpp(padded, "jpeg", r["bpp"], mode="at_most")
            r.update({"jpeg_bpp": 8.0 * len(data) / (padded.shape[0] * padded.shape[1]),
                      "jpeg_ms-ssim": ms_ssim(padded, jrec), "jpeg_psnr": psnr(padded, jrec), "jpeg_quality": q})
            r["model"] = name
            rows.append(r)
    return rows


def check_crops_rows(model_dir: Path, name: str) -> list[dict]:
    """The zoo regression measures: real files of the centre crops used by ``make test`` (shared_eval.demo)."""
    from cpm.codec import load_codec
    from cpm.evaluate import evaluate_image

    from shared_data.imageio import read_image
    from shared_data.transforms import center_crop
    codec = load_codec(model_dir)
    rows = []
    for n in CHECK_IMAGES:
        img = center_crop(read_image(kodak_dir() / f"{n}.png"), CHECK_CROP)
        r = evaluate_image(codec, img, f"{n}_c{CHECK_CROP}")
        rows.append({k: r[k] for k in ("img_name", "bpp", "ms-ssim", "psnr", "enc_s", "dec_s")})
    return rows


def export_and_evaluate(name: str, log_dir: Path, export: Path, n_images: int, reference_dir: Path | None,
                        quiet=False) -> dict:
    from cpm.train_loop import read_train_log

    from shared_data.imageio import atomic_write_bytes
    from shared_eval.measures_csv import summarize, write_measures, write_summary
    rows_log = read_train_log(log_dir / "train_log.csv") if (log_dir / "train_log.csv").is_file() else []
    if rows_log and not math.isfinite(rows_log[-1]["total"]):
        raise RuntimeError(f"{log_dir}: training diverged (loss {rows_log[-1]['total']} at step "
                           f"{int(rows_log[-1]['step'])}); nothing exported")
    dst = export / name
    dst.mkdir(parents=True, exist_ok=True)
    # = `python -m cpm integerize LOG_DIR DST` (default bits), called in-process (no second TF start-up)
    from types import SimpleNamespace

    from cpm import integer
    from cpm.__main__ import _integerize
    rc = _integerize(SimpleNamespace(ckpt=str(log_dir), out=str(dst), **integer.DEFAULT_BITS))
    if rc != 0:
        raise RuntimeError(f"integerize {log_dir} -> {dst} failed (exit {rc})")
    # the step of the exported weights: config.json's (written with every checkpoint, so also right after a
    # run was killed); train_info.json (written when a run ends) only when it describes the same step
    info = dict(json.loads((log_dir / "config.json").read_text())["train"])
    if (log_dir / "train_info.json").is_file():
        ti = json.loads((log_dir / "train_info.json").read_text())
        if ti.get("steps") == info["step"]:
            info.update(ti)
    info["steps"] = info["step"]
    if (log_dir.parent.parent / "runs.jsonl").is_file():
        info["runs"] = [json.loads(ln) for ln in (log_dir.parent.parent / "runs.jsonl").read_text().splitlines()]
    atomic_write_bytes(dst / "train_info.json", (json.dumps(info, indent=1) + "\n").encode())
    if rows_log:
        shutil.copyfile(log_dir / "train_log.csv", dst / ".train_log.csv.tmp")
        os.replace(dst / ".train_log.csv.tmp", dst / "train_log.csv")
        plot_curve(rows_log, dst / "loss.png", f"CPM zoo {name}: {RECIPES[name]['ae']} (train.py log, every 25 steps)")
    rows = evaluate_model(dst, name, n_images, quiet=quiet)
    write_measures(dst / "measures.csv", rows, EVAL_COLUMNS)
    s = summarize(rows)
    for k in ("delta_e00", "psnr_y", "psnr_cb", "psnr_cr", "chroma", "chroma_orig", "jpeg_bpp", "jpeg_ms-ssim",
              "jpeg_psnr", "bpp_estimated", "bpp_factorized"):
        s[k] = sum(r[k] for r in rows) / len(rows)
    s.update(model=name, steps=info["steps"], recipe=RECIPES[name], n_images=len(rows),
             saving_vs_factorized_pct=100.0 * (1 - s["bpp"] / s["bpp_factorized"]),
             msssim_minus_jpeg=s["ms-ssim"] - s["jpeg_ms-ssim"],
             images_msssim_ge_jpeg=sum(r["ms-ssim"] >= r["jpeg_ms-ssim"] for r in rows))
    if RECIPES[name]["steps"] > info["steps"]:
        s["note"] = f"stopped by the wall-time guard at {info['steps']} of {RECIPES[name]['steps']} steps"
    write_summary(dst / "summary.json", s)
    if reference_dir is not None:
        write_measures(reference_dir / f"cpm-zoo-{name}.csv", check_crops_rows(dst, name))
    return s


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="cpu_low,cpu_med", help=f"comma list of {list(RECIPES)}")
    p.add_argument("--out", default=str(REPO / "runs/cpm/zoo"), help="training log root (OUT/<model>/logs)")
    p.add_argument("--export", default=str(ROOT / "zoo"), help="converted models + measures go to EXPORT/<model>")
    p.add_argument("--reference_dir", default=str(REPO / "ci/references"),
                   help="where cpm-zoo-<model>.csv is written ('' = not written)")
    p.add_argument("--jobs", type=int, default=2, help="models trained at the same time (one process each)")
    p.add_argument("--threads", type=int, default=None, help="TF threads per training process "
                   "(default: 1 with --jobs > 1, else 2)")
    p.add_argument("--steps", type=int, default=None, help="override the recipe's steps (not the zoo recipe)")
    p.add_argument("--minutes", type=float, default=None, help="wall-time guard per training run")
    p.add_argument("--n_images", type=int, default=24, help="Kodak images to evaluate")
    p.add_argument("--no_train", action="store_true", help="only export + evaluate the latest checkpoints")
    p.add_argument("--no_eval", action="store_true", help="only train")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    names = [n for n in a.models.split(",") if n]
    bad = [n for n in names if n not in RECIPES]
    if bad or not names:
        print(f"error: --models: unknown model(s) {bad} (have {', '.join(RECIPES)})", file=sys.stderr)
        return 2
    out, export = Path(a.out), Path(a.export)
    jobs = max(1, min(a.jobs, len(names)))
    threads = a.threads or (1 if jobs > 1 else 2)
    if not a.no_train:
        if jobs > 1:  # one child process per model, all at once (each its own TF runtime and threads)
            procs = []
            for n in names:
                cmd = [sys.executable, __file__, "--models", n, "--out", str(out), "--jobs", "1", "--threads",
                       str(threads), "--no_eval"] + (["--steps", str(a.steps)] if a.steps else []) + \
                      (["--minutes", str(a.minutes)] if a.minutes else []) + (["--quiet"] if a.quiet else [])
                procs.append(subprocess.Popen(cmd, cwd=ROOT))
            rcs = [pr.wait() for pr in procs]
            if any(rcs):
                print(f"error: training failed (exit codes {dict(zip(names, rcs))})", file=sys.stderr)
                return 1
        else:
            from shared_data.errors import LicError
            for n in names:
                try:
                    d = train_one(n, out, threads, a.steps, a.minutes, quiet=a.quiet)
                except (LicError, FileNotFoundError) as e:  # config, dataset, checkpoint
                    print(f"error: {n}: {e}", file=sys.stderr)
                    return 1
                print(f"{n}: log dir {d}")
    if a.no_eval:
        return 0
    from cpm.tfsetup import limit_threads
    limit_threads(a.threads or 2)
    summaries = {}
    for n in names:
        d = latest_log_dir(out / n / "logs")
        if d is None:
            print(f"error: {n}: no checkpoint under {out / n / 'logs'} (train first)", file=sys.stderr)
            return 1
        try:
            s = export_and_evaluate(n, d, export, a.n_images, Path(a.reference_dir) if a.reference_dir else None,
                                    quiet=a.quiet)
        except RuntimeError as e:
            print(f"error: {n}: {e}", file=sys.stderr)
            return 1
        summaries[n] = {k: s[k] for k in ("bpp", "ms-ssim", "psnr", "jpeg_bpp", "jpeg_ms-ssim", "jpeg_psnr",
                                          "delta_e00", "psnr_cb", "psnr_cr", "bpp_factorized",
                                          "saving_vs_factorized_pct", "steps")}
    print(json.dumps(summaries, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
