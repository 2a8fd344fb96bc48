"""Benchmarks (prints numbers):

1. SGA iterations/s on one Kodak image with N=192 (randomly initialized weights: speed does not depend on
   them), compiled (``tf.function``) vs eager.
2. M3 (amortized) encode / decode wall time and the real-vs-estimated bit overhead with the committed
   zoo/mini model on one full Kodak image.

3. ``--portable K``: the cost of portable files (issue 15) on the first K Kodak images (full size) with the
   committed (integerized) zoo models: for M3, SGA (``--sga_its``) and A6 bits-back, file bits, PSNR and
   entropy-coding encode / decode time of the portable path (formats 5/6) vs the float path (formats 3/4)
   on the same latents; the end-to-end encode time includes the (shared, float) inference.

    python bench.py [--image kodim01.png] [--num_filters 192] [--its 3]
    python bench.py --portable 24 [--sga_its 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from shared_data import paths

HERE = Path(__file__).resolve().parent
KODAK_DIR = paths.kodak_dir()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", default="kodim01.png")
    ap.add_argument("--num_filters", type=int, default=192)
    ap.add_argument("--its", type=int, default=3, help="timed iterations per mode")
    ap.add_argument("--portable", type=int, default=0, metavar="K", help="portable-vs-float cost on K Kodak images")
    ap.add_argument("--sga_its", type=int, default=50, help="SGA iterations in --portable (paper: 2000)")
    ap.add_argument("--rss", action="store_true",
                    help="peak RSS of encode and decode of a 4K image (Kodak upscaled), each in a child process")
    ap.add_argument("--rss_image", default=None, help="--rss: this image instead")
    args = ap.parse_args(argv)
    if args.rss:
        from shared_data.limits import rss_bench
        rss_bench("sga", Path(__file__).resolve().parent, args.rss_image)
        return 0
    from sga.cli import _setup_tf

    _setup_tf()
    if args.portable:
        return portable_bench(args.portable, args.sga_its)
    import numpy as np
    import tensorflow as tf
    from sga.__main__ import DEFAULT_MODEL
    from sga.checkpoints import load_model
    from sga.coding import Coder
    from sga.inference import METHODS, IterativeInference, round_latents
    from sga.model import MBT2018

    from shared_data import container as lic
    from shared_data.imageio import read_image

    path = KODAK_DIR / args.image
    if not path.is_file():
        print(f"bench: error: {path} not found (set KODAK_DIR)", file=sys.stderr)
        return 1
    img = read_image(path)
    x = tf.constant(img[None].astype(np.float32) / 255.0)
    print(f"device: {tf.config.list_physical_devices('GPU') or 'CPU'}; image {args.image} {img.shape[1]}x{img.shape[0]}")

    tf.random.set_seed(0)
    model = MBT2018(args.num_filters)
    for jit in (True, False):
        inf = IterativeInference(model, 0.01, METHODS["sga"], jit=jit)
        y, z = inf.init_latents(x)
        state = (tf.zeros_like(y), tf.zeros_like(y), tf.zeros_like(z), tf.zeros_like(z))
        lr, temp = tf.constant(0.005), tf.constant(0.5)
        npx = tf.constant(float(img.shape[0] * img.shape[1]))
        seed = tf.constant([0, 0], tf.int64)
        y, z, state, loss = inf._step(x, y, z, state, tf.constant(0, tf.int64), lr, temp, seed, npx)  # trace
        float(loss)
        t = time.perf_counter()
        for i in range(args.its):
            y, z, state, loss = inf._step(x, y, z, state, tf.constant(i + 1, tf.int64), lr, temp, seed, npx)
        float(loss)
        dt = time.perf_counter() - t
        print(f"SGA N={args.num_filters} {'compiled' if jit else 'eager   '}: {args.its / dt:.3f} it/s "
              f"({dt / args.its:.2f} s/it; 2000 its ~ {2000 * dt / args.its / 60:.1f} min)")

    if (DEFAULT_MODEL / "args.json").is_file():
        model, _ = load_model(DEFAULT_MODEL)
        coder = Coder(model)
        inf = IterativeInference(model, 0.01, METHODS["m3"])
        t = time.perf_counter()
        y, z, _ = inf.run(x, progress=False)
        y_hat, z_hat = round_latents(model, y, z, "offset")
        c = coder.encode(y_hat.numpy(), z_hat.numpy(), "offset", "m3", img.shape[0], img.shape[1])
        data = lic.pack(c)
        enc = time.perf_counter() - t
        t = time.perf_counter()
        coder.decode(lic.unpack(data))
        dec = time.perf_counter() - t
        _, yb, zb, _ = model.rd_terms(x, y_hat, z_hat)
        est = float(yb[0] + zb[0])
        npx = img.shape[0] * img.shape[1]
        print(f"M3 ({DEFAULT_MODEL.name}): encode {enc:.2f}s decode {dec:.2f}s; "
              f"file {len(data) * 8 / npx:.4f} bpp vs estimated {est / npx:.4f} bpp "
              f"(overhead {100 * (len(data) * 8 / est - 1):.2f}%, of which container header "
              f"{lic.header_size(c)} bytes)")
    bb_model_dir = DEFAULT_MODEL.parent / "mbt2018_bb-num_filters=32-lmbda=0.01"
    if (bb_model_dir / "args.json").is_file():  # A6 bits-back: one image = a chain of one
        from sga.bitsback import BitsBackCoder

        model, _ = load_model(bb_model_dir)
        coder = BitsBackCoder(model, 0.01)
        t = time.perf_counter()
        y_hat = tf.round(model.analysis_transform(x))
        c, info = coder.encode(y_hat.numpy(), "bb_plain", img.shape[0], img.shape[1])
        data = lic.pack(c)
        enc = time.perf_counter() - t
        t = time.perf_counter()
        _, _, _, recovered = coder.decode_latents(lic.unpack(data))
        dec = time.perf_counter() - t
        m, s_ = info["q"]
        yb, zb, back, _ = model.bits(y_hat, tf.constant(np.concatenate([m, s_], -1), tf.float32),
                                     eps=tf.constant((info["z"] - m) / np.exp(0.5 * s_), tf.float32))
        npx = img.shape[0] * img.shape[1]
        net = info["net_bits"] + 8 * lic.header_size(c)
        print(f"A6 bits-back ({bb_model_dir.name}): encode {enc:.2f}s decode {dec:.2f}s; net "
              f"{net / npx:.4f} bpp (stack growth + header) vs estimated {float(yb[0] + zb[0] - back[0]) / npx:.4f} "
              f"bpp; borrowed {info['borrowed_bits'] / npx:.4f} bpp; single file {len(data) * 8 / npx:.4f} bpp; "
              f"bits recovered: {recovered}")
    return 0


def portable_bench(k: int, sga_its: int) -> int:
    import numpy as np
    import tensorflow as tf
    from sga.__main__ import DEFAULT_MODEL
    from sga.checkpoints import load_model
    from sga.codec import open_coder
    from sga.inference import METHODS, IterativeInference, round_latents, with_overrides

    from shared_data import container as lic
    from shared_data.imageio import read_image
    from shared_eval import metrics

    paths = sorted(KODAK_DIR.glob("kodim*.png"))[:k]
    if not paths:
        print(f"bench: error: no Kodak images in {KODAK_DIR} (set KODAK_DIR)", file=sys.stderr)
        return 1
    bb_dir = DEFAULT_MODEL.parent / "mbt2018_bb-num_filters=32-lmbda=0.01"
    jobs = [("m3", DEFAULT_MODEL), ("sga", DEFAULT_MODEL), ("bb_plain", bb_dir)]
    models = {d: load_model(d)[0] for _, d in jobs}
    tot = {}
    for it, path in enumerate([paths[0]] + paths):  # the first pass warms both paths up and is not counted
        img = read_image(path)
        x = tf.constant(img[None].astype(np.float32) / 255.0)
        npx = img.shape[0] * img.shape[1]
        for name, d in jobs:
            model = models[d]
            method = with_overrides(METHODS[name], its=sga_its if name == "sga" else None)
            t0 = time.perf_counter()
            y, z, _ = IterativeInference(model, 0.01, method).run(x, progress=False)
            y_hat, z_hat = round_latents(model, y, z, method.grid)
            inf_s = time.perf_counter() - t0
            for portable in (True, False):
                coder = open_coder(model, 0.01, portable=portable)
                t = time.perf_counter()
                if method.grid == "bitsback":
                    c, _ = coder.encode(y_hat.numpy(), name, *img.shape[:2])
                else:
                    c = coder.encode(y_hat.numpy(), z_hat.numpy(), method.grid, name, *img.shape[:2])
                data = lic.pack(c)
                enc = time.perf_counter() - t
                t = time.perf_counter()
                c2 = lic.unpack(data)
                yd = coder.decode_latents(c2)[0]
                rec = coder.reconstruct(yd, *img.shape[:2])
                dec = time.perf_counter() - t
                if it == 0:
                    continue
                r = tot.setdefault((name, portable), [0.0, 0.0, 0.0, 0.0, 0.0, 0])
                for i, v in enumerate((len(data) * 8 / npx, metrics.psnr(img, rec), enc, dec, enc + inf_s)):
                    r[i] += v
                r[5] += 1
    print(f"portable vs float on {len(paths)} Kodak image(s) (zoo/mini models; SGA {sga_its} its):")
    for name, _ in jobs:
        p, f = tot[(name, True)], tot[(name, False)]
        n = p[5]
        print(f"{name:9s} bpp {p[0] / n:.5f} vs {f[0] / n:.5f} ({100 * (p[0] / f[0] - 1):+.3f} %), "
              f"PSNR {p[1] / n:.4f} vs {f[1] / n:.4f} dB ({(p[1] - f[1]) / n:+.4f}), "
              f"coding enc {p[2] / n:.3f} vs {f[2] / n:.3f} s ({p[2] / f[2]:.2f}x), "
              f"dec {p[3] / n:.3f} vs {f[3] / n:.3f} s ({p[3] / f[3]:.2f}x), "
              f"end-to-end enc {p[4] / n:.2f} vs {f[4] / n:.2f} s ({p[4] / f[4]:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
