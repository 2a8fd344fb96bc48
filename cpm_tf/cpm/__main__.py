"""``python -m cpm encode|decode|info`` (the project's one CLI, :mod:`shared_data.cli`) and ``integerize``.

    encode IN OUT [--model DIR] [--float] [--max-pixels N] [--threads N]   image(s) -> .lic
    decode IN OUT [--model DIR] [--try-arithmetic] [--max-pixels N] [--threads N]   .lic -> PNG
    info IN...                                                              container headers (+ cpm format)
    integerize CKPT OUT [--frac_in B ...]                                   model -> exact integer context model

IN may be a file, a folder or a quoted glob (then OUT is a folder). encode writes the portable stream format 3
(exact integer context model) with a converted model (the committed zoo/mini, the default, is one);
``--float`` writes the float-path format 2 (decodable only under the encoder's arithmetic). decode reads every
format; a single float-path file is decoded under the thread counts it recorded (``--threads`` /
``LIC_THREADS`` win); ``--try-arithmetic`` retries a float-path file that does not decode here under each
arithmetic configuration this machine can set (fresh subprocesses) and reports which worked. integerize
converts a model directory (config.json + weights.npz, e.g. a train.py log dir) for format 3.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from shared_data import cli

CODEC_ID = "cpm"


def _integerize(args) -> int:
    from shared_data.exact import IntegerizeError

    from . import integer
    from .codec import load_codec
    from .tfsetup import limit_threads
    limit_threads()
    src, out = Path(args.ckpt), Path(args.out)
    bits = {k: getattr(args, k) for k in integer.DEFAULT_BITS}
    try:
        codec = load_codec(src)
        ipc = integer.integerize_weights(codec.model.numpy_weights(), bits,
                                         source_fingerprint=codec.fingerprint_float.hex())
    except IntegerizeError as e:
        print(f"error: {src}: {e}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != src.resolve():
        for f in ("config.json", "weights.npz"):
            tmp = out / f".{f}.tmp"
            shutil.copyfile(src / f, tmp)
            os.replace(tmp, out / f)
    integer.save(ipc, out)
    conv = load_codec(out)
    print(f"{out}: integer context model ({', '.join(f'{k}={v}' for k, v in bits.items())}; worst-case "
          f"accumulator 2^{ipc.meta['max_accumulator_log2']}); float fingerprint {conv.fingerprint_float.hex()}, "
          f"portable (format 3) fingerprint {conv.fingerprint_int.hex()}")
    return 0


def _integerize_setup(s) -> None:
    from .integer import DEFAULT_BITS
    s.add_argument("ckpt", metavar="CKPT", help="model directory (config.json + weights.npz)")
    s.add_argument("out", metavar="OUT", help="output model directory (may be CKPT itself)")
    for k, v in DEFAULT_BITS.items():
        s.add_argument(f"--{k}", type=int, default=v, help=f"fractional bits (default {v})")


def recovery_order(record: dict) -> list[str]:
    """``arith.RECOVERY_ORDER`` with the emulations closest to the file's recorded environment first (the
    number of recorded ``env.*`` variables an emulation reproduces, minus those it contradicts)."""
    from shared_data import arith
    rec_env = {k[4:]: v for k, v in record.items() if k.startswith("env.")}

    def score(name):
        env = arith.EMULATIONS[name]
        keys = set(env) | set(rec_env)
        return sum(1 if env.get(k) == rec_env.get(k) else -1 for k in keys)
    return sorted(arith.RECOVERY_ORDER, key=lambda n: -score(n))


def _try_arithmetic(args) -> int:
    from shared_data import arith
    from shared_data import container as cont
    here = Path(__file__).resolve().parent.parent
    extra = ["--model", str(Path(args.model).resolve())] if args.model else []

    def argv(tmp):
        return [sys.executable, "-m", "cpm", "decode", str(Path(args.input).resolve()), str(Path(tmp).resolve()),
                *extra]
    c = cont.read(args.input, codec=CODEC_ID)
    record = arith.unpack(c.sections[2], path=args.input) if len(c.sections) == 3 else {}
    name = arith.try_arithmetic(argv, args.output, emulations=recovery_order(record), cwd=here, in_path=args.input)
    print(f"{args.output}: decoded under arithmetic configuration {name!r}")
    return 0


def _add_arguments(command: str, s) -> None:
    if command == "encode":
        s.add_argument("--float", action="store_true",
                       help="write the float-path format 2 (not portable across machines)")
    elif command == "decode":
        s.add_argument("--try-arithmetic", action="store_true",
                       help="retry a float-path file under each arithmetic configuration this machine can set")


def _before(command: str, args) -> int | None:
    """decode: ``--try-arithmetic`` takes the command over; a single float-path file's recorded thread counts
    become the decoder's (before TensorFlow starts)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if command != "decode" or cli._is_many(args.input):
        return None
    from shared_data import container as cont
    from shared_data import limits
    limits.precheck("decode", args.input, args.max_pixels, CODEC_ID)
    c = cont.read(args.input, codec=CODEC_ID)
    if args.try_arithmetic:
        return _try_arithmetic(args)
    if len(c.sections) == 3:  # float path: reproduce the encoder's thread counts (LIC_THREADS / --threads win)
        from shared_data import arith

        from . import arithcfg
        record = arith.unpack(c.sections[2], path=args.input)
        if args.threads is None:
            args.threads = arithcfg.decode_threads(record)
        arithcfg.reproduce(record, args.threads)
    return None


def _load(args):
    """encode: the portable format 3 unless ``--float`` (a float-only model is refused, naming integerize);
    decode: any format."""
    from .codec import load_codec
    if args.command == "encode":
        return load_codec(args.model, portable=not args.float)
    return load_codec(args.model)


def _details(c) -> str:
    """``info``: the cpm stream format (3 portable, 2 float path, 1 session 1) without loading a model."""
    from shared_data import container as cont
    from shared_data.errors import LicError
    try:
        head = cont.unpack_ints(c.sections[0]) if c.sections else []
    except LicError as e:
        return str(e)
    kind = {1: " (float path, no CRC)", 2: " (float path)", 3: " (portable)"}.get(head[0], " (unknown)") if head else ""
    return f"cpm stream format {head[0]}{kind}" if head else ""


COMMANDS = {"integerize": ("convert a model to the exact integer context model (format 3)", _integerize_setup,
                           _integerize)}


def main(argv=None, prog: str = "python -m cpm") -> int:
    return cli.main(argv, codec_id=CODEC_ID, load=_load, prog=prog, doc=__doc__, add_arguments=_add_arguments,
                    before=_before, commands=COMMANDS, details=_details)


if __name__ == "__main__":
    sys.exit(main())
