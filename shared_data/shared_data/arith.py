"""The arithmetic configuration a float network ran under: record it in files, explain mismatches, emulate others.

A learned codec's entropy coder needs bit-identical probabilities at encode and decode time. With float
networks the last bits depend on the CPU's vector width (torch's ``ATEN_CPU_CAPABILITY`` kernels, oneDNN's
ISA, MKL's and OpenBLAS's kernels), the thread count (summation order) and the library versions. This module

* describes the configuration a process runs under (:func:`describe`) so encoders can store it in the file
  (:func:`pack` / :func:`unpack`, a small ``key=value`` section) and decoders can name what differs
  (:func:`explain`) instead of calling the file corrupt;
* owns the one thread-limit policy (:func:`threads`): ``LIC_THREADS`` if set, else what the file recorded,
  else ``min(2, cores)``;
* names environment settings that emulate another CPU on this one (:data:`EMULATIONS`), for the
  cross-arithmetic tests (:data:`CROSS_PAIRS`, :func:`run`) and for recovering files written by a float path
  elsewhere (:func:`try_arithmetic`, behind each CLI's ``decode --try-arithmetic``).

Framework-free: frameworks contribute their own keys through ``describe(**extra)``.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from .container import ContainerError

#: Environment variables that change float results (or thread counts) of numpy / torch / TF kernels.
ENV_KEYS = (
    "LIC_THREADS",            # this project's thread policy (threads())
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
    "ATEN_CPU_CAPABILITY",    # torch: default | avx2 | avx512 vectorised kernels
    "TF_ENABLE_ONEDNN_OPTS",  # TF: oneDNN (1) or Eigen (0) kernels
    "ONEDNN_MAX_CPU_ISA",     # oneDNN (torch and TF): highest ISA its JIT may use
    "MKL_ENABLE_INSTRUCTIONS",  # MKL (torch's BLAS): highest ISA
    "OPENBLAS_CORETYPE",      # numpy's OpenBLAS: kernel family (Haswell, SkylakeX, Prescott, ...)
)

#: Named environment overrides. Applied by :func:`env_for` on top of a base environment from which every
#: key of ENV_KEYS was removed first, so a name means the same thing whatever the caller's shell set.
EMULATIONS: dict[str, dict[str, str]] = {
    "default": {},
    "threads-1": {"LIC_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    "threads-2": {"LIC_THREADS": "2", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "aten-avx512": {"ATEN_CPU_CAPABILITY": "avx512"},
    "onednn-off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "onednn-on": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "blas-haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "blas-prescott": {"OPENBLAS_CORETYPE": "Prescott"},
    "blas-skylakex": {"OPENBLAS_CORETYPE": "SkylakeX"},
    # whole-machine emulations: what an AVX2-only and an SSE-only x86-64 CPU would run
    "avx2-cpu": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                 "OPENBLAS_CORETYPE": "Haswell"},
    "sse-cpu": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "OPENBLAS_CORETYPE": "Prescott", "TF_ENABLE_ONEDNN_OPTS": "0"},
    "sse-cpu-1thread": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "OPENBLAS_CORETYPE": "Prescott",
                        "TF_ENABLE_ONEDNN_OPTS": "0", "LIC_THREADS": "1", "OMP_NUM_THREADS": "1",
                        "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
}

#: (encode under, decode under) pairs every sub-project's cross-arithmetic test runs. Each pair changes
#: what the issue names: thread count, torch CPU capability, oneDNN on/off, BLAS kernel, and a whole other CPU.
CROSS_PAIRS: tuple[tuple[str, str], ...] = (
    ("threads-1", "threads-2"),
    ("aten-default", "default"),
    ("onednn-off", "onednn-on"),
    ("blas-haswell", "blas-prescott"),
    ("sse-cpu-1thread", "default"),
    ("default", "avx2-cpu"),
)

#: The order :func:`try_arithmetic` tries when a float-path file does not decode here.
RECOVERY_ORDER: tuple[str, ...] = (
    "default", "threads-1", "threads-2", "avx2-cpu", "aten-avx2", "aten-default", "aten-avx512",
    "onednn-off", "onednn-on", "blas-haswell", "blas-skylakex", "blas-prescott", "sse-cpu", "sse-cpu-1thread",
)

MAX_PACKED = 2048
_KEY = re.compile(r"^[A-Za-z0-9_.]{1,64}$")
_VALUE = re.compile(r"^[A-Za-z0-9_.+\-/ :,()@]{0,200}$")


def isa() -> str:
    """The widest x86 vector extension this CPU reports: ``avx512``, ``avx2``, ``sse4`` or the machine name."""
    try:
        flags = set()
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
        for name, flag in (("avx512", "avx512f"), ("avx2", "avx2"), ("sse4", "sse4_2")):
            if flag in flags:
                return name
    except OSError:
        pass
    return platform.machine() or "unknown"


def threads(default: int = 2, encoded: int | None = None) -> int:
    """The thread count of the one policy (:func:`shared_data.threads.count`): ``LIC_THREADS`` if set, else
    the count a file recorded, else ``min(default, cores)``."""
    from .threads import count
    return count(None, default, encoded)


def describe(**extra: object) -> dict[str, str]:
    """The arithmetic configuration of this process: CPU ISA, machine, numpy version, every set variable of
    ENV_KEYS, plus ``extra`` (a framework's own: ``torch=2.13.0``, ``torch_threads=2``, ``tf_onednn=1`` ...)."""
    import numpy

    cfg = {"isa": isa(), "machine": platform.machine() or "unknown", "numpy": numpy.__version__,
           "python": platform.python_version()}
    from .threads import user_env
    for k in ENV_KEYS:
        v = user_env(k)  # as the user set it, not the thread policy's fill-ins
        if v is not None and v != "":
            cfg["env." + k] = v
    for k, v in extra.items():
        cfg[k] = str(v)
    return {k: _clean(v) for k, v in cfg.items()}


def _clean(v: str) -> str:
    v = re.sub(r"[^A-Za-z0-9_.+\-/ :,()@]", "_", str(v))
    return v[:200]


def pack(cfg: Mapping[str, str]) -> bytes:
    """Serialise a configuration as sorted ``key=value`` lines (ASCII, at most MAX_PACKED bytes)."""
    lines = []
    for k in sorted(cfg):
        v = _clean(cfg[k])
        if not _KEY.match(k):
            raise ValueError(f"bad arithmetic-config key {k!r}")
        lines.append(f"{k}={v}")
    data = "\n".join(lines).encode("ascii")
    if len(data) > MAX_PACKED:
        raise ValueError(f"arithmetic config of {len(data)} bytes exceeds {MAX_PACKED}")
    return data


def unpack(data: bytes, path: str | os.PathLike | None = None) -> dict[str, str]:
    """Inverse of :func:`pack`; anything malformed raises ContainerError naming ``path``."""
    where = f"{path}: " if path is not None else ""
    if len(data) > MAX_PACKED:
        raise ContainerError(f"{where}corrupt arithmetic-config section ({len(data)} bytes > {MAX_PACKED})")
    try:
        text = bytes(data).decode("ascii")
    except UnicodeDecodeError:
        raise ContainerError(f"{where}corrupt arithmetic-config section (not ASCII)") from None
    out: dict[str, str] = {}
    if not text:
        return out
    for line in text.split("\n"):
        k, sep, v = line.partition("=")
        if not sep or not _KEY.match(k) or not _VALUE.match(v) or k in out:
            raise ContainerError(f"{where}corrupt arithmetic-config section (line {line[:40]!r})")
        out[k] = v
    return out


#: Keys that never change arithmetic (compared only when nothing else differs).
_COSMETIC = ("python",)


def mismatches(encoded: Mapping[str, str], here: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(key, value at encode, value here) for every key that differs; a missing key reads as ``unset``."""
    keys = sorted(set(encoded) | set(here))
    diffs = [(k, encoded.get(k, "unset"), here.get(k, "unset")) for k in keys
             if encoded.get(k, "unset") != here.get(k, "unset")]
    important = [d for d in diffs if d[0] not in _COSMETIC]
    return important or diffs


def explain(encoded: Mapping[str, str], here: Mapping[str, str]) -> str:
    """One phrase for an error message: ``encoded with isa=avx512, torch_threads=1; this decoder runs
    isa=avx2, torch_threads=2`` (or ``the same arithmetic configuration`` when nothing recorded differs)."""
    diffs = mismatches(encoded, here)
    if not diffs:
        return "encoded under the same recorded arithmetic configuration as this decoder"
    a = ", ".join(f"{k}={v}" for k, v, _ in diffs)
    b = ", ".join(f"{k}={v}" for k, _, v in diffs)
    return f"encoded with {a}; this decoder runs {b}"


def env_for(emulation: str | Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default os.environ) with every ENV_KEYS variable removed, then the emulation's set."""
    if isinstance(emulation, str):
        if emulation not in EMULATIONS:
            raise ValueError(f"unknown arithmetic emulation {emulation!r}; known: {', '.join(EMULATIONS)}")
        overrides = EMULATIONS[emulation]
    else:
        overrides = dict(emulation)
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in ENV_KEYS}
    env.update(overrides)
    return env


def run(argv: Sequence[str], emulation: str | Mapping[str, str], cwd: str | os.PathLike | None = None,
        timeout: float = 900, extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` in a fresh process under an emulation (text output captured; never raises on rc≠0)."""
    env = env_for(emulation)
    if extra_env:
        env.update(extra_env)
    return subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


class RecoveryError(ContainerError):
    """No arithmetic configuration this machine can set decoded the file with a matching stored CRC."""


def try_arithmetic(decode_argv: Callable[[str], Sequence[str]], out_path: str | os.PathLike,
                   emulations: Iterable[str] = RECOVERY_ORDER, cwd: str | os.PathLike | None = None,
                   timeout: float = 900, log: Callable[[str], None] | None = None,
                   in_path: str | os.PathLike | None = None) -> str:
    """Retry a decode under each emulation, each in a fresh subprocess, until one succeeds; return its name.

    ``decode_argv(tmp_out)`` is the plain decode command writing to ``tmp_out`` (never ``--try-arithmetic``
    itself). Success means exit status 0 — the sub-project's decoder exits non-zero unless the stored CRC
    (of symbols or pixels) matches, so only a verified result is accepted. The result is moved onto
    ``out_path`` atomically; nothing is written when every configuration fails (RecoveryError lists them).
    """
    out_path = Path(out_path)
    log = log or (lambda s: print(s, file=sys.stderr))
    tried = []
    out_dir = out_path.parent if str(out_path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=".try-arith-", suffix=out_path.suffix or ".png", dir=out_dir)
    os.close(fd)
    try:
        for name in emulations:
            p = run(decode_argv(tmp), name, cwd=cwd, timeout=timeout)
            if p.returncode == 0 and os.path.getsize(tmp) > 0:
                os.replace(tmp, out_path)
                log(f"decoded under arithmetic configuration {name!r} ({_describe_env(name)})")
                return name
            last = (p.stderr or p.stdout or "").strip().splitlines()
            tried.append(f"{name}: {last[-1][:160] if last else f'exit {p.returncode}'}")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    what = f"{in_path}: " if in_path is not None else ""
    raise RecoveryError(f"{what}no arithmetic configuration this machine can set decodes the file "
                        f"({len(tried)} tried: " + "; ".join(tried) + ")")


def _describe_env(name: str) -> str:
    e = EMULATIONS.get(name, {})
    return " ".join(f"{k}={v}" for k, v in e.items()) or "the default environment"
