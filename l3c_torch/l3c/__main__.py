"""``python -m l3c encode IN.png OUT.lic [--model DIR] [--backend constriction|torchac] [--float]``,
``python -m l3c decode IN.lic OUT.png [--model DIR] [--try-arithmetic]`` and
``python -m l3c integerize CKPT OUT``: lossless coding with a trained L3C model (default: the committed
``zoo/mini``; portable integer decoder path, stream format 4, unless ``--float``). Errors exit non-zero with
one line on stderr."""

from __future__ import annotations

import argparse
import sys
import time


def encode_file(in_path, out_path, model=None, backend=None, itr=-1, verbose=True, float_path=False):
    """Encode with the portable integer path (format 4) when the model is converted (the zoo is), else, or
    with ``float_path``, the float format 3 (decodes only under the encoder's arithmetic)."""
    from shared_data.container import write
    from shared_data.imageio import read_image

    from .coding import DEFAULT_BACKEND, FLOAT_FORMAT, encode_array
    from .model_io import load_model

    img = read_image(in_path)
    net, fp, _ = load_model(model, itr, float_only=float_path)
    if net.exact is None and not float_path:
        print(f"l3c: note: model {model or 'zoo/mini'} has no integer decoder (python -m l3c integerize); writing "
              "a float-path file (format 3), which decodes only under the encoder's arithmetic", file=sys.stderr)
    t0 = time.perf_counter()
    res = encode_array(net, img, fp, backend or DEFAULT_BACKEND, fmt=FLOAT_FORMAT if float_path else None)
    size = write(out_path, res.container)
    dt = time.perf_counter() - t0
    h, w = img.shape[:2]
    if verbose:
        print(f"{out_path}: {size} bytes, {8 * size / (3 * h * w):.4f} bpsp (estimate "
              f"{res.stats.est_bits / (3 * h * w):.4f}), {h}x{w}, {dt:.2f} s")
    return size


def decode_file(in_path, out_path, model=None, itr=-1, verbose=True, reexec_argv=None):
    from shared_data.container import read, reading
    from shared_data.imageio import write_png

    from .coding import check_model, decode_container
    from .model_io import load_model

    net, fp, _ = load_model(model, itr)
    c = read(in_path, codec="l3c")
    with reading(in_path):
        check_model(net, c, fp, model)
        rc = _reexec_for_capability(net, c, reexec_argv) if reexec_argv is not None else None
        if rc is not None:
            return rc  # the fresh process printed its own result or error
        t0 = time.perf_counter()
        img, _, backend = decode_container(net, c)
    write_png(out_path, img)
    if verbose:
        print(f"{out_path}: {img.shape[0]}x{img.shape[1]} ({backend}), {time.perf_counter() - t0:.2f} s")
    return 0


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

    here = Path(__file__).resolve().parent.parent

    def argv(tmp):
        cmd = [sys.executable, "-m", "l3c", "decode", str(Path(in_path).resolve()), tmp]
        if model is not None:
            cmd += ["--model", str(Path(model).resolve())]
        return cmd + ["-i", str(itr)]

    from shared_data.container import read

    from .coding import recorded_arith
    from .model_io import load_model

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


def _reexec_for_capability(net, c, argv):
    """torch's vector kernels (``ATEN_CPU_CAPABILITY``) are fixed at process start, so a float-path file whose
    recorded capability differs from this process's is decoded by re-running this command in a fresh process
    with the encoder's capability, when this CPU supports it (returns its exit status; None: not needed)."""
    import os
    import subprocess

    import torch

    from shared_data import arith

    from .coding import read_header, recorded_arith

    rec = (recorded_arith(net, c) or {}) if read_header(c)["format"] <= 3 else {}
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


def main(argv=None) -> int:
    from shared_data.limits import add_max_pixels_argument
    p = argparse.ArgumentParser(prog="python -m l3c", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode", help="PNG (any Pillow image) -> .lic")
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument("--model", default=None, help="run directory (default: zoo/mini)")
    add_max_pixels_argument(e, "l3c", "encode")
    e.add_argument("--backend", default=None, choices=["constriction", "torchac"])
    e.add_argument("-i", "--restore_itr", type=int, default=-1)
    e.add_argument("--float", dest="float_path", action="store_true",
                   help="float network path (stream format 3; decodes only under the encoder's arithmetic)")
    d = sub.add_parser("decode", help=".lic -> PNG")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--model", default=None)
    add_max_pixels_argument(d, "l3c", "decode")
    d.add_argument("-i", "--restore_itr", type=int, default=-1)
    d.add_argument("--try-arithmetic", action="store_true",
                   help="float-path file that does not decode here: retry under every arithmetic configuration "
                        "this machine can set, each in a fresh process, and report which one worked")
    g = sub.add_parser("integerize", help="convert a float checkpoint to the portable integer path (format 4)")
    g.add_argument("ckpt", help="run directory or RUN/ckpts/ckpt_N.pt")
    g.add_argument("out", help="run directory to write exact.pt into (may be the same)")
    g.add_argument("-i", "--restore_itr", type=int, default=-1)
    g.add_argument("--max_images", type=int, default=6)
    g.add_argument("--crop", type=int, default=128)
    a = p.parse_args(argv)
    from shared_data import limits
    try:  # the pixel limit, before any model (or TF/torch) work: one line, nothing allocated
        limits.precheck(a.cmd, getattr(a, 'input', None), getattr(a, "max_pixels", None), "l3c")
    except limits.PixelLimitError as e:
        print(f"l3c: error: {e}", file=sys.stderr)
        return 1
    try:
        import torch

        from shared_data import arith

        torch.set_num_threads(arith.threads(default=min(2, torch.get_num_threads())))
        if a.cmd == "encode":
            encode_file(a.input, a.output, a.model, a.backend, a.restore_itr, float_path=a.float_path)
        elif a.cmd == "integerize":
            from .model_io import integerize_run

            integerize_run(a.ckpt, a.out, a.restore_itr, a.max_images, a.crop)
        elif a.try_arithmetic:
            try_arithmetic_decode(a.input, a.output, a.model, a.restore_itr)
        else:
            return decode_file(a.input, a.output, a.model, a.restore_itr,
                               reexec_argv=list(sys.argv[1:] if argv is None else argv))
    except (ValueError, OSError, RuntimeError) as ex:  # ContainerError, ImageReadError, ModelError, ...
        print(f"l3c: error: {ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
