"""``python -m hific encode|decode|info`` (the shared CLI, :mod:`shared_data.cli`) and ``integerize``.

    python -m hific encode IN OUT [--model M] [--max-pixels N] [--threads N] [--float]
    python -m hific decode IN OUT [--model M] [--max-pixels N] [--threads N] [--try-arithmetic]
    python -m hific info FILE.lic ...
    python -m hific integerize CKPT OUT [--act-frac F] [--weight-frac F]

IN may be a file, a folder or a quoted glob (a folder run writes into the folder OUT, with a progress bar).
``--model``: a checkpoint or a folder holding one (default ``zoo/mini/hific_mini.pt``). Encode writes portable
files (the exact integer h_s, layout 3) when the model is integerized (the zoo models are), float-path files
(layout 2) with ``--float`` or a float-only model. Threads: ``--threads``, else ``LIC_THREADS``, else (decode)
the count the file recorded, else 1 (:func:`shared_data.threads.limit`). Errors (unreadable image, corrupt or
foreign container, wrong model, bad checkpoint, an image above ``--max-pixels``) print one line
``error: ...`` and exit 1; the pixel limit is checked before torch is imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shared_data import cli

CODEC_ID = "hific"


def _add_arguments(command: str, parser) -> None:
    if command == "encode":
        parser.add_argument("--float", dest="float_path", action="store_true",
                            help="write a float-path file (layout 2) even with an integerized model")
    elif command == "decode":
        parser.add_argument("--try-arithmetic", action="store_true",
                            help="if the file does not decode, retry in fresh processes under the arithmetic "
                                 "configurations this machine can set (float-path files from elsewhere)")


def _recorded_threads(path) -> int | None:
    """The torch thread count a file's arithmetic record names (None: none, or not one file)."""
    from shared_data import container as ctr

    p = Path(path)
    if not p.is_file():
        return None
    c = ctr.read(p, codec=CODEC_ID)
    if len(c.sections) != 4:
        return None
    from .portable import unpack_config
    value = unpack_config(c.sections[1], where=f"{p}: ").get("torch_threads", "")
    return int(value) if value.isdigit() and int(value) >= 1 else None


def _load(args):
    from shared_data import threads

    from .codec import load_codec  # imports torch: the thread policy below then configures its pool

    encoded = _recorded_threads(args.input) if args.command == "decode" else None
    threads.limit(args.threads, default=1, encoded=encoded)  # decode: the encoder's count unless told otherwise
    return load_codec(args.model, float_path=getattr(args, "float_path", False))


def _before(command: str, args):
    """``decode --try-arithmetic`` of one file: decode here, else retry under other arithmetic configurations."""
    if command != "decode" or not getattr(args, "try_arithmetic", False) or cli._is_many(args.input):
        return None
    import time

    from shared_data import arith, limits
    from shared_data import container as ctr
    from shared_data.errors import ContainerError

    limits.precheck(command, args.input, args.max_pixels, CODEC_ID)
    ctr.read(args.input, codec=CODEC_ID)
    codec = _load(args)
    t0 = time.perf_counter()
    try:
        r = cli.decode_one(codec, Path(args.input), Path(args.output), args.max_pixels)
    except ContainerError as e:
        print(f"hific decode: {cli.error_line(e)}; retrying under other arithmetic configurations", file=sys.stderr)

        def argv_for(tmp):
            return [sys.executable, "-m", "hific", "decode", str(Path(args.input).resolve()), tmp,
                    "--model", str(Path(codec.path).resolve()), "--max-pixels", str(args.max_pixels or 0)]

        name = arith.try_arithmetic(argv_for, args.output, cwd=Path(__file__).resolve().parent.parent,
                                    in_path=args.input)
        if not args.quiet:
            print(f"{args.output}: decoded under arithmetic configuration {name!r}, {time.perf_counter() - t0:.2f} s")
        return 0
    if not args.quiet:
        print(f"{args.output}: {r['height']}x{r['width']}, {r['seconds']:.2f} s")
    return 0


def _integerize_setup(parser) -> None:
    parser.add_argument("input", help="a hific_torch checkpoint with coding tables")
    parser.add_argument("output", help="the integerized checkpoint to write (atomically)")
    parser.add_argument("--act-frac", type=int, default=None, help="fractional bits of h_s activations")
    parser.add_argument("--weight-frac", type=int, default=None, help="fractional bits of h_s weights")


def _integerize(args) -> int:
    from . import portable as pt

    kw = {k: v for k, v in (("act_frac", args.act_frac), ("weight_frac", args.weight_frac)) if v is not None}
    ffp, pfp = pt.integerize_file(args.input, args.output, **kw)
    print(f"{args.output}: integerized (float fingerprint {ffp}, portable fingerprint {pfp})")
    return 0


def _details(container) -> str:
    """The stream layout and the encoder's recorded torch threads / CPU of a hific file (``info``)."""
    from shared_data import container as ctr

    from .portable import LAYOUT_NAMES, unpack_config

    head = ctr.unpack_ints(container.sections[0], max_count=16) if container.sections else []
    if not head or head[0] not in LAYOUT_NAMES:
        return f"unknown hific layout {head[:1]}"
    text = LAYOUT_NAMES[head[0]] + (f", coded size {head[1]}x{head[2]}" if len(head) >= 3 else "")
    if len(container.sections) == 4:
        rec = unpack_config(container.sections[1])
        text += f", encoded with torch threads {rec.get('torch_threads', '?')} on {rec.get('isa', '?')}"
    return text


def main(argv=None) -> int:
    from shared_data.exact import IntegerizeError

    try:
        return cli.main(argv, codec_id=CODEC_ID, load=_load, prog="python -m hific", doc=__doc__,
                        add_arguments=_add_arguments, before=_before, details=_details, threads_default=1,
                        commands={"integerize": ("add the exact integer h_s and tables to a checkpoint "
                                                 "(portable files)", _integerize_setup, _integerize)})
    except (IntegerizeError, NotImplementedError) as e:  # integerize: a layer too wide, a Gaussian -LMM
        print(f"error: {cli.error_line(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
