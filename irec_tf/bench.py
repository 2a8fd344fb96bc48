"""Benchmark iREC coding: encode/decode time per level and per partition, candidate samples scored per second,
as n_beams (B), kl_per_partition (Ω) and extra_samples (1+ε) vary, plus peak memory (ru_maxrss); then one
real image per committed checkpoint (lossy zoo/mini, lossless zoo/mini-lossless): encode/decode time per
image and per partition. ``python bench.py [--dims 8192] [--quick]``. Prints a table; writes nothing.

``python bench.py --portable [--images N] [--crop C]``: the cost of the portable (integer) path against the
float path on Kodak (issue 15): real file bits, PSNR (lossy) and encode/decode time of the same images with
the same model, ``portable=True`` (format 3) vs ``portable=False`` (format 2). Lossy: zoo/mini on centre C×C
crops of the first N Kodak images (B=10, 1+ε=1, Ω=3); lossless: zoo/mini-lossless on their centre 32×32 crops
(B=20, 1+ε=1.2).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_coder(dims: int, grid):
    from rec.coding import BeamSearchCoder

    rs = np.random.RandomState(0)
    p_loc, p_scale = np.zeros(dims), np.ones(dims)
    q_loc, q_scale = rs.randn(dims) * 0.7, np.full(dims, 0.6)  # ≈ 0.4 nats per dim
    print(f"synthetic level: {dims} dims, Gaussian q/p")
    print(f"{'B':>3} {'Ω':>4} {'1+ε':>4} {'N_s':>4} {'KL nats':>8} {'K total':>7} {'enc s':>7} {'dec s':>6} "
          f"{'enc ms/part':>11} {'dec ms/part':>11} {'samples/s':>10} {'code/KL':>7} {'peak MB':>8}")
    for B, omega, extra in grid:
        c = BeamSearchCoder(omega, 1000, B, extra, seed=1)
        t = time.perf_counter()
        z, code, st = c.encode(q_loc, q_scale, p_loc, p_scale)
        enc = time.perf_counter() - t
        t = time.perf_counter()
        zd = c.decode(p_loc, p_scale, code)
        dec = time.perf_counter() - t
        assert np.array_equal(z, zd)
        k = int(code.num_aux.sum())
        scored = k * B * c.n_samples  # candidate extensions scored (each a block_size-dim vector)
        print(f"{B:>3} {omega:>4} {extra:>4} {c.n_samples:>4} {st.kl_nats:>8.0f} {k:>7} {enc:>7.2f} {dec:>6.2f} "
              f"{1000 * enc / k:>11.2f} {1000 * dec / k:>11.3f} {scored / enc:>10.0f} {st.code_nats / st.kl_nats:>7.3f} {_peak_mb():>8.0f}")


def bench_model(crop: int):
    """Per image and per partition (auxiliary variable) timings of the committed checkpoints: zoo/mini on a
    centre crop of the first Kodak image (lossy, 1+ε=1), zoo/mini-lossless on its 32×32 centre crop
    (lossless, 1+ε=1.2; the time includes the ANS-coded residual)."""
    import math
    import tempfile

    from rec.codec import compress, decompress, load_model
    from rec.coding import num_samples
    from rec.experiment import limit_threads

    from shared_data.errors import DatasetError
    from shared_data.imageio import read_image
    from shared_data.paths import kodak_images
    from shared_data.transforms import center_crop

    limit_threads()
    try:
        files = kodak_images()
    except DatasetError as e:
        print(f"model benchmark skipped: {e}")
        return
    full = read_image(files[0])
    cases = [("zoo/mini", center_crop(full, crop), 1.0, (1, 10)),
             ("zoo/mini-lossless", center_crop(full, 32), 1.2, (1, 20))]
    print(f"\n{'model':<18} {'image':>9} {'B':>3} {'1+ε':>4} {'K':>6} {'enc s':>7} {'dec s':>6} {'enc ms/part':>11} "
          f"{'dec ms/part':>11} {'bpp':>7} {'ideal':>7} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as d:
        for name, img, extra, beams in cases:
            lm = load_model(ROOT / name)
            for B in beams:
                r = compress(lm, img, Path(d) / "a.lic", n_beams=B, extra_samples=extra)
                t = time.perf_counter()
                decompress(lm, Path(d) / "a.lic")
                dec = time.perf_counter() - t
                k = round(r.index_nats / math.log(num_samples(3.0, extra)))
                print(f"{name:<18} {img.shape[1]:>4}x{img.shape[0]:<4} {B:>3} {extra:>4} {k:>6} {r.enc_s:>7.2f} "
                      f"{dec:>6.2f} {1000 * r.enc_s / k:>11.2f} {1000 * dec / k:>11.2f} {r.bpp:>7.4f} "
                      f"{r.ideal_bpp:>7.4f} {_peak_mb():>8.0f}")


def bench_portable(n_images: int, crop: int):
    """Portable (format 3) vs float path (format 2) on the same images: bits, PSNR, encode/decode seconds."""
    import tempfile

    from rec.codec import compress, decompress, load_model
    from rec.experiment import limit_threads

    from shared_data.imageio import read_image
    from shared_data.paths import kodak_images
    from shared_data.transforms import center_crop
    from shared_eval.metrics import psnr

    limit_threads()
    files = kodak_images(n_images)
    cases = [("zoo/mini", crop, 10, 1.0), ("zoo/mini-lossless", 32, 20, 1.2)]
    print(f"\nportable vs float path: {len(files)} Kodak images")
    print(f"{'model':<18} {'image':<8} {'path':<9} {'bytes':>6} {'bpp':>8} {'PSNR':>7} {'enc s':>7} {'dec s':>6}")
    with tempfile.TemporaryDirectory() as d:
        for name, c, B, extra in cases:
            lm = load_model(ROOT / name)
            tot = {p: [0, 0.0, 0.0, 0.0, 0] for p in ("float", "portable")}   # bytes, psnr, enc, dec, pixels
            for f in files:
                img = center_crop(read_image(f), c)
                for path in ("float", "portable"):
                    out = Path(d) / f"{path}.lic"
                    r = compress(lm, img, out, n_beams=B, extra_samples=extra, portable=path == "portable")
                    t = time.perf_counter()
                    dec = decompress(lm, out)
                    dt = time.perf_counter() - t
                    q = psnr(img, dec) if not lm.lossless else float("inf")
                    if lm.lossless:
                        assert np.array_equal(dec, img)
                    acc = tot[path]
                    acc[0] += r.num_bytes
                    acc[1] += q if not lm.lossless else 0.0
                    acc[2] += r.enc_s
                    acc[3] += dt
                    acc[4] += img.shape[0] * img.shape[1]
                    print(f"{name:<18} {f.stem:<8} {path:<9} {r.num_bytes:>6} {r.bpp:>8.4f} {q:>7.3f} "
                          f"{r.enc_s:>7.2f} {dt:>6.2f}", flush=True)
            fl, po = tot["float"], tot["portable"]
            n = len(files)
            print(f"{name}: bits portable/float {po[0] / fl[0] - 1:+.3%} ({8 * po[0] / po[4]:.4f} vs "
                  f"{8 * fl[0] / fl[4]:.4f} bpp), PSNR {(po[1] - fl[1]) / n:+.3f} dB, encode time x{po[2] / fl[2]:.2f}, "
                  f"decode time x{po[3] / fl[3]:.2f}", flush=True)


def rss_sweep(module: str, sizes: str) -> dict:
    """``--rss_sizes 480x270,960x540``: :func:`shared_data.limits.rss_sweep` in this folder."""
    from shared_data.limits import rss_sweep as sweep

    return sweep(module, Path(__file__).resolve().parent, sizes)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dims", type=int, default=8192, help="latent dims of the synthetic level")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--portable", action="store_true", help="portable vs float path on Kodak (issue 15)")
    p.add_argument("--images", type=int, default=24, help="Kodak images for --portable")
    p.add_argument("--rss", action="store_true",
                   help="peak RSS of encode and decode of a 4K image (Kodak upscaled), each in a child process")
    p.add_argument("--rss_image", default=None, help="--rss: this image instead")
    p.add_argument("--rss_sizes", default=None, metavar="WxH,...",
                   help="peak RSS of encode/decode at these sizes (child processes), extrapolated to 4K")
    a = p.parse_args()
    if a.rss:
        from shared_data.limits import rss_bench
        rss_bench("rec", Path(__file__).resolve().parent, a.rss_image)
        return 0
    if a.rss_sizes:
        rss_sweep("rec", a.rss_sizes)
        return 0
    if a.portable:
        bench_portable(a.images, a.crop)
        return
    grid = [(1, 3.0, 1.0), (10, 3.0, 1.0), (20, 3.0, 1.2)] if a.quick else \
        [(1, 3.0, 1.0), (5, 3.0, 1.0), (10, 3.0, 1.0), (20, 3.0, 1.0), (20, 3.0, 1.2),
         (10, 2.0, 1.0), (10, 4.0, 1.0), (10, 5.0, 1.0)]
    bench_coder(a.dims, grid)
    bench_model(a.crop)


if __name__ == "__main__":
    main()
