"""Training survives SIGKILL (issue 17). The original's training scripts resume by running the same command
again (``ckpt.restore(manager.latest_checkpoint)``); so do ours (:mod:`rec.resume`, ``SAVE_DIR/train_state``):
``train_lossy_model.py`` killed mid-run continues at the step of its latest checkpoint, a checkpoint write
killed half-way (before ``MergeV2Checkpoints``) never becomes the latest, and the lossless loop restores its
step, optimizer, EMA copies and learning rate. The subprocess tests are slow-marked (TF start + tracing)."""

import re
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from shared_data.imageio import write_png
from shared_data.killtest import KILL_IN_CALL, driver, run, run_until_then_kill

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = "examples/lossy/train_lossy_model.py"


@pytest.fixture
def setup(tmp_path):
    data = tmp_path / "photos"
    rs = np.random.RandomState(0)
    for i in range(2):
        write_png(data / f"{i}.png", np.clip(rs.randn(72, 72, 3) * 40 + 128, 0, 255).astype(np.uint8))
    args = ["with", "level_1_filters=8", "level_2_filters=8", "crop_size=64", "batch_size=1", "log_freq=1",
            f"dataset.dataset_base_path={data}", f"model_save_dir={tmp_path / 'model'}"]
    return tmp_path, args, {"IREC_SACRED_DIR": str(tmp_path / "sacred")}


def _latest(model_dir: Path) -> int:
    try:
        text = (model_dir / "train_state" / "checkpoint").read_text()
    except FileNotFoundError:
        return -1
    m = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', text, re.M)
    return int(m.group(1)) if m else -1


def _resume_and_check(tmp, args, env, at, to):
    out = run([sys.executable, SCRIPT, *args, f"iters={to}"], cwd=ROOT, env=env)
    assert re.search(rf"Restored model from .*ckpt-{at} at step {at}\b", out), out[-2000:]
    assert f"after {to - at} iterations" in out, out[-2000:]
    assert _latest(tmp / "model") == to
    from rec.codec import load_model
    load_model(tmp / "model")  # config.json + weights.npz of the final step load


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun(setup):
    tmp, args, env = setup
    run_until_then_kill([sys.executable, SCRIPT, *args, "iters=100000"], ROOT,
                        lambda: _latest(tmp / "model") >= 2, timeout=300, env=env)
    at = _latest(tmp / "model")
    assert at >= 2
    _resume_and_check(tmp, args, env, at, at + 2)


@pytest.mark.slow
def test_sigkill_inside_checkpoint_write(setup):
    tmp, args, env = setup
    cmd = driver(KILL_IN_CALL.format(module="tensorflow.python.ops.gen_io_ops", attr="merge_v2_checkpoints",
                                     after=2, mode="before", match=""), ROOT / SCRIPT, [*args, "iters=100000"])
    run(cmd, cwd=ROOT, expect_rc=-signal.SIGKILL, timeout=300, env=env)
    d = tmp / "model" / "train_state"
    assert list(d.glob("ckpt-2_temp*")), f"no ckpt-2_temp left: the kill did not interrupt a save ({list(d.iterdir())})"
    assert _latest(tmp / "model") == 1
    _resume_and_check(tmp, args, env, 1, 3)


def test_lossless_resume_restores_step_optimizer_ema_and_lr(tmp_path):
    """In-process: 2 steps, then the same call with iters=3 trains exactly one more step from the saved state."""
    import tensorflow as tf
    from rec.resume import TrainState
    from rec.train import train_lossless

    cfg = dict(model="resnet_vae", num_res_blocks=1, deterministic_filters=8, stochastic_filters=4)
    rs = np.random.RandomState(0)

    def batches():
        while True:
            yield rs.randint(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    d = tmp_path / "m"
    _, h1 = train_lossless(cfg, batches(), 2, d, log_freq=1, drop_learning_rate_after_iter=2,
                           learning_rate_drop_rate=0.5)
    assert [h["iter"] for h in h1] == [1, 2]
    model, h2 = train_lossless(cfg, batches(), 3, d, log_freq=1, drop_learning_rate_after_iter=2,
                               learning_rate_drop_rate=0.5)
    assert [h["iter"] for h in h2] == [3]  # continued, not restarted
    opt = tf.keras.optimizers.Adamax(tf.Variable(0.0))
    lr = tf.Variable(0.0)
    ema = [tf.Variable(tf.zeros_like(v)) for v in model.trainable_variables]
    st = TrainState(d, opt, model.trainable_variables, model=model, ema=ema, learning_rate=lr)
    assert st.restore() == 3
    assert int(opt.iterations.numpy()) == 3 and np.isclose(float(lr.numpy()), 1e-3 * 0.5)  # one drop, at step 2
    assert any(float(tf.reduce_max(tf.abs(e))) > 0 for e in ema)
