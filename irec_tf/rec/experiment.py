"""Shared plumbing of the sacred experiments in ``examples/`` (the original's entry points): the default
FileStorageObserver and the thread policy."""

from __future__ import annotations

import os
from pathlib import Path

#: the sub-project folder (``irec_tf/``); experiment outputs default to ``runs/`` below it
ROOT = Path(__file__).resolve().parent.parent


def add_observer(ex) -> None:
    """Every run gets a FileStorageObserver directory (config.json, run.json, cout.txt) under
    $IREC_SACRED_DIR (default irec_tf/runs/sacred/<experiment>), unless --unobserved is given."""
    from sacred.observers import FileStorageObserver

    base = Path(os.environ.get("IREC_SACRED_DIR", ROOT / "runs" / "sacred")) / ex.path
    ex.observers.append(FileStorageObserver(str(base)))


def limit_threads(n: int | None = None) -> int:
    """The project's thread policy (:func:`shared_data.threads.limit`: ``n``, else $LIC_THREADS, else
    min(2, cores)) for TF's intra-op pool, inter-op 1; a TF runtime already started keeps its pools."""
    import tensorflow as tf  # noqa: F401 - imported first, so that limit() configures its pools

    from shared_data import threads

    return threads.limit(n, default=2, inter=1)
