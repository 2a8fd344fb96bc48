"""Benchmark HiFiC coding on CPU: encode/decode time, the entropy coder's share, real-vs-estimated overhead and
peak RSS, for a Kodak image and a 4K image.

  python bench.py                          # committed MINI model: Kodak + 3840x2160
  python bench.py --full                   # also the paper-size model (random weights: timing only) on Kodak
  python bench.py --image PATH --threads 2
  python bench.py --paths 24               # portable (integer h_s) vs float path on the first 24 Kodak images

Timings on a shared 2-core machine are noisy; the entropy-coding share and the overhead are the point.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import torch
from hific.codec import decode_image, encode_image

from shared_data import threads


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_one(model, img, label):
    from shared_data import container as ctr

    h, w = img.shape[:2]
    t0 = time.perf_counter()
    cont, einfo = encode_image(model, img)
    data = ctr.pack(cont)
    enc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rec, dinfo = decode_image(model, ctr.unpack(data))
    dec_s = time.perf_counter() - t0
    est_bits = model.estimate_bits(img)
    real_bits = 8 * len(data)
    print(f"{label:28s} {w}x{h}: {len(data):8d} B  bpp {real_bits / (h * w):.4f} (est {est_bits / (h * w):.4f}, "
          f"overhead {100 * (real_bits / est_bits - 1):+.2f}%)  enc {enc_s:6.2f} s (coder {einfo['coding_s']:.3f} s, "
          f"{100 * einfo['coding_s'] / enc_s:.1f}%)  dec {dec_s:6.2f} s (coder {dinfo['coding_s']:.3f} s, "
          f"{100 * dinfo['coding_s'] / dec_s:.1f}%)  peak RSS {peak_rss_mb():.0f} MB", flush=True)
    assert torch.equal(einfo["y_sym"], dinfo["y_sym"])


def compare_paths(model, files) -> dict:
    """Portable (layout 3) vs float (layout 2) files of the same integerized model, image by image (runs
    interleaved so machine load hits both alike): bytes, PSNR, encode and decode seconds."""
    from shared_data import container as ctr
    from shared_data.imageio import read_image
    from shared_eval.metrics import psnr

    tot = {k: 0.0 for k in ("bytes_p", "bytes_f", "psnr_p", "psnr_f", "enc_p", "enc_f", "dec_p", "dec_f")}
    for f in files:
        img = read_image(f)
        row = {}
        for tag, portable in (("f", False), ("p", True)):
            t0 = time.perf_counter()
            data = ctr.pack(encode_image(model, img, portable=portable)[0])
            t1 = time.perf_counter()
            rec, _ = decode_image(model, ctr.unpack(data))
            t2 = time.perf_counter()
            row.update({f"bytes_{tag}": len(data), f"psnr_{tag}": psnr(img, rec), f"enc_{tag}": t1 - t0,
                        f"dec_{tag}": t2 - t1})
        for k in tot:
            tot[k] += row[k]
        print(f"{f.name:14s} bytes float {row['bytes_f']:7d} portable {row['bytes_p']:7d} "
              f"({100 * (row['bytes_p'] / row['bytes_f'] - 1):+.3f}%)  PSNR {row['psnr_f']:.4f} / {row['psnr_p']:.4f}  "
              f"enc {row['enc_f']:.2f} / {row['enc_p']:.2f} s  dec {row['dec_f']:.2f} / {row['dec_p']:.2f} s",
              flush=True)
    n = len(files)
    print(f"{n} images: bytes {100 * (tot['bytes_p'] / tot['bytes_f'] - 1):+.3f}% (portable vs float), "
          f"PSNR {(tot['psnr_p'] - tot['psnr_f']) / n:+.4f} dB, encode x{tot['enc_p'] / tot['enc_f']:.2f}, "
          f"decode x{tot['dec_p'] / tot['dec_f']:.2f} (float: enc {tot['enc_f'] / n:.2f} s, dec "
          f"{tot['dec_f'] / n:.2f} s per image)")
    return tot


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint (default zoo/mini)")
    p.add_argument("--image", default=None, help="an image instead of Kodak's first")
    p.add_argument("--full", action="store_true", help="also time the paper-size model (random weights)")
    p.add_argument("--no4k", action="store_true")
    p.add_argument("--rss", action="store_true",
                   help="peak RSS of encode and decode of a 4K image (Kodak upscaled), each in a child process")
    p.add_argument("--rss_image", default=None, help="--rss: this image instead")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--paths", type=int, default=0, metavar="N",
                   help="only compare the portable and float paths on the first N Kodak images")
    args = p.parse_args(argv)
    if args.rss:
        from pathlib import Path

        from shared_data.limits import rss_bench
        rss_bench("hific", Path(__file__).resolve().parent, args.rss_image)
        return 0
    threads.limit(args.threads)

    from hific.checkpoints import default_model_path, load_checkpoint

    from shared_data import paths
    from shared_data.imageio import read_image

    try:
        path = args.image or paths.kodak_images(1)[0]
        img = read_image(path)
    except Exception as e:  # noqa: BLE001 - report and fall back to a synthetic image
        print(f"note: {e}; using a synthetic 768x512 image", file=sys.stderr)
        rng = np.random.default_rng(0)
        img = np.clip(np.indices((512, 768)).sum(0)[..., None] % 256 + rng.normal(0, 10, (512, 768, 3)),
                      0, 255).astype(np.uint8)
    model, _ = load_checkpoint(args.model or default_model_path())
    print(f"threads={args.threads}  torch {torch.__version__}")
    if args.paths:
        compare_paths(model, paths.kodak_images(args.paths))
        return 0
    bench_one(model, img, f"mini {model.cfg.name}")
    if not args.no4k:
        big = np.tile(img, (-(-2160 // img.shape[0]), -(-3840 // img.shape[1]), 1))[:2160, :3840]
        bench_one(model, np.ascontiguousarray(big), "mini, 4K (tiled Kodak)")
    if args.full:
        from hific.config import ModelConfig
        from hific.model import HiFiC
        torch.manual_seed(0)
        full = HiFiC(ModelConfig()).eval()
        full.update()
        bench_one(full, img, "full 181.5M (random weights)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
