"""TensorFlow's thread pools under the project's one policy, :func:`shared_data.threads.limit` (``--threads`` /
``LIC_THREADS``, else the count a file recorded, else min(2, cores)); decoded bytes do not depend on it."""

import os

from shared_data import threads


def limit_threads(n: int | None = None, encoded: int | None = None) -> int:
    """Import TensorFlow and apply :func:`shared_data.threads.limit` to it (intra- and inter-op pools; a no-op
    for the pools once TF's runtime has started). Returns the count."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf  # noqa: F401  (imported first, so that threads.limit configures its pools)
    return threads.limit(n, encoded=encoded)
