"""Training survives SIGKILL (issue 17): ``mbt2018.py train`` killed mid-run resumes by running the same
command again (the original's ``MonitoredTrainingSession`` semantics: the latest checkpoint of
``checkpoint_dir/RUN_NAME`` is restored), at the step of that checkpoint; and a checkpoint write killed
half-way (shards written to ``ckpt-N_temp/``, before ``MergeV2Checkpoints``) never becomes the latest:
``tf.train.CheckpointManager`` names a checkpoint in its ``checkpoint`` state file only after the write.
Both slow-marked: three TF trainings (tracing the step) each."""

import re
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from shared_data.imageio import write_png
from shared_data.killtest import KILL_IN_CALL, driver, run, run_until_then_kill

ROOT = Path(__file__).resolve().parents[1]
NAME = "mbt2018-num_filters=8-lmbda=0.01"


@pytest.fixture
def args(tmp_path):
    d = tmp_path / "imgs"
    rng = np.random.RandomState(0)
    for i in range(2):
        write_png(d / f"{i}.png", rng.randint(0, 255, (72, 72, 3)).astype(np.uint8))
    return ["--num_filters", "8", "--checkpoint_dir", str(tmp_path / "ck"), "train", "--train_glob", str(d),
            "--batchsize", "1", "--patchsize", "64", "--lambda", "0.01", "--save_checkpoint_secs", "0",
            "--save_summary_secs", "1000", "--logdir", str(tmp_path / "logs"), "--seed", "1"]


def _latest(tmp) -> int:
    """Step of the checkpoint named by the CheckpointManager's state file (-1: none yet)."""
    try:
        m = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', (tmp / "ck" / NAME / "checkpoint").read_text(), re.M)
    except FileNotFoundError:
        return -1
    return int(m.group(1)) if m else -1


def _resume_and_check(tmp, args, at, to):
    out = run([sys.executable, "mbt2018.py", *args, "--last_step", str(to)], cwd=ROOT)
    assert re.search(rf"resumed .*ckpt-{at} at step {at}\b", out), out[-2000:]
    assert _latest(tmp) == to
    rec = (tmp / "ck" / NAME / "record.txt").read_text()
    assert f"start step {at} " in rec and f"end step {to} " in rec
    from sga.checkpoints import load_model
    load_model(tmp / "ck" / NAME, integer=False)  # the final checkpoint restores into the model


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun(tmp_path, args):
    run_until_then_kill([sys.executable, "mbt2018.py", *args, "--last_step", "100000"], ROOT,
                        lambda: _latest(tmp_path) >= 2, timeout=300)
    at = _latest(tmp_path)
    assert at >= 2
    _resume_and_check(tmp_path, args, at, at + 2)


@pytest.mark.slow
def test_sigkill_inside_checkpoint_write(tmp_path, args):
    cmd = driver(KILL_IN_CALL.format(module="tensorflow.python.ops.gen_io_ops", attr="merge_v2_checkpoints",
                                     after=2, mode="before", match=""), ROOT / "mbt2018.py",
                 [*args, "--last_step", "100000"])
    run(cmd, cwd=ROOT, expect_rc=-signal.SIGKILL, timeout=300)
    d = tmp_path / "ck" / NAME
    assert list(d.glob("ckpt-2_temp*")), f"no ckpt-2_temp left: the kill did not interrupt a save ({list(d.iterdir())})"
    assert _latest(tmp_path) == 1
    _resume_and_check(tmp_path, args, 1, 3)
