"""``python -m cpm encode IN.png OUT.lic [--model DIR] [--float]`` / ``python -m cpm decode IN.lic OUT.png
[--try-arithmetic]`` / ``python -m cpm integerize CKPT OUT``.

encode writes the portable stream format 3 (exact integer context model) with a converted model (the
committed zoo/mini is one); ``--float`` writes the float-path format 2 (decodable only under the encoder's
arithmetic). decode reads every format; ``--try-arithmetic`` retries a float-path file that does not decode
here under each arithmetic configuration this machine can set (fresh subprocesses) and reports which worked.
integerize converts a model directory (config.json + weights.npz, e.g. a train.py log dir) for format 3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path


def _integerize(args) -> int:
    from shared_data.exact import IntegerizeError

    from . import integer
    from .codec import ModelError, load_codec
    src, out = Path(args.ckpt), Path(args.out)
    bits = {k: getattr(args, k) for k in integer.DEFAULT_BITS}
    try:
        codec = load_codec(src)
        ipc = integer.integerize_weights(codec.model.numpy_weights(), bits, source_fingerprint=codec.fingerprint.hex())
    except (ModelError, IntegerizeError) as e:
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
          f"accumulator 2^{ipc.meta['max_accumulator_log2']}); float fingerprint {conv.fingerprint.hex()}, "
          f"portable (format 3) fingerprint {conv.fingerprint_int.hex()}")
    return 0


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


def _try_arithmetic(args, prog) -> int:
    from shared_data import arith
    from shared_data.container import ContainerError
    here = Path(__file__).resolve().parent.parent
    extra = ["--model", str(Path(args.model).resolve())] if args.model else []

    def argv(tmp):
        return [sys.executable, "-m", "cpm", "decode", str(Path(args.input).resolve()), str(Path(tmp).resolve()),
                *extra]
    try:
        from shared_data import container as cont
        c = cont.read(args.input, codec="cpm")
        record = arith.unpack(c.sections[2], path=args.input) if len(c.sections) == 3 else {}
        name = arith.try_arithmetic(argv, args.output, emulations=recovery_order(record), cwd=here,
                                    in_path=args.input)
    except ContainerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.output}: decoded under arithmetic configuration {name!r}")
    return 0


def main(argv=None, prog: str = "python -m cpm") -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from shared_data.limits import add_max_pixels_argument
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, a, b in (("encode", "IN.png", "OUT.lic"), ("decode", "IN.lic", "OUT.png")):
        s = sub.add_parser(name)
        s.add_argument("input", metavar=a)
        s.add_argument("output", metavar=b)
        s.add_argument("--model", default=None, help="model directory (default: zoo/mini)")
        add_max_pixels_argument(s, "cpm", name)
        if name == "encode":
            s.add_argument("--float", action="store_true",
                           help="write the float-path format 2 (not portable across machines)")
        else:
            s.add_argument("--try-arithmetic", action="store_true",
                           help="retry under each arithmetic configuration this machine can set")
    s = sub.add_parser("integerize", help="convert a model to the exact integer context model (format 3)")
    s.add_argument("ckpt", metavar="CKPT", help="model directory (config.json + weights.npz)")
    s.add_argument("out", metavar="OUT", help="output model directory (may be CKPT itself)")
    from .integer import DEFAULT_BITS
    for k, v in DEFAULT_BITS.items():
        s.add_argument(f"--{k}", type=int, default=v, help=f"fractional bits (default {v})")
    args = p.parse_args(argv)
    from shared_data import limits
    try:  # the pixel limit, before any model (or TF/torch) work: one line, nothing allocated
        limits.precheck(args.cmd, getattr(args, "input", None), getattr(args, "max_pixels", None), "cpm")
    except limits.PixelLimitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    from shared_data import container as cont
    from shared_data.imageio import ImageReadError

    from . import arithcfg
    from .codec import DEFAULT_MODEL, ModelError, load_codec
    from .tfsetup import limit_threads
    if args.cmd == "integerize":
        limit_threads()
        return _integerize(args)
    if args.cmd == "decode" and args.try_arithmetic:
        return _try_arithmetic(args, prog)
    try:
        if args.cmd == "decode":
            c = cont.read(args.input, codec="cpm")
            from .codec import Codec
            arithcfg.reproduce(Codec.arith_record(c, args.input) if len(c.sections) == 3 else {})
        else:
            limit_threads()
        codec = load_codec(args.model or DEFAULT_MODEL)
        if args.cmd == "encode":
            r = codec.encode_file(args.input, args.output, portable=not args.float)
            h, w = r.padded_shape[:2]
            print(f"{args.output}: {r.num_bytes} bytes, {8 * r.num_bytes / (h * w):.4f} bpp (padded {h}x{w}), "
                  f"{r.enc_s:.2f} s")
        else:
            codec.decode_file(args.input, args.output)
            print(f"{args.output}: decoded")
    except (cont.ContainerError, ImageReadError, ModelError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
