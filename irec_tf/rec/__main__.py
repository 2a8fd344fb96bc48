"""``python -m rec encode IN.png OUT.lic [--model DIR] [--float]`` / ``python -m rec decode OUT.lic REC.png
[--try-arithmetic]`` / ``python -m rec integerize MODEL_DIR OUT_DIR`` / ``python -m rec import-original CKPT OUT_DIR
--model large_level_2_vae|resnet_vae [--ema]`` (a checkpoint of the original code → a float model directory).

The default model is the committed lossy checkpoint ``zoo/mini``; a lossless (``resnet_vae``) model
directory makes a lossless file. An integerised model (every committed one) writes the portable format 3 by
default; ``--float`` writes the float-path format 2. Errors: exit status 1 and one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
    from shared_data.limits import add_max_pixels_argument
    p = argparse.ArgumentParser(prog="python -m rec", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode", help="compress an image to an .lic file")
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument("--model", default=None, help="model directory (default: zoo/mini)")
    e.add_argument("--kl_per_partition", type=float, default=None, help="Ω in nats")
    e.add_argument("--n_beams", type=int, default=None, help="B")
    e.add_argument("--extra_samples", type=float, default=None, help="1+ε")
    e.add_argument("--compression_seed", type=int, default=None)
    e.add_argument("--float", action="store_true", dest="float_path",
                   help="float-path format 2 (portable only between identical TF arithmetic)")
    add_max_pixels_argument(e)
    d = sub.add_parser("decode", help="decompress an .lic file to PNG")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--model", default=None, help="model directory (default: zoo/mini)")
    add_max_pixels_argument(d)
    d.add_argument("--try-arithmetic", action="store_true",
                   help="float-path files: retry in fresh processes under the arithmetic configurations this "
                        "machine can set (threads, oneDNN, BLAS/ISA limits) until one passes the check value")
    d.add_argument("--arithmetic-order", default=None, metavar="NAMES",
                   help="comma-separated shared_data.arith emulations for --try-arithmetic "
                        "(default: arith.RECOVERY_ORDER)")
    g = sub.add_parser("integerize", help="add the integer network (portable format) to a float model directory")
    g.add_argument("model_dir")
    g.add_argument("out_dir")
    io_ = sub.add_parser("import-original", help="the original code's TF checkpoint -> a float model directory")
    io_.add_argument("checkpoint", help="checkpoint prefix or directory of gergely-flamich/relative-entropy-coding")
    io_.add_argument("out_dir")
    io_.add_argument("--model", required=True, choices=("large_level_2_vae", "resnet_vae"))
    io_.add_argument("--ema", action="store_true", help="resnet_vae: the EMA shadow copies (what the original codes with)")
    args = p.parse_args(argv)
    from shared_data import limits
    try:  # the pixel limit, before any model (or TF/torch) work: one line, nothing allocated
        limits.precheck(args.cmd, getattr(args, 'input', None), getattr(args, "max_pixels", None), "irec")
    except limits.PixelLimitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    from shared_data import arith
    from shared_data.container import ContainerError
    from shared_data.imageio import ImageReadError, read_image, write_png

    from .fileformat import read_record, recorded_threads

    if args.cmd == "decode" and args.try_arithmetic:
        return _try_arithmetic(args)
    try:
        encoded = None
        if args.cmd == "decode":  # reproduce the encoder's thread count (LIC_THREADS still wins)
            encoded = recorded_threads(read_record(args.input)[1])
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(arith.threads(default=2, encoded=encoded))
        tf.config.threading.set_inter_op_parallelism_threads(1)
        from .codec import compress, decompress, integerize_model, load_model  # ModelError is a ValueError

        if args.cmd == "import-original":
            from .import_original import ImportError_, import_lossless, import_lossy

            try:
                if args.model == "large_level_2_vae":
                    m = import_lossy(args.checkpoint)
                    cfg = {"model": args.model, "layer_flavour": "original", "level_1_filters": m.level_1_filters,
                           "level_2_filters": m.level_2_filters}
                else:
                    m = import_lossless(args.checkpoint, ema=args.ema)
                    cfg = {"model": args.model, "num_res_blocks": m.num_res_blocks,
                           "deterministic_filters": m.deterministic_filters,
                           "stochastic_filters": m.stochastic_filters}
            except ImportError_ as ex:
                raise ValueError(str(ex)) from None
            from .codec import save_model

            save_model(m, cfg, args.out_dir)
            print(f"{args.out_dir}: {args.model} imported from {args.checkpoint} (float model; "
                  f"`python -m rec integerize` makes it portable)")
            return 0
        if args.cmd == "integerize":
            lm = integerize_model(args.model_dir, args.out_dir)
            print(f"{args.out_dir}: integerised (portable format 3), fingerprint {lm.fingerprint.hex()}, "
                  f"float part {lm.float_fingerprint.hex()}")
            return 0
        lm = load_model(args.model)
        if args.cmd == "encode":
            img = read_image(args.input)
            if not lm.portable and not args.float_path:
                raise ValueError(f"{lm.path}: model is not integerised; convert it with `python -m rec "
                                 f"integerize {lm.path} OUT` (portable files) or pass --float (float-path files)")
            r = compress(lm, img, args.output, kl_per_partition=args.kl_per_partition, n_beams=args.n_beams,
                         extra_samples=args.extra_samples, compression_seed=args.compression_seed,
                         portable=not args.float_path)
            print(f"{args.output}: {r.num_bytes} bytes, {r.bpp:.4f} bpp (ideal {r.ideal_bpp:.4f} bpp), "
                  f"{r.enc_s:.1f} s, {'float path' if args.float_path else 'portable'}")
        else:
            img = decompress(lm, args.input)
            write_png(args.output, img)
            print(f"{args.output}: {img.shape[1]}x{img.shape[0]}")
    except (ImageReadError, ContainerError, NotImplementedError, ValueError, OSError) as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    return 0


def _try_arithmetic(args) -> int:
    """``decode --try-arithmetic``: plain decodes in fresh subprocesses under shared_data.arith's recovery
    order; only exit 0 (the file's check value passed) counts."""
    from pathlib import Path

    from shared_data import arith

    root = Path(__file__).resolve().parent.parent
    model = ["--model", str(Path(args.model).resolve())] if args.model else []
    src = str(Path(args.input).resolve())
    order = arith.RECOVERY_ORDER
    if args.arithmetic_order:
        order = tuple(n.strip() for n in args.arithmetic_order.split(",") if n.strip())
        unknown = [n for n in order if n not in arith.EMULATIONS]
        if unknown:
            print(f"error: unknown arithmetic emulation(s) {unknown}; known: {', '.join(arith.EMULATIONS)}",
                  file=sys.stderr)
            return 1
    try:
        name = arith.try_arithmetic(lambda tmp: [sys.executable, "-m", "rec", "decode", src, str(Path(tmp).resolve()),
                                                 *model], args.output, emulations=order, cwd=root,
                                    in_path=args.input)
    except arith.RecoveryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.output}: decoded under arithmetic configuration {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
