"""Lossless coding with a trained L3C model (default: the committed ``zoo/mini``; the portable integer path,
stream format 4, unless ``--float``)::

    python -m l3c encode IN OUT [--model RUN_DIR] [-i ITR] [--backend constriction|torchac] [--float]
    python -m l3c decode IN.lic OUT.png [--model RUN_DIR] [-i ITR] [--try-arithmetic]
    python -m l3c info FILE.lic ...
    python -m l3c integerize RUN_DIR|RUN_DIR/ckpts/ckpt_N.pt OUT_DIR

IN may be a folder or a quoted glob (then OUT is a folder; a progress bar). Every command also takes
``--max-pixels`` and ``--threads`` (:mod:`shared_data.cli`); errors print one line and exit 1.
"""

from __future__ import annotations

import sys

from shared_data import cli


def _add_arguments(command: str, p) -> None:
    if command in ("encode", "decode"):
        p.add_argument("-i", "--restore_itr", type=int, default=-1, help="checkpoint iteration (default: the last)")
    if command == "encode":
        p.add_argument("--backend", default=None, choices=["constriction", "torchac"])
        p.add_argument("--float", dest="float_path", action="store_true",
                       help="float network path (stream format 3; decodes only under the encoder's arithmetic)")
    if command == "decode":
        p.add_argument("--try-arithmetic", action="store_true",
                       help="float-path file that does not decode here: retry under every arithmetic configuration "
                            "this machine can set, each in a fresh process, and report which one worked")


def _load(args):
    """The codec of ``args`` (cached on ``args`` when ``before`` already loaded it)."""
    codec = getattr(args, "_codec", None)
    if codec is not None:
        return codec
    from .codec import load_codec

    if args.command == "encode":
        codec = load_codec(args.model, backend=args.backend or "constriction", float_path=args.float_path,
                           itr=args.restore_itr)
        if codec.net.exact is None and not args.float_path:
            print(f"l3c: note: model {codec.model_dir} has no integer decoder (python -m l3c integerize); writing "
                  "a float-path file (format 3), which decodes only under the encoder's arithmetic", file=sys.stderr)
    else:
        codec = load_codec(args.model, itr=args.restore_itr)
    args._codec = codec
    return codec


def _details(c) -> str:
    from .coding import read_header

    h = read_header(c)
    return (f"l3c stream format {h['format']} ({'portable' if h['format'] == 4 else 'float path'}), {h['backend']}, "
            f"{h['num_levels']} levels, strip {h['strip_pixels']} px, chunk {h['chunk']}")


def recovery_order(recorded: dict | None) -> list[str]:
    """``arith.RECOVERY_ORDER`` with the emulations whose settings match the file's recorded environment
    first (a float-path file records the ENV_KEYS it was encoded under)."""
    from shared_data import arith

    rec = recorded or {}

    def score(name):
        e = arith.EMULATIONS[name]
        return sum(1 if rec.get("env." + k) == v else -1 for k, v in e.items())

    return sorted(arith.RECOVERY_ORDER, key=lambda n: (-score(n), arith.RECOVERY_ORDER.index(n)))


def try_arithmetic_decode(in_path, out_path, model=None, itr=-1) -> str:
    """``decode --try-arithmetic``: retry the plain decode in fresh processes under every arithmetic
    configuration this machine can set (``shared_data.arith.try_arithmetic``; only a decode whose pixel CRC
    matched, i.e. exit 0, counts) and report which one worked."""
    from pathlib import Path

    from shared_data import arith
    from shared_data.container import read

    from .coding import recorded_arith
    from .model_io import load_model

    here = Path(__file__).resolve().parent.parent

    def argv(tmp):
        cmd = [sys.executable, "-m", "l3c", "decode", str(Path(in_path).resolve()), tmp]
        if model is not None:
            cmd += ["--model", str(Path(model).resolve())]
        return cmd + ["-i", str(itr)]

    net, _, _ = load_model(model, itr)
    try:
        rec = recorded_arith(net, read(in_path, codec="l3c"))
    except (ValueError, OSError):
        rec = None  # the plain decodes below report what is wrong with the file
    name = arith.try_arithmetic(argv, Path(out_path).resolve(), emulations=recovery_order(rec), cwd=here,
                                in_path=in_path)
    print(f"{out_path}: decoded under arithmetic configuration {name!r}")
    return name


_CAPS = ("DEFAULT", "AVX2", "AVX512")
_REEXEC = "L3C_REEXEC_CAPABILITY"


def _reexec_for_capability(codec, c, argv):
    """torch's vector kernels (``ATEN_CPU_CAPABILITY``) are fixed at process start, so a float-path file whose
    recorded capability differs from this process's is decoded by re-running this command in a fresh process
    with the encoder's capability, when this CPU supports it (returns its exit status; None: not needed)."""
    import os
    import subprocess

    import torch

    from shared_data import arith

    from .coding import check_model, recorded_arith

    check_model(codec.net, c, codec.float_fingerprint, codec.model_dir)
    rec = recorded_arith(codec.net, c) or {}
    want, here = rec.get("torch_capability"), torch.backends.cpu.get_cpu_capability()
    if not want or want == here or want not in _CAPS or os.environ.get(_REEXEC):
        return None
    top = {"avx512": "AVX512", "avx2": "AVX2"}.get(arith.isa(), "DEFAULT")
    if _CAPS.index(want) > _CAPS.index(top):
        return None  # this CPU cannot run those kernels; the decode names the mismatch
    env = dict(os.environ, ATEN_CPU_CAPABILITY=want.lower(), **{_REEXEC: "1"})
    print(f"l3c: the file was encoded with torch {want} kernels, this process runs {here}: re-running the "
          f"decode with ATEN_CPU_CAPABILITY={want.lower()}", file=sys.stderr)
    return subprocess.run([sys.executable, "-m", "l3c", *argv], env=env).returncode


def _before(argv):
    def before(command, args):
        if command != "decode":
            return None
        if args.try_arithmetic:
            try_arithmetic_decode(args.input, args.output, args.model, args.restore_itr)
            return 0
        if cli.is_many(args.input):
            return None
        from shared_data import container as cont
        from shared_data import limits

        from .coding import FLOAT_FORMAT, read_header

        limits.precheck("decode", args.input, args.max_pixels, "l3c")
        c = cont.read(args.input, codec="l3c")
        with cont.reading(args.input):
            if read_header(c)["format"] > FLOAT_FORMAT:
                return None  # the portable path decodes under any kernels
            return _reexec_for_capability(_load(args), c, argv)
    return before


def _integerize_setup(p) -> None:
    p.add_argument("ckpt", help="run directory or RUN/ckpts/ckpt_N.pt")
    p.add_argument("out", help="run directory to write exact.pt into (may be the same)")
    p.add_argument("-i", "--restore_itr", type=int, default=-1)
    p.add_argument("--max_images", type=int, default=6)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--threads", type=int, default=None, metavar="N")


def _integerize(args) -> int:
    from shared_data import exact, threads
    from shared_data.errors import ModelError

    threads.limit(args.threads)
    from .model_io import integerize_run

    try:
        integerize_run(args.ckpt, args.out, args.restore_itr, args.max_images, args.crop)
    except exact.IntegerizeError as e:  # shared_data's conversion error is a plain ValueError
        raise ModelError(f"{args.ckpt}: cannot convert to the integer path: {e}") from None
    return 0


COMMANDS = {"integerize": ("convert a float checkpoint to the portable integer path (format 4)", _integerize_setup,
                           _integerize)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return cli.main(argv, codec_id="l3c", load=_load, doc=__doc__, add_arguments=_add_arguments,
                    before=_before(argv), commands=COMMANDS, details=_details)


if __name__ == "__main__":
    sys.exit(main())
