"""``python -m cpm encode IN.png OUT.lic [--model DIR]`` / ``python -m cpm decode IN.lic OUT.png``."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv=None, prog: str = "python -m cpm") -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, a, b in (("encode", "IN.png", "OUT.lic"), ("decode", "IN.lic", "OUT.png")):
        s = sub.add_parser(name)
        s.add_argument("input", metavar=a)
        s.add_argument("output", metavar=b)
        s.add_argument("--model", default=None, help="model directory (default: zoo/mini)")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from shared_data.container import ContainerError
    from shared_data.imageio import ImageReadError

    from .codec import DEFAULT_MODEL, ModelLoadError, load_model
    from .tfsetup import limit_threads
    limit_threads()
    try:
        codec = load_model(args.model or DEFAULT_MODEL)
        if args.cmd == "encode":
            r = codec.encode_file(args.input, args.output)
            h, w = r.padded_shape[:2]
            print(f"{args.output}: {r.num_bytes} bytes, {8 * r.num_bytes / (h * w):.4f} bpp (padded {h}x{w}), "
                  f"{r.enc_s:.2f} s")
        else:
            codec.decode_file(args.input, args.output)
            print(f"{args.output}: decoded")
    except (ContainerError, ImageReadError, ModelLoadError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
