"""shared_data.tfdist (issue 14): the --strategy flag of the TensorFlow sub-projects. Runs where TensorFlow
is installed (``cpm_tf/.venv/bin/python -m pytest shared_data/tests/test_tfdist.py``; skipped elsewhere).
Trainings run in fresh processes (a CPU split must precede TensorFlow's start)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared_data import tfdist
from shared_data.errors import ConfigError

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_tfdist_worker.py"


def _run(args, env=None, timeout=240):
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, **(env or {})))


def _result(p, timeout=240):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_bad_names_and_tf_config_are_one_line():
    with pytest.raises(ConfigError, match="--strategy 'nccl': unknown strategy; use one of default, mirrored"):
        tfdist.check_name("nccl")
    bad = {"": "TF_CONFIG is not set", "{": "not valid JSON", "[]": "needs a 'cluster'",
           '{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}': "non-empty list",
           '{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}': "task.type",
           '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}': "task.index 3"}
    for text, match in bad.items():
        with pytest.raises(ConfigError, match=match) as e:
            tfdist.check_tf_config(text)
        assert "\n" not in str(e.value)
    cfg = tfdist.check_tf_config('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
    assert cfg["task"]["index"] == 1


def test_chief_rule(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert tfdist.is_chief()
    for task, chief in ((0, True), (1, False)):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                    "task": {"type": "worker", "index": task}}))
        assert tfdist.is_chief() is chief


SLURM_STEP = {"SLURM_PROCID": "3", "SLURM_STEP_NUM_TASKS": "4", "SLURM_STEP_NODELIST": "gpu[07-08]",
              "SLURM_STEP_TASKS_PER_NODE": "2(x2)"}


def test_tf_config_from_a_slurm_job_step(monkeypatch):
    """``srun -N 2 --ntasks-per-node 2 python train.py --strategy multiworker``: each task derives its TF_CONFIG
    from the step's variables (4 workers, hosts sorted, consecutive ports), task 3 is worker 3 (not the chief)."""
    pytest.importorskip("tensorflow")
    for v in tfdist.SLURM_STEP_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert tfdist.tf_config_from_slurm() is None  # not a job step
    for k, v in SLURM_STEP.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LIC_TF_PORT_BASE", "23456")
    cfg = tfdist.tf_config_from_slurm()
    assert cfg == {"cluster": {"worker": ["gpu07:23456", "gpu07:23457", "gpu08:23456", "gpu08:23457"]},
                   "task": {"type": "worker", "index": 3}}
    tfdist.check_tf_config(json.dumps(cfg))
    monkeypatch.setenv("TF_CONFIG", json.dumps(cfg))
    assert not tfdist.is_chief()
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "5")  # inconsistent step: one line, names the source
    with pytest.raises(ConfigError, match="SLURM job step variables do not describe a cluster"):
        tfdist.tf_config_from_slurm()
    monkeypatch.setenv("LIC_TF_PORT_BASE", "http")
    with pytest.raises(ConfigError, match="LIC_TF_PORT_BASE='http' is not a port number"):
        tfdist.tf_config_from_slurm()


def test_a_pending_split_is_kept():
    """make_strategy(cpu_replicas=2) after split_cpu(3) (TF not started yet) keeps the 3 devices (it used to
    shrink them to 2 silently); a fresh process, as the split must precede TensorFlow's start."""
    pytest.importorskip("tensorflow")
    code = ("from shared_data import tfdist; import tensorflow as tf; tfdist.split_cpu(3); "
            "s = tfdist.make_strategy('mirrored', cpu_replicas=2); "
            "print(len(tf.config.list_logical_devices('CPU')), s.num_replicas_in_sync)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["3", "2"]


def test_two_replicas_equal_one_on_the_same_global_batch(tmp_path):
    pytest.importorskip("tensorflow")
    one = _run(["default", 1, 5, tmp_path / "one"])
    two = _run(["mirrored", 2, 5, tmp_path / "two"])
    a, b = _result(one), _result(two)
    assert (a["replicas"], b["replicas"]) == (1, 2)
    # measured ≤ 1e-7 (float32 sums in another order); 1e-5 leaves room for other CPUs
    np.testing.assert_allclose(b["w"], a["w"], rtol=1e-5, atol=1e-6)
    assert abs(a["b"] - b["b"]) < 1e-5


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multiworker_two_local_processes_write_one_checkpoint(tmp_path):
    pytest.importorskip("tensorflow")
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = [_run(["multiworker", 0, 3, tmp_path / "ckpt"], env={"TF_CONFIG": json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}) for i in range(2)]
    res = [_result(p, timeout=300) for p in procs]
    assert [r["replicas"] for r in res] == [2, 2] and [r["chief"] for r in res] == [True, False]
    np.testing.assert_allclose(res[0]["w"], res[1]["w"], rtol=1e-6)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "ckpt").rglob("*") if p.is_file())
    assert files == ["ckpt/ckpt.data-00000-of-00001", "ckpt/ckpt.index"], files
