"""The arithmetic configuration a CPM file was encoded under (issue 15), recorded in every new file.

CPM's float coding path (stream format 2) runs the context model in NumPy float32, i.e. through OpenBLAS
``sgemm``, whose kernel (``OPENBLAS_CORETYPE``) and thread split decide the last bits of every logit; the
encoder/decoder networks run in TF (oneDNN or Eigen kernels, intra-op threads). The encoder stores
:func:`here` (``shared_data.arith.describe`` plus these keys) as a small section; the decoder reproduces the
thread counts it can set in-process (:func:`reproduce`) and, when a float-path file still does not decode,
names what differs (``shared_data.arith.explain``) instead of calling the file corrupt. The portable path
(format 3, integer context model) does not depend on any of it; the record is kept there for diagnosis.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os

from shared_data import arith


@functools.lru_cache(maxsize=1)
def _openblas():
    """NumPy's bundled OpenBLAS (ILP64 symbols with the ``64_`` suffix), or None if it cannot be found."""
    import numpy
    libdir = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libdir, "libopenblas*.so*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("64_", ""):
            if hasattr(lib, f"openblas_get_corename{suffix}"):
                return lib, suffix
    return None


def blas_core() -> str:
    """OpenBLAS's kernel family for this process (``Haswell``, ``SkylakeX``, ``Prescott`` ...)."""
    ob = _openblas()
    if ob is None:
        return "unknown"
    lib, sfx = ob
    f = getattr(lib, f"openblas_get_corename{sfx}")
    f.restype = ctypes.c_char_p
    return (f() or b"unknown").decode("ascii", "replace")


def blas_threads() -> int:
    ob = _openblas()
    if ob is None:
        return 0
    lib, sfx = ob
    f = getattr(lib, f"openblas_get_num_threads{sfx}")
    f.restype = ctypes.c_int
    return int(f())


def set_blas_threads(n: int) -> None:
    ob = _openblas()
    if ob is not None and n >= 1:
        lib, sfx = ob
        getattr(lib, f"openblas_set_num_threads{sfx}")(ctypes.c_int(int(n)))


def tf_threads() -> int:
    import tensorflow as tf
    return int(tf.config.threading.get_intra_op_parallelism_threads())


def here(path: str) -> dict[str, str]:
    """This process's configuration; ``path`` is ``float`` or ``integer`` (which context model codes)."""
    import constriction
    import tensorflow as tf
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip() or "1"  # TF 2.14 on x86 Linux: on by default
    return arith.describe(cpm_path=path, tf=tf.__version__, tf_threads=tf_threads(), tf_onednn=onednn,
                          blas_core=blas_core(), blas_threads=blas_threads(),
                          constriction=getattr(constriction, "__version__", "0.5.0"))


def _recorded(encoded: dict[str, str], key: str) -> int | None:
    try:
        n = int(encoded[key])
    except (KeyError, ValueError):
        return None
    return n if n > 0 else None


def decode_threads(encoded: dict[str, str]) -> int:
    """TF's thread count for decoding a file with record ``encoded``: the shared policy with the recorded
    count as the file's (``LIC_THREADS`` still wins; :func:`shared_data.threads.count`)."""
    return arith.threads(encoded=_recorded(encoded, "tf_threads"))


def reproduce(encoded: dict[str, str], n_tf: int | None = None) -> None:
    """Set what can be set in-process to the encoder's values (``LIC_THREADS`` still wins, arith.threads):
    TF intra/inter-op threads (``n_tf``, default :func:`decode_threads`; only before TF's runtime starts)
    and OpenBLAS's thread count."""
    from .tfsetup import limit_threads
    limit_threads(decode_threads(encoded) if n_tf is None else n_tf)
    n_blas = _recorded(encoded, "blas_threads")
    if n_blas:
        set_blas_threads(arith.threads(encoded=n_blas))
