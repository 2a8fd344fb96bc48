"""The one execution path: process pool, inline and Dask give identical output; runs resume; kills leave no
half-written file; verify catches damaged outputs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _data_helpers import REPO, kodak, needs_kodak, photo
from PIL import Image

from shared_data.__main__ import main
from shared_data.pipeline import MANIFEST, Manifest, PrepareError, run
from shared_data.recipes import RECIPES

pytestmark = needs_kodak

V3 = {"rule": "v3", "resolution": "256", "format": "png", "seed": 5, "clean": True, "max_images": None,
      "fixed_image": None}
CPM = {"split": "train", "side": 256, "shard_size": 3, "quality": None, "feature_key": "image/encoded",
       "records": True}


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    d = tmp_path_factory.mktemp("src")
    for n in (1, 2, 4, 6, 9, 13, 17):
        Image.fromarray(kodak(n)[:360, :400]).save(d / f"k{n:02d}.jpg", quality=90)
    (d / "broken.jpg").write_bytes((d / "k01.jpg").read_bytes()[:5000])
    return d


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in (MANIFEST,)}


def _manifest_core(out: Path):
    return {k: (r["status"], r["reason"], [(o["path"], o["sha256"]) for o in r["outputs"]])
            for k, r in Manifest(out).records.items()}


def test_pool_and_dask_match_inline(src, tmp_path):
    distributed = pytest.importorskip("distributed", reason="Dask distributed not installed")
    ref_l3c, ref_cpm = tmp_path / "inline_l3c", tmp_path / "inline_cpm"
    run(RECIPES["openimages-l3c"], src, ref_l3c, V3, workers=0, progress=False)
    run(RECIPES["imagenet-cpm"], src, ref_cpm, CPM, workers=0, progress=False)
    assert len(list((ref_cpm / "records/train").glob("*.tfrecord"))) == 3  # 7 good images, 3 per shard

    s = run(RECIPES["openimages-l3c"], src, tmp_path / "pool_l3c", V3, workers=2, progress=False, window=2)
    assert s.executor == "process-pool(2)"
    run(RECIPES["imagenet-cpm"], src, tmp_path / "pool_cpm", CPM, workers=2, progress=False)

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        s = run(RECIPES["openimages-l3c"], src, tmp_path / "dask_l3c", V3, scheduler=client, progress=False,
                window=3)
        assert s.executor == "dask"
        run(RECIPES["imagenet-cpm"], src, tmp_path / "dask_cpm", CPM, scheduler=client, progress=False)
        # the CLI path: --scheduler with the cluster's address
        assert main(["prepare", "openimages-l3c", "--src", str(src), "--out", str(tmp_path / "cli_l3c"),
                     "--scheduler", cluster.scheduler_address, "--resolution", "256", "--seed", "5",
                     "--no-progress"]) == 0

    for kind, ref in (("l3c", ref_l3c), ("cpm", ref_cpm)):
        for other in ("pool", "dask") + (("cli",) if kind == "l3c" else ()):
            o = tmp_path / f"{other}_{kind}"
            assert _files(o) == _files(ref), (kind, other)
            assert _manifest_core(o) == _manifest_core(ref)
    assert Manifest(ref_l3c).records["broken.jpg"]["reason"] == "corrupt"


def test_bad_scheduler_is_a_clear_error(src, tmp_path, capsys):
    pytest.importorskip("distributed", reason="Dask distributed not installed")
    rc = main(["prepare", "clic", "--src", str(src), "--out", str(tmp_path / "o"), "--split", "mobile_valid",
               "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "1", "--no-progress"])
    assert rc == 2 and "cannot connect to the Dask scheduler" in capsys.readouterr().err


def test_resume_skips_finished_work_and_redoes_damage(src, tmp_path):
    out = tmp_path / "o"
    s1 = run(RECIPES["openimages-l3c"], src, out, V3, workers=0, progress=False)
    assert sum(s1.counts.values()) == 8 and s1.already_done == 0
    before = _files(out)
    # a second run does nothing
    s2 = run(RECIPES["openimages-l3c"], src, out, V3, workers=0, progress=False)
    assert s2.already_done == 8 and not s2.counts
    # a lost output and a half-written last manifest line: only that image is redone, identically
    (out / "k04.png").unlink()
    with open(out / MANIFEST, "a") as f:
        f.write('{"key": "k09.jpg", "status": "do')
    s3 = run(RECIPES["openimages-l3c"], src, out, V3, workers=0, progress=False)
    assert dict(s3.counts) == {("done", ""): 1} and _files(out) == before
    # other options into the same folder are refused
    with pytest.raises(PrepareError, match="different settings"):
        run(RECIPES["openimages-l3c"], src, out, {**V3, "seed": 6}, workers=0, progress=False)
    # verify re-checks every output against the manifest
    assert main(["verify", str(out)]) == 0
    p = out / "k13.png"
    p.write_bytes(p.read_bytes()[:-10])
    assert main(["verify", str(out)]) == 1


def test_kill_leaves_no_partial_files_and_rerun_completes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    img = photo("astronaut")
    for i in range(30):
        Image.fromarray(img[i % 7:300, i % 5:300]).save(src / f"a{i:03d}.png", compress_level=1)
    out, ref = tmp_path / "out", tmp_path / "ref"
    cmd = [sys.executable, "-m", "shared_data", "prepare", "imagenet-cpm", "--src", str(src), "--workers", "0",
           "--no-progress", "--shard-size", "12"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "shared_data")}
    proc = subprocess.Popen(cmd + ["--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        m = out / MANIFEST
        if m.exists() and m.read_text().count("\n") >= 5:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = Manifest(out).records
    assert 5 <= len(done) < 30, "the run finished before it could be killed"
    leftovers = [p for p in out.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    for p in out.rglob("*.png"):
        Image.open(p).load()  # every visible output is complete
    assert main(cmd[3:] + ["--out", str(out)]) == 0
    assert main(cmd[3:] + ["--out", str(ref)]) == 0
    assert all(p.name.startswith(".") for p in leftovers)  # temp files are hidden, and removed by the re-run
    assert _files(out) == _files(ref)


def test_slurm_cluster_job_script_and_clear_error(tmp_path, capsys):
    import shutil

    rc = main(["prepare", "clic", "--src", str(tmp_path), "--out", str(tmp_path / "o"), "--split", "mobile_valid",
               "--cluster", "slurm", "--no-progress"])
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        assert rc == 2 and "needs dask-jobqueue" in capsys.readouterr().err
        pytest.skip("dask-jobqueue not installed: only the error path was checked")
    from shared_data.pipeline import slurm_cluster

    if shutil.which("sbatch") is None:
        assert rc == 2 and "sbatch not found" in capsys.readouterr().err
    cluster = slurm_cluster(cores=3, memory="6GB", walltime="02:00:00", queue="cpu")
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH --cpus-per-task=3", "#SBATCH -p cpu", "#SBATCH -t 02:00:00", "--nworkers 3"):
        assert line in script, (line, script)


class _DyingRecipe:
    """Copies files; the worker processing ``die.bin`` kills itself once (marker file next to --out)."""

    name = "dying-test"

    def tasks(self, src, opts):
        from shared_data.recipes._common import file_tasks
        return file_tasks(src)

    def process(self, task, out, opts):
        from shared_data.pipeline import Outcome, write_output
        marker = Path(opts["marker"])
        if task.key == "die.bin" and not marker.exists():
            marker.write_text("died once")
            os._exit(1)
        time.sleep(0.05)
        return Outcome(task.key, "done", "", [], [write_output(out, task.key, Path(task.src).read_bytes())])


def test_a_dying_worker_fails_only_its_tasks_and_is_retried(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        (src / f"f{i:02d}.bin").write_bytes(bytes([i]) * 100)
    (src / "die.bin").write_bytes(b"x")
    out = tmp_path / "out"
    opts = {"marker": str(tmp_path / "marker")}
    s1 = run(_DyingRecipe(), src, out, opts, workers=2, progress=False, window=2)
    failed = {k for k, r in Manifest(out).records.items() if r["status"] == "failed"}
    assert "die.bin" in failed and len(Manifest(out).records) == 13
    assert all(r["reason"] == "error-BrokenProcessPool" for k, r in Manifest(out).records.items() if k in failed)
    assert s1.counts[("done", "")] >= 13 - 2  # only the tasks in flight with the dead worker failed
    s2 = run(_DyingRecipe(), src, out, opts, workers=2, progress=False)
    assert dict(s2.counts) == {("done", ""): len(failed)}
    assert all(r["status"] == "done" for r in Manifest(out).records.values())
