"""``python -m l3c encode IN.png OUT.lic [--model DIR] [--backend constriction|torchac]`` and
``python -m l3c decode IN.lic OUT.png [--model DIR]``: lossless coding with a trained L3C model
(default: the committed ``zoo/mini``). Errors exit non-zero with one line on stderr."""

from __future__ import annotations

import argparse
import sys
import time


def encode_file(in_path, out_path, model=None, backend=None, itr=-1, verbose=True):
    from shared_data.container import write
    from shared_data.imageio import read_image

    from .coding import DEFAULT_BACKEND, encode_array
    from .model_io import load_model

    img = read_image(in_path)
    net, fp, _ = load_model(model, itr)
    t0 = time.perf_counter()
    res = encode_array(net, img, fp, backend or DEFAULT_BACKEND)
    size = write(out_path, res.container)
    dt = time.perf_counter() - t0
    h, w = img.shape[:2]
    if verbose:
        print(f"{out_path}: {size} bytes, {8 * size / (3 * h * w):.4f} bpsp (estimate "
              f"{res.stats.est_bits / (3 * h * w):.4f}), {h}x{w}, {dt:.2f} s")
    return size


def decode_file(in_path, out_path, model=None, itr=-1, verbose=True):
    from shared_data.container import read
    from shared_data.imageio import write_png

    from .coding import decode_container
    from .model_io import load_model

    net, fp, _ = load_model(model, itr)
    c = read(in_path, codec="l3c", model_fingerprint=fp)
    t0 = time.perf_counter()
    img, _, backend = decode_container(net, c)
    write_png(out_path, img)
    if verbose:
        print(f"{out_path}: {img.shape[0]}x{img.shape[1]} ({backend}), {time.perf_counter() - t0:.2f} s")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m l3c", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode", help="PNG (any Pillow image) -> .lic")
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument("--model", default=None, help="run directory (default: zoo/mini)")
    e.add_argument("--backend", default=None, choices=["constriction", "torchac"])
    e.add_argument("-i", "--restore_itr", type=int, default=-1)
    d = sub.add_parser("decode", help=".lic -> PNG")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--model", default=None)
    d.add_argument("-i", "--restore_itr", type=int, default=-1)
    a = p.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
        if a.cmd == "encode":
            encode_file(a.input, a.output, a.model, a.backend, a.restore_itr)
        else:
            decode_file(a.input, a.output, a.model, a.restore_itr)
    except (ValueError, OSError, RuntimeError) as ex:  # ContainerError, ImageReadError, ModelError, ...
        print(f"l3c: error: {ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
