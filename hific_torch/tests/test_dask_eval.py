"""Issue 14: compress.py ``--scheduler`` (shared_eval.sweep on Dask): a 2-worker LocalCluster gives the rows
(and the .lic bytes) of the default loop, also when one worker is SIGKILLed mid-run; a killed driver's rerun
recomputes no finished image (with the seeded ``--lpips rand`` equal to an in-process sweep's); a scheduler
address that does not answer is one line naming the flag, nothing written.

Images: 64 x 96 centre crops of four Kodak images (skipped without $KODAK_DIR), the committed zoo model."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from shared_data.imageio import read_image, write_png
from shared_data.paths import kodak_dir
from shared_eval.measures_csv import read_measures
from shared_eval.sweep import TIMING_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
KODAK = kodak_dir()
NAMES = ("kodim01", "kodim02", "kodim03", "kodim04")
pytestmark = pytest.mark.skipif(not all((KODAK / f"{n}.png").is_file() for n in NAMES),
                                reason=f"Kodak images missing in {KODAK} (set KODAK_DIR)")


def _rows(path, drop=()):
    return sorted(({k: v for k, v in r.items() if k not in TIMING_COLUMNS and k not in drop}
                   for r in read_measures(path)), key=lambda r: r["img_name"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory, zoo_ckpt):
    """Crops in IMGS/ (three) and IMGS4/ (four), and a 2-worker LocalCluster this test owns (to kill a worker)."""
    distributed = pytest.importorskip("distributed")
    tmp = tmp_path_factory.mktemp("dask_eval")
    for n in NAMES:
        a = read_image(KODAK / f"{n}.png")
        h, w = a.shape[:2]
        crop = np.ascontiguousarray(a[h // 2 - 32:h // 2 + 32, w // 2 - 48:w // 2 + 48])
        write_png(tmp / "imgs4" / f"{n}.png", crop)
        if n != "kodim04":
            write_png(tmp / "imgs" / f"{n}.png", crop)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    yield tmp, cluster, client, zoo_ckpt
    client.close()
    cluster.close()


def _user_env() -> dict:
    """This process's environment with the thread variables as the user set them (before conftest's
    threads.limit and the LocalCluster filled them in): the driver subprocess then has this process's
    arithmetic settings, which the sweep's fingerprint includes."""
    from shared_data.arith import ENV_KEYS
    from shared_data.threads import user_env

    env = dict(os.environ)
    for k in ENV_KEYS:
        v = user_env(k)
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def _args(tmp, ckpt, out, imgs="imgs", lpips="off"):
    return ["-i", str(tmp / imgs), "-ckpt", str(ckpt), "-o", str(out), "--lpips", lpips, "--save", "--no-progress"]


def test_local_cluster_equals_default_loop_with_a_worker_killed(setup, capsys):
    import compress

    tmp, cluster, client, ckpt = setup
    assert compress.main(_args(tmp, ckpt, tmp / "inproc")) == 0  # no --scheduler: the default loop
    ref = _rows(tmp / "inproc" / "measures.csv")
    assert [r["img_name"] for r in ref] == ["kodim01.png", "kodim02.png", "kodim03.png"]
    pids = client.run(os.getpid)
    killed = {}

    def kill_one_busy_worker():  # SIGKILL a worker while it holds a task (its first: the model is loading)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            busy = [w for w, ts in client.processing().items() if ts]
            if busy:
                time.sleep(0.2)
                killed["pid"] = pids[busy[0]]
                os.kill(killed["pid"], signal.SIGKILL)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_busy_worker)
    capsys.readouterr()
    killer.start()
    assert compress.main(_args(tmp, ckpt, tmp / "dask") + ["--scheduler", cluster.scheduler_address]) == 0
    killer.join()
    assert "pid" in killed and killed["pid"] not in client.run(os.getpid).values()  # it died (the nanny restarts it)
    assert "3 tasks: 0 already done, 3 computed, 0 failed" in capsys.readouterr().out
    assert _rows(tmp / "dask" / "measures.csv") == ref
    lics = sorted(p.name for p in (tmp / "inproc").glob("*.lic"))
    assert len(lics) == 3 and lics == sorted(p.name for p in (tmp / "dask").glob("*.lic"))
    for n in lics:  # byte-identical files: the workers encode under the driver's arithmetic record
        assert (tmp / "dask" / n).read_bytes() == (tmp / "inproc" / n).read_bytes(), n


def test_killed_driver_rerun_recomputes_nothing_finished(setup, capsys):
    import compress

    tmp, cluster, client, ckpt = setup
    # reference: an uninterrupted in-process sweep with the seeded random LPIPS
    assert compress.main(_args(tmp, ckpt, tmp / "ref4", "imgs4", "rand") + ["--scheduler", "in-process"]) == 0
    ref = _rows(tmp / "ref4" / "measures.csv")
    assert len(ref) == 4 and all(r["lpips"] is not None and r["lpips"] > 0 for r in ref)
    out = tmp / "resume"
    work = out / ".measures.csv.work"
    cmd = [sys.executable, str(ROOT / "compress.py"), *_args(tmp, ckpt, out, "imgs4", "rand"),
           "--scheduler", cluster.scheduler_address]
    driver = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_user_env())
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and driver.poll() is None and not (work.is_dir() and any(work.glob("*.json"))):
        time.sleep(0.01)
    driver.kill()
    o, e = driver.communicate(timeout=60)
    done = len(list(work.glob("*.json")))
    assert 1 <= done < 4 and not (out / "measures.csv").exists(), (driver.returncode, o, e[-2000:])
    capsys.readouterr()
    assert compress.main(_args(tmp, ckpt, out, "imgs4", "rand") + ["--scheduler", cluster.scheduler_address]) == 0
    assert f"4 tasks: {done} already done, {4 - done} computed, 0 failed" in capsys.readouterr().out
    assert _rows(out / "measures.csv") == ref  # LPIPS included: the same random backbone on every worker
    default = _rows(tmp / "inproc" / "measures.csv", drop=("lpips",))
    assert _rows(out / "measures.csv", drop=("lpips",))[:3] == default
    assert not list(out.rglob("*.tmp"))


def test_unanswering_scheduler_address_is_one_line(tmp_path, zoo_ckpt):
    (tmp_path / "imgs").mkdir()
    write_png(tmp_path / "imgs" / "a.png", np.full((32, 48, 3), 90, np.uint8))
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, str(ROOT / "compress.py"), *_args(tmp_path, zoo_ckpt, out), "--scheduler",
                        "tcp://127.0.0.1:9", "--scheduler-timeout", "2"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(err) == 1 and "--scheduler tcp://127.0.0.1:9" in err[0], r.stderr
    assert time.monotonic() - t0 < 30 and not out.exists()


def test_device_flag_is_checked_up_front(tmp_path, zoo_ckpt, capsys):
    import compress

    (tmp_path / "imgs").mkdir()
    write_png(tmp_path / "imgs" / "a.png", np.full((32, 48, 3), 90, np.uint8))
    assert compress.main(_args(tmp_path, zoo_ckpt, tmp_path / "o") + ["--device", "gpu"]) == 1
    assert "--device gpu: expected cpu, cuda or cuda:N" in capsys.readouterr().err
    import torch
    if not torch.cuda.is_available():  # here the model would run in this process: refused, nothing written
        assert compress.main(_args(tmp_path, zoo_ckpt, tmp_path / "o") + ["--device", "cuda"]) == 1
        assert "--device cuda: torch sees no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
