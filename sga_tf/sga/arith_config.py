"""The arithmetic configuration an sga file was encoded under (issue 15), stored in a small file section.

Built on :mod:`shared_data.arith`: ``describe`` adds TF's own keys (library versions, intra/inter-op thread
counts, oneDNN on/off). The section is ``arith.pack`` compressed with raw DEFLATE against a fixed preset
dictionary (``ZDICT``, part of the stream format: never edit it, add a new one under a new format), so the
typical record costs ~10 bytes instead of ~150 (the committed zoo crops are ~2.7 kB files).
"""

from __future__ import annotations

import os
import zlib
from importlib import metadata

from shared_data import arith
from shared_data.container import ContainerError

#: preset dictionary of the arithmetic-config section (stream formats 3..6): typical records' text.
ZDICT = (b"env.LIC_THREADS=1\nenv.OMP_NUM_THREADS=1\nenv.MKL_NUM_THREADS=1\nenv.OPENBLAS_NUM_THREADS=1\n"
         b"env.ATEN_CPU_CAPABILITY=default\nenv.ONEDNN_MAX_CPU_ISA=SSE41\nenv.MKL_ENABLE_INSTRUCTIONS=SSE4_2\n"
         b"env.OPENBLAS_CORETYPE=Prescott\nenv.TF_ENABLE_ONEDNN_OPTS=0\nenv.OPENBLAS_CORETYPE=Haswell\n"
         b"env.ONEDNN_MAX_CPU_ISA=AVX2\nenv.MKL_ENABLE_INSTRUCTIONS=AVX2\nenv.ATEN_CPU_CAPABILITY=avx2\n"
         b"isa=avx2\nisa=sse4\nconstriction=0.5.0\nisa=avx512\nmachine=x86_64\nnumpy=1.26.4\npython=3.11.7\n"
         b"scipy=1.11.4\ntf=2.14.1\ntf_inter_threads=2\ntf_intra_threads=1\ntf_onednn=0\n"
         b"tf_inter_threads=1\ntf_intra_threads=2\ntf_onednn=1\ntfc=2.14.1\n")

_THREADS = {"intra": None, "inter": None}


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "absent"


def onednn_on() -> str:
    """TF_ENABLE_ONEDNN_OPTS as 0/1, or ``auto`` when unset (TF 2.14 then decides by CPU: on this AVX2
    machine it ran the Eigen kernels, bit-identical to ``0``; on AVX-512 VNNI / AMX CPUs oneDNN's)."""
    v = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower()
    if not v:
        return "auto"
    return "0" if v in ("0", "false", "off", "no") else "1"


def set_threads(n: int | None = None, encoded: int | None = None) -> int:
    """Apply THE thread policy (:func:`shared_data.threads.limit`: ``n`` / ``--threads``, else LIC_THREADS, else
    the file's count, else 2) to TF's intra- and inter-op pools. Must run before TF executes its first op;
    later calls keep what was set (the count this process records in the files it writes)."""
    import tensorflow as tf

    from shared_data import threads

    if _THREADS["intra"] is None:
        k = threads.limit(n, default=2, encoded=encoded)  # TF already initialised (tests): it keeps its pools
        _THREADS["intra"] = tf.config.threading.get_intra_op_parallelism_threads() or k
        _THREADS["inter"] = tf.config.threading.get_inter_op_parallelism_threads() or k
    return int(_THREADS["intra"])


def describe() -> dict[str, str]:
    """This process's arithmetic configuration (``arith.describe`` + TF keys)."""
    import tensorflow as tf

    intra = _THREADS["intra"] or tf.config.threading.get_intra_op_parallelism_threads() or "auto"
    inter = _THREADS["inter"] or tf.config.threading.get_inter_op_parallelism_threads() or "auto"
    return arith.describe(**{"tf": tf.__version__, "tfc": _version("tensorflow-compression"),
                             "constriction": _version("constriction"), "scipy": _version("scipy"),
                             "tf_intra_threads": intra, "tf_inter_threads": inter, "tf_onednn": onednn_on()})


def pack(cfg: dict[str, str]) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, ZDICT)
    return c.compress(arith.pack(cfg)) + c.flush()


def unpack(data: bytes, path=None) -> dict[str, str]:
    where = f"{path}: " if path is not None else ""
    try:
        d = zlib.decompressobj(-15, ZDICT)
        raw = d.decompress(bytes(data), arith.MAX_PACKED + 1)
        if len(raw) > arith.MAX_PACKED or not d.eof:
            raise ContainerError(f"{where}corrupt arithmetic-config section (too long or truncated)")
    except zlib.error:
        raise ContainerError(f"{where}corrupt arithmetic-config section (bad DEFLATE data)") from None
    return arith.unpack(raw, path=path)


def encoded_threads(cfg: dict[str, str]) -> int | None:
    try:
        return int(cfg.get("tf_intra_threads", ""))
    except ValueError:
        return None


def mismatch_message(path, cfg: dict[str, str] | None, what: str, portable_bb: bool = False) -> str:
    """One line for a float-path file (or a portable bits-back chain) that did not decode to its stored CRC."""
    where = f"{path}: " if path is not None else ""
    if cfg is None:
        ctx = "the file records no arithmetic configuration (stream format 1/2)"
    else:
        ctx = arith.explain(cfg, describe())
    if portable_bb:
        return (f"{where}{what} (portable bits-back chain: ŷ and z are exact, but giving the borrowed bits back "
                f"to the chain's earlier images needs the float q(z|ŷ) fit reproduced bit for bit, and it was "
                f"not; {ctx}); retry with 'decode --try-arithmetic', or code the images as single-image files")
    return (f"{where}{what} (float-path file: the decoder's float h_s / q fit did not reproduce the encoder's; "
            f"{ctx}); retry with 'decode --try-arithmetic', or encode with an integerized model "
            f"('python -m sga integerize MODEL OUT') for a portable file")
