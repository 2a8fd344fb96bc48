"""``python -m sga encode IN.png OUT.lic [--model DIR] [--method m3|sga|map|ste|unoise|danneal|bb_sga|bb_no_sga|bb_plain]
[--its K]``
and ``python -m sga decode IN.lic OUT.png [--model DIR]``;
``python -m sga import-tf1 TF1_RUN_DIR OUT_DIR [--lambda λ]`` (a released TF1/tfc 1.3 checkpoint);
``python -m sga integerize CKPT OUT`` (the portable-file conversion: integer h_s + stored coder tables).

Files are portable (bit-exact symbols on every machine) when the model is integerized — the committed zoo
models are — unless ``encode --float`` asks for the float path. ``decode --try-arithmetic`` retries a
float-path file that does not decode here under the other arithmetic configurations this machine can set.

The default model is the committed small checkpoint in ``zoo/mini``; the default method is M3 (amortized
inference, fast). ``--method sga`` runs the paper's SGA (2000 Adam iterations; ``--its`` shortens it). The
bits-back methods need a bits-back model (``--model .../mbt2018_bb-num_filters=N-lmbda=λ``).
Errors print one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ZOO = Path(__file__).resolve().parent.parent / "zoo" / "mini"
DEFAULT_MODEL = ZOO / "mbt2018-num_filters=32-lmbda=0.01"


def main(argv=None) -> int:
    from shared_data.limits import add_max_pixels_argument
    p = argparse.ArgumentParser(prog="python -m sga", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("encode", help="compress an image to a .lic file")
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument("--model", default=str(DEFAULT_MODEL), help="model directory (args.json + checkpoint)")
    e.add_argument("--method", default="m3", choices=("m3", "sga", "map", "ste", "unoise", "danneal", "bb_sga", "bb_no_sga",
                                                        "bb_plain"))
    e.add_argument("--lambda", dest="lmbda", type=float, default=None,
                   help="λ of the inference objective (default: the model's training λ)")
    e.add_argument("--its", type=int, default=None, help="iterations (default: the method's own)")
    e.add_argument("--q_its", type=int, default=None, help="bits-back: iterations of the q(z|ŷ) fit")
    e.add_argument("--float", dest="float_path", action="store_true",
                   help="write a float-path file (format 3/4) even if the model is integerized")
    add_max_pixels_argument(e)
    d = sub.add_parser("decode", help="decode a .lic file to PNG")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--model", default=str(DEFAULT_MODEL))
    add_max_pixels_argument(d)
    d.add_argument("--try-arithmetic", dest="try_arith", nargs="?", const="all", default=None, metavar="NAMES",
                   help="float-path file that does not decode here: retry under the other arithmetic "
                        "configurations this machine can set (threads, oneDNN, ISA), each in a fresh process; "
                        "optionally a comma list of shared_data.arith.EMULATIONS names to try, in order")
    ig = sub.add_parser("integerize", help="convert a trained model for portable files (integer h_s, stored tables)")
    ig.add_argument("checkpoint", help="model directory (args.json + checkpoint)")
    ig.add_argument("output", help="directory to write (may be the same: adds integer.npz in place)")
    im = sub.add_parser("import-tf1", help="import a released TF1/tfc 1.3 checkpoint (mbt2018-num_filters=N-lmbda=λ)")
    im.add_argument("checkpoint", help="the TF1 run directory (with 'checkpoint', model.ckpt-*) or a ckpt prefix")
    im.add_argument("output", help="run directory to write (args.json + weights), usable as --model")
    im.add_argument("--lambda", dest="lmbda", type=float, default=None, help="default: λ from the run name")
    args = p.parse_args(argv)
    from shared_data import limits
    try:  # the pixel limit, before any model (or TF/torch) work: one line, nothing allocated
        limits.precheck(args.command, getattr(args, "input", None), getattr(args, "max_pixels", None), "sga")
    except limits.PixelLimitError as e:
        print(f"sga: error: {e}", file=sys.stderr)
        return 1
    if args.command == "decode" and args.try_arith:
        return _try_arithmetic(args)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from .cli import _setup_tf, peek_threads

    _setup_tf(peek_threads(args.input) if args.command == "decode" else None)
    import numpy as np
    import tensorflow as tf

    from shared_data import container as lic
    from shared_data.imageio import ImageReadError, read_image, write_png

    from .checkpoints import ModelLoadError, load_model, parse_lambda
    from .coding import open_coder
    from .evaluate import check_model_method
    from .inference import METHODS, IterativeInference, round_latents, with_overrides

    try:
        if args.command == "import-tf1":
            from .tf1_import import import_tf1

            model, margs = import_tf1(args.checkpoint, args.output, lmbda=args.lmbda)
            print(f"imported {args.checkpoint} -> {args.output} (mbt2018, N={margs['num_filters']}, "
                  f"λ={margs['lmbda']:g})")
            return 0
        if args.command == "integerize":
            from .portable import integerize

            rec = integerize(args.checkpoint, args.output)
            bits = ", ".join(f"{r['layer']} {r['weight_frac_bits']} bits (bound 2^{r['bound_log2']})"
                             for r in rec["layers"])
            print(f"integerized {args.checkpoint} -> {args.output}: {bits}")
            return 0
        model, margs = load_model(args.model)
        lmbda = parse_lambda(Path(args.model).name, getattr(args, "lmbda", None) or margs.get("lmbda"))
        coder = open_coder(model, lmbda, portable=False if getattr(args, "float_path", False) else None)
        t = time.perf_counter()
        if args.command == "encode":
            img = read_image(args.input)
            method = with_overrides(METHODS[args.method], its=args.its)
            check_model_method(model, method)
            x = tf.constant(img[None].astype(np.float32) / 255.0)
            y, z, _ = IterativeInference(model, lmbda, method).run(x, progress=sys.stderr.isatty())
            y_hat, z_hat = round_latents(model, y, z, method.grid)
            if method.grid == "bitsback":
                c, _ = coder.encode(y_hat.numpy(), method.name, img.shape[0], img.shape[1], q_its=args.q_its)
            else:
                c = coder.encode(y_hat.numpy(), z_hat.numpy(), method.grid, method.name, img.shape[0], img.shape[1])
            size = lic.write(args.output, c)
            print(f"{args.input} -> {args.output}: {size} bytes, "
                  f"{size * 8 / (img.shape[0] * img.shape[1]):.4f} bpp ({method.table_id}) "
                  f"in {time.perf_counter() - t:.2f}s")
        else:
            decoded = coder.decode(coder.read(args.input, args.model), args.input)
            rec, used = decoded[:2]
            if len(decoded) > 2 and not decoded[2]:
                print(f"sga: warning: {args.input}: bits-back side information not recovered exactly",
                      file=sys.stderr)
            write_png(args.output, rec)
            print(f"{args.input} ({used}) -> {args.output} in {time.perf_counter() - t:.2f}s")
        return 0
    except (ModelLoadError, lic.ContainerError, ImageReadError, FileNotFoundError, ValueError, OSError,
            FloatingPointError) as e:
        print(f"sga: error: {e}", file=sys.stderr)
        return 1


def _try_arithmetic(args) -> int:
    """``decode --try-arithmetic``: plain decodes in fresh subprocesses under each emulation this machine can
    set (``shared_data.arith.try_arithmetic``); only exit 0 — the stored symbol CRC matched — is accepted."""
    from shared_data import arith

    def argv(tmp):
        return [sys.executable, "-m", "sga", "decode", args.input, tmp, "--model", args.model]

    order = arith.RECOVERY_ORDER if args.try_arith == "all" else tuple(args.try_arith.split(","))
    try:
        unknown = [n for n in order if n not in arith.EMULATIONS]
        if unknown:
            raise ValueError(f"unknown arithmetic configuration(s) {unknown}; known: {', '.join(arith.EMULATIONS)}")
        name = arith.try_arithmetic(argv, args.output, emulations=order,
                                    cwd=str(Path(__file__).resolve().parent.parent),
                                    log=lambda s: print(f"sga: {s}", file=sys.stderr), in_path=args.input)
    except (arith.RecoveryError, OSError, ValueError) as e:
        print(f"sga: error: {e}", file=sys.stderr)
        return 1
    print(f"{args.input} -> {args.output} (decoded under arithmetic configuration {name!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
