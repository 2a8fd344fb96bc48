"""Per-task functions for test_sweep.py (module-level, so Dask workers can import them by name)."""

import math
import os
import signal
import time
from pathlib import Path


def _log(log: str, key: str) -> None:
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"{key} {os.getpid()}\n")
        f.flush()


def _kill_once(marker: str) -> None:
    """SIGKILL this process the first time (the marker file records which process died)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def logged_task(log: str, key: str, value: float, kill_key: str = "", marker: str = "", fail_key: str = "",
                scale: float = 1.0, sleep: float = 0.0) -> dict:
    """A deterministic row; appends ``key`` to ``log`` on every call; kills its process once at ``kill_key``;
    raises at ``fail_key`` or at the key in ``$SWEEP_TEST_FAIL``."""
    _log(log, key)
    if key == kill_key:
        _kill_once(marker)
    time.sleep(sleep)
    if key == fail_key or key == os.environ.get("SWEEP_TEST_FAIL"):
        raise ValueError(f"cannot evaluate {key}")
    return {"img_name": key, "bpp": math.sqrt(value) * scale, "psnr": 10 * math.log10(1 + value)}


def killing_baseline_task(log: str, marker: str, kill_key: str, key: str, *args) -> dict:
    """:func:`shared_eval.baselines.baseline_task` that kills its worker once, at ``kill_key``."""
    from shared_eval.baselines import baseline_task  # here, so the driver subprocesses start fast

    _log(log, key)
    if key == kill_key:
        _kill_once(marker)
    return baseline_task(*args)


if __name__ == "__main__":  # the driver of test_killed_driver_resumes (run in a subprocess)
    import json
    import sys

    from _sweep_helpers import logged_task as fn  # by module name, so Dask workers import it too

    from shared_eval.sweep import SweepTask, sweep_to_measures

    a = json.loads(sys.argv[1])
    tasks = [SweepTask(f"t{i:02d}", (a["log"], f"t{i:02d}", float(i), a["kill_key"], a["marker"], "", 1.0,
                                     a.get("sleep", 0.0))) for i in range(a["n"])]
    res = sweep_to_measures(fn, tasks, Path(a["out"]), {"scale": 1}, a.get("scheduler"), progress=False)
    print(res.line())
