"""Encode/decode timings of CPM with real bitstreams: ``python bench.py [--image PNG] [--model DIR]``.

Default: Kodak kodim01 ($KODAK_DIR; the scikit-image astronaut if Kodak is absent) with the **full-size
``ae_configs/cvpr/low`` architecture** (randomly initialised unless --model gives trained or converted
weights: network timings do not depend on the weights; integerised in memory) and, if committed, the
zoo/mini model, each on the portable path (format 3, integer context model) and the float path (format 2).
Prints network and entropy-coder times separately, real bits vs the cross-entropy estimate, peak RSS.

``--rss [--rss_size WxH]`` (issue 17): peak RSS and wall time of ``python -m cpm encode`` and ``decode`` of
kodim01 upscaled (bicubic) to 3840×2160 (a constant grey image if Kodak is absent), each in a fresh child
process (``getrusage(RUSAGE_CHILDREN).ru_maxrss``); above 2^22 pixels the networks run in tiles (README,
"Memory on huge images").

``--compare N`` (issue 15): the cost of the portable path on the first N Kodak images with zoo/mini — file
bytes, PSNR and encode/decode wall time of format 3 vs format 2 (same encoder, hence the same symbols).
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent


def compare(codec, files):
    """Portable (format 3) vs float (format 2) on real images: bytes, PSNR, wall times; one row per image."""
    import numpy as np

    from shared_data import container as cont
    from shared_data.imageio import pad_to_multiple, read_image
    from shared_eval.metrics import psnr
    codec.encode_array(read_image(files[0])[:64, :64], True)  # warm-up (tracing)
    tot = {m: {"bytes": 0, "payload": 0, "est": 0.0, "enc": 0.0, "dec": 0.0, "enc_cpu": 0.0, "dec_cpu": 0.0,
               "psnr": []} for m in ("int", "float")}
    print(f"{'image':10s} {'payload int':>11s} {'payload flt':>11s} {'diff %':>7s} {'PSNR int':>8s} {'PSNR flt':>8s} "
          f"{'enc int/flt s':>14s} {'dec int/flt s':>14s}")
    for f in files:
        img = read_image(f)
        padded, _ = pad_to_multiple(img, 8, mode="constant", split="center")
        row = {}
        for m, portable in (("int", True), ("float", False)):
            t0, c0 = time.perf_counter(), time.process_time()
            c, res = codec.encode_array(img, portable)
            enc, enc_cpu = time.perf_counter() - t0, time.process_time() - c0
            data = cont.pack(c)
            t0, c0 = time.perf_counter(), time.process_time()
            _, rec, sym = codec.decode_container(cont.unpack(data))
            dec, dec_cpu = time.perf_counter() - t0, time.process_time() - c0
            assert np.array_equal(sym, res.symbols)
            row[m] = (len(c.sections[1]), psnr(padded, rec), enc, dec, res.bits_estimated, res.symbols)
            t = tot[m]
            t["bytes"] += len(data)
            t["payload"] += len(c.sections[1])
            t["est"] += res.bits_estimated
            t["enc"] += enc
            t["dec"] += dec
            t["enc_cpu"] += enc_cpu
            t["dec_cpu"] += dec_cpu
            t["psnr"].append(row[m][1])
        assert np.array_equal(row["int"][5], row["float"][5])  # one encoder: the same symbols
        bi, bf = row["int"][0], row["float"][0]
        print(f"{Path(f).stem:10s} {bi:11d} {bf:11d} {100 * (bi / bf - 1):+7.3f} {row['int'][1]:8.3f} "
              f"{row['float'][1]:8.3f} {row['int'][2]:6.2f}/{row['float'][2]:<6.2f} {row['int'][3]:6.2f}/{row['float'][3]:<6.2f}")
    i, f_ = tot["int"], tot["float"]
    print(f"TOTAL {len(files)} images: files int {i['bytes']} / float {f_['bytes']} bytes "
          f"({100 * (i['bytes'] / f_['bytes'] - 1):+.3f} %; float files carry a ~150-byte arithmetic record); "
          f"range-coder payload int {i['payload']} / float {f_['payload']} bytes "
          f"({100 * (i['payload'] / f_['payload'] - 1):+.3f} %); estimate int/float {100 * (i['est'] / f_['est'] - 1):+.4f} % bits; "
          f"mean PSNR {np.mean(i['psnr']):.4f} vs {np.mean(f_['psnr']):.4f} dB; "
          f"encode {i['enc']:.1f} / {f_['enc']:.1f} s = {i['enc'] / f_['enc']:.2f}x; "
          f"decode {i['dec']:.1f} / {f_['dec']:.1f} s = {i['dec'] / f_['dec']:.2f}x (wall); CPU time (all threads): "
          f"encode {i['enc_cpu']:.1f} / {f_['enc_cpu']:.1f} s = {i['enc_cpu'] / f_['enc_cpu']:.2f}x, "
          f"decode {i['dec_cpu']:.1f} / {f_['dec_cpu']:.1f} s = {i['dec_cpu'] / f_['dec_cpu']:.2f}x")


def bench(codec, img, label, repeat=1):
    for portable in ((True, False) if codec.icm is not None else (False,)):
        _bench(codec, img, f"{label}, {'portable format 3' if portable else 'float format 2'}", repeat, portable)


def _bench(codec, img, label, repeat, portable):
    from cpm.coding import decode_symbols, encode_symbols

    from shared_data import container as cont
    from shared_data.imageio import pad_to_multiple
    padded, _ = pad_to_multiple(img, 8)
    codec.symbols_of(padded)  # warm-up (tracing)
    codec.reconstruct(codec.symbols_of(padded))
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        c, res = codec.encode_array(img, portable)
        enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, rec, sym = codec.decode_container(cont.unpack(cont.pack(c)))
        dec = time.perf_counter() - t0
        assert (sym == res.symbols).all()
        t0 = time.perf_counter()
        codec.symbols_of(padded)
        enc_net = time.perf_counter() - t0
        t0 = time.perf_counter()
        cm = codec.icm if portable else codec.cm
        encode_symbols(cm, res.symbols)
        enc_coder = time.perf_counter() - t0
        t0 = time.perf_counter()
        decode_symbols(cm, c.sections[1], res.symbols.shape)
        dec_coder = time.perf_counter() - t0
        t0 = time.perf_counter()
        codec.reconstruct(res.symbols)
        dec_net = time.perf_counter() - t0
        r = (enc, dec, enc_net, enc_coder, dec_coder, dec_net)
        best = r if best is None or r[0] + r[1] < best[0] + best[1] else best
    enc, dec, enc_net, enc_coder, dec_coder, dec_net = best
    H, W = padded.shape[:2]
    est = codec.bits_of_symbols(res.symbols)
    real = 8 * res.num_bytes
    print(f"[{label}] image {img.shape[1]}x{img.shape[0]}, symbols {res.symbols.shape}")
    print(f"  encode {enc:.2f} s (network {enc_net:.2f} s, context model + range coder {enc_coder:.2f} s)")
    print(f"  decode {dec:.2f} s (context model + range decoder {dec_coder:.2f} s, network {dec_net:.2f} s)")
    print("  (parts are timed in separate runs; on a shared CPU they need not add up to the totals)")
    print(f"  real {res.num_bytes} bytes = {real / (H * W):.4f} bpp; cross-entropy estimate {est / (H * W):.4f} bpp; "
          f"overhead {100 * (real / est - 1):+.3f}% incl. {8 * cont.header_size(c)} header bits "
          f"({100 * ((8 * len(c.sections[1])) / est - 1):+.3f}% payload only)")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--image", default=None)
    p.add_argument("--model", default=None, help="model dir for the full-size run (default: random cvpr/low)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--skip_full", action="store_true")
    p.add_argument("--compare", type=int, default=0, metavar="N",
                   help="only the portable-vs-float comparison on the first N Kodak images (zoo/mini)")
    p.add_argument("--rss", action="store_true",
                   help="peak RSS of encode and decode of a 4K image (Kodak upscaled), each in a child process")
    p.add_argument("--rss_image", default=None, help="--rss: this image instead")
    p.add_argument("--rss_size", default="3840x2160", metavar="WxH",
                   help="--rss: kodim01 upscaled to this size (default 4K); above ~8 M pixels set LIC_MAX_MEMORY "
                        "(e.g. 1T) to pass the CLI's linear memory estimate")
    a = p.parse_args(argv)
    if a.rss:
        from shared_data.limits import rss_bench
        w, h = (int(v) for v in a.rss_size.lower().split("x"))
        rss_bench("cpm", Path(__file__).resolve().parent, a.rss_image, height=h, width=w)
        return 0
    from cpm.tfsetup import limit_threads
    limit_threads()
    from cpm.codec import DEFAULT_MODEL, load_codec, load_from_configs

    from shared_data import paths
    from shared_data.errors import DatasetError
    from shared_data.imageio import read_image, sample_images
    kodak = paths.kodak_dir()
    if a.compare:
        try:
            files = paths.kodak_images(a.compare)
        except DatasetError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        compare(load_codec(a.model or DEFAULT_MODEL), files)
        return 0
    if a.image:
        img = read_image(a.image)
    elif (kodak / "kodim01.png").is_file():
        img = read_image(kodak / "kodim01.png")
    else:
        img = sample_images(("astronaut",))["astronaut"]
    if (DEFAULT_MODEL / "weights.npz").is_file():
        bench(load_codec(DEFAULT_MODEL), img, "zoo/mini (trained)", a.repeat)
    if not a.skip_full:
        if a.model:
            codec, label = load_codec(a.model), f"{a.model}"
        else:
            from cpm.codec import Codec
            from cpm.integer import integerize_weights
            codec = load_from_configs(ROOT / "ae_configs/cvpr/low", ROOT / "pc_configs/cvpr/res_shallow")
            codec = Codec(codec.model, integerize_weights(codec.model.numpy_weights()))
            label = "full-size cvpr/low + res_shallow, random init"
        bench(codec, img, label, a.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
