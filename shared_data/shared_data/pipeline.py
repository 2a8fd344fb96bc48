"""The one execution path of every recipe: tasks → (process pool | Dask) → manifest.

* A recipe lists :class:`Task` s (one per input file, or per shard); :func:`run` executes the unfinished ones
  in a ``concurrent.futures`` process pool (default), inline (``workers=0``), or on a Dask distributed
  cluster (``scheduler="tcp://host:port"`` or a ``distributed.Client``). The worker function and the tasks
  are the same in all three, and every random choice a recipe makes is seeded from (seed, task key), so the
  output does not depend on the executor, the number of workers or the order of completion.
* Each finished task appends one JSON line to ``OUT/manifest.jsonl``: its status (``done`` / ``skipped`` /
  ``failed``), reason, notes and every output's relative path, size and sha256. A re-run skips tasks whose
  latest record is ``done`` or ``skipped`` with the same input fingerprint and whose outputs are still there
  with the recorded size and sha256 (so a corrupted output is redone); ``failed`` tasks (unexpected errors) are
  retried. Tasks of kind ``ignored`` (hidden files, OS metadata, duplicates) are recorded as ``skipped`` with
  their reason. A redone task's old outputs that nothing claims any more are deleted, as are derived outputs
  (shards) a re-run no longer lists (status ``removed``). Outputs are written with temp file + rename, so a kill
  leaves no half-written file; a half-written last manifest line is ignored.
* ``OUT/prepare.json`` records the recipe and its options; re-running with different options into the same
  folder is refused.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import json
import os
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .errors import LicError
from .imageio import atomic_write_bytes
from .loading import SkipInput

MANIFEST = "manifest.jsonl"
CONFIG = "prepare.json"


class PrepareError(LicError, RuntimeError):
    """A whole run cannot go on (bad --src, conflicting --out, unknown scheduler); the message says why."""


@dataclass(frozen=True)
class Task:
    key: str                      # unique within a run (usually the input's path relative to --src)
    kind: str = "image"           # recipe-defined ("image", "shard", "batch", ...)
    src: str = ""                 # absolute input path, if any
    fingerprint: str = ""         # changes when the input changes (size, member list, ...)
    params: tuple = ()            # extra recipe-defined parameters (hashable)


@dataclass
class Outcome:
    key: str
    status: str                   # "done" | "skipped" | "failed"
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)  # {"path", "bytes", "sha256", ...}
    fingerprint: str = ""
    kind: str = "image"
    seconds: float = 0.0


def task_seed(seed: int, key: str) -> int:
    """A 64-bit seed for one task, independent of worker, order and executor."""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{key}".encode()).digest()[:8], "little")


def write_output(out: Path, rel: str, data: bytes, **extra: Any) -> dict[str, Any]:
    """Write ``data`` atomically to ``out/rel`` and return its manifest entry."""
    atomic_write_bytes(out / rel, data)
    return {"path": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- manifest ---------------------------------------------------------------------------------------------

class Manifest:
    """Append-only JSON-lines record of outcomes; the latest line per key wins."""

    def __init__(self, out: Path):
        self.path = Path(out) / MANIFEST
        self.records: dict[str, dict[str, Any]] = {}
        self._owners: dict[str, set[str]] | None = None   # output path -> keys, built on first use
        if self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut short by a kill
                    if isinstance(rec, dict) and "key" in rec:
                        self.records[rec["key"]] = rec

    def finished(self, task: Task, out: Path) -> bool:
        """The task's latest record is done/skipped for this input fingerprint and every output it lists is
        there with the recorded size *and sha256* (a corrupted output of the right size is redone)."""
        rec = self.records.get(task.key)
        if not rec or rec.get("status") not in ("done", "skipped") or rec.get("fingerprint") != task.fingerprint:
            return False
        for o in rec.get("outputs", []):
            p = out / o["path"]
            if not p.is_file() or p.stat().st_size != o["bytes"]:
                return False
            if o.get("sha256") and file_sha256(p) != o["sha256"]:
                return False
        return True

    def owners(self, rel: str) -> set[str]:
        """Keys whose latest record lists output ``rel``."""
        if self._owners is None:
            self._owners = {}
            for k, r in self.records.items():
                for o in r.get("outputs", []):
                    self._owners.setdefault(o.get("path"), set()).add(k)
        return self._owners.get(rel, set())

    def append(self, outcome: Outcome) -> None:
        rec = asdict(outcome)
        if self._owners is not None:
            for o in self.records.get(outcome.key, {}).get("outputs", []):
                self._owners.get(o.get("path"), set()).discard(outcome.key)
            for o in rec["outputs"]:
                self._owners.setdefault(o.get("path"), set()).add(outcome.key)
        self.records[outcome.key] = rec
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
            f.flush()


# --- execution --------------------------------------------------------------------------------------------

def _safe_process(recipe: Any, task: Task, out: str, opts: dict) -> Outcome:
    """Runs in the worker: never raises, so one bad input cannot stop the run."""
    t0 = time.perf_counter()
    try:
        if task.kind == "ignored":  # listed by the recipe but not processed: hidden, OS metadata, duplicate
            raise SkipInput(*task.params)
        outcome = recipe.process(task, Path(out), opts)
    except SkipInput as e:
        outcome = Outcome(task.key, "skipped", e.reason, [e.detail] if e.detail else [])
    except Exception as e:  # noqa: BLE001 - collected into the manifest, never fatal
        tb = traceback.format_exception_only(type(e), e)[-1].strip()
        outcome = Outcome(task.key, "failed", f"error-{type(e).__name__}", [tb])
    outcome.fingerprint = task.fingerprint
    outcome.kind = task.kind
    outcome.seconds = round(time.perf_counter() - t0, 4)
    return outcome


def _worker_died(args: tuple, exc: BaseException) -> Outcome:
    task = args[1]
    return Outcome(task.key, "failed", f"error-{type(exc).__name__}", [f"worker died: {exc}"],
                   fingerprint=task.fingerprint, kind=task.kind)


class _Executor:
    """submit/as_completed over a process pool, Dask, or inline execution."""

    def __init__(self, workers: int | None, scheduler: Any = None, connect_timeout: float = 20.0):
        self.kind = "inline"
        self._pool = None
        self._client = None
        self._own_client = False
        if scheduler is not None:
            try:
                import distributed
            except ImportError:
                raise PrepareError("--scheduler needs Dask distributed: pip install dask distributed") from None
            self._distributed = distributed
            if isinstance(scheduler, str):
                try:
                    self._client = distributed.Client(scheduler, timeout=f"{connect_timeout}s")
                except (OSError, TimeoutError) as e:
                    raise PrepareError(f"cannot connect to the Dask scheduler {scheduler}: {e}") from None
                self._own_client = True
            else:
                self._client = scheduler
            self.kind = "dask"
        elif workers is None or workers > 0:
            n = workers or max(1, os.cpu_count() or 1)
            self._n = n
            if n > 1:
                self._pool = cf.ProcessPoolExecutor(max_workers=n)
                self.kind = f"process-pool({n})"

    def map_unordered(self, fn, items, window: int | None = None, on_error=None):
        """Yield ``fn(*args)`` for each args in ``items`` as they finish, with at most ``window`` in flight
        (so a million-image run does not hold a million futures). When a worker itself dies (killed, out of
        memory), ``on_error(args, exc)`` supplies the result instead of the run stopping."""
        items = iter(items)

        def result(fut, args):
            try:
                return fut.result()
            except Exception as e:  # noqa: BLE001 - e.g. BrokenProcessPool, KilledWorker
                if on_error is None:
                    raise
                return on_error(args, e)

        if self.kind == "inline":
            for args in items:
                yield fn(*args)
            return
        window = window or 64 * max(1, os.cpu_count() or 1)
        if self.kind == "dask":
            submitted = {}
            for args in itertools.islice(items, window):
                submitted[self._client.submit(fn, *args, pure=False)] = args
            ac = self._distributed.as_completed(list(submitted))
            for fut in ac:
                nxt = next(items, None)
                if nxt is not None:
                    f = self._client.submit(fn, *nxt, pure=False)
                    submitted[f] = nxt
                    ac.add(f)
                yield result(fut, submitted.pop(fut))
            return
        def submit(args):
            try:
                return self._pool.submit(fn, *args)
            except cf.process.BrokenProcessPool:  # a worker died earlier: start a fresh pool
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = cf.ProcessPoolExecutor(max_workers=self._n)
                return self._pool.submit(fn, *args)

        pending = {submit(args): args for args in itertools.islice(items, window)}
        while pending:
            finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                args = pending.pop(fut)
                out = result(fut, args)
                nxt = next(items, None)
                if nxt is not None:
                    pending[submit(nxt)] = nxt
                yield out

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()
        if self._own_client:
            self._client.close()


#: the executor other engines share (shared_eval.sweep runs evaluation tasks through it)
Executor = _Executor


def slurm_cluster_kwargs(cores: int = 4, memory: str = "8GB", walltime: str = "04:00:00", queue: str | None = None,
                         account: str | None = None, job_extra: tuple[str, ...] | list[str] = (),
                         python: str | None = None, interface: str | None = None) -> dict:
    """The keyword arguments :func:`slurm_cluster` gives dask-jobqueue's ``SLURMCluster``: each job runs
    ``cores`` single-threaded worker processes (the recipes are CPU-bound Python) sharing ``memory``;
    ``job_extra`` are extra ``#SBATCH`` options (e.g. ``--exclusive``); ``python`` is the workers'
    interpreter (default: this one, so the cluster's nodes must see the same path, e.g. a shared file
    system); ``interface`` the network interface workers and scheduler use (e.g. ``ib0``)."""
    kw = dict(cores=cores, processes=cores, memory=memory, walltime=walltime, queue=queue, account=account,
              job_extra_directives=list(job_extra), scheduler_options={"dashboard_address": None})
    if python:
        kw["python"] = python
    if interface:
        kw["interface"] = interface
    return kw


def slurm_cluster(cores: int = 4, memory: str = "8GB", walltime: str = "04:00:00", queue: str | None = None,
                  **more):
    """A dask-jobqueue ``SLURMCluster`` (see :func:`slurm_cluster_kwargs`). Not scaled yet: call
    ``cluster.scale(jobs=N)``."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise PrepareError("--cluster slurm needs dask-jobqueue: pip install dask-jobqueue") from None
    return SLURMCluster(**slurm_cluster_kwargs(cores, memory, walltime, queue, **more))


def slurm_job_script(cores: int = 4, memory: str = "8GB", walltime: str = "04:00:00", queue: str | None = None,
                     **more) -> str:
    """The job script :func:`slurm_cluster` would submit, from dask-jobqueue's ``SLURMJob`` alone: no cluster
    and no event loop is started (a cluster's loop must start within 10 s, which a loaded machine missed), and
    the scheduler address is a placeholder (``tcp://SCHEDULER:8786``; the real one exists only once a run starts)."""
    try:
        from dask_jobqueue.slurm import SLURMJob
    except ImportError:
        raise PrepareError("--cluster slurm needs dask-jobqueue: pip install dask-jobqueue") from None
    kw = slurm_cluster_kwargs(cores, memory, walltime, queue, **more)
    kw.pop("scheduler_options", None)
    return SLURMJob(scheduler="tcp://SCHEDULER:8786", name="dask-worker", **kw).job_script()


def _remove_stale_temps(out: Path) -> None:
    """Delete the hidden ``.NAME.XXXX.tmp`` files a killed run left (never visible under a final name)."""
    for p in out.rglob(".*.tmp"):
        if p.is_file():
            p.unlink(missing_ok=True)


def _outside(tasks: list[Task], out: Path) -> list[Task]:
    """Inputs inside ``out`` (an --out folder under --src) are this run's own outputs: recorded as skipped
    ``inside-out-folder`` instead of being prepared again on every rerun (a safety net for recipes whose
    ``tasks`` take no ``exclude``)."""
    root = os.path.realpath(out)
    res = []
    for t in tasks:
        if t.src and t.kind != "ignored" and os.path.realpath(t.src).startswith(root + os.sep):
            t = Task(t.key, "ignored", "", "ignored=inside-out-folder",
                     ("inside-out-folder", f"inside --out {out}: an output of this recipe, not an input"))
        res.append(t)
    return res


def _remove_replaced_outputs(out: Path, manifest: Manifest, outcome: Outcome) -> None:
    """A redone task's earlier outputs that it no longer writes (it was renamed, or is now skipped) and no
    other record claims are deleted, so the folder holds exactly what the manifest lists."""
    prev = manifest.records.get(outcome.key)
    if not prev:
        return
    now = {o["path"] for o in outcome.outputs}
    for o in prev.get("outputs", []):
        rel = o.get("path")
        if rel and rel not in now and not (manifest.owners(rel) - {outcome.key}):
            (out / rel).unlink(missing_ok=True)


def _remove_stale_derived(out: Path, manifest: Manifest, tasks: list[Task], summary: RunSummary,
                          base_kinds: set[str]) -> None:
    """Derived tasks (stage 2+, e.g. TFRecord shards) of an earlier run that this run no longer lists (fewer
    images, fewer shards, none at all): their outputs are deleted and each gets a ``removed`` record."""
    current = {t.key for t in tasks}
    kinds = {t.kind for t in tasks} or {r.get("kind") for r in manifest.records.values()} - base_kinds
    for key, rec in list(manifest.records.items()):
        if rec.get("kind") in kinds and key not in current and rec.get("status") != "removed":
            gone = Outcome(key, "removed", "no-longer-listed", [], [], rec.get("fingerprint", ""),
                           rec.get("kind", ""))
            _remove_replaced_outputs(out, manifest, gone)
            manifest.append(gone)
            summary.counts[("removed", "no-longer-listed")] += 1


def _check_config(out: Path, recipe_name: str, opts: dict) -> None:
    cfg = {"recipe": recipe_name, "options": opts}
    p = out / CONFIG
    if p.exists():
        try:
            old = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        if old is not None and old != cfg:
            raise PrepareError(f"{out} was prepared with different settings ({p}: {old}); "
                               f"use a new --out or delete that folder")
    else:
        atomic_write_bytes(p, (json.dumps(cfg, indent=2, sort_keys=True) + "\n").encode())


@dataclass
class RunSummary:
    total: int = 0
    already_done: int = 0
    counts: Counter = field(default_factory=Counter)   # (status, reason) -> n, this run only
    executor: str = ""

    def line(self) -> str:
        parts = [f"{n} {s}{'/' + r if r else ''}" for (s, r), n in sorted(self.counts.items())]
        return (f"{self.total} tasks, {self.already_done} already done; this run: "
                + (", ".join(parts) if parts else "nothing to do") + f" [{self.executor}]")


def run(recipe: Any, src: Path | None, out: Path, opts: dict, workers: int | None = None,
        scheduler: Any = None, progress: bool = True, connect_timeout: float = 20.0,
        window: int | None = None) -> RunSummary:
    """Prepare ``recipe`` from ``src`` into ``out``; see the module docstring."""
    out = Path(out)
    # fails on a bad --src before anything is written; recipes that take ``exclude`` never list --out's files
    import inspect
    takes_exclude = "exclude" in inspect.signature(recipe.tasks).parameters
    tasks = _outside(recipe.tasks(src, opts, exclude=out) if takes_exclude else recipe.tasks(src, opts), out)
    out.mkdir(parents=True, exist_ok=True)
    _check_config(out, recipe.name, opts)
    _remove_stale_temps(out)
    manifest = Manifest(out)
    summary = RunSummary()
    ex = _Executor(workers, scheduler, connect_timeout)
    summary.executor = ex.kind
    base_kinds = {t.kind for t in tasks} | {"image", "ignored"}  # stage 0's; later stages' tasks are derived
    try:
        stage = 0
        while tasks is not None:
            summary.total += len(tasks)
            todo = [t for t in tasks if not manifest.finished(t, out)]
            summary.already_done += len(tasks) - len(todo)
            desc = f"{recipe.name}" + (f" (stage {stage + 1})" if stage else "")
            bar = tqdm(total=len(todo), desc=desc, unit="task", disable=not progress or not todo,
                       dynamic_ncols=True)
            for outcome in ex.map_unordered(_safe_process, ((recipe, t, str(out), opts) for t in todo), window,
                                            on_error=_worker_died):
                _remove_replaced_outputs(out, manifest, outcome)
                manifest.append(outcome)
                summary.counts[(outcome.status, outcome.reason)] += 1
                bar.update(1)
            bar.close()
            if stage:
                _remove_stale_derived(out, manifest, tasks, summary, base_kinds)
            stage += 1
            tasks = recipe.next_tasks(out, manifest, opts, stage) if hasattr(recipe, "next_tasks") else None
    finally:
        ex.close()
    return summary


# --- scheduler specs (shared with shared_eval.sweep) ------------------------------------------------------

class Scheduler:
    """An opened ``--scheduler``: ``client`` is a ``distributed.Client`` (``None`` = in-process) and
    ``kind`` a short description; :meth:`close` shuts down whatever :func:`open_scheduler` started."""

    def __init__(self, client: Any = None, kind: str = "in-process", cluster: Any = None, own_client: bool = False):
        self.client, self.kind, self._cluster, self._own_client = client, kind, cluster, own_client

    def close(self) -> None:
        if self._own_client and self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_scheduler(spec: Any, connect_timeout: float = 20.0, slurm: dict | None = None, jobs: int = 1,
                   job_wait: float = 600.0, flag: str = "--scheduler") -> Scheduler:
    """Open a scheduler spec: ``None`` / ``""`` / ``"in-process"`` (run in this process), ``"local:N"`` (a
    Dask ``LocalCluster`` of N single-threaded worker processes), ``"slurm"`` (``jobs`` dask-jobqueue SLURM
    jobs, ``slurm`` = :func:`slurm_cluster` keyword arguments, waiting ``job_wait`` s for the first worker),
    any other string a scheduler address (``tcp://host:8786``), or an existing ``distributed.Client``.
    Every failure is a :class:`PrepareError` whose one-line message starts with ``flag`` and the spec; an
    address that does not answer fails after ``connect_timeout`` s."""
    if spec is None or (isinstance(spec, str) and spec.strip() in ("", "in-process", "inline")):
        return Scheduler()
    if not isinstance(spec, str):
        return Scheduler(spec, "dask")  # a distributed.Client the caller owns
    spec = spec.strip()
    try:
        import distributed
    except ImportError:
        raise PrepareError(f"{flag} {spec}: needs Dask distributed (pip install dask distributed)") from None
    if spec.startswith("local:") or spec == "local":
        n = spec.partition(":")[2]
        if not n.isdigit() or int(n) < 1:
            raise PrepareError(f"{flag} {spec}: expected local:N with N >= 1 worker processes, e.g. local:2")
        from . import threads

        threads.snapshot_user_env()  # the nannies edit this process's environment (see snapshot_user_env)
        cluster = distributed.LocalCluster(n_workers=int(n), threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        return Scheduler(distributed.Client(cluster), f"dask-local({n})", cluster, True)
    if spec == "slurm":
        import shutil

        try:
            cluster = slurm_cluster(**(slurm or {}))
        except PrepareError:
            raise PrepareError(f"{flag} slurm: needs dask-jobqueue (pip install dask-jobqueue)") from None
        if shutil.which("sbatch") is None:
            cluster.close()
            raise PrepareError(f"{flag} slurm: sbatch not found (run this on a SLURM login node)")
        cluster.scale(jobs=jobs)
        client = distributed.Client(cluster)
        try:
            client.wait_for_workers(1, timeout=job_wait)
        except TimeoutError:
            client.close()
            cluster.close()
            raise PrepareError(f"{flag} slurm: no worker started within {job_wait:g} s "
                               "(check squeue and the job's output)") from None
        return Scheduler(client, f"dask-slurm({jobs} jobs)", cluster, True)
    try:
        client = distributed.Client(spec, timeout=f"{connect_timeout}s")
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        raise PrepareError(f"{flag} {spec}: cannot connect to the Dask scheduler within {connect_timeout:g} s "
                           f"({msg[:200]})") from None
    except Exception as e:  # noqa: BLE001 - something answered, but not a Dask scheduler (e.g. an HTTP server)
        msg = " ".join(str(e).split())[:200]
        raise PrepareError(f"{flag} {spec}: the address answered but not as a Dask scheduler "
                           f"({type(e).__name__}: {msg})") from None
    return Scheduler(client, f"dask({spec})", None, True)
