"""``python -m sga encode|decode|info`` (the project's one CLI, :mod:`shared_data.cli`) for the models of Yang,
Bamler & Mandt 2020, plus ``integerize`` and ``import-tf1``::

    python -m sga encode IN OUT [--model DIR] [--method m3|sga|map|ste|unoise|danneal|bb_sga|bb_no_sga|bb_plain]
                                [--its K] [--q_its K] [--lambda λ] [--float] [--max-pixels N] [--threads N]
    python -m sga decode IN OUT [--model DIR] [--try-arithmetic [NAMES]] [--max-pixels N] [--threads N]
    python -m sga info IN...
    python -m sga integerize CKPT OUT        (the portable-file conversion: integer h_s + stored coder tables)
    python -m sga import-tf1 TF1_RUN_DIR OUT [--lambda λ]     (a released TF1/tfc 1.3 checkpoint)

IN may be a folder or a glob (then OUT is a folder; a progress bar). Files are portable (bit-exact symbols on
every machine) when the model is integerized — the committed zoo models are — unless ``encode --float`` asks
for the float path. ``decode --try-arithmetic`` retries a float-path file that does not decode here under the
other arithmetic configurations this machine can set.

The default model is the committed small checkpoint in ``zoo/mini``; the default method is M3 (amortized
inference, fast). ``--method sga`` runs the paper's SGA (2000 Adam iterations; ``--its`` shortens it). The
bits-back methods need a bits-back model (``--model .../mbt2018_bb-num_filters=N-lmbda=λ``).
Errors print one line on stderr and exit 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from shared_data import cli

from .codec import CODEC_ID, DEFAULT_MODEL  # noqa: F401 - DEFAULT_MODEL: bench.py's import

METHOD_CHOICES = ("m3", "sga", "map", "ste", "unoise", "danneal", "bb_sga", "bb_no_sga", "bb_plain")


def _add_arguments(command, p):
    if command == "encode":
        p.add_argument("--method", default=None, choices=METHOD_CHOICES,
                       help="inference method (default: m3, or bb_plain for a bits-back model)")
        p.add_argument("--lambda", dest="lmbda", type=float, default=None,
                       help="λ of the inference objective (default: the model's training λ)")
        p.add_argument("--its", type=int, default=None, help="iterations (default: the method's own)")
        p.add_argument("--q_its", type=int, default=None, help="bits-back: iterations of the q(z|ŷ) fit")
        p.add_argument("--float", dest="float_path", action="store_true",
                       help="write a float-path file (format 3/4) even if the model is integerized")
    elif command == "decode":
        p.add_argument("--try-arithmetic", dest="try_arith", nargs="?", const="all", default=None, metavar="NAMES",
                       help="float-path file that does not decode here: retry under the other arithmetic "
                            "configurations this machine can set (threads, oneDNN, ISA), each in a fresh process; "
                            "optionally a comma list of shared_data.arith.EMULATIONS names to try, in order")


def _setup_tf(n: int | None = None, encoded: int | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from .arith_config import set_threads

    return set_threads(n, encoded)


def _load(args):
    from .codec import load_codec

    _setup_tf(args.threads)
    enc = args.command == "encode"
    return load_codec(args.model, method=getattr(args, "method", None) if enc else None,
                      its=getattr(args, "its", None), q_its=getattr(args, "q_its", None),
                      lmbda=getattr(args, "lmbda", None),
                      portable=False if getattr(args, "float_path", False) else None)


def _before(command, args):
    if command == "decode":
        if args.try_arith:
            return _try_arithmetic(args)
        if args.threads is None and not os.environ.get("LIC_THREADS") and Path(args.input).is_file():
            from .cli import peek_threads

            args.threads = peek_threads(args.input)  # the encoder's count (float-path files depend on it)
    return None


def _details(c) -> str:
    from shared_data import container as lic

    from .stream import FORMAT_NAMES, METHOD_NAMES, file_format

    fmt = file_format(c)
    try:
        method = METHOD_NAMES.get(lic.unpack_ints(c.sections[0], max_count=2 * 4096 + 11)[1], "?")
    except (ValueError, IndexError):
        method = "?"
    return f"{FORMAT_NAMES.get(fmt, f'format {fmt}')}, method {method}"


def _integerize_setup(p):
    p.add_argument("checkpoint", help="model directory (args.json + checkpoint)")
    p.add_argument("output", help="directory to write (may be the same: adds integer.npz in place)")


def _integerize(args) -> int:
    _setup_tf()
    from .portable import integerize

    rec = integerize(args.checkpoint, args.output)
    bits = ", ".join(f"{r['layer']} {r['weight_frac_bits']} bits (bound 2^{r['bound_log2']})" for r in rec["layers"])
    print(f"integerized {args.checkpoint} -> {args.output}: {bits}")
    return 0


def _import_setup(p):
    p.add_argument("checkpoint", help="the TF1 run directory (with 'checkpoint', model.ckpt-*) or a ckpt prefix")
    p.add_argument("output", help="run directory to write (args.json + weights), usable as --model")
    p.add_argument("--lambda", dest="lmbda", type=float, default=None, help="default: λ from the run name")


def _import_tf1(args) -> int:
    _setup_tf()
    from .tf1_import import import_tf1

    _, margs = import_tf1(args.checkpoint, args.output, lmbda=args.lmbda)
    print(f"imported {args.checkpoint} -> {args.output} (mbt2018, N={margs['num_filters']}, λ={margs['lmbda']:g})")
    return 0


COMMANDS = {
    "integerize": ("convert a trained model for portable files (integer h_s, stored tables)", _integerize_setup,
                   _integerize),
    "import-tf1": ("import a released TF1/tfc 1.3 checkpoint (mbt2018-num_filters=N-lmbda=λ)", _import_setup,
                   _import_tf1),
}


def main(argv=None) -> int:
    return cli.main(argv, codec_id=CODEC_ID, load=_load, prog="python -m sga", doc=__doc__.split("\n\n")[0],
                    add_arguments=_add_arguments, before=_before, commands=COMMANDS, details=_details)


def _try_arithmetic(args) -> int:
    """``decode --try-arithmetic``: plain decodes in fresh subprocesses under each emulation this machine can
    set (``shared_data.arith.try_arithmetic``); only exit 0 — the stored symbol CRC matched — is accepted."""
    from shared_data import arith

    def argv(tmp):
        return [sys.executable, "-m", "sga", "decode", args.input, tmp] + (
            ["--model", args.model] if args.model else [])

    order = arith.RECOVERY_ORDER if args.try_arith == "all" else tuple(args.try_arith.split(","))
    try:
        unknown = [n for n in order if n not in arith.EMULATIONS]
        if unknown:
            raise ValueError(f"unknown arithmetic configuration(s) {unknown}; known: {', '.join(arith.EMULATIONS)}")
        name = arith.try_arithmetic(argv, args.output, emulations=order,
                                    cwd=str(Path(__file__).resolve().parent.parent),
                                    log=lambda s: print(f"sga: {s}", file=sys.stderr), in_path=args.input)
    except (arith.RecoveryError, OSError, ValueError) as e:
        print(f"error: {cli.error_line(e)}", file=sys.stderr)
        return 1
    print(f"{args.input} -> {args.output} (decoded under arithmetic configuration {name!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
