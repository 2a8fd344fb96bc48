"""Encode/decode timings of CPM with real bitstreams: ``python bench.py [--image PNG] [--model DIR]``.

Default: Kodak kodim01 ($KODAK_DIR; the scikit-image astronaut if Kodak is absent) with the **full-size
``ae_configs/cvpr/low`` architecture** (randomly initialised unless --model gives trained or converted
weights: network timings do not depend on the weights) and, if committed, the zoo/mini model.
Prints network and entropy-coder times separately, real bits vs the cross-entropy estimate, peak RSS.
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent


def bench(codec, img, label, repeat=1):
    from cpm.coding import decode_symbols, encode_symbols

    from shared_data import container as cont
    from shared_data.imageio import pad_to_multiple
    padded, _ = pad_to_multiple(img, 8)
    codec.symbols_of(padded)  # warm-up (tracing)
    codec.reconstruct(codec.symbols_of(padded))
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        c, res = codec.encode_array(img)
        enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, rec, sym = codec.decode_container(cont.unpack(cont.pack(c)))
        dec = time.perf_counter() - t0
        assert (sym == res.symbols).all()
        t0 = time.perf_counter()
        codec.symbols_of(padded)
        enc_net = time.perf_counter() - t0
        t0 = time.perf_counter()
        encode_symbols(codec.cm, res.symbols)
        enc_coder = time.perf_counter() - t0
        t0 = time.perf_counter()
        decode_symbols(codec.cm, c.sections[1], res.symbols.shape)
        dec_coder = time.perf_counter() - t0
        t0 = time.perf_counter()
        codec.reconstruct(res.symbols)
        dec_net = time.perf_counter() - t0
        r = (enc, dec, enc_net, enc_coder, dec_coder, dec_net)
        best = r if best is None or r[0] + r[1] < best[0] + best[1] else best
    enc, dec, enc_net, enc_coder, dec_coder, dec_net = best
    H, W = padded.shape[:2]
    est = codec.estimate_bits(res.symbols)
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
    a = p.parse_args(argv)
    from cpm.tfsetup import limit_threads
    limit_threads()
    from cpm.codec import DEFAULT_MODEL, load_from_configs, load_model

    from shared_data.imageio import read_image, sample_images
    kodak = Path(os.environ.get("KODAK_DIR", ROOT.parent.parent / "shared/data/kodak"))
    if a.image:
        img = read_image(a.image)
    elif (kodak / "kodim01.png").is_file():
        img = read_image(kodak / "kodim01.png")
    else:
        img = sample_images(("astronaut",))["astronaut"]
    if (DEFAULT_MODEL / "weights.npz").is_file():
        bench(load_model(DEFAULT_MODEL), img, "zoo/mini (trained)", a.repeat)
    if not a.skip_full:
        if a.model:
            codec, label = load_model(a.model), f"{a.model}"
        else:
            codec = load_from_configs(ROOT / "ae_configs/cvpr/low", ROOT / "pc_configs/cvpr/res_shallow")
            label = "full-size cvpr/low + res_shallow, random init"
        bench(codec, img, label, a.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
