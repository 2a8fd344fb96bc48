"""Shared plumbing of the sacred experiments: import path, threads, default FileStorageObserver."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def add_observer(ex):
    """Every run gets a FileStorageObserver directory (config.json, run.json, cout.txt) under
    $IREC_SACRED_DIR (default irec_tf/runs/sacred/<experiment>), unless --unobserved is given."""
    from sacred.observers import FileStorageObserver

    base = Path(os.environ.get("IREC_SACRED_DIR", ROOT / "runs" / "sacred")) / ex.path
    ex.observers.append(FileStorageObserver(str(base)))


def limit_threads(n: int = 2):
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialized (an experiment run in-process after other TF work)
        pass
