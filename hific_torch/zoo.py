#!/usr/bin/env python
"""The HiFiC zoo (issue 19; not upstream): one command trains, exports and evaluates a named recipe.

    .venv/bin/python zoo.py all cpu            # make zoo-hific: train both stages, export, evaluate
    .venv/bin/python zoo.py train cpu [--minutes M]   # stage 1 (rate + MSE [+ LPIPS]), then the GAN stage
    .venv/bin/python zoo.py export cpu         # final checkpoints -> zoo/cpu/hific_cpu[_stage1].pt, integerized
    .venv/bin/python zoo.py evaluate cpu       # all 24 Kodak images, real files, JPEG at matched bpp, proxies
    .venv/bin/python zoo.py speed [--steps 20] [--cases ...]   # s/step of training options on this CPU

Training is :func:`hific.train_loop.train` (Mentzer et al. 2020: stage 1 rate + MSE, then the GAN stage
warm-started from it at the same rate target r_t), run in this process with a fixed seed, its tqdm bar and
TensorBoard (``RUN/tensorboard``). It is resumable after SIGKILL: each stage continues from the newer of its
``checkpoints/last.pt`` / ``final.pt`` (both written atomically; ``last.pt`` every ``save_intv`` steps) with the
loop's own ``resume=``. ``--minutes M`` is a wall-time guard over both stages (the loop's ``time_budget_s``):
a stage stopped by it is continued by the same command. Exports are codec-only float32 checkpoints with the
exact integer h_s (``python -m hific integerize``, issue 15), as ``zoo/mini``.

Perceptual quality without network weights (this machine has no AlexNet / Inception files): two PROXIES,
not LPIPS or FID — (1) the gradient-magnitude ratio mean|∇Y(x̂)| / mean|∇Y(x)| of the luma (a blurred
reconstruction has < 1; a GAN that synthesises texture comes closer to 1), (2) the Fréchet distance between
Gaussian fits of multi-scale Haar-wavelet statistics (log detail energy of 3 orientations × 3 levels per 32×32
block, pooled over all blocks of all images) of the originals and of the reconstructions (FID's formula on
hand-made texture features). LPIPS (``lpips`` column) and FID/256 are added only when their weights are on
disk (``$HIFIC_ALEXNET_WEIGHTS`` / torch hub cache; ``$HIFIC_INCEPTION_WEIGHTS``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# MINI's architecture at reduced widths (hific.config.ModelConfig fields); "paper" = the defaults (181.5 M).
_CPU_MODEL = dict(encoder_channels=[16, 32, 64, 96, 128], latent_channels=64, hyper_channels=64,
                  generator_channels=[128, 96, 64, 32, 16], n_residual_blocks=3, disc_channels=[32, 64, 128, 192],
                  disc_latent_channels=8, name="hific-zoo-cpu")
_TINY_MODEL = dict(encoder_channels=[4, 4, 8, 8, 8], latent_channels=8, hyper_channels=8,
                   generator_channels=[8, 8, 8, 4, 4], n_residual_blocks=1, disc_channels=[4, 8, 8, 8],
                   disc_latent_channels=2, name="hific-zoo-tiny")

#: The zoo recipes. ``steps``: (stage 1, GAN stage) generator steps; ``split``: for open-ended recipes (steps
#: None) the share of ``--minutes`` that stage 1 gets before the GAN stage starts; ``schedule`` /
#: ``lr_decay``: the early-phase end and the lr drop (steps, per stage; paper 50 k / 500 k of 1 M).
RECIPES = {
    # CPU: 2.3x MINI's widths, regime "med" (r_t = 0.30 bpp: JPEG reaches that rate on Kodak, r_t = 0.14 it
    # does not), bs 8, 128² crops, lr 5e-4 (as zoo/mini), 3000 + 1500 steps (the
    # machine budget of issue 19: ~1 s/step with one thread beside the iREC training); decoded photos cached in memory.
    "cpu": dict(model=_CPU_MODEL, regime="med", batch=8, crop=128, lr=5e-4, steps=(3000, 1500),
                schedule=(200, 100), lr_decay=(2400, 1200), save_intv=100, log_intv=20, seed=0, threads=1,
                cache=True, gpu=False),
    # a lent GPU (tools/device/train_zoo.sh hific --minutes M): the paper's widths (C = 220, 9 blocks), bs 8,
    # 256² crops, the paper's lr 1e-4 and schedules; both stages are open-ended, stage 1 gets 60 % of M.
    "gpu": dict(model="paper", regime="low", batch=8, crop=256, lr=1e-4, steps=(None, None), split=0.6,
                schedule=(50_000, 50_000), lr_decay=(500_000, 500_000), save_intv=500, log_intv=50, seed=0,
                threads=4, cache=True, gpu=True),
    # tests: seconds on a CPU; open-ended like gpu (train_zoo.sh --models tiny runs the gpu path), the tests
    # give fixed steps (--steps S1,S2)
    "tiny": dict(model=_TINY_MODEL, regime="low", batch=1, crop=64, lr=1e-3, steps=(None, None), split=0.6,
                 schedule=(1, 1),
                 lr_decay=(100, 100), save_intv=1, log_intv=1, seed=0, threads=1, cache=True, gpu=False),
}
STAGES = ("stage1", "gan")
MODEL_TYPE = {"stage1": "compression", "gan": "compression_gan"}
REF_CROPS = ("kodim01.png", "kodim15.png")  # 256² centre crops: the zoo regression reference


class ZooError(ValueError):
    """A bad recipe name or a missing prerequisite (printed as one line)."""


def recipe(name: str) -> dict:
    if name not in RECIPES:
        raise ZooError(f"unknown recipe {name!r} (have {', '.join(sorted(RECIPES))})")
    return RECIPES[name]


def model_config(r: dict):
    from hific.config import ModelConfig

    return ModelConfig() if r["model"] == "paper" else ModelConfig.from_dict(dict(r["model"]))


def _step(path: Path) -> int:
    import torch

    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


def _atomic_text(path: Path, text: str) -> None:
    from shared_data.imageio import atomic_write_bytes

    atomic_write_bytes(path, text.encode())


def stage_state(run: Path) -> tuple[Path | None, int]:
    """The checkpoint a rerun continues from (the newer of last.pt / final.pt) and its step."""
    best, at = None, -1
    for f in ("last.pt", "final.pt"):
        p = run / "checkpoints" / f
        if p.is_file():
            s = _step(p)
            if s > at:
                best, at = p, s
    return best, max(at, 0)


def stage_done(run: Path, steps: int | None) -> bool:
    if (run / "DONE").is_file():
        return True
    final = run / "checkpoints" / "final.pt"
    return steps is not None and final.is_file() and _step(final) >= steps


# ------------------------------------------------------------------------------------------------- train
def cmd_train(a) -> int:
    """Both stages in order; returns 0 when both are complete, 3 when the time guard stopped training
    (rerun the same command to continue)."""
    r = recipe(a.name)
    deadline = time.time() + 60 * a.minutes if a.minutes else None
    if any(s is None for s in (a.steps or r["steps"])) and deadline is None:
        raise ZooError(f"recipe {a.name!r} is open-ended: give --minutes M (or --steps S1,S2)")
    import torch
    from hific.config import TrainConfig
    from hific.train_loop import train

    from shared_data import paths, threads

    threads.limit(a.threads or r["threads"])
    cfg = model_config(r)
    out = Path(a.out) / a.name
    lpips_fn = _lpips_or_none(a.lpips)
    t_start = time.time()
    for i, stage in enumerate(STAGES):
        run = out / stage
        steps = a.steps[i] if a.steps else r["steps"][i]
        if stage_done(run, steps):
            print(f"{a.name} {stage}: complete ({_step(run / 'checkpoints' / 'final.pt')} steps)", flush=True)
            continue
        resume, at = stage_state(run)
        budget = 0.0
        if deadline is not None:
            left = deadline - time.time()
            if steps is None and stage == "stage1":
                left = min(left, r["split"] * 60 * a.minutes - (time.time() - t_start))
            if left <= 0 and steps is not None:
                print(f"{a.name} {stage}: --minutes {a.minutes} used up at step {at}; rerun to continue", flush=True)
                return 3
            budget = max(left, 1.0)  # an open-ended stage trains at least one step
        tcfg = TrainConfig(regime=r["regime"], batch_size=r["batch"], crop_size=r["crop"], learning_rate=r["lr"],
                           n_steps=steps if steps is not None else 10 ** 9, schedule_step=r["schedule"][i],
                           lr_decay_step=r["lr_decay"][i])
        if lpips_fn is None:
            tcfg.k_P = 0.0
        warm = None
        if stage == "gan" and resume is None:
            warm = str(out / "stage1" / "checkpoints" / "final.pt")
        device = "cuda" if r["gpu"] and torch.cuda.is_available() else "cpu"
        what = f"resume {resume} at step {at}" if resume else "fresh" + (f" (warm start {warm})" if warm else "")
        print(f"{a.name} {stage}: {what}, {steps or 'open-ended'} steps"
              + (f", time guard {budget / 60:.1f} min" if budget else ""), flush=True)
        final = train(MODEL_TYPE[stage], cfg, tcfg, run, a.train_dir or paths.train_dir(), warmstart_ckpt=warm,
                      resume=str(resume) if resume else None,
                      lpips_fn=lpips_fn.to(device) if lpips_fn is not None else None, log_intv=r["log_intv"],
                      save_intv=r["save_intv"], seed=r["seed"], device=device, progress=not a.no_progress,
                      time_budget_s=budget, cache_images=r["cache"])
        reached = _step(final)
        if steps is None:  # open-ended: the stage ends with its share of the time
            _atomic_text(run / "DONE", f"{reached}\n")
        elif reached < steps:
            print(f"{a.name} {stage}: stopped by --minutes at step {reached} of {steps}; rerun to continue",
                  flush=True)
            return 3
    return 0


def _lpips_or_none(mode: str):
    """LPIPS (AlexNet backbone) when its weights are on disk (``auto``) or required (``alex``); else None."""
    if mode == "off":
        return None
    from hific.perceptual import LPIPS, LPIPSWeightsMissing

    try:
        return LPIPS()
    except LPIPSWeightsMissing as e:
        if mode == "alex":
            raise
        print(f"note: no LPIPS (k_P = 0 in training, no lpips column): {e}", file=sys.stderr)
        return None


# ------------------------------------------------------------------------------------------------ export
def zoo_files(dest: Path, name: str) -> dict[str, Path]:
    return {"gan": dest / f"hific_{name}.pt", "stage1": dest / f"hific_{name}_stage1.pt"}


def cmd_export(a) -> int:
    """Both stages' final.pt -> codec-only float32 checkpoints in ``zoo/NAME`` + the exact integer block."""
    import torch
    from hific.checkpoints import export_codec
    from hific.portable import integerize_file

    r = recipe(a.name)
    out = Path(a.out) / a.name
    dest = Path(a.dest) if a.dest else HERE / "zoo" / a.name
    dest.mkdir(parents=True, exist_ok=True)
    for i, stage in enumerate(STAGES):
        final = out / stage / "checkpoints" / "final.pt"
        if not final.is_file():
            raise ZooError(f"{out / stage}: no final checkpoint of the {stage} stage (run zoo.py train {a.name})")
        if r["steps"][i] is not None and not stage_done(out / stage, r["steps"][i]):
            print(f"note: {final} is at step {_step(final)}, short of the recipe's {r['steps'][i]} "
                  f"(zoo.py train {a.name} continues it)", file=sys.stderr)
        dst = zoo_files(dest, a.name)[stage]
        tmp = dst.with_name(dst.name + ".export.tmp")
        export_codec(final, tmp)
        sd = torch.load(tmp, map_location="cpu", weights_only=True)
        bad = [k for k, v in _tensors(sd) if v.is_floating_point() and v.dtype != torch.float32]
        if bad:
            raise AssertionError(f"{final}: non-float32 tensors {bad[:3]}")
        ffp, pfp = integerize_file(tmp, dst)
        tmp.unlink()
        print(f"exported {final} (step {_step(final)}) -> {dst} (float {ffp}, portable {pfp})", flush=True)
    rows = curve(out)
    _atomic_text(dest / "curve.json", json.dumps(rows) + "\n")
    plot_curve(rows, dest / "loss.png", f"HiFiC zoo {a.name}")
    return 0


def _tensors(obj, prefix=""):
    import torch

    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))


def curve(out: Path) -> list[dict]:
    """(stage, step, rate/q_bpp, distortion/mse255, ...) from both stages' TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rows = []
    for stage in STAGES:
        by_step: dict[int, dict] = {}
        for ev in sorted((out / stage / "tensorboard").glob("events.out.tfevents.*")):
            acc = EventAccumulator(str(ev), size_guidance={"scalars": 0})
            acc.Reload()
            for tag in acc.Tags()["scalars"]:
                for e in acc.Scalars(tag):
                    by_step.setdefault(e.step, {"stage": stage, "step": e.step})[tag] = e.value
        rows += [by_step[k] for k in sorted(by_step)]
    return rows


def plot_curve(rows: list[dict], png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), dpi=80)
    off = max([r["step"] for r in rows if r["stage"] == "stage1"], default=0)
    for stage in STAGES:
        sel = [r for r in rows if r["stage"] == stage]
        x = [r["step"] + (off if stage == "gan" else 0) for r in sel]
        for ax, tag in zip(axes, ("rate/q_bpp", "distortion/mse255")):
            pts = [(xi, r[tag]) for xi, r in zip(x, sel) if tag in r]
            if pts:
                ax.plot(*zip(*pts), lw=0.8, label=stage)
    for ax, t in zip(axes, ("quantised bpp (train crops)", "MSE (0..255, train crops)")):
        ax.set_xlabel("generator step (GAN stage after stage 1)")
        ax.set_title(t, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    tmp = png.with_name(png.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, png)


# -------------------------------------------------------------------------------------- proxies (no weights)
def _luma(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def gradient_magnitude(img: np.ndarray) -> float:
    """mean |∇Y| (forward differences of the luma, 0..255) — a PROXY for sharpness/texture."""
    y = _luma(img)
    gx, gy = np.diff(y, axis=1)[:-1, :], np.diff(y, axis=0)[:, :-1]
    return float(np.mean(np.sqrt(gx * gx + gy * gy)))


def wavelet_features(img: np.ndarray, levels: int = 3, block: int = 32) -> np.ndarray:
    """Per ``block``² block: log(1 + mean energy) of the Haar detail bands (LH, HL, HH) at ``levels`` scales
    (an 3·levels vector). Blocks tile the image from the top left; a partial border is dropped."""
    y = _luma(img)
    nb_h, nb_w = y.shape[0] // block, y.shape[1] // block
    y = y[:nb_h * block, :nb_w * block]
    feats = []
    a = y
    for lev in range(levels):
        a00, a01, a10, a11 = a[0::2, 0::2], a[0::2, 1::2], a[1::2, 0::2], a[1::2, 1::2]
        bands = ((a00 - a01 + a10 - a11) / 2, (a00 + a01 - a10 - a11) / 2, (a00 - a01 - a10 + a11) / 2)
        a = (a00 + a01 + a10 + a11) / 2
        s = block >> (lev + 1)  # the block's size at this level
        for b in bands:
            e = (b * b).reshape(nb_h, s, nb_w, s).mean(axis=(1, 3))
            feats.append(np.log1p(e).reshape(-1))
    return np.stack(feats, axis=1)


def wavelet_frechet(originals: list[np.ndarray], recs: list[np.ndarray]) -> float | None:
    """Fréchet distance of Gaussian fits to :func:`wavelet_features` — a PROXY for FID (no network). None
    when there are fewer than 4·dims blocks (the covariance fit would be meaningless)."""
    from hific.fid import fid_from_features

    fa = np.concatenate([wavelet_features(x) for x in originals])
    fb = np.concatenate([wavelet_features(x) for x in recs])
    if min(len(fa), len(fb)) < 4 * fa.shape[1]:
        return None
    return float(fid_from_features(fa, fb))


# ---------------------------------------------------------------------------------------------- evaluate
def jpeg_matched(img: np.ndarray, bpp: float) -> tuple[dict, np.ndarray]:
    """Pillow JPEG (``shared_eval.baselines``) at the quality whose file is closest to ``bpp``."""
    from shared_eval.baselines import encode_at_bpp
    from shared_eval.metrics import bpp as bpp_of
    from shared_eval.metrics import ms_ssim, psnr

    data, rec, q = encode_at_bpp(img, "jpeg", bpp, mode="closest")
    h, w = img.shape[:2]
    return {"bpp": bpp_of(len(data), h, w), "psnr": psnr(img, rec),
            "ms-ssim": ms_ssim(img, rec) if min(h, w) >= 176 else None, "quality": q}, rec


def _images(a) -> list[tuple[str, np.ndarray]]:
    from shared_data.imageio import read_image
    from shared_data.paths import kodak_images
    from shared_data.transforms import center_crop

    files = kodak_images()[: a.n_images or None]
    out = []
    for f in files:
        img = read_image(f)
        out.append((f.name, center_crop(img, a.crop) if a.crop else img))
    return out


def _mean(rows, k):
    v = [float(r[k]) for r in rows if r.get(k) not in (None, "")]
    return sum(v) / len(v) if v else None


def cmd_evaluate(a) -> int:
    """Both stages on the Kodak images (default all 24, whole images) with real files; JPEG at matched bpp;
    the two proxies; LPIPS / FID when their weights are present; measures.csv, summary.json, the reference."""
    from hific.checkpoints import load_checkpoint
    from hific.evaluate import EXTRA_COLUMNS, evaluate_files

    from shared_data import threads
    from shared_data.imageio import read_image, write_png
    from shared_eval.check import update_mini_reference
    from shared_eval.measures_csv import write_measures, write_summary

    r = recipe(a.name)
    threads.limit(a.threads or 1)
    dest = Path(a.model) if a.model else HERE / "zoo" / a.name
    files = zoo_files(dest, a.name)
    for f in files.values():
        if not f.is_file():
            raise ZooError(f"{f}: no exported model (run zoo.py export {a.name})")
    work = Path(a.out) / a.name / "eval"
    shutil.rmtree(work, ignore_errors=True)
    images = _images(a)
    if not images:
        raise ZooError("no Kodak images (set KODAK_DIR)")
    src = work / "images"
    src.mkdir(parents=True)
    for n, img in images:
        write_png(src / n, img)
    lpips_fn = _lpips_or_none(a.lpips)
    fid_ext = _inception_or_none()
    originals = [img for _, img in images]
    rows, summ = [], {"recipe": a.name, "config": {k: v for k, v in r.items() if k != "model"},
                      "model_config": model_config(r).to_dict(), "n_images": len(images),
                      "crop": a.crop or None, "lpips": "alex" if lpips_fn is not None else None,
                      "proxies": {"grad_ratio": "mean|∇Y(x̂)|/mean|∇Y(x)| per image, averaged (1 = as sharp as "
                                                "the original; < 1 blurred) — a proxy, not LPIPS",
                                  "wavelet_fd": "Fréchet distance of Gaussian fits to Haar detail log-energies "
                                                "(3 orientations x 3 levels per 32² block, all blocks of all "
                                                "images) of originals vs reconstructions — a proxy, not FID"},
                      "notes": [] if lpips_fn is not None else
                      ["LPIPS not measured: AlexNet backbone weights not on this machine"]}
    device = a.device or ("cuda" if r["gpu"] and _cuda() else "cpu")
    for stage in STAGES:
        model, meta = load_checkpoint(files[stage], device=device)
        t0 = time.time()
        ev = evaluate_files(model, sorted(src.iterdir()), work / stage, lpips_fn=lpips_fn, progress=not a.no_progress,
                            save_reconstructions=True)
        recs = [read_image(work / stage / f"{Path(n).stem}_rec.png") for n, _ in images]
        jrows, jrecs = [], []
        for row, (n, img), rec in zip(ev, images, recs):
            row.update(model=stage, grad_ratio=gradient_magnitude(rec) / max(gradient_magnitude(img), 1e-12))
            j, jrec = jpeg_matched(img, row["bpp"])
            jrows.append({"img_name": n, **j, "model": f"jpeg@{stage}",
                          "grad_ratio": gradient_magnitude(jrec) / max(gradient_magnitude(img), 1e-12)})
            jrecs.append(jrec)
        rows += ev + jrows
        s = {"steps": int(meta.get("step", 0)), "bpp": _mean(ev, "bpp"), "bpp_estimated": _mean(ev, "bpp_estimated"),
             "psnr": _mean(ev, "psnr"), "ms-ssim": _mean(ev, "ms-ssim"), "lpips": _mean(ev, "lpips"),
             "grad_ratio": _mean(ev, "grad_ratio"), "wavelet_fd": wavelet_frechet(originals, recs),
             "eval_s": round(time.time() - t0, 1),
             "jpeg_matched": {"bpp": _mean(jrows, "bpp"), "psnr": _mean(jrows, "psnr"),
                              "ms-ssim": _mean(jrows, "ms-ssim"), "grad_ratio": _mean(jrows, "grad_ratio"),
                              "wavelet_fd": wavelet_frechet(originals, jrecs)}}
        if fid_ext is not None:
            from hific.fid import fid_kid

            s["fid256"] = fid_kid(originals, recs, fid_ext)[0]
        s["psnr_minus_jpeg_db"] = s["psnr"] - s["jpeg_matched"]["psnr"]
        summ[stage] = s
        print(f"{a.name} {stage}: bpp {s['bpp']:.4f} PSNR {s['psnr']:.2f} dB (JPEG at matched bpp "
              f"{s['jpeg_matched']['bpp']:.4f} / {s['jpeg_matched']['psnr']:.2f} dB) grad ratio {s['grad_ratio']:.3f} "
              f"wavelet FD {s['wavelet_fd'] if s['wavelet_fd'] is None else round(s['wavelet_fd'], 3)}", flush=True)
    s1, g = summ["stage1"], summ["gan"]
    summ["gan_vs_stage1"] = {
        "bpp_ratio": g["bpp"] / s1["bpp"], "same_bpp_5pct": abs(g["bpp"] / s1["bpp"] - 1) <= 0.05,
        "psnr_diff_db": g["psnr"] - s1["psnr"], "gan_lower_psnr": g["psnr"] < s1["psnr"],
        "grad_ratio_closer_to_1": abs(g["grad_ratio"] - 1) < abs(s1["grad_ratio"] - 1),
        "wavelet_fd_lower": (None if g["wavelet_fd"] is None or s1["wavelet_fd"] is None
                             else g["wavelet_fd"] < s1["wavelet_fd"]),
        "lpips_lower": None if g["lpips"] is None else g["lpips"] < s1["lpips"]}
    summ["targets"] = {"stage1_within_1db_of_jpeg": s1["psnr_minus_jpeg_db"] >= -1.0,
                       "gan_same_bpp_lower_psnr_better_proxies": bool(
                           summ["gan_vs_stage1"]["same_bpp_5pct"] and summ["gan_vs_stage1"]["gan_lower_psnr"]
                           and summ["gan_vs_stage1"]["grad_ratio_closer_to_1"]
                           and summ["gan_vs_stage1"]["wavelet_fd_lower"])}
    write_measures(dest / "measures.csv", rows, (*EXTRA_COLUMNS, "model", "grad_ratio", "quality"))
    write_summary(dest / "summary.json", summ)
    # the zoo regression reference: both stages on the 256² centre crops of REF_CROPS, real files
    ref_rows = _reference_rows(files, work, device)
    if ref_rows:
        tmp = work / "reference.csv"
        write_measures(tmp, ref_rows, ("model",))
        ref = Path(a.reference) if a.reference else REPO / "ci" / "references" / f"hific-zoo-{a.name}.csv"
        update_mini_reference("hific", tmp, ref, "zoo")
        print(f"wrote {ref}")
    print(json.dumps({k: summ[k] for k in ("gan_vs_stage1", "targets")}, indent=1))
    return 0


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _reference_rows(files: dict, work: Path, device: str) -> list[dict]:
    from hific.checkpoints import load_checkpoint
    from hific.evaluate import evaluate_files

    from shared_data.imageio import read_image, write_png
    from shared_data.paths import kodak_dir
    from shared_data.transforms import center_crop

    crops = work / "ref_crops"
    crops.mkdir(parents=True, exist_ok=True)
    for n in REF_CROPS:
        f = kodak_dir() / n
        if not f.is_file():
            return []
        write_png(crops / f"{Path(n).stem}_c256.png", center_crop(read_image(f), 256))
    keep = ("img_name", "bpp", "ms-ssim", "psnr", "enc_s", "dec_s")
    out = []
    for stage in STAGES:
        model, _ = load_checkpoint(files[stage], device=device)
        for row in evaluate_files(model, sorted(crops.glob("*.png")), work / f"ref_{stage}", progress=False):
            out.append({**{k: row[k] for k in keep}, "img_name": Path(row["img_name"]).stem, "model": stage})
    return out


def _inception_or_none():
    if not os.environ.get("HIFIC_INCEPTION_WEIGHTS"):
        return None
    from hific.fid import InceptionFeatures

    return InceptionFeatures()


def cmd_all(a) -> int:
    rc = cmd_train(a)
    if rc:
        return rc
    return cmd_export(a) or cmd_evaluate(a)


def _two_ints(s: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected S1,S2 (two step counts), got {s!r}") from None
    if a < 1 or b < 1:
        raise argparse.ArgumentTypeError(f"step counts must be >= 1, got {s!r}")
    return a, b


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="zoo.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for cmd in ("train", "export", "evaluate", "all", "speed"):
        c = sub.add_parser(cmd)
        c.add_argument("name", help=f"recipe: {', '.join(sorted(RECIPES))}")
        c.add_argument("--out", default=str(REPO / "runs" / "hific" / "zoo"), help="runs (checkpoints, TensorBoard)")
        c.add_argument("--threads", type=int, default=0, help="torch threads (default: the recipe's)")
        c.add_argument("--lpips", default="auto", choices=["auto", "alex", "off"],
                       help="auto: LPIPS (k_P term, lpips column) only when the AlexNet weights are on disk")
        c.add_argument("--no_progress", action="store_true")
        if cmd == "speed":
            c.add_argument("--steps", type=int, default=20, help="timed steps per case (after 3 warm-up steps)")
            c.add_argument("--cases", default=None, help="comma list of zoo_speed.SPEED_CASES (default all)")
            c.add_argument("--train_dir", default=None, help="training photos (default $TRAIN_DIR)")
            c.add_argument("--json", default=None, help="write the rows as JSON here")
        if cmd in ("train", "all"):
            c.add_argument("--minutes", type=float, default=None, help="wall-time guard (resumable)")
            c.add_argument("--train_dir", default=None, help="training photos (default $TRAIN_DIR)")
            c.add_argument("--steps", type=_two_ints, default=None, metavar="S1,S2",
                           help="override the recipe's steps of stage 1 and the GAN stage")
        if cmd in ("export", "all"):
            c.add_argument("--dest", default=None, help="model folder (default zoo/NAME)")
        if cmd in ("evaluate", "all"):
            c.add_argument("--model", default=None, help="model folder (default zoo/NAME, or --dest)")
            c.add_argument("--n_images", type=int, default=0, help="first N Kodak images (default all 24)")
            c.add_argument("--crop", type=int, default=0, help="centre crops of this size (default whole images)")
            c.add_argument("--reference", default=None, help="default ci/references/hific-zoo-NAME.csv")
            c.add_argument("--device", default=None, choices=["cpu", "cuda"],
                           help="E and G for the evaluation (default: cuda for the gpu recipe when available; "
                                "h_s and the coder always run on the CPU, exactly)")
    a = p.parse_args(argv)
    recipe(a.name)
    if a.cmd == "all":
        a.model = a.model or a.dest
    if a.cmd == "speed":
        sys.modules.setdefault("zoo", sys.modules[__name__])  # zoo_speed imports this module's names
        from zoo_speed import cmd_speed

        return cmd_speed(a)
    return {"train": cmd_train, "export": cmd_export, "evaluate": cmd_evaluate, "all": cmd_all}[a.cmd](a)


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
