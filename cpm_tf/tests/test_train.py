"""A few training steps end to end: losses, TensorBoard summaries, checkpoints, resume, log-dir names."""

import glob
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from cpm.train_loop import log_dir_name, train

from shared_data.imageio import write_png

ROOT = Path(__file__).resolve().parents[1]


def test_log_dir_name():
    assert log_dir_name("cvpr/low", "cvpr/res_shallow", datetime(2018, 5, 15, 11, 3)) == \
        "0515_1103 cvpr@low cvpr@res_shallow"
    assert log_dir_name("a-b/c", "p", datetime(2018, 5, 15, 11, 3)) == "0515_1103 a*b@c p"


def _tags(event_dir):
    tags = set()
    for f in glob.glob(str(event_dir / "events.*")):
        for e in tf.compat.v1.train.summary_iterator(f):
            for v in e.summary.value:
                tags.add(v.tag)
    return tags


@pytest.mark.slow
def test_train_and_resume(tmp_path):
    data = tmp_path / "photos"
    rng = np.random.RandomState(0)
    for i in range(3):
        write_png(data / f"{i}.png", rng.randint(0, 255, (40 + 3 * i, 52, 3)).astype(np.uint8))
    ae = tmp_path / "ae"
    ae.write_text(f"use {ROOT / 'ae_configs/mini/low'}\ncrop_size = (32, 32)\nbatch_size = 2\n")
    pc = tmp_path / "pc"
    pc.write_text(f"use {ROOT / 'pc_configs/mini/res_shallow'}\n")
    d = train(ae, pc, str(data), str(data), tmp_path / "logs", max_steps=2, log_train=1, log_save=1, log_test=2,
              quiet=True)
    assert (d / "ckpts" / "checkpoint").is_file() and (d / "weights.npz").is_file()
    train_tags, test_tags = _tags(d / "train"), _tags(d / "test")
    assert {"total", "bpp", "ms_ssim", "H_soft", "heatmap_sum"} <= train_tags
    assert "heatmap_sum" in test_tags and "bpp" in test_tags
    w1 = np.load(d / "weights.npz")["probclass3d/logits/conv3d_conv0_mask/weights"]
    d2 = train(ae, pc, str(data), None, tmp_path / "logs", restore=str(d), max_steps=3, log_train=1,
               log_save=100, log_test=-1, quiet=True, restore_continue=True)
    assert d2 == d
    assert json.loads((d / "train_info.json").read_text())["steps"] == 3
    w2 = np.load(d / "weights.npz")["probclass3d/logits/conv3d_conv0_mask/weights"]
    assert not np.array_equal(w1, w2)  # the third step trained the context model
    # without --restore_continue: a new "... RESTORE@..." log dir, continuing from the latest checkpoint <= 99 (step 3)
    d3 = train(ae, pc, str(data), None, tmp_path / "logs", restore=str(d / "ckpts"), restore_itr=99, max_steps=4,
               log_train=1, log_save=100, log_test=-1, quiet=True, temporary=True)
    assert d3.parent.name == "logs_TMP" and " RESTORE@" in d3.name and d3.name.endswith(d.name.split(" ")[0])
    assert json.loads((d3 / "train_info.json").read_text())["steps"] == 4


def test_one_eager_step_and_checkpoint(tmp_path, mini_codec):
    """One training step (eager, no tracing: fast) moves both optimisers' variables; a checkpoint restores."""
    from cpm.config import load_ae_config, load_pc_config
    from cpm.model import CPM
    from cpm.train_loop import Trainer
    m = CPM(load_ae_config(ROOT / "ae_configs/mini/low"), load_pc_config(ROOT / "pc_configs/mini/res_shallow"))
    tr = Trainer(m, itr_per_epoch=10)
    before = m.numpy_weights()
    x = tf.random.stateless_uniform((2, 32, 32, 3), (1, 2), 0, 255)
    out, grads = tr._train_step(x)
    assert grads == ()
    assert all(np.isfinite(float(v)) for v in out.values())
    assert 0 < float(out["ms_ssim"]) < 1 and float(out["heatmap_sum"]) > 0
    after = m.numpy_weights()
    for k in ("autoencoder/encoder/h1/weights", "autoencoder/encoder/centers",
              "probclass3d/logits/conv3d_conv2_mask/weights", "autoencoder/decoder/h13/BatchNorm/moving_mean"):
        assert not np.array_equal(before[k], after[k]), k
    ck = tr.checkpoint()
    path = ck.save(str(tmp_path / "ckpt"))
    m2 = CPM(m.ae_config, m.pc_config, seed=99)
    tr2 = Trainer(m2, itr_per_epoch=10)
    tr2.checkpoint().restore(path).expect_partial()
    assert int(tr2.step.numpy()) == 1
    for k, v in m2.numpy_weights().items():
        np.testing.assert_array_equal(v, after[k], err_msg=k)
