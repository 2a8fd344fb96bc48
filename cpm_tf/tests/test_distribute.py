"""Issue 14: tf.distribute training (train.py ``--strategy``, cpm.train_loop) and val.py on Dask (``--scheduler``).

Trainings run as fresh ``train.py`` processes (a CPU split into logical devices must precede TensorFlow's
start). The tiny zoo config with a global batch of 4 on 64×64 crops of the scikit-image sample photos.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from shared_data.imageio import sample_images, write_png

#: 2 logical-CPU replicas vs 1 device on the same global batch, 3 steps: every weight within TOL (absolute).
#: Measured 1.9e-6 here (9.5e-7 on Kodak crops; 2026-12-01, float32 sums in another order — the global batch's BN moments,
#: MS-SSIM means and gradients are all-reduced); the updates themselves are > 100·TOL (checked).
TOL = 1e-5
STEPS = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    imgs = sample_images(("coffee", "astronaut", "chelsea", "rocket"))
    for i, (name, img) in enumerate(sorted(imgs.items())):
        write_png(tmp / "photos" / f"{name}.png", img[40 + 10 * i:104 + 10 * i, 60:124])
    ae = tmp / "ae_tiny_b4"
    ae.write_text(f"use {ROOT / 'ae_configs/zoo/tiny'}\nbatch_size = 4\n")
    args = [str(ae), str(ROOT / "pc_configs/zoo/tiny"), "-dtrain", str(tmp / "photos"), "-ltest", "-1",
            "-ltrain", "1", "-lsave", "1000", "--threads", "1"]
    return tmp, args


def _train(args, out, *extra, env=None):
    return subprocess.Popen([sys.executable, "train.py", *args, "-o", str(out), *extra], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, **(env or {})))


def _done(p, timeout=900):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, (out + err)[-3000:]
    return out + err


def _log_dir(root: Path) -> Path:
    dirs = [d for d in root.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def _weights(d):
    with np.load(d / "weights.npz") as w:
        return dict(w)


def _initial(ae_path):
    from cpm.config import load_ae_config, load_pc_config
    from cpm.model import CPM
    return CPM(load_ae_config(ae_path), load_pc_config(ROOT / "pc_configs/zoo/tiny")).numpy_weights()


def _max_diff(a, b):
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


@pytest.mark.slow  # ~90 s of CPU (two TF trainings); the generic 2-replica check runs in make test-readers
def test_two_cpu_replicas_equal_one_device(setup):
    tmp, args = setup
    steps = ["--max_steps", str(STEPS)]
    one = _train(args, tmp / "one", *steps)
    two = _train(args, tmp / "two", *steps, "--strategy", "mirrored", "--cpu_replicas", "2")
    _done(one), _done(two)
    d1, d2 = _log_dir(tmp / "one"), _log_dir(tmp / "two")
    info1, info2 = (json.loads((d / "train_info.json").read_text()) for d in (d1, d2))
    assert info1["steps"] == info2["steps"] == STEPS and "strategy" not in info1
    assert info2["strategy"] == {"type": "MirroredStrategy", "replicas": 2, "global_batch": 4,
                                 "per_replica_batch": 2}
    w1, w2 = _weights(d1), _weights(d2)
    diff = _max_diff(w1, w2)
    print(f"2 replicas vs 1 after {STEPS} steps: max |Δw| = {diff:.3g}")
    assert diff <= TOL
    assert _max_diff(w1, _initial(args[0])) > 100 * TOL  # the runs trained: the comparison can fail
    assert [p.name for p in (d2 / "ckpts").glob("*.index")] == [f"ckpt-{STEPS}.index"]


def test_bad_strategy_and_tf_config_are_one_line(setup, tmp_path):
    tmp, args = setup
    cases = [(["--strategy", "bogus"], {}, "--strategy 'bogus': unknown strategy"),
             (["--strategy", "multiworker"], {"TF_CONFIG": '{"cluster": '}, "TF_CONFIG is not valid JSON"),
             (["--strategy", "multiworker"], {"TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:1"]}, '
                                                           '"task": {"type": "worker", "index": 2}}'},
              "TF_CONFIG: task.index 2"),
             (["--cpu_replicas", "2"], {}, "--cpu_replicas 2: needs --strategy mirrored")]
    for extra, env, msg in cases:
        t0 = time.monotonic()
        p = _train(args, tmp_path / "logs", *extra, env=env)
        out, err = p.communicate(timeout=60)
        assert time.monotonic() - t0 < 30
        assert p.returncode != 0 and msg in err, err
        assert len(err.strip().splitlines()) == 1 and not out.strip(), err
        assert not (tmp_path / "logs").exists()  # nothing written


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multiworker_two_local_processes_one_checkpoint_then_resume(setup):
    """Two local workers (loopback TF_CONFIG) train 3 steps: one log dir with one checkpoint (the chief's;
    worker 1's copy is discarded), weights within TOL of the one-device run; the checkpoint then resumes
    under another strategy and replica count (mirrored, 2 CPU replicas)."""
    tmp, args = setup
    root = tmp / "mw"
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = [_train(args, root, "--max_steps", str(STEPS), "--strategy", "multiworker", env={"TF_CONFIG": json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}) for i in range(2)]
    one = None if (tmp / "one").is_dir() else _train(args, tmp / "one", "--max_steps", str(STEPS))
    outs = [_done(p) for p in procs]
    if one is not None:
        _done(one)
    assert "not the chief worker" in outs[1]
    d = _log_dir(root)
    files = sorted(p.name for p in (d / "ckpts").iterdir())
    assert files == ["checkpoint", f"ckpt-{STEPS}.data-00000-of-00001", f"ckpt-{STEPS}.index"], files
    assert not list(root.glob(".worker-*"))
    info = json.loads((d / "train_info.json").read_text())
    assert info["steps"] == STEPS and info["strategy"]["replicas"] == 2
    w = _weights(d)
    assert _max_diff(w, _initial(args[0])) > 100 * TOL
    diff = _max_diff(w, _weights(_log_dir(tmp / "one")))
    print(f"2 workers vs 1 device after {STEPS} steps: max |Δw| = {diff:.3g}")
    assert diff <= TOL
    out = _done(_train(args, root, "--max_steps", str(STEPS + 1), "--restore", str(d), "--restore_continue",
                       "--strategy", "mirrored", "--cpu_replicas", "2"))
    assert f"(step {STEPS})" in out and f"now at step {STEPS}" in out, out[-2000:]
    assert json.loads((d / "train_info.json").read_text())["steps"] == STEPS + 1
    assert sorted(p.name for p in (d / "ckpts").glob("*.index")) == [f"ckpt-{STEPS + 1}.index"]


# --- val.py --scheduler ------------------------------------------------------------------------------------

def _rows(path):
    from shared_eval.measures_csv import read_measures
    from shared_eval.sweep import TIMING_COLUMNS
    return sorted(({k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in read_measures(path)),
                  key=lambda r: r["img_name"])


def test_val_on_a_local_cluster_equals_in_process_and_resumes(tmp_path, mini_codec, capsys):
    import val
    from cpm.codec import save_model
    save_model(mini_codec.model, tmp_path / "logs" / "0101_0000 mini@low mini@res_shallow", "mini/low",
               "mini/res_shallow")
    imgs = tmp_path / "imgs"
    coffee = sample_images(("coffee",))["coffee"]
    for name, (y, x, h, w) in {"a": (0, 0, 61, 90), "b": (100, 50, 64, 64), "c": (200, 300, 45, 71)}.items():
        write_png(imgs / f"{name}.png", coffee[y:y + h, x:x + w])
    base = [str(tmp_path / "logs"), "0101", str(imgs), "--no-progress"]
    assert val.main(base + ["--out_dir", str(tmp_path / "inproc")]) == 0
    ref = _rows(tmp_path / "inproc" / "measures.csv")
    assert [r["img_name"] for r in ref] == ["a.png", "b.png", "c.png"] and all(r["bpp"] > 0 for r in ref)
    out = tmp_path / "dask"
    capsys.readouterr()
    assert val.main(base + ["--out_dir", str(out), "--scheduler", "local:2"]) == 0
    assert "3 tasks: 0 already done, 3 computed, 0 failed" in capsys.readouterr().out
    assert _rows(out / "measures.csv") == ref
    # a driver killed after the images finished, one image's record lost: only that image is recomputed
    (out / "validated_ckpts.pkl").unlink()
    (out / "measures.csv").unlink()
    records = sorted((out / ".measures.csv.work").glob("*.json"))
    assert len(records) == 3
    records[0].unlink()
    assert val.main(base + ["--out_dir", str(out), "--scheduler", "in-process"]) == 0
    assert "3 tasks: 2 already done, 1 computed, 0 failed" in capsys.readouterr().out
    assert _rows(out / "measures.csv") == ref
    # a scheduler address that does not answer: one line naming the flag, nothing written
    t0 = time.monotonic()
    bad = tmp_path / "bad"
    assert val.main(base + ["--out_dir", str(bad), "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert time.monotonic() - t0 < 30 and "--scheduler tcp://127.0.0.1:9" in err and len(err.strip().splitlines()) == 1
    assert not bad.exists()
