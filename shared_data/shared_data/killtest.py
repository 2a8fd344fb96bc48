"""Helpers for the SIGKILL-resume tests of every sub-project (issue 17, "training survives SIGKILL").

:func:`run_until_then_kill` starts a training command in its own process group, waits until a condition on
the files it writes holds (a checkpoint exists), then kills the whole group with SIGKILL (no handler, no
``finally``, no flush: what a power cut or the OOM killer does to the process). :func:`run` runs the resume
command to its end. :data:`KILL_IN_CALL` is a Python prelude for a driver script that SIGKILLs the process
from inside a named function (e.g. half-way through a checkpoint write), so a test can check that a save
interrupted at its worst moment never becomes the latest checkpoint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class TrainingProcessError(AssertionError):
    """The training process did not do what the test waited for (exited early, timed out, failed)."""


def _env(extra: dict | None) -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra or {})
    return env


def run_until_then_kill(cmd: list[str], cwd, ready, timeout: float = 180.0, env: dict | None = None,
                        log: str | os.PathLike | None = None, poll: float = 0.02) -> str:
    """Run ``cmd``; as soon as ``ready()`` is true, SIGKILL its process group. Returns the output so far.

    Raises :class:`TrainingProcessError` (with the output) if the process exits before ``ready()`` or
    ``timeout`` seconds pass."""
    # The default log lives in the temp dir, never in the (repository) working directory.
    log = Path(log) if log else Path(tempfile.gettempdir()) / f"killtest-{os.getpid()}-{time.time_ns()}.log"
    with open(log, "wb") as out:
        p = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=_env(env),
                             start_new_session=True)
        t0 = time.time()
        try:
            while True:
                if ready():
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(timeout=30)
                    break
                if p.poll() is not None:
                    raise TrainingProcessError(f"{cmd[:3]}... exited with {p.returncode} before the kill point:\n"
                                               + log.read_text(errors="replace")[-3000:])
                if time.time() - t0 > timeout:
                    raise TrainingProcessError(f"{cmd[:3]}... did not reach the kill point in {timeout:.0f} s:\n"
                                               + log.read_text(errors="replace")[-3000:])
                time.sleep(poll)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)
    if p.returncode != -signal.SIGKILL:
        raise TrainingProcessError(f"expected death by SIGKILL, got exit status {p.returncode}")
    return log.read_text(errors="replace")


def run(cmd: list[str], cwd, timeout: float = 300.0, env: dict | None = None, expect_rc: int | None = 0) -> str:
    """Run ``cmd`` to its end; returns stdout+stderr; raises :class:`TrainingProcessError` on another rc."""
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env(env),
                       timeout=timeout)
    text = r.stdout.decode(errors="replace")
    if expect_rc is not None and r.returncode != expect_rc:
        raise TrainingProcessError(f"{cmd[:3]}... exited with {r.returncode} (expected {expect_rc}):\n{text[-3000:]}")
    return text


# A driver prelude: ``KILL_IN_CALL.format(module=..., attr=..., after=N, mode=..., match=...)`` replaces
# ``module.attr`` by a wrapper that, on its N-th call (1-based) whose arguments' repr contains ``match``
# ("" = every call), SIGKILLs the process — mode "before": before
# calling the original (the write never starts), "half": (for a function whose first argument is the
# object to save and second a path) the original writes to a buffer and only the first half of the bytes
# reaches the path, then SIGKILL.
KILL_IN_CALL = '''
import importlib, io, os, signal
_m = importlib.import_module({module!r})
_orig = getattr(_m, {attr!r})
_n = [0]
def _killer(*a, **k):
    if {match!r} in repr(a):
        _n[0] += 1
    if _n[0] >= {after} and {match!r} in repr(a):
        if {mode!r} == "half":
            buf = io.BytesIO()
            _orig(a[0], buf, *a[2:], **k)
            data = buf.getvalue()
            if hasattr(a[1], "write"):
                a[1].write(data[: len(data) // 2]); a[1].flush()
            else:
                with open(a[1], "wb") as f:
                    f.write(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    return _orig(*a, **k)
setattr(_m, {attr!r}, _killer)
'''


def driver(prelude: str, script: str | os.PathLike, argv: list[str]) -> list[str]:
    """A ``python -c`` command that runs ``prelude`` and then ``script`` with ``argv`` as ``__main__``."""
    code = (prelude + "\nimport runpy, sys\nsys.argv = " + repr([str(script), *map(str, argv)])
            + f"\nsys.path.insert(0, {str(Path(script).resolve().parent)!r})"
            + f"\nrunpy.run_path({str(script)!r}, run_name='__main__')\n")
    return [sys.executable, "-c", code]
