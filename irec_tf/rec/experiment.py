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


def add_strategy_hook(ex) -> None:
    """(issue 14) The training experiments' config entries ``strategy`` (default | mirrored | multiworker) and
    ``cpu_replicas`` are checked when the config is made — before the observer creates its run folder and before
    TensorFlow starts: a bad name, ``cpu_replicas`` without ``strategy=mirrored`` or a malformed ``$TF_CONFIG``
    exits with status 1 and one line. A non-chief worker of a multi-worker run keeps no FileStorageObserver
    (the chief's run folder is the run's record)."""
    import sys

    @ex.config_hook
    def _check_strategy(config, command_name, logger):
        from shared_data import tfdist
        from shared_data.errors import ConfigError

        from .distribute import check

        name = config.get("strategy", "default")
        try:
            check(name, config.get("cpu_replicas") or None, what="strategy")
            if name == "multiworker" and config.get("max_seconds"):
                raise ConfigError("max_seconds with strategy multiworker is not supported: the workers would stop "
                                  "at different steps (use iters)")
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(1)
        if name == "multiworker" and not tfdist.is_chief():
            from sacred.observers import FileStorageObserver

            ex.observers[:] = [o for o in ex.observers if not isinstance(o, FileStorageObserver)]
        return {}
