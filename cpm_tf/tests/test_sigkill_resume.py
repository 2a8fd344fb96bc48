"""Training survives SIGKILL (issue 17): ``train.py`` killed mid-run continues with the original's
``--restore LOG_DIR`` (+ ``--restore_continue``) from the step of its latest checkpoint, and a
checkpoint write killed half-way (after ``tf.train.CheckpointManager`` wrote the shards to ``ckpt-N_temp/``,
before ``MergeV2Checkpoints`` writes ``ckpt-N.index``) never becomes the latest: a checkpoint exists for
:func:`cpm.checkpoints.list_checkpoints` only once its ``.index`` is there, which TF writes last.
Both are slow-marked: three TF trainings (tracing the train step) take ~45 s CPU each (150 s on the shared
machine)."""

import json
import re
import signal
import sys

import numpy as np
import pytest
from conftest import ROOT
from cpm.checkpoints import list_checkpoints

from shared_data.imageio import write_png
from shared_data.killtest import KILL_IN_CALL, driver, run, run_until_then_kill


@pytest.fixture
def args(tmp_path):
    data = tmp_path / "photos"
    rng = np.random.RandomState(0)
    for i in range(2):
        write_png(data / f"{i}.png", rng.randint(0, 255, (40, 40, 3)).astype(np.uint8))
    ae = tmp_path / "ae"
    ae.write_text(f"use {ROOT / 'ae_configs/mini/low'}\ncrop_size = (32, 32)\nbatch_size = 1\n")
    pc = tmp_path / "pc"
    pc.write_text(f"use {ROOT / 'pc_configs/mini/res_shallow'}\n")
    return [str(ae), str(pc), "-dtrain", str(data), "-ltest", "-1", "-lsave", "1", "-ltrain", "1000",
            "-o", str(tmp_path / "logs"), "--threads", "1"]


def _log_dir(tmp):
    return next(d for d in (tmp / "logs").iterdir() if d.is_dir())


def _latest(tmp) -> int:
    try:
        c = list_checkpoints(_log_dir(tmp) / "ckpts")
    except (StopIteration, FileNotFoundError):
        return -1
    return c[-1][0] if c else -1


def _resume_and_check(args, log_dir, at, to):
    out = run([sys.executable, "train.py", *args, "--restore", str(log_dir), "--restore_continue",
               "--max_steps", str(to)], cwd=ROOT)
    m = re.search(r"restored .*ckpt-(\d+) \(step (\d+)\).*now at step (\d+)", out)
    assert m and int(m.group(1)) == int(m.group(2)) == int(m.group(3)) == at, out[-2000:]
    assert json.loads((log_dir / "train_info.json").read_text())["steps"] == to
    assert list_checkpoints(log_dir / "ckpts")[-1][0] == to
    from cpm.checkpoints import restore_model_weights
    from cpm.codec import load_codec
    codec = load_codec(log_dir)  # weights.npz + config.json of the final step
    restore_model_weights(codec.model, list_checkpoints(log_dir / "ckpts")[-1][1])


@pytest.mark.slow
def test_sigkill_mid_run_then_restore(tmp_path, args):
    run_until_then_kill([sys.executable, "train.py", *args, "--max_steps", "100000"], ROOT,
                        lambda: _latest(tmp_path) >= 2, timeout=300)
    at = _latest(tmp_path)
    assert at >= 2
    _resume_and_check(args, _log_dir(tmp_path), at, at + 2)


@pytest.mark.slow
def test_sigkill_inside_checkpoint_write(tmp_path, args):
    cmd = driver(KILL_IN_CALL.format(module="tensorflow.python.ops.gen_io_ops", attr="merge_v2_checkpoints",
                                     after=2, mode="before", match=""), ROOT / "train.py",
                 [*args, "--max_steps", "100000"])
    run(cmd, cwd=ROOT, expect_rc=-signal.SIGKILL, timeout=300)
    d = _log_dir(tmp_path) / "ckpts"
    assert list(d.glob("ckpt-2_temp*")), f"no ckpt-2_temp left: the kill did not interrupt a save ({list(d.iterdir())})"
    assert [s for s, _ in list_checkpoints(d)] == [1]
    _resume_and_check(args, d.parent, 1, 3)
