"""``python -m rec encode|decode|info`` — the project's one CLI (:mod:`shared_data.cli`) over the iREC codec
(:func:`rec.codec.load_codec`), plus ``integerize`` and ``import-original``::

    python -m rec encode IN OUT [--model DIR] [--float] [--n_beams B] [--extra_samples E] [--kl_per_partition O]
                                [--compression_seed S] [--max-pixels N] [--threads N]
    python -m rec decode IN OUT [--model DIR] [--try-arithmetic [--arithmetic-order NAMES]] [--max-pixels N]
    python -m rec info FILE...
    python -m rec integerize MODEL_DIR OUT_DIR
    python -m rec import-original CKPT OUT_DIR --model large_level_2_vae|resnet_vae [--ema]
    python -m rec evaluate IMAGES OUT_DIR [--model DIR] [--crop N] [--max-images N] [coding options]
                                [--scheduler in-process|local:N|ADDRESS|slurm]

IN may be a file, a folder or a glob (then OUT is a folder). The default model is the committed lossy
checkpoint ``zoo/mini``; a lossless (``resnet_vae``) model directory makes lossless files. An integerised
model (every committed one) writes the portable format 3; ``--float`` writes the float-path format 2, whose
decoder reproduces the encoder's recorded TF thread count (``--threads`` / ``$LIC_THREADS`` win).
``import-original`` turns a checkpoint of the original code into a float model directory. ``evaluate`` encodes
and decodes a dataset (a folder, a glob, a file or ``kodak`` = $KODAK_DIR) into OUT_DIR/measures.csv +
results.csv (:func:`rec.evaluate.evaluate_files`), one task per image through shared_eval.sweep: in-process by
default, on Dask with ``--scheduler``; a rerun recomputes only unfinished images. Errors: exit
status 1 and one line on stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CODEC_ID = "irec"


def _add_arguments(command: str, p) -> None:
    if command == "encode":
        p.add_argument("--kl_per_partition", type=float, default=None, help="Ω in nats")
        p.add_argument("--n_beams", type=int, default=None, help="B")
        p.add_argument("--extra_samples", type=float, default=None, help="1+ε")
        p.add_argument("--compression_seed", type=int, default=None)
        p.add_argument("--float", action="store_true", dest="float_path",
                       help="float-path format 2 (portable only between identical TF arithmetic)")
    elif command == "decode":
        p.add_argument("--try-arithmetic", action="store_true",
                       help="float-path files: retry in fresh processes under the arithmetic configurations this "
                            "machine can set (threads, oneDNN, BLAS/ISA limits) until one passes the check value")
        p.add_argument("--arithmetic-order", default=None, metavar="NAMES",
                       help="comma-separated shared_data.arith emulations for --try-arithmetic "
                            "(default: arith.RECOVERY_ORDER)")


def _limit_threads(n: int | None, encoded: int | None = None) -> int:
    """The one thread policy (:func:`shared_data.threads.limit`) for TF: intra-op ``n`` / ``$LIC_THREADS`` /
    the count a float-path file recorded / min(2, cores), inter-op 1 (what the records say: ``tf_threads=k/1``)."""
    import tensorflow as tf  # noqa: F401 - imported first, so that limit() configures its pools

    from shared_data import threads

    return threads.limit(n, default=2, encoded=encoded, inter=1)


def _load(args):
    """The codec of an encode / decode run (after the pixel-limit check, before any image is coded)."""
    from shared_data.errors import ModelError

    encoded = None
    if args.command == "decode" and Path(args.input).is_file():  # reproduce the encoder's thread count
        from .fileformat import read_record, recorded_threads

        encoded = recorded_threads(read_record(args.input)[1])
    _limit_threads(args.threads, encoded)
    from .codec import IrecCodec, load_model

    lm = load_model(args.model)
    if args.command != "encode":
        return IrecCodec(lm)
    if not lm.portable and not args.float_path:
        raise ModelError(f"{lm.path}: model is not integerised; convert it with `python -m rec integerize {lm.path} "
                         "OUT` (portable files) or pass --float (float-path files)")
    return IrecCodec(lm, portable=not args.float_path, kl_per_partition=args.kl_per_partition,
                     n_beams=args.n_beams, extra_samples=args.extra_samples, compression_seed=args.compression_seed)


def _before(command: str, args):
    if command == "decode" and args.try_arithmetic:
        return _try_arithmetic(args)
    return None


def _details(c) -> str:
    """``info``: the irec stream format, kind, coding parameters and recorded TF threads of a file."""
    from shared_data import container

    from . import fileformat as ff

    ints = container.unpack_ints(c.sections[0]) if c.sections else []
    if len(ints) < 8:
        raise ff.IrecFileError("irec header too short")
    fmt, lossless = ff.split_kind(ints[0])
    text = (f"{ff.FORMAT_NAMES[fmt]}, {'lossless' if lossless else 'lossy'}, padded {ints[1]}x{ints[2]}, seed "
            f"{ints[3]}, block size {ints[4]}, N_s {ints[5]}, {ints[6]} levels")
    if fmt != ff.FORMAT_LEGACY and len(c.sections) > 1:
        threads = ff.recorded_threads(ff.unpack_record(c.sections[1]))
        text += f", encoded with {threads} TF threads" if threads else ""
    return text


def _integerize_setup(p) -> None:
    p.add_argument("model_dir")
    p.add_argument("out_dir")


def _integerize(args) -> int:
    _limit_threads(None)
    from .codec import integerize_model

    lm = integerize_model(args.model_dir, args.out_dir)
    print(f"{args.out_dir}: integerised (portable format 3), fingerprint {lm.fingerprint.hex()}, "
          f"float part {lm.float_fingerprint.hex()}")
    return 0


def _import_setup(p) -> None:
    p.add_argument("checkpoint", help="checkpoint prefix or directory of gergely-flamich/relative-entropy-coding")
    p.add_argument("out_dir")
    p.add_argument("--model", required=True, choices=("large_level_2_vae", "resnet_vae"))
    p.add_argument("--ema", action="store_true", help="resnet_vae: the EMA shadow copies (what the original codes with)")


def _import_original(args) -> int:
    _limit_threads(None)
    from .codec import save_model
    from .import_original import import_lossless, import_lossy

    if args.model == "large_level_2_vae":
        m = import_lossy(args.checkpoint)
        cfg = {"model": args.model, "layer_flavour": "original", "level_1_filters": m.level_1_filters,
               "level_2_filters": m.level_2_filters}
    else:
        m = import_lossless(args.checkpoint, ema=args.ema)
        cfg = {"model": args.model, "num_res_blocks": m.num_res_blocks,
               "deterministic_filters": m.deterministic_filters, "stochastic_filters": m.stochastic_filters}
    save_model(m, cfg, args.out_dir)
    print(f"{args.out_dir}: {args.model} imported from {args.checkpoint} (float model; "
          f"`python -m rec integerize` makes it portable)")
    return 0


def _evaluate_setup(p) -> None:
    from shared_eval.sweep import add_scheduler_arguments

    p.add_argument("images", help="folder, glob or file of images; 'kodak' = $KODAK_DIR")
    p.add_argument("out_dir", help="writes measures.csv, results.csv and reconstructions/ (.lic + PNG)")
    p.add_argument("--model", default=None, help="model directory (default zoo/mini)")
    p.add_argument("--crop", type=int, default=0, help="centre crops of this side (0: whole images)")
    p.add_argument("--max-images", type=int, default=None, help="only the first N images (sorted)")
    p.add_argument("--no-reconstructions", action="store_true", help="lossy: do not write the PNG reconstructions")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="TF intra-op threads of the driver and every worker (default: $LIC_THREADS, else min(2, cores))")
    _add_arguments("encode", p)
    add_scheduler_arguments(p)


def _evaluate(args) -> int:
    from shared_data.errors import ConfigError
    from shared_eval.sweep import scheduler_kwargs, slurm_job_script

    if args.job_script:
        print(slurm_job_script(args))
        return 0
    if args.scheduler is not None:  # a scheduler that does not answer: one line before TF starts or anything is written
        from shared_data.pipeline import PrepareError, open_scheduler

        kw = scheduler_kwargs(args)
        try:
            open_scheduler(args.scheduler, kw["connect_timeout"], kw["slurm"], kw["jobs"], kw["job_wait"]).close()
        except PrepareError as e:
            raise ConfigError(str(e)) from None
    from shared_data.imageio import list_images
    from shared_data.paths import kodak_images

    files = kodak_images() if args.images == "kodak" else list_images(args.images)
    files = files[:args.max_images] if args.max_images else files
    if not files:
        raise ConfigError(f"{args.images}: no images")
    _limit_threads(args.threads)
    from .evaluate import evaluate_files

    coding = {k: getattr(args, k) for k in ("kl_per_partition", "n_beams", "extra_samples", "compression_seed")
              if getattr(args, k) is not None}
    if args.float_path:
        coding["portable"] = False
    res = evaluate_files(args.model or str(Path(__file__).resolve().parent.parent / "zoo" / "mini"), files,
                         args.out_dir, crop=args.crop, save_reconstructions=not args.no_reconstructions,
                         **coding, **scheduler_kwargs(args))
    print(f"{Path(args.out_dir) / 'measures.csv'}: {len(res.rows)} images; {res.line()}")
    return 0


COMMANDS = {
    "integerize": ("add the integer network (portable format) to a float model directory", _integerize_setup,
                   _integerize),
    "import-original": ("the original code's TF checkpoint -> a float model directory", _import_setup,
                        _import_original),
    "evaluate": ("encode + decode a dataset into measures.csv (in-process or on Dask: --scheduler)",
                 _evaluate_setup, _evaluate),
}


def main(argv=None) -> int:
    from shared_data import cli

    return cli.main(argv, codec_id=CODEC_ID, load=_load, prog="python -m rec", doc=__doc__,
                    add_arguments=_add_arguments, before=_before, commands=COMMANDS, details=_details)


def _try_arithmetic(args) -> int:
    """``decode --try-arithmetic``: plain decodes in fresh subprocesses under shared_data.arith's recovery
    order; only exit 0 (the file's check value passed) counts."""
    from shared_data import arith, limits
    from shared_data.errors import ConfigError

    if Path(args.input).is_dir() or not Path(args.input).exists():
        raise ConfigError(f"{args.input}: --try-arithmetic decodes one file")
    limits.precheck("decode", args.input, args.max_pixels, CODEC_ID)
    root = Path(__file__).resolve().parent.parent
    extra = ["--model", str(Path(args.model).resolve())] if args.model else []
    if args.max_pixels is not None:
        extra += ["--max-pixels", str(args.max_pixels)]
    src = str(Path(args.input).resolve())
    order = arith.RECOVERY_ORDER
    if args.arithmetic_order:
        order = tuple(n.strip() for n in args.arithmetic_order.split(",") if n.strip())
        unknown = [n for n in order if n not in arith.EMULATIONS]
        if unknown:
            raise ConfigError(f"unknown arithmetic emulation(s) {unknown}; known: {', '.join(arith.EMULATIONS)}")
    try:
        name = arith.try_arithmetic(lambda tmp: [sys.executable, "-m", "rec", "decode", src, str(Path(tmp).resolve()),
                                                 "-q", *extra], args.output, emulations=order, cwd=root,
                                    in_path=args.input)
    except arith.RecoveryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.output}: decoded under arithmetic configuration {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
