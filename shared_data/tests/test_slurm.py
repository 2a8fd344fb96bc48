"""``--cluster slurm`` through dask-jobqueue, as far as it goes without SLURM.

Tested: the cluster kwargs, the job script dask-jobqueue generates from the CLI options, and a whole
``prepare`` run whose jobs go through a stand-in ``sbatch`` / ``scancel`` (shell scripts on PATH that run the
submitted job script locally and kill it): real dask-jobqueue submission and job-id parsing, real Dask
workers started by the generated script, output identical to the inline run, jobs cancelled at the end.
Not tested: a real SLURM scheduler (queueing, node allocation, #SBATCH resource enforcement, multi-node
networking, a shared file system).
"""

import os
import shutil
import signal
import stat

import pytest
from _data_helpers import photo
from PIL import Image

from shared_data.__main__ import main
from shared_data.pipeline import slurm_cluster_kwargs

jobqueue = pytest.importorskip("dask_jobqueue", reason="dask-jobqueue not installed")
pytest.importorskip("distributed")

SBATCH = """#!/usr/bin/env bash
# stand-in for SLURM's sbatch: run the job script locally in its own session
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


def test_cluster_kwargs():
    kw = slurm_cluster_kwargs(3, "6GB", "02:00:00", "cpu", account="proj", job_extra=["--exclusive"],
                              python="/opt/py/bin/python", interface="ib0")
    assert kw["cores"] == kw["processes"] == 3            # single-threaded worker processes
    assert (kw["memory"], kw["walltime"], kw["queue"], kw["account"]) == ("6GB", "02:00:00", "cpu", "proj")
    assert kw["job_extra_directives"] == ["--exclusive"] and kw["python"] == "/opt/py/bin/python"
    assert kw["interface"] == "ib0" and kw["scheduler_options"] == {"dashboard_address": None}
    assert "python" not in slurm_cluster_kwargs()


def test_job_script_from_cli(tmp_path, capsys):
    rc = main(["prepare", "clic", "--src", str(tmp_path), "--out", str(tmp_path / "o"), "--split", "mobile_valid",
               "--cluster", "slurm", "--job-cores", "3", "--job-memory", "6GB", "--job-walltime", "02:00:00",
               "--queue", "cpu", "--account", "proj", "--job-extra=--exclusive", "--job-script"])
    assert rc == 0
    script = capsys.readouterr().out
    for line in ("#SBATCH -p cpu", "#SBATCH -A proj", "#SBATCH --cpus-per-task=3", "#SBATCH --mem=6G",
                 "#SBATCH -t 02:00:00", "#SBATCH --exclusive", "-m distributed.cli.dask_worker tcp://",
                 "--nthreads 1", "--nworkers 3", "--memory-limit 1.86GiB"):
        assert line in script, (line, script)
    assert not (tmp_path / "o").exists()                 # nothing prepared


@pytest.mark.skipif(shutil.which("setsid") is None, reason="needs setsid for the stand-in sbatch")
def test_prepare_through_standin_sbatch(tmp_path, monkeypatch, capsys):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, text in (("sbatch", SBATCH), ("scancel", SCANCEL)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(stat.S_IRWXU)
    jobs = tmp_path / "jobs"
    monkeypatch.setenv("FAKE_SLURM_DIR", str(jobs))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    src = tmp_path / "src"
    src.mkdir()
    for n in ("astronaut", "coffee", "chelsea"):
        Image.fromarray(photo(n)).save(src / f"{n}.png")
    (src / "notes.txt").write_text("not an image")
    common = ["prepare", "clic", "--src", str(src), "--split", "mobile_valid", "--no-progress"]
    try:
        rc = main(common + ["--out", str(tmp_path / "slurm"), "--cluster", "slurm", "--jobs", "1",
                            "--job-cores", "2", "--job-memory", "2GB", "--job-wait", "90",
                            "--job-interface", "lo"])
        err = capsys.readouterr().err
        assert rc == 0, err + "".join(p.read_text() for p in jobs.glob("*.log"))
        assert main(common + ["--out", str(tmp_path / "inline"), "--workers", "0"]) == 0
        for p in (tmp_path / "inline" / "mobile_valid").iterdir():
            assert (tmp_path / "slurm" / "mobile_valid" / p.name).read_bytes() == p.read_bytes()
        assert len(list((tmp_path / "slurm" / "mobile_valid").iterdir())) == 3
        script = (jobs / "1000.sh").read_text()
        assert "--nworkers 2" in script and "#SBATCH --mem=2G" in script
        assert (jobs / "cancelled").read_text().split() == ["1000"]      # the job was cancelled at the end
    finally:
        for pidfile in jobs.glob("*.pid"):                                # never leave workers behind
            try:
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError, PermissionError):
                pass
