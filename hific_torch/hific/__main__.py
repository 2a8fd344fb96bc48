"""``python -m hific encode IN.png OUT.lic [--model CKPT]`` / ``python -m hific decode IN.lic OUT.png``.

Errors (unreadable image, corrupt or foreign container, wrong model, bad checkpoint) exit non-zero with one
line on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hific", description="HiFiC image codec (real bitstreams).")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, help_ in (("encode", "image -> .lic"), ("decode", ".lic -> PNG")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("input")
        s.add_argument("output")
        s.add_argument("--model", default=None, help="checkpoint (default: zoo/mini/hific_mini.pt)")
        s.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch

    from shared_data import container as ctr
    from shared_data.imageio import ImageReadError, read_image, write_png

    from .model import ModelLoadError, default_model_path, load_checkpoint

    torch.set_num_threads(max(1, args.threads))
    try:
        model, _ = load_checkpoint(args.model or default_model_path())
        t0 = time.perf_counter()
        if args.cmd == "encode":
            img = read_image(args.input)
            cont, _ = model.compress(img)
            size = ctr.write(args.output, cont)
            h, w = img.shape[:2]
            print(f"{args.output}: {size} bytes, {8 * size / (h * w):.4f} bpp, {time.perf_counter() - t0:.2f} s")
        else:
            cont = ctr.read(args.input, codec="hific", model_fingerprint=model.fingerprint())
            img, _ = model.decompress(cont)
            write_png(args.output, img)
            print(f"{args.output}: {img.shape[1]}x{img.shape[0]}, {time.perf_counter() - t0:.2f} s")
    except (ImageReadError, ctr.ContainerError, ModelLoadError, OSError) as e:
        print(f"hific {args.cmd}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
