"""Reproduce iREC's measurements: ``python reproduce.py --scale mini|full --out DIR``.

mini (CPU, minutes): evaluates the committed checkpoints — the lossy ``zoo/mini`` model on centre 256×256
crops of the first Kodak images (paper lossy setting B=10, 1+ε=1, Ω=3) and the lossless ``zoo/mini-lossless``
ResNet VAE on 32×32 centre crops of held-out $TRAIN_DIR photos (paper lossless setting B=20, 1+ε=1.2,
Ω=3), every file really written and decoded (lossless: bit-exactly). ``--retrain`` first retrains both
checkpoints into DIR (about 12 + 8 minutes on 2 CPU cores) and evaluates those instead.

full (GPU, days): trains the paper's configs — large_level_2_vae with N=196, M=128 for β ∈ {0.001, 0.003,
0.01, 0.03, 0.05}, 200k iterations on 256² crops of CLIC ($IREC_CLIC_DIR, else the $TRAIN_DIR photos) and the
24-block ResNet VAE for 500k iterations on each of CIFAR-10 and ImageNet32 (batch files under
$IREC_DATA_DIR, read by shared_data.readers.arrays) — and evaluates all 24 whole Kodak images and the first
100 images of the CIFAR-10 test / ImageNet32 validation splits. ``--steps N`` caps every training (with
``--betas``, ``--kodak-images``, ``--kodak-crop``, ``--lossless-images`` this runs the full configs end to
end on a CPU in minutes: ``tests/test_reproduce_full.py``).

Writes DIR/measures.csv (shared columns + iREC extras: mode, bpp_ideal, bpd, bpd_ideal, kl_bits,
index_bits, overhead_bits, png_bpd, webp_bpd …), DIR/results.csv (the original's columns) and
DIR/summary.json (means per mode).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from shared_data.errors import ConfigError, DatasetError, LicError

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LOSSY_CODING = dict(n_beams=10, extra_samples=1.0, kl_per_partition=3.0, compression_seed=42)
LOSSLESS_CODING = dict(n_beams=20, extra_samples=1.2, kl_per_partition=3.0, compression_seed=42)
MINI_LOSSY = dict(model="large_level_2_vae", level_1_filters=48, level_2_filters=32)
MINI_LOSSLESS = dict(model="resnet_vae", num_res_blocks=4, deterministic_filters=24, stochastic_filters=8,
                     lamb=0.1, likelihood_log_scale_init=-4.0)


def _kodak_crops(n, crop):
    from shared_data.imageio import read_image
    from shared_data.paths import kodak_images
    from shared_data.transforms import center_crop

    return [(f.stem, center_crop(read_image(f), crop) if crop else read_image(f)) for f in kodak_images(n)]


def _lossless_crops(n, folder=None):
    from shared_data.imageio import list_images, read_image
    from shared_data.paths import train_dir
    from shared_data.transforms import center_crop

    files = list_images(folder or train_dir())[::-1][:n]  # the last photos: not in the mini training set
    return [(f"{f.stem}_32", center_crop(read_image(f), 32)) for f in files]


def _train_mini(out: Path):
    from rec.data import random_crops
    from rec.train import train_lossless, train_lossy

    from shared_data.imageio import list_images
    from shared_data.paths import train_dir

    files = list_images(train_dir())
    train_lossy(MINI_LOSSY, random_crops(files, 64, 8, seed=1, max_images=len(files)), 100000, out / "mini",
                log_dir=out / "logs" / "mini", beta=0.01, learning_rate=1e-3, log_freq=200, max_seconds=720)
    train_lossless(MINI_LOSSLESS, random_crops(files[:300], 32, 8, seed=1, max_images=300), 100000,
                   out / "mini-lossless", log_dir=out / "logs" / "mini-lossless", learning_rate=2e-3,
                   log_freq=500, max_seconds=360, ema_decay=0.0)
    return out / "mini", out / "mini-lossless"


FULL_BETAS = (0.001, 0.003, 0.01, 0.03, 0.05)
FULL_LOSSY = dict(model="large_level_2_vae", level_1_filters=196, level_2_filters=128)
FULL_LOSSLESS = dict(model="resnet_vae", num_res_blocks=24, deterministic_filters=160, stochastic_filters=32,
                     lamb=0.1)
#: the lossless datasets and their test splits (tfds: cifar10 "test", downsampled_imagenet/32x32 "validation")
FULL_LOSSLESS_DATA = {"cifar10": "test", "imagenet32": "validation"}
FULL_LOSSY_CROP = 256   # random crops, batch 8 (the original's)


def _clic_train_files():
    """CLIC training photos: $IREC_CLIC_DIR (a folder of images, or one holding clic2019/train as the original
    expected), else the project's $TRAIN_DIR photos."""
    from shared_data.imageio import list_images
    from shared_data.paths import train_dir

    clic = os.environ.get("IREC_CLIC_DIR")
    if clic:
        sub = Path(clic) / "clic2019" / "train"
        return list_images(sub if sub.is_dir() else clic), str(clic)
    return list_images(train_dir()), f"{train_dir()} (no $IREC_CLIC_DIR)"


def _lossless_base() -> Path:
    base = os.environ.get("IREC_DATA_DIR")
    if not base:
        raise DatasetError("SCALE=full needs $IREC_DATA_DIR: a folder holding the CIFAR-10 and ImageNet32 "
                                "batch files (cifar10/cifar-10-batches-py, imagenet32/Imagenet32_{train,val}_npz)")
    return Path(base)


def _train_full(out: Path, steps: int | None, betas, datasets):
    """The paper's configs: large_level_2_vae (N=196, M=128) for each β, 200k Adam steps on 256² crops of
    CLIC; the 24-block ResNet VAE for 500k Adamax steps on each of CIFAR-10 / ImageNet32 (``steps`` caps the
    iterations, for checking the code path on a CPU)."""
    from rec.data import random_crops, small_image_batches
    from rec.train import train_lossless, train_lossy

    files, clic_from = _clic_train_files()
    lossy_dirs = []
    for beta in betas:
        d = out / f"large_level_2_vae_beta_{beta:.3f}"
        train_lossy(FULL_LOSSY, random_crops(files, FULL_LOSSY_CROP, 8, seed=1, max_images=len(files)),
                    min(200000, steps or 200000), d, log_dir=d / "logs", beta=beta, learning_rate=1e-4,
                    log_freq=300)
        lossy_dirs.append(d)
    lossless_dirs = {}
    if datasets:
        base = _lossless_base()
        for name in datasets:
            d = out / f"resnet_vae_blocks_24_{name}"
            train_lossless(FULL_LOSSLESS, small_image_batches(name, base, "train", 8, seed=1),
                           min(500000, steps or 500000), d, log_dir=d / "logs", learning_rate=1e-3,
                           drop_learning_rate_after_iter=50000, learning_rate_drop_rate=0.3, ema_decay=0.999,
                           log_freq=1000)
            lossless_dirs[name] = d
    return lossy_dirs, lossless_dirs, clic_from


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", choices=("mini", "full"), default="mini")
    p.add_argument("--out", required=True)
    p.add_argument("--retrain", action="store_true", help="mini: retrain both checkpoints first")
    p.add_argument("--kodak-images", type=int, default=None)
    p.add_argument("--kodak-crop", type=int, default=None, help="centre crop side (0 = whole images; "
                   "default: 256 for mini, 0 for full)")
    p.add_argument("--lossless-images", type=int, default=None)
    p.add_argument("--steps", type=int, default=None,
                   help="full: cap every training at this many steps (checks the code path on a CPU)")
    p.add_argument("--betas", default=",".join(map(str, FULL_BETAS)), help="full: lossy β values")
    p.add_argument("--lossless-datasets", default=",".join(FULL_LOSSLESS_DATA),
                   help="full: comma-separated subset of cifar10,imagenet32 (empty: none)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from rec.experiment import limit_threads

    limit_threads()   # intra-op min(2, cores) / $LIC_THREADS, inter-op 1 (TF started in-process keeps its pools)
    from rec.codec import load_model
    from rec.evaluate import evaluate, write_results_csv

    from shared_eval.measures_csv import summarize, write_measures, write_summary

    t0 = time.time()
    extra = {}
    try:
        if args.scale == "mini":
            if args.retrain:
                lossy_dirs, lossless_dir = [_train_mini(out / "models")[0]], out / "models" / "mini-lossless"
            else:
                lossy_dirs, lossless_dir = [ROOT / "zoo" / "mini"], ROOT / "zoo" / "mini-lossless"
            kodak = _kodak_crops(args.kodak_images or 4, 256 if args.kodak_crop is None else args.kodak_crop)
            lossless_sets = {"train_photos": (lossless_dir, _lossless_crops(args.lossless_images or 8))}
        else:
            from rec.data import load_small_images

            datasets = [d for d in args.lossless_datasets.split(",") if d]
            unknown = set(datasets) - set(FULL_LOSSLESS_DATA)
            if unknown:
                raise ConfigError(f"--lossless-datasets: unknown {sorted(unknown)}; use {list(FULL_LOSSLESS_DATA)}")
            betas = [float(b) for b in args.betas.split(",") if b]
            kodak = _kodak_crops(args.kodak_images or 24, args.kodak_crop or 0)
            tests = {n: load_small_images(n, _lossless_base(), FULL_LOSSLESS_DATA[n], args.lossless_images or 100)
                     for n in datasets}                          # fail on missing data before training
            lossy_dirs, lossless_dirs, clic_from = _train_full(out / "models", args.steps, betas, datasets)
            lossless_sets = {n: (lossless_dirs[n], tests[n]) for n in datasets}
            extra = {"steps_cap": args.steps, "betas": betas, "lossy_train_data": clic_from,
                     "lossless_data": str(os.environ.get("IREC_DATA_DIR", ""))}
    except (LicError, OSError, ValueError) as e:
        print(f"reproduce: {e}", file=sys.stderr)
        return 2

    rows, results, results_lossless = [], [], []
    for d in lossy_dirs:
        lm = load_model(d)
        r, res = evaluate(lm, kodak, out / "lossy" / d.name, save_reconstructions=True, **LOSSY_CODING)
        for x in r:
            x["model"] = d.name
        rows += r
        results += res
    for name, (d, imgs) in lossless_sets.items():
        if not d.exists():
            print(f"reproduce: no lossless checkpoint at {d}; lossless rows skipped", file=sys.stderr)
            continue
        lm = load_model(d)
        sub = out / "lossless" if args.scale == "mini" else out / "lossless" / name
        r, res = evaluate(lm, imgs, sub, save_reconstructions=False, **LOSSLESS_CODING)
        for x in r:
            x["model"] = d.name
            if args.scale == "full":
                x["img_name"] = f"{name}/{x['img_name']}"
        rows += r
        results_lossless += res
    if results_lossless:
        write_results_csv(out / "results_lossless.csv", results_lossless)
    write_measures(out / "measures.csv", rows)
    write_results_csv(out / "results.csv", results)
    summary = {"scale": args.scale, "wall_s": time.time() - t0,
               "lossy_coding": LOSSY_CODING, "lossless_coding": LOSSLESS_CODING, **extra,
               "by_mode": {m: summarize([r for r in rows if r["mode"] == m]) for m in ("lossy", "lossless")}}
    write_summary(out / "summary.json", summary)
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
