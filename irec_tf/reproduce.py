"""Reproduce iREC's measurements: ``python reproduce.py --scale mini|full --out DIR``.

mini (CPU, minutes): evaluates the committed checkpoints — the lossy ``zoo/mini`` model on centre 256×256
crops of the first Kodak images (paper lossy setting B=10, 1+ε=1, Ω=3) and the lossless ``zoo/mini-lossless``
ResNet VAE on 32×32 centre crops of held-out $TRAIN_DIR photos (paper lossless setting B=20, 1+ε=1.2,
Ω=3), every file really written and decoded (lossless: bit-exactly). ``--retrain`` first retrains both
checkpoints into DIR (about 12 + 8 minutes on 2 CPU cores) and evaluates those instead.

full (GPU, days): trains the paper's configs — large_level_2_vae with N=196, M=128 for β ∈ {0.001, 0.003,
0.01, 0.03, 0.05}, 200k iterations on $TRAIN_DIR (CLIC in the paper) and the 24-block ResNet VAE for 500k
iterations on 32×32 images (CIFAR-10 / ImageNet32 folders from $IREC_LOSSLESS_DIR, else $TRAIN_DIR crops)
— and evaluates all 24 Kodak images and 100 32×32 test images.

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

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LOSSY_CODING = dict(n_beams=10, extra_samples=1.0, kl_per_partition=3.0, compression_seed=42)
LOSSLESS_CODING = dict(n_beams=20, extra_samples=1.2, kl_per_partition=3.0, compression_seed=42)
MINI_LOSSY = dict(model="large_level_2_vae", level_1_filters=48, level_2_filters=32)
MINI_LOSSLESS = dict(model="resnet_vae", num_res_blocks=4, deterministic_filters=24, stochastic_filters=8,
                     lamb=0.1, likelihood_log_scale_init=-4.0)


def _kodak_crops(n, crop):
    from rec.data import center_crop, kodak_dir, list_images

    from shared_data.imageio import read_image

    files = list_images(kodak_dir())[:n]
    return [(f.stem, center_crop(read_image(f), crop) if crop else read_image(f)) for f in files]


def _lossless_crops(n, folder=None):
    from rec.data import center_crop, list_images, train_dir

    from shared_data.imageio import read_image

    files = list_images(folder or train_dir())[::-1][:n]  # the last photos: not in the mini training set
    return [(f"{f.stem}_32", center_crop(read_image(f), 32)) for f in files]


def _train_mini(out: Path):
    from rec.data import list_images, random_crops, train_dir
    from rec.train import train_lossless, train_lossy

    files = list_images(train_dir())
    train_lossy(MINI_LOSSY, random_crops(files, 64, 8, seed=1, max_images=len(files)), 100000, out / "mini",
                log_dir=out / "logs" / "mini", beta=0.01, learning_rate=1e-3, log_freq=200, max_seconds=720)
    train_lossless(MINI_LOSSLESS, random_crops(files[:300], 32, 8, seed=1, max_images=300), 100000,
                   out / "mini-lossless", log_dir=out / "logs" / "mini-lossless", learning_rate=2e-3,
                   log_freq=500, max_seconds=360, ema_decay=0.0)
    return out / "mini", out / "mini-lossless"


def _train_full(out: Path):
    from rec.data import list_images, random_crops, train_dir
    from rec.train import train_lossless, train_lossy

    files = list_images(train_dir())
    lossy_dirs = []
    for beta in (0.001, 0.003, 0.01, 0.03, 0.05):
        d = out / f"large_level_2_vae_beta_{beta:.3f}"
        train_lossy(dict(model="large_level_2_vae", level_1_filters=196, level_2_filters=128),
                    random_crops(files, 256, 8, seed=1, max_images=len(files)), 200000, d,
                    log_dir=d / "logs", beta=beta, learning_rate=1e-4, log_freq=300)
        lossy_dirs.append(d)
    folder = os.environ.get("IREC_LOSSLESS_DIR")
    lfiles = list_images(folder) if folder else files
    d = out / "resnet_vae_blocks_24"
    train_lossless(dict(model="resnet_vae", num_res_blocks=24, lamb=0.1), random_crops(lfiles, 32, 8, seed=1),
                   500000, d, log_dir=d / "logs")
    return lossy_dirs, d


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", choices=("mini", "full"), default="mini")
    p.add_argument("--out", required=True)
    p.add_argument("--retrain", action="store_true", help="mini: retrain both checkpoints first")
    p.add_argument("--kodak-images", type=int, default=None)
    p.add_argument("--lossless-images", type=int, default=None)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from rec.codec import load_model
    from rec.evaluate import evaluate, write_results_csv

    from shared_eval.measures import summarize, write_measures, write_summary

    t0 = time.time()
    try:
        if args.scale == "mini":
            if args.retrain:
                lossy_dirs, lossless_dir = [_train_mini(out / "models")[0]], out / "models" / "mini-lossless"
            else:
                lossy_dirs, lossless_dir = [ROOT / "zoo" / "mini"], ROOT / "zoo" / "mini-lossless"
            kodak = _kodak_crops(args.kodak_images or 4, 256)
            lossless_imgs = _lossless_crops(args.lossless_images or 8)
        else:
            lossy_dirs, lossless_dir = _train_full(out / "models")
            kodak = _kodak_crops(args.kodak_images or 24, 0)
            folder = os.environ.get("IREC_LOSSLESS_TEST_DIR")
            lossless_imgs = _lossless_crops(args.lossless_images or 100, folder)
    except FileNotFoundError as e:
        print(f"reproduce: {e}", file=sys.stderr)
        return 2

    rows, results = [], []
    for d in lossy_dirs:
        lm = load_model(d)
        r, res = evaluate(lm, kodak, out / "lossy" / d.name, save_reconstructions=True, **LOSSY_CODING)
        for x in r:
            x["model"] = d.name
        rows += r
        results += res
    if lossless_dir.exists():
        lm = load_model(lossless_dir)
        r, res = evaluate(lm, lossless_imgs, out / "lossless", save_reconstructions=False, **LOSSLESS_CODING)
        for x in r:
            x["model"] = lossless_dir.name
        rows += r
        results_lossless = res
        write_results_csv(out / "results_lossless.csv", results_lossless)
    else:
        print(f"reproduce: no lossless checkpoint at {lossless_dir}; lossless rows skipped", file=sys.stderr)
    write_measures(out / "measures.csv", rows)
    write_results_csv(out / "results.csv", results)
    summary = {"scale": args.scale, "wall_s": time.time() - t0,
               "lossy_coding": LOSSY_CODING, "lossless_coding": LOSSLESS_CODING,
               "by_mode": {m: summarize([r for r in rows if r["mode"] == m]) for m in ("lossy", "lossless")}}
    write_summary(out / "summary.json", summary)
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
