"""The evaluation engine: a picklable per-task function + a task list → one sorted ``measures.csv``,
in-process or on Dask (the engine ``shared_data prepare`` uses: :mod:`shared_data.pipeline`'s executor and
scheduler specs).

    rows = run_sweep(fn, tasks, work, config, scheduler="local:2").rows
    sweep_to_measures(fn, tasks, "runs/x/measures.csv", config, scheduler=None)   # in-process

* ``fn(*task.args)`` runs on a worker and returns one row (a dict of ``measures.csv`` columns) or a list of
  rows. It must be importable by the workers (a module-level function of an installed package, not a lambda
  or a closure), and its arguments should be small (paths, names, numbers): the workers read the images.
* Each finished task is stored atomically by the driver as ``WORK/<sha256(key)>.json`` (key, fingerprint,
  status, rows or error). The fingerprint is SHA-256 of the function's name, the run ``config`` (every
  setting that changes a result: model fingerprint, codec settings, library versions …) and the task's own
  ``fingerprint`` (e.g. the input file's size and mtime), so a rerun — after a killed driver or a finished
  run — never recomputes a task with the same key and fingerprint, and a changed setting recomputes.
* A killed worker: Dask reschedules its tasks on the other workers (its nanny restarts it); after
  ``distributed.scheduler.allowed-failures`` deaths the task is recorded as failed. A task that raises is
  recorded with its error; :func:`sweep_to_measures` then writes no ``measures.csv`` and raises
  :class:`SweepError` naming every failed task (a rerun retries only those).
* Rows are sorted by ``sort_by`` columns, then by task order, so the file does not depend on the executor,
  the number of workers or the completion order: its values equal the in-process run's, except the wall
  times ``enc_s`` / ``dec_s``, which are measured wherever the task ran.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import numbers
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared_data.errors import LicError
from shared_data.imageio import atomic_write_bytes
from shared_data.pipeline import Executor, PrepareError, Scheduler, open_scheduler

from .measures_csv import write_measures

#: columns that are wall times: they differ between runs and executors (everything else is identical)
TIMING_COLUMNS = ("enc_s", "dec_s")


class SweepError(LicError, RuntimeError):
    """A scheduler that cannot be opened, or tasks that failed; the one-line message names them."""


@dataclass(frozen=True)
class SweepTask:
    """One unit of work: ``key`` is stable and unique within a sweep (e.g. ``"kodim01.png|jpeg|q=50"``),
    ``args`` are the picklable arguments of the per-task function, ``fingerprint`` changes when the task's
    input changes."""

    key: str
    args: tuple = ()
    fingerprint: str = ""


@dataclass
class SweepResult:
    rows: list[dict]                                   # every done task's rows, sorted
    total: int = 0
    resumed: int = 0                                   # finished in an earlier run, not recomputed
    computed: int = 0                                  # done in this run
    failed: dict[str, str] = field(default_factory=dict)  # key -> error
    executor: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.total} tasks: {self.resumed} already done, {self.computed} computed, "
                f"{len(self.failed)} failed [{self.executor}] in {self.seconds:.1f} s")


def fn_name(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def task_fingerprint(fn: Callable, config: Mapping | None, task: SweepTask) -> str:
    """SHA-256 over the function's name, the run config and the task (its key, args' repr, fingerprint)."""
    blob = json.dumps({"fn": fn_name(fn), "config": config or {}, "key": task.key, "args": repr(task.args),
                       "task": task.fingerprint}, sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


def record_path(work: Path, key: str) -> Path:
    return Path(work) / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def _plain(v: Any) -> Any:
    """NumPy scalars → int/float/str so rows JSON-round-trip exactly (floats by repr)."""
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    return str(v)


def _rows(out: Any, key: str) -> list[dict]:
    rows = [out] if isinstance(out, Mapping) else list(out or [])
    res = []
    for r in rows:
        if not isinstance(r, Mapping):
            raise TypeError(f"task {key}: the per-task function must return a dict or a list of dicts, got "
                            f"{type(r).__name__}")
        res.append({str(k): _plain(v) for k, v in r.items()})
    return res


def _call(fn: Callable, task: SweepTask, fp: str) -> dict:
    """Runs on the worker: never raises, so one bad task cannot stop the sweep."""
    t0 = time.perf_counter()
    try:
        rec = {"status": "done", "rows": _rows(fn(*task.args), task.key), "error": ""}
    except Exception as e:  # noqa: BLE001 - recorded, reported at the end
        rec = {"status": "failed", "rows": [],
               "error": " ".join(f"{type(e).__name__}: {e}".split())}
    rec.update(key=task.key, fingerprint=fp, seconds=round(time.perf_counter() - t0, 4))
    return rec


def _worker_died(args: tuple, exc: BaseException) -> dict:
    task, fp = args[1], args[2]
    return {"key": task.key, "fingerprint": fp, "status": "failed", "rows": [],
            "error": f"worker died: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", "seconds": 0.0}


def _load(path: Path) -> dict | None:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def _sort_value(v: Any) -> tuple:
    if v is None:
        return (0, 0.0, "")
    if isinstance(v, int | float) and not (isinstance(v, float) and math.isnan(v)):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def sort_rows(rows_by_task: Sequence[list[dict]], sort_by: Sequence[str] = ("img_name",)) -> list[dict]:
    """Rows sorted by the ``sort_by`` columns, ties by (task order, row order): a total, executor-free order."""
    flat = [(i, j, r) for i, rows in enumerate(rows_by_task) for j, r in enumerate(rows)]
    flat.sort(key=lambda t: (tuple(_sort_value(t[2].get(c)) for c in sort_by), t[0], t[1]))
    return [r for _, _, r in flat]


def run_sweep(fn: Callable, tasks: Iterable[SweepTask], work: str | Path, config: Mapping | None = None,
              scheduler: Any = None, *, progress: bool = True, desc: str = "sweep", connect_timeout: float = 20.0,
              slurm: dict | None = None, jobs: int = 1, job_wait: float = 600.0, window: int | None = None,
              sort_by: Sequence[str] = ("img_name",)) -> SweepResult:
    """Run every task not already finished in ``work`` (see the module docstring) and return all rows.

    ``scheduler``: ``None`` (in-process), ``"local:N"``, ``"slurm"``, an address, or a ``distributed.Client``
    (see :func:`shared_data.pipeline.open_scheduler`). The scheduler is opened before anything is written,
    so a bad one leaves no file behind."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    tasks = list(tasks)
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[:3]
        raise SweepError(f"task keys must be unique; repeated: {', '.join(dup)}")
    try:
        sched = open_scheduler(scheduler, connect_timeout, slurm, jobs, job_wait)
    except PrepareError as e:
        raise SweepError(str(e)) from None
    work = Path(work)
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        sched.close()
        raise SweepError(f"{work}: cannot create the work folder ({e.strerror or e})") from None
    fps = [task_fingerprint(fn, config, t) for t in tasks]
    records: dict[str, dict] = {}
    todo = []
    for p in work.glob(".*.tmp"):  # a temp file of a driver killed mid-write
        p.unlink(missing_ok=True)
    for t, fp in zip(tasks, fps):
        rec = _load(record_path(work, t.key))
        if rec and rec.get("key") == t.key and rec.get("fingerprint") == fp and rec.get("status") == "done":
            records[t.key] = rec
        else:
            todo.append((fn, t, fp))
    res = SweepResult([], total=len(tasks), resumed=len(records))
    ex = Executor(0 if sched.client is None else None, sched.client)
    res.executor = sched.kind
    try:
        with tqdm(total=len(todo), desc=desc, unit="task", disable=not progress or not todo,
                  dynamic_ncols=True) as bar:
            for rec in ex.map_unordered(_call, todo, window, on_error=_worker_died):
                atomic_write_bytes(record_path(work, rec["key"]),
                                   (json.dumps(rec, sort_keys=True) + "\n").encode())
                records[rec["key"]] = rec
                if rec["status"] == "done":
                    res.computed += 1
                else:
                    res.failed[rec["key"]] = rec["error"]
                bar.update(1)
    finally:
        ex.close()
        sched.close()
    res.rows = sort_rows([records[k]["rows"] if records[k]["status"] == "done" else [] for k in keys], sort_by)
    res.failed = {k: res.failed[k] for k in keys if k in res.failed}
    res.seconds = time.perf_counter() - t0
    return res


def failure_message(res: SweepResult, work: Path) -> str:
    items = list(res.failed.items())
    shown = "; ".join(f"{k}: {e}" for k, e in items[:3]) + (f"; … {len(items) - 3} more" if len(items) > 3 else "")
    return (f"{len(items)} of {res.total} tasks failed ({shown}); records in {work}, "
            "a rerun retries only the failed tasks")


def default_work(out_csv: str | Path) -> Path:
    """The work folder beside ``OUT/measures.csv``: ``OUT/.measures.csv.work``."""
    out_csv = Path(out_csv)
    return out_csv.with_name(f".{out_csv.name}.work")


def sweep_to_measures(fn: Callable, tasks: Iterable[SweepTask], out_csv: str | Path, config: Mapping | None = None,
                      scheduler: Any = None, *, work: str | Path | None = None, extra_columns: Iterable[str] = (),
                      sort_by: Sequence[str] = ("img_name",), **kw) -> SweepResult:
    """:func:`run_sweep`, then one ``measures.csv`` written atomically with shared_eval's writer. If any task
    failed, nothing is written at ``out_csv`` and :class:`SweepError` names the failed tasks."""
    work = Path(work) if work is not None else default_work(out_csv)
    res = run_sweep(fn, tasks, work, config, scheduler, sort_by=sort_by, **kw)
    if res.failed:
        raise SweepError(failure_message(res, work))
    write_measures(out_csv, res.rows, extra_columns)
    return res


# --- the command-line flags every evaluation script shares ------------------------------------------------

def add_scheduler_arguments(ap: argparse.ArgumentParser) -> None:
    """``--scheduler`` (+ ``--scheduler-timeout``, the SLURM job options, ``--no-progress``) for any
    evaluation CLI; pass the parsed namespace to :func:`scheduler_kwargs`."""
    g = ap.add_argument_group("execution (shared_eval.sweep)")
    g.add_argument("--scheduler", default=None,
                   help="where tasks run: in-process (default), local:N (a Dask LocalCluster of N worker "
                        "processes), a Dask scheduler address (tcp://host:8786), or slurm (dask-jobqueue)")
    g.add_argument("--scheduler-timeout", type=float, default=20.0,
                   help="seconds to wait for a scheduler address to answer (default 20)")
    g.add_argument("--jobs", type=int, default=1, help="--scheduler slurm: number of SLURM jobs")
    g.add_argument("--job-cores", type=int, default=4, help="--scheduler slurm: worker processes per job")
    g.add_argument("--job-memory", default="8GB", help="--scheduler slurm: memory per job")
    g.add_argument("--job-walltime", default="04:00:00", help="--scheduler slurm: walltime per job")
    g.add_argument("--queue", default=None, help="--scheduler slurm: SLURM partition")
    g.add_argument("--account", default=None, help="--scheduler slurm: SLURM account (-A)")
    g.add_argument("--job-extra", action="append", default=[],
                   help="--scheduler slurm: extra #SBATCH option, e.g. --job-extra=--gres=gpu:1 (repeatable)")
    g.add_argument("--job-python", default=None, help="--scheduler slurm: the workers' Python (default: this one)")
    g.add_argument("--job-interface", default=None, help="--scheduler slurm: network interface, e.g. ib0")
    g.add_argument("--job-wait", type=float, default=600.0, help="--scheduler slurm: seconds to wait for a worker")
    g.add_argument("--job-script", action="store_true",
                   help="--scheduler slurm: print the SLURM job script that would be submitted, and exit")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def scheduler_kwargs(a: argparse.Namespace) -> dict:
    """:func:`run_sweep` keyword arguments from :func:`add_scheduler_arguments`' flags."""
    return {"scheduler": a.scheduler, "connect_timeout": a.scheduler_timeout, "jobs": a.jobs,
            "job_wait": a.job_wait, "progress": not a.no_progress,
            "slurm": {"cores": a.job_cores, "memory": a.job_memory, "walltime": a.job_walltime, "queue": a.queue,
                      "account": a.account, "job_extra": a.job_extra, "python": a.job_python,
                      "interface": a.job_interface}}


def slurm_job_script(a: argparse.Namespace) -> str:
    """The job script ``--scheduler slurm`` would submit (for ``--job-script``)."""
    from shared_data.pipeline import slurm_job_script as job_script

    try:
        return job_script(**scheduler_kwargs(a)["slurm"])
    except PrepareError as e:
        raise SweepError(str(e).replace("--cluster slurm", "--scheduler slurm")) from None


__all__ = ["SweepTask", "SweepResult", "SweepError", "Scheduler", "run_sweep", "sweep_to_measures", "sort_rows",
           "add_scheduler_arguments", "scheduler_kwargs", "slurm_job_script", "TIMING_COLUMNS", "default_work"]
