"""Issue 14: test.py ``--scheduler`` (shared_eval.sweep on Dask): a 2-worker LocalCluster gives the in-process
rows, also when one worker is SIGKILLed mid-run; a killed driver's rerun recomputes no finished image; a
scheduler address that does not answer is one line naming the flag, nothing written.

Images: 48 x 48 centre crops (``--crop 48``) of Kodak images (skipped without $KODAK_DIR), the committed
zoo/mini model, real files (``--write_to_files``)."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT
from l3c.model_io import DEFAULT_MODEL

from shared_data.paths import kodak_dir
from shared_eval.measures_csv import read_measures
from shared_eval.sweep import TIMING_COLUMNS

KODAK = kodak_dir()
pytestmark = pytest.mark.skipif(not (KODAK / "kodim04.png").is_file(),
                                reason=f"Kodak images missing in {KODAK} (set KODAK_DIR)")


def _test_py():
    import importlib.util

    spec = importlib.util.spec_from_file_location("l3c_test_cli_dask", ROOT / "test.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def _args(tmp, out, pattern=r"kodim0[1-3]\.png"):
    return [str(tmp / "logs"), "mini", str(KODAK), "-fns", pattern, "--crop", "48", "--write_to_files", str(out),
            "--no-progress"]


def _rows(path):
    return sorted(({k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in read_measures(path)),
                  key=lambda r: r["img_name"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A log dir holding zoo/mini, and a 2-worker LocalCluster this test owns (so it can kill a worker)."""
    distributed = pytest.importorskip("distributed")
    tmp = tmp_path_factory.mktemp("dask_eval")
    (tmp / "logs").mkdir()
    os.symlink(DEFAULT_MODEL, tmp / "logs" / "mini")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    yield tmp, cluster, client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def ref(setup):
    """The rows of the default in-process loop (no --scheduler)."""
    tmp = setup[0]
    assert _test_py()(_args(tmp, tmp / "inproc")) == 0
    rows = _rows(tmp / "inproc" / "measures.csv")
    assert [r["img_name"] for r in rows] == ["kodim01_c48.png", "kodim02_c48.png", "kodim03_c48.png"]
    return rows


def test_local_cluster_equals_in_process_with_a_worker_killed(setup, ref, capsys):
    tmp, cluster, client = setup
    main = _test_py()
    pids = client.run(os.getpid)
    killed = {}

    def kill_one_busy_worker():  # SIGKILL a worker while it holds a task (its first: the model is loading)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            busy = [w for w, ts in client.processing().items() if ts]
            if busy:
                time.sleep(0.3)
                killed["pid"] = pids[busy[0]]
                os.kill(killed["pid"], signal.SIGKILL)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_busy_worker)
    capsys.readouterr()
    killer.start()
    assert main(_args(tmp, tmp / "dask") + ["--scheduler", cluster.scheduler_address]) == 0
    killer.join()
    assert "pid" in killed and killed["pid"] not in client.run(os.getpid).values()  # it died (the nanny restarts it)
    assert "3 tasks: 0 already done, 3 computed, 0 failed" in capsys.readouterr().out
    assert _rows(tmp / "dask" / "measures.csv") == ref
    assert sorted(p.name for p in (tmp / "dask").glob("*.lic")) == sorted(p.name for p in (tmp / "inproc").glob("*.lic"))
    for p in (tmp / "inproc").glob("*.lic"):  # the files themselves: byte-identical wherever they were coded
        assert (tmp / "dask" / p.name).read_bytes() == p.read_bytes()


def test_killed_driver_rerun_recomputes_nothing_finished(setup, ref, capsys):
    tmp, cluster, client = setup
    out, pattern = tmp / "resume", r"kodim0[1-4]\.png"
    work = out / ".measures.csv.work"
    cmd = [sys.executable, str(ROOT / "test.py"), *_args(tmp, out, pattern), "--scheduler", cluster.scheduler_address]
    driver = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and driver.poll() is None and not (work.is_dir() and any(work.glob("*.json"))):
        time.sleep(0.02)
    driver.kill()
    o, e = driver.communicate(timeout=60)
    done = len(list(work.glob("*.json")))
    assert 1 <= done < 4 and not (out / "measures.csv").exists(), (driver.returncode, o, e[-2000:])
    main = _test_py()
    capsys.readouterr()
    assert main(_args(tmp, out, pattern) + ["--scheduler", cluster.scheduler_address]) == 0
    assert f"4 tasks: {done} already done, {4 - done} computed, 0 failed" in capsys.readouterr().out
    rows = _rows(out / "measures.csv")
    assert len(rows) == 4 and rows[:3] == ref and rows[3]["img_name"] == "kodim04_c48.png"
    assert not list(out.rglob("*.tmp"))


def test_unanswering_scheduler_address_is_one_line(tmp_path):
    (tmp_path / "logs").mkdir()
    os.symlink(DEFAULT_MODEL, tmp_path / "logs" / "mini")
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, str(ROOT / "test.py"), *_args(tmp_path, out), "--scheduler",
                        "tcp://127.0.0.1:9", "--scheduler-timeout", "2"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(err) == 1 and "--scheduler tcp://127.0.0.1:9" in err[0], r.stderr
    assert time.monotonic() - t0 < 30
    assert not out.exists() and not (tmp_path / "logs_test").exists()
