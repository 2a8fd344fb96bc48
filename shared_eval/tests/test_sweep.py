"""shared_eval.sweep: in-process vs a 2-worker Dask LocalCluster (identical rows), a worker killed mid-run, a
killed driver resumed without recomputing, config fingerprints, failed tasks, bad --scheduler values."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _sweep_helpers import killing_baseline_task, logged_task

from shared_data.imageio import read_image, sample_images, write_png
from shared_eval import baselines as bl
from shared_eval.measures_csv import read_measures
from shared_eval.sweep import (
    TIMING_COLUMNS,
    SweepError,
    SweepTask,
    record_path,
    run_sweep,
    sweep_to_measures,
)

HERE = Path(__file__).resolve().parent
KODAK = Path(os.environ.get("KODAK_DIR", HERE.parents[2] / "shared" / "data" / "kodak"))
CROPS = ("kodim01.png", "kodim15.png", "kodim23.png")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """128x128 centre crops of three Kodak images (synthetic crops of a scikit-image photo without Kodak)."""
    d = tmp_path_factory.mktemp("crops")
    if all((KODAK / n).is_file() for n in CROPS):
        for n in CROPS:
            a = read_image(KODAK / n)
            h, w = a.shape[:2]
            write_png(d / n, np.ascontiguousarray(a[h // 2 - 64:h // 2 + 64, w // 2 - 64:w // 2 + 64]))
    else:  # KODAK_DIR absent: the same test on crops of a bundled photo
        a = sample_images(("astronaut",))["astronaut"]
        for i, n in enumerate(CROPS):
            write_png(d / n, np.ascontiguousarray(a[64 * i:64 * i + 128, 100:228]))
    return d


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    from shared_data.pipeline import open_scheduler

    with open_scheduler("local:2") as s:
        assert s.kind == "dask-local(2)" and len(s.client.scheduler_info()["workers"]) == 2
        yield s.client
    del distributed


def _values(rows):
    """Every cell except the wall times (measured wherever the task ran)."""
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]


def _cli(images, out, *extra):
    return bl.main(["--images", str(images), "--codecs", "jpeg,webp", "--qualities", "20,60", "--out", str(out),
                    *extra])


@pytest.fixture(scope="module")
def inline_out(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("inline")
    assert _cli(images, out, "--no-progress") == 0
    return out


def test_local_cluster_rows_identical_to_in_process(images, inline_out, cluster, tmp_path, capsys):
    out = tmp_path / "dask"
    assert _cli(images, out, "--scheduler", cluster.scheduler.address, "--no-progress") == 0
    for codec in ("jpeg", "webp"):
        a, b = read_measures(inline_out / codec / "measures.csv"), read_measures(out / codec / "measures.csv")
        assert len(a) == 6 and _values(a) == _values(b)          # same values, same order, exactly
        assert [r["img_name"] for r in a] == sorted(r["img_name"] for r in a)
        assert all(r["enc_s"] > 0 for r in b)
    # a rerun finds every point done: nothing recomputed, the same file
    before = (out / "jpeg" / "measures.csv").read_bytes()
    assert _cli(images, out, "--scheduler", cluster.scheduler.address, "--no-progress") == 0
    assert (out / "jpeg" / "measures.csv").read_bytes() == before


def _calls(log):
    return [tuple(line.split()) for line in log.read_text().splitlines()]


def test_worker_killed_mid_run(images, inline_out, cluster, tmp_path):
    """One worker process is SIGKILLed during its task: Dask reruns that task (and any result the driver had
    not fetched from that worker yet) elsewhere; no task that ran on a surviving worker runs twice, and the
    rows equal the in-process run's."""
    tasks, _ = bl.baseline_tasks(sorted(images.iterdir()), ["jpeg", "webp"], tmp_path, {"jpeg": [20, 60],
                                                                                        "webp": [20, 60]})
    log, marker = tmp_path / "calls.log", tmp_path / "killed.pid"
    kill_key = tasks[4].key
    tasks = [SweepTask(t.key, (str(log), str(marker), kill_key, t.key, *t.args), t.fingerprint) for t in tasks]
    res = sweep_to_measures(killing_baseline_task, tasks, tmp_path / "all.csv", {}, cluster, progress=False,
                            sort_by=("img_name", "codec", "quality"))
    assert marker.is_file() and int(marker.read_text()) != os.getpid()   # a worker died, not this process
    dead = marker.read_text()
    calls = _calls(log)
    keys = [k for k, _ in calls]
    assert keys.count(kill_key) == 2 and sorted(set(keys)) == sorted(t.key for t in tasks)
    for k in {k for k in keys if keys.count(k) > 1}:                  # recomputed: only what the dead one held
        assert [pid for kk, pid in calls if kk == k][0] == dead, (k, calls)
    assert len(calls) < 2 * len(tasks) and res.computed == len(tasks) and not res.failed
    ref = read_measures(inline_out / "jpeg" / "measures.csv") + read_measures(inline_out / "webp" / "measures.csv")
    ref.sort(key=lambda r: (r["img_name"], r["codec"], r["quality"]))
    assert _values(read_measures(tmp_path / "all.csv")) == _values(ref)


def test_killed_driver_resumes_without_recomputing(tmp_path):
    log, marker, out = tmp_path / "calls.log", tmp_path / "killed.pid", tmp_path / "m" / "measures.csv"
    arg = json.dumps({"log": str(log), "marker": str(marker), "kill_key": "t05", "n": 8, "out": str(out)})
    cmd = [sys.executable, str(HERE / "_sweep_helpers.py"), arg]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == -9, first.stderr                       # the driver itself was killed at t05
    assert not out.exists() and [k for k, _ in _calls(log)] == [f"t{i:02d}" for i in range(6)]
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "5 already done, 3 computed" in second.stdout
    assert [k for k, _ in _calls(log)] == [f"t{i:02d}" for i in range(6)] + ["t05", "t06", "t07"]
    # identical to an uninterrupted run
    ref = tmp_path / "ref.csv"
    tasks = [SweepTask(f"t{i:02d}", (str(tmp_path / "ref.log"), f"t{i:02d}", float(i))) for i in range(8)]
    sweep_to_measures(logged_task, tasks, ref, {"scale": 1}, progress=False)
    assert ref.read_bytes() == out.read_bytes()
    assert not list(out.parent.rglob("*.tmp"))


def test_killed_dask_driver_resumes_without_recomputing(cluster, tmp_path):
    """The driver of a run on the 2-worker cluster is SIGKILLed after some tasks finished: the rerun computes
    only the tasks without a record, and the file equals an uninterrupted in-process run's."""
    log, out = tmp_path / "calls.log", tmp_path / "m" / "measures.csv"
    work = out.with_name(".measures.csv.work")
    arg = json.dumps({"log": str(log), "marker": "", "kill_key": "", "n": 12, "out": str(out), "sleep": 0.4,
                      "scheduler": cluster.scheduler.address})
    cmd = [sys.executable, str(HERE / "_sweep_helpers.py"), arg]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(list(work.glob("*.json")) if work.is_dir() else []) < 3:
        time.sleep(0.05)
    driver.kill()
    driver.communicate(timeout=60)
    done = {json.loads(p.read_text())["key"] for p in work.glob("*.json")}
    assert 3 <= len(done) < 12 and not out.exists(), driver.returncode
    time.sleep(1.0)                                           # tasks the dead driver had submitted may finish
    n_before = len(_calls(log))
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert second.returncode == 0, second.stderr
    assert f"{len(done)} already done, {12 - len(done)} computed" in second.stdout
    assert not done & {k for k, _ in _calls(log)[n_before:]}          # nothing recorded ran again
    ref = tmp_path / "ref.csv"
    tasks = [SweepTask(f"t{i:02d}", (str(tmp_path / "ref.log"), f"t{i:02d}", float(i))) for i in range(12)]
    sweep_to_measures(logged_task, tasks, ref, {"scale": 1}, progress=False)
    assert ref.read_bytes() == out.read_bytes()


def _tasks(log, n=4, scale=1.0, fingerprints=None):
    return [SweepTask(f"t{i}", (str(log), f"t{i}", float(i), "", "", "", scale),
                      (fingerprints or {}).get(f"t{i}", "")) for i in range(n)]


def test_fingerprints_decide_what_is_recomputed(tmp_path):
    log, out = tmp_path / "calls.log", tmp_path / "measures.csv"
    r = sweep_to_measures(logged_task, _tasks(log), out, {"model": "a"}, progress=False)
    assert (r.computed, r.resumed) == (4, 0) and len(_calls(log)) == 4
    r = sweep_to_measures(logged_task, _tasks(log), out, {"model": "a"}, progress=False)
    assert (r.computed, r.resumed) == (0, 4) and len(_calls(log)) == 4
    r = sweep_to_measures(logged_task, _tasks(log, fingerprints={"t2": "changed"}), out, {"model": "a"},
                          progress=False)
    assert (r.computed, r.resumed) == (1, 3) and _calls(log)[-1][0] == "t2"
    r = sweep_to_measures(logged_task, _tasks(log), out, {"model": "b"}, progress=False)  # a changed setting
    assert (r.computed, r.resumed) == (4, 0)
    r = sweep_to_measures(logged_task, _tasks(log, scale=2.0), out, {"model": "b"}, progress=False)
    assert r.computed == 4 and read_measures(out)[1]["bpp"] == 2.0            # changed args recompute
    with pytest.raises(SweepError, match="unique"):
        run_sweep(logged_task, _tasks(log) * 2, tmp_path / "w", progress=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(SweepError, match="cannot create the work folder"):
        run_sweep(logged_task, _tasks(log), tmp_path / "file" / "w", progress=False)


def test_failed_task_is_named_and_retried(tmp_path, monkeypatch):
    log, out = tmp_path / "calls.log", tmp_path / "measures.csv"
    monkeypatch.setenv("SWEEP_TEST_FAIL", "t2")
    with pytest.raises(SweepError) as e:
        sweep_to_measures(logged_task, _tasks(log), out, {}, progress=False)
    msg = str(e.value)
    assert "1 of 4 tasks failed" in msg and "t2: ValueError: cannot evaluate t2" in msg and "\n" not in msg
    assert not out.exists()
    rec = json.loads(record_path(out.with_name(".measures.csv.work"), "t2").read_text())
    assert rec["status"] == "failed" and "cannot evaluate" in rec["error"]
    monkeypatch.delenv("SWEEP_TEST_FAIL")
    r = sweep_to_measures(logged_task, _tasks(log), out, {}, progress=False)   # fixed: only t2 runs again
    assert (r.computed, r.resumed) == (1, 3) and len(read_measures(out)) == 4


def test_bad_scheduler_is_one_line_naming_the_flag(images, tmp_path, capsys):
    t0 = time.monotonic()
    rc = _cli(images, tmp_path / "o", "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "3")
    err = capsys.readouterr().err.strip()
    assert rc == 2 and time.monotonic() - t0 < 30
    assert err.startswith("baselines: error: --scheduler tcp://127.0.0.1:9: cannot connect") and "\n" not in err
    assert not (tmp_path / "o").exists()                                     # nothing half-written
    assert _cli(images, tmp_path / "o", "--scheduler", "local:0") == 2
    assert "--scheduler local:0: expected local:N" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    import argparse

    from shared_eval.sweep import add_scheduler_arguments
    ap = argparse.ArgumentParser()
    add_scheduler_arguments(ap)
    assert ap.parse_args([]).scheduler_timeout <= 25                         # the default fails within 30 s


def test_address_that_is_not_a_dask_scheduler(images, tmp_path, capsys):
    """Something answers on the port but speaks another protocol (here: an HTTP-ish reply): one line."""
    import socket
    import threading

    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def answer():
        srv.settimeout(30)
        try:
            while True:
                conn, _ = srv.accept()
                with conn:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)
        except OSError:
            pass

    threading.Thread(target=answer, daemon=True).start()
    t0 = time.monotonic()
    try:
        rc = _cli(images, tmp_path / "o", "--scheduler", f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "3")
    finally:
        srv.close()
    err = capsys.readouterr().err.strip()
    assert rc == 2 and time.monotonic() - t0 < 30 and "\n" not in err, err
    assert err.startswith(f"baselines: error: --scheduler tcp://127.0.0.1:{port}: ")
    assert not (tmp_path / "o").exists()


def test_slurm_job_script_and_missing_sbatch(images, tmp_path, capsys, monkeypatch):
    pytest.importorskip("dask_jobqueue")
    assert _cli(images, tmp_path / "o", "--scheduler", "slurm", "--job-script", "--job-cores", "2",
                "--job-memory", "4GB", "--job-extra=--gres=gpu:1", "--queue", "gpu") == 0
    script = capsys.readouterr().out
    for line in ("#SBATCH -p gpu", "#SBATCH --gres=gpu:1", "#SBATCH --mem=4G", "--nworkers 2", "--nthreads 1"):
        assert line in script, (line, script)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert _cli(images, tmp_path / "o", "--scheduler", "slurm", "--no-progress") == 2
    assert "--scheduler slurm: sbatch not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_progress_bar_on_the_driver(images, tmp_path, capsys):
    assert bl.main(["--images", str(images), "--codecs", "png", "--out", str(tmp_path / "o")]) == 0
    assert "baselines: 100%" in capsys.readouterr().err


# stand-ins for SLURM's sbatch / scancel (as in shared_data/tests/test_slurm.py): run the job script locally
SBATCH = """#!/usr/bin/env bash
d="$FAKE_SLURM_DIR"; mkdir -p "$d"
id=$((1000 + $(ls "$d" | grep -c '[.]sh$')))
cp "$1" "$d/$id.sh"
setsid bash "$d/$id.sh" > "$d/$id.log" 2>&1 < /dev/null &
echo $! > "$d/$id.pid"
echo "Submitted batch job $id"
"""
SCANCEL = """#!/usr/bin/env bash
for id in "$@"; do
  pid=$(cat "$FAKE_SLURM_DIR/$id.pid" 2>/dev/null) && kill -TERM -- "-$pid" 2>/dev/null
  echo "$id" >> "$FAKE_SLURM_DIR/cancelled"
done
exit 0
"""


@pytest.mark.skipif(not Path("/usr/bin/setsid").exists() and not Path("/bin/setsid").exists(),
                    reason="needs setsid for the stand-in sbatch")
def test_scheduler_slurm_through_standin_sbatch(images, inline_out, tmp_path, monkeypatch, capsys):
    """--scheduler slurm: real dask-jobqueue submission through a stand-in sbatch that runs the generated
    job script locally (real Dask workers); same rows as in-process; the job is cancelled at the end. Not
    tested: a real SLURM (queueing, nodes, resource limits)."""
    pytest.importorskip("dask_jobqueue")
    import signal
    import stat

    bindir, jobs = tmp_path / "bin", tmp_path / "jobs"
    bindir.mkdir()
    for name, text in (("sbatch", SBATCH), ("scancel", SCANCEL)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("FAKE_SLURM_DIR", str(jobs))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    try:
        rc = _cli(images, tmp_path / "o", "--scheduler", "slurm", "--jobs", "1", "--job-cores", "2",
                  "--job-memory", "2GB", "--job-wait", "90", "--job-interface", "lo", "--no-progress")
        assert rc == 0, capsys.readouterr().err + "".join(p.read_text() for p in jobs.glob("*.log"))
        for codec in ("jpeg", "webp"):
            assert _values(read_measures(tmp_path / "o" / codec / "measures.csv")) == \
                _values(read_measures(inline_out / codec / "measures.csv"))
        assert "--nworkers 2" in (jobs / "1000.sh").read_text()
        assert (jobs / "cancelled").read_text().split() == ["1000"]
    finally:
        for pidfile in jobs.glob("*.pid"):                                # never leave workers behind
            try:
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError, PermissionError):
                pass


def test_baselines_cli_names_a_failed_point_and_writes_nothing(images, tmp_path, monkeypatch, capsys):
    real = bl.encode

    def flaky(img, codec, quality):
        if quality == 60:
            raise bl.BaselineError(f"{codec}: encoder crashed at quality {quality:g}")
        return real(img, codec, quality)

    monkeypatch.setattr(bl, "encode", flaky)
    assert _cli(images, tmp_path / "o", "--no-progress") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("baselines: error: 6 of 12 tasks failed (jpeg|kodim01.png|q=60: BaselineError: jpeg: "
                          "encoder crashed at quality 60;") and "\n" not in err
    assert not list((tmp_path / "o").rglob("measures.csv"))
    monkeypatch.setattr(bl, "encode", real)
    assert _cli(images, tmp_path / "o", "--no-progress") == 0       # the 6 good points are not redone
    assert len(read_measures(tmp_path / "o" / "jpeg" / "measures.csv")) == 6
