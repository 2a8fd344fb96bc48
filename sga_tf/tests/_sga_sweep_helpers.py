"""Per-task function for test_dask_sweep.py (module-level, so Dask workers import it by name): the real SGA
sweep task (:func:`sga.sweep.inference_task`) that SIGKILLs its worker process once, at one task key."""

import os
import signal


def killing_inference_task(marker: str, kill_key: str, *args) -> list:
    """Kill this process the first time the task ``kill_key`` starts (``marker`` records the dead pid), after
    the worker has already finished other tasks; otherwise the real task."""
    from sga.sweep import inference_task

    key = args[-1]
    if key == kill_key:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            fd = None
        if fd is not None:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)
    return inference_task(*args)
