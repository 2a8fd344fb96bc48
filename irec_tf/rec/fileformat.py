"""The irec stream formats inside the shared container (TF-free, so the CLI can read a file's arithmetic record
before TensorFlow starts and pin the same thread count).

Section 0 starts with a *kind code* = 2·(format − 1) + lossless:

* format 1 (kind 0/1, legacy): sections [header ints, index ANS, (residual)]; float network, no record;
* format 2 (kind 2/3, float path): sections [header ints, arithmetic record, index ANS, (residual)];
* format 3 (kind 4/5, portable): same layout; the priors, the candidate samples and (lossless) the residual
  model are computed by the integer network of an integerised model (:mod:`rec.portable`), so the file
  decodes bit-exactly on every IEEE-754 machine.

The arithmetic record is :func:`shared_data.arith.pack` of :func:`describe` at encode time, raw-deflated
against the fixed preset dictionary :data:`RECORD_DICT` (typical records): ~6 bytes on the development
machine instead of ~122, which matters on 32×32 and 64×64 images. RECORD_DICT is part of the format.
"""

from __future__ import annotations

import os

from shared_data import arith, container
from shared_data.errors import ContainerError

CODEC = "irec"
FORMAT_LEGACY, FORMAT_FLOAT, FORMAT_PORTABLE = 1, 2, 3


class IrecFileError(ContainerError):
    """An .lic file whose irec payload (header ints, index stream, residual, record) is malformed or does not
    belong to the model decoding it; the message says which."""


FORMAT_NAMES = {FORMAT_LEGACY: "float-path format 1 (no arithmetic record)",
                FORMAT_FLOAT: "float-path format 2", FORMAT_PORTABLE: "portable format 3"}


#: Preset deflate dictionary of the arithmetic record (formats 2 and 3). Never change it: files depend on it.
RECORD_DICT = "\n".join([
    "constriction=0.5.0", "isa=avx2", "machine=x86_64", "numpy=1.26.4", "onednn=default", "python=3.11.7",
    "scipy=1.13.1", "tf=2.14.1", "tf_threads=2/1", "env.LIC_THREADS=1", "env.OMP_NUM_THREADS=1",
    "env.MKL_NUM_THREADS=1", "env.OPENBLAS_NUM_THREADS=1", "env.ATEN_CPU_CAPABILITY=default",
    "env.TF_ENABLE_ONEDNN_OPTS=0", "env.ONEDNN_MAX_CPU_ISA=SSE41", "env.MKL_ENABLE_INSTRUCTIONS=SSE4_2",
    "env.OPENBLAS_CORETYPE=Prescott", "isa=avx512", "isa=sse4", "machine=aarch64", "tf_threads=1/1",
    "onednn=0", "onednn=1", "env.OPENBLAS_CORETYPE=Haswell", "env.ONEDNN_MAX_CPU_ISA=AVX2", "isa=avx2",
    "constriction=0.5.0", "isa=avx2", "machine=x86_64", "numpy=1.26.4", "onednn=default", "python=3.11.7",
    "scipy=1.13.1", "tf=2.14.1", "tf_threads=2/1", ""]).encode("ascii")


def pack_record(record: dict) -> bytes:
    """The record section: :func:`shared_data.arith.pack`, raw-deflated with :data:`RECORD_DICT`."""
    import zlib

    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=RECORD_DICT)
    return c.compress(arith.pack(record)) + c.flush()


def unpack_record(data: bytes, path=None) -> dict:
    """Inverse of :func:`pack_record`; anything malformed raises ContainerError naming ``path``."""
    import zlib

    d = zlib.decompressobj(-15, zdict=RECORD_DICT)
    try:
        text = d.decompress(bytes(data), arith.MAX_PACKED + 1)
        ok = d.eof and not d.unconsumed_tail and not d.unused_data and len(text) <= arith.MAX_PACKED
    except zlib.error:
        ok = False
    if not ok:
        raise IrecFileError(f"{_where(path)}corrupt arithmetic-config section (not a deflated record)")
    return arith.unpack(text, path)


def _where(path) -> str:
    return f"{path}: " if path is not None else ""


def kind_code(fmt: int, lossless: bool) -> int:
    return 2 * (fmt - 1) + int(bool(lossless))


def split_kind(code: int, path=None) -> tuple[int, bool]:
    """kind code → (format, lossless); an unknown code raises ContainerError naming ``path``."""
    fmt = code // 2 + 1
    if code < 0 or fmt not in FORMAT_NAMES:
        raise IrecFileError(f"{_where(path)}unknown irec stream format (kind code {code}); this decoder knows "
                             f"formats {sorted(FORMAT_NAMES)}")
    return fmt, bool(code % 2)


def describe(intra_threads: int | None = None, inter_threads: int | None = None) -> dict:
    """This process's arithmetic configuration: shared_data.arith.describe plus TF / scipy / constriction
    versions, TF's intra/inter-op thread counts (``tf_threads=intra/inter``) and the oneDNN switch; short keys
    (the record costs ~120 bytes of every file). The ``env.*`` entries are the variables the process was
    started with (:data:`rec.START_ENV`): the ones :func:`shared_data.threads.limit` sets afterwards change
    nothing TF computes (its pools are configured explicitly) and would cost every file ~12 bytes."""
    import importlib.metadata as md

    extra = {}
    for key, pkg in (("tf", "tensorflow"), ("scipy", "scipy"), ("constriction", "constriction")):
        try:
            extra[key] = md.version(pkg)
        except md.PackageNotFoundError:
            extra[key] = "absent"
    if intra_threads is not None:
        extra["tf_threads"] = f"{intra_threads}/{inter_threads}"
    extra["onednn"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")
    from . import START_ENV  # the variables as the process started (not the thread policy's defaults)

    cfg = {k: v for k, v in arith.describe(**extra).items() if not k.startswith("env.")}
    return {**cfg, **{f"env.{k}": v for k, v in START_ENV.items()}}


def read_record(path) -> tuple[int, dict | None]:
    """(format, arithmetic record or None) of an irec file, without TensorFlow; ContainerError if unreadable."""
    c = container.read(path, codec=CODEC)
    if not c.sections:
        raise IrecFileError(f"{path}: irec payload has no sections")
    ints = container.unpack_ints(c.sections[0])
    if not ints:
        raise IrecFileError(f"{path}: empty irec header")
    fmt, _ = split_kind(ints[0], path)
    if fmt == FORMAT_LEGACY:
        return fmt, None
    if len(c.sections) < 2:
        raise IrecFileError(f"{path}: irec format {fmt} file without its arithmetic record")
    return fmt, unpack_record(c.sections[1], path)


def recorded_threads(record: dict | None) -> int | None:
    try:
        return int(record["tf_threads"].split("/")[0]) if record else None
    except (KeyError, ValueError):
        return None
