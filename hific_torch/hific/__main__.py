"""``python -m hific encode IN.png OUT.lic [--model CKPT] [--float]`` / ``python -m hific decode IN.lic OUT.png
[--try-arithmetic]`` / ``python -m hific integerize CKPT OUT``.

Encode writes portable files (the exact integer h_s, layout 3) when the model is integerized (the zoo models
are), float-path files (layout 2) with ``--float`` or a float-only model. Threads: ``--threads``, else
``shared_data.arith.threads`` (``LIC_THREADS``, else the count the file recorded, else 1). Errors
(unreadable image, corrupt or foreign container, wrong model, bad checkpoint) exit non-zero with one line on
stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    from shared_data.limits import add_max_pixels_argument
    p = argparse.ArgumentParser(prog="python -m hific", description="HiFiC image codec (real bitstreams).")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, help_ in (("encode", "image -> .lic"), ("decode", ".lic -> PNG")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("input")
        s.add_argument("output")
        s.add_argument("--model", default=None, help="checkpoint (default: zoo/mini/hific_mini.pt)")
        s.add_argument("--threads", type=int, default=None,
                       help="intra-op threads (default: LIC_THREADS, else what the file recorded, else 1)")
        add_max_pixels_argument(s)
        if name == "encode":
            s.add_argument("--float", dest="float_path", action="store_true",
                           help="write a float-path file (layout 2) even with an integerized model")
        else:
            s.add_argument("--try-arithmetic", action="store_true",
                           help="if the file does not decode, retry in fresh processes under the arithmetic "
                                "configurations this machine can set (float-path files from elsewhere)")
    s = sub.add_parser("integerize", help="add the exact integer h_s and tables to a checkpoint (portable files)")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--act-frac", type=int, default=None, help="fractional bits of h_s activations")
    s.add_argument("--weight-frac", type=int, default=None, help="fractional bits of h_s weights")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from shared_data import limits
    try:  # the pixel limit, before any model (or TF/torch) work: one line, nothing allocated
        limits.precheck(args.cmd, getattr(args, 'input', None), getattr(args, "max_pixels", None), "hific")
    except limits.PixelLimitError as e:
        print(f"hific {args.cmd}: error: {e}", file=sys.stderr)
        return 1

    import torch

    from shared_data import arith
    from shared_data import container as ctr
    from shared_data.exact import IntegerizeError
    from shared_data.imageio import ImageReadError, read_image, write_png

    from . import portable as pt
    from .model import ModelLoadError, default_model_path, load_checkpoint

    try:
        if args.cmd == "integerize":
            kw = {k: v for k, v in (("act_frac", args.act_frac), ("weight_frac", args.weight_frac)) if v is not None}
            ffp, pfp = pt.integerize_file(args.input, args.output, **kw)
            print(f"{args.output}: integerized (float fingerprint {ffp}, portable fingerprint {pfp})")
            return 0
        model_path = args.model or default_model_path()
        if args.cmd == "encode":
            torch.set_num_threads(args.threads or arith.threads(default=1))
            model, _ = load_checkpoint(model_path)
            t0 = time.perf_counter()
            img = read_image(args.input)
            cont, info = model.compress(img, portable=False if args.float_path else None)
            size = ctr.write(args.output, cont)
            h, w = img.shape[:2]
            print(f"{args.output}: {size} bytes, {8 * size / (h * w):.4f} bpp, {time.perf_counter() - t0:.2f} s "
                  f"({pt.LAYOUT_NAMES[info['layout']]})")
            return 0
        cont = ctr.read(args.input, codec="hific")
        model, _ = load_checkpoint(model_path)
        try:
            _, enc_cfg = model.check_file(cont)
        except ctr.ContainerError as e:
            raise ctr.ContainerError(f"{args.input}: {e}") from None
        recorded = enc_cfg.get("torch_threads")
        torch.set_num_threads(args.threads or arith.threads(
            default=1, encoded=int(recorded) if recorded and recorded.isdigit() else None))
        t0 = time.perf_counter()
        try:
            img, _ = model.decompress(cont)
        except ctr.ContainerError as e:
            if not args.try_arithmetic:
                raise ctr.ContainerError(f"{args.input}: {e}") from None
            print(f"hific decode: {args.input}: {e}; retrying under other arithmetic configurations",
                  file=sys.stderr)
            root = Path(__file__).resolve().parent.parent

            def argv_for(tmp):
                return [sys.executable, "-m", "hific", "decode", str(Path(args.input).resolve()), tmp,
                        "--model", str(Path(model_path).resolve())]

            name = arith.try_arithmetic(argv_for, args.output, cwd=root, in_path=args.input)
            print(f"{args.output}: decoded under arithmetic configuration {name!r}, {time.perf_counter() - t0:.2f} s")
            return 0
        write_png(args.output, img)
        print(f"{args.output}: {img.shape[1]}x{img.shape[0]}, {time.perf_counter() - t0:.2f} s")
    except (ImageReadError, ctr.ContainerError, ModelLoadError, IntegerizeError, NotImplementedError,
            OSError, ValueError) as e:
        print(f"hific {args.cmd}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
