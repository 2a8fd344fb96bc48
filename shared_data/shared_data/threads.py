"""The one thread-limit policy of the project (CLIs, benchmarks, training scripts all call :func:`limit`).

:func:`count` decides: ``--threads`` / an explicit ``n``, else ``$LIC_THREADS``, else the count a file recorded
(``encoded``), else ``min(default, cores)``. :func:`limit` applies it: it sets the variables the libraries read
at start-up (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``TF_NUM_INTRAOP_THREADS``,
``TF_NUM_INTEROP_THREADS``) when they are unset, and configures torch and TensorFlow if this process has already
imported them (this module imports neither). The result only changes speed: every entropy-coded quantity in the
project is computed exactly (integer paths), so files decode identically under any thread count.
"""

from __future__ import annotations

import os
import sys

ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
_SET_BY_LIMIT = (*ENV_VARS, "TF_NUM_INTEROP_THREADS")
#: the values those variables had before the first :func:`limit` (None: not yet called)
_USER_ENV: dict[str, str | None] | None = None


def user_env(name: str) -> str | None:
    """``$name`` as the user set it: for a variable :func:`limit` fills in, its value before the first call
    (so a file's arithmetic record, :func:`shared_data.arith.describe`, names what the user chose, not the
    policy's defaults; the thread count itself is recorded separately by each codec)."""
    if _USER_ENV is not None and name in _USER_ENV:
        return _USER_ENV[name]
    return os.environ.get(name)


def snapshot_user_env() -> None:
    """Record the thread variables as the user set them now, if :func:`limit` has not yet (call before
    anything that edits ``os.environ``: a Dask ``LocalCluster``'s nannies write ``OMP_NUM_THREADS=1`` ...
    (``distributed.nanny.pre-spawn-environ``) into the parent's environment at every worker (re)start)."""
    global _USER_ENV
    if _USER_ENV is None:
        _USER_ENV = {v: os.environ.get(v) for v in _SET_BY_LIMIT}


def count(n: int | None = None, default: int = 2, encoded: int | None = None) -> int:
    """The thread count: ``n`` if given, else ``$LIC_THREADS``, else ``encoded`` (what a file recorded), else
    ``min(default, cores)``. ``ValueError`` for a non-positive ``n`` / ``LIC_THREADS``."""
    if n is not None:
        if int(n) < 1:
            raise ValueError(f"thread count must be a positive integer, got {n}")
        return int(n)
    env = os.environ.get("LIC_THREADS", "").strip()
    if env:
        try:
            v = int(env)
        except ValueError:
            v = 0
        if v < 1:
            raise ValueError(f"LIC_THREADS={env!r} is not a positive integer")
        return v
    if encoded is not None and encoded >= 1:
        return int(encoded)
    return max(1, min(default, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def limit(n: int | None = None, default: int = 2, encoded: int | None = None, inter: int | None = None) -> int:
    """Apply :func:`count` to this process and return it. TensorFlow's inter-op pool gets ``inter`` (default:
    the same count); a TensorFlow runtime that has already started keeps its pools (TF cannot change them)."""
    global _USER_ENV
    k = count(n, default, encoded)
    inter = k if inter is None else inter
    if _USER_ENV is None:
        _USER_ENV = {v: os.environ.get(v) for v in _SET_BY_LIMIT}
    for var in ENV_VARS:
        if n is not None or not os.environ.get(var):
            os.environ[var] = str(k)
    if n is not None or not os.environ.get("TF_NUM_INTEROP_THREADS"):
        os.environ["TF_NUM_INTEROP_THREADS"] = str(inter)
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(k)
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "config"):
        try:
            tf.config.threading.set_intra_op_parallelism_threads(k)
            tf.config.threading.set_inter_op_parallelism_threads(inter)
        except RuntimeError:  # the runtime has started; its pools stay as they are
            pass
    return k
