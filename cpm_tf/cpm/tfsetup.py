"""Thread limits: ``shared_data.arith.threads`` is the one policy (LIC_THREADS, else the file's, else min(2, cores))."""

import os


def limit_threads(n: int | None = None) -> None:
    """Set TF's intra/inter-op thread counts (a no-op once TF's runtime has started)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from shared_data import arith
    n = arith.threads() if n is None else n
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        pass  # already initialised
