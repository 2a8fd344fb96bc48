"""The original scripts' flags: train.py's restore options (--restore_itr, --restore_continue,
--restore_skip_vars, --from_identity, -t), val.py's --ckpt_step / --reset / validated_ckpts.pkl /
--image_cache_max / TensorBoard scalars, and the BPG codec distance (-dcodec)."""

import glob
import pickle
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from cpm.checkpoints import (
    checkpoint_at_or_before,
    list_checkpoints,
    log_dir_of_restore_flag,
    named_state,
    restore_training_state,
)
from cpm.codec import save_model
from cpm.codec_distance import CodecDistance, CodecDistanceReadException
from cpm.config import load_ae_config, load_pc_config
from cpm.model import CPM
from cpm.train_loop import Trainer, log_dir_name, restore_suffix, unique_log_dir

from shared_data.errors import ModelError
from shared_data.imageio import sample_images, write_png

ROOT = Path(__file__).resolve().parents[1]


def _configs():
    return load_ae_config(ROOT / "ae_configs/mini/low"), load_pc_config(ROOT / "pc_configs/mini/res_shallow")


@pytest.fixture(scope="module")
def trained_log_dir(tmp_path_factory):
    """A log dir with checkpoints at steps 1, 2, 3 (eager steps on 64 px crops: no tracing, fast)."""
    ae, pc = _configs()
    d = tmp_path_factory.mktemp("logs") / "0101_0000 mini@low mini@res_shallow"
    tr = Trainer(CPM(ae, pc), itr_per_epoch=10)
    mgr = tf.train.CheckpointManager(tr.checkpoint(), str(d / "ckpts"), max_to_keep=None)
    snaps = {}
    photo = sample_images(("coffee",))["coffee"].astype(np.float32)
    for i in range(3):
        out, _ = tr._train_step(tf.constant(np.stack([photo[60 * i:60 * i + 64, 90 * j:90 * j + 64] for j in (1, 3)])))
        assert np.isfinite(float(out["total"]))
        mgr.save(checkpoint_number=int(tr.step.numpy()))
        snaps[i + 1] = {k: v.numpy().copy() for k, v in named_state(tr).items()}
    save_model(tr.model, d, "mini/low", "mini/res_shallow", extra={"train": {"step": 3}})
    return d, snaps


def test_checkpoint_listing_and_restore_itr(trained_log_dir):
    d, _ = trained_log_dir
    assert [s for s, _ in list_checkpoints(d / "ckpts")] == [1, 2, 3]
    assert checkpoint_at_or_before(d / "ckpts")[0] == 3
    assert checkpoint_at_or_before(d / "ckpts", 2)[0] == 2
    assert checkpoint_at_or_before(d / "ckpts", 99)[0] == 3
    with pytest.raises(ModelError, match="step <= 0"):
        checkpoint_at_or_before(d / "ckpts", 0)
    assert log_dir_of_restore_flag(d) == d and log_dir_of_restore_flag(d / "ckpts") == d
    with pytest.raises(ModelError, match="ckpts"):
        log_dir_of_restore_flag(d.parent)


def test_restore_all_and_skip_vars(trained_log_dir):
    d, snaps = trained_log_dir
    ae, pc = _configs()

    def fresh():
        return Trainer(CPM(ae, pc, seed=42), itr_per_epoch=10)
    # everything, at --restore_itr 2
    tr = fresh()
    restore_training_state(tr, checkpoint_at_or_before(d / "ckpts", 2)[1], None, fresh)
    state = {k: v.numpy() for k, v in named_state(tr).items()}
    assert state["global_step"] == 2
    for k, v in snaps[2].items():
        np.testing.assert_array_equal(state[k], v, err_msg=k)
    # --from_identity semantics: global_step and Adam skipped; model (incl. BN statistics) restored
    tr = fresh()
    fresh_w = {k: v.numpy().copy() for k, v in named_state(tr).items()}
    n_ok, n_skip = restore_training_state(tr, checkpoint_at_or_before(d / "ckpts")[1], "global_step,Adam", fresh)
    state = {k: v.numpy() for k, v in named_state(tr).items()}
    assert n_skip == 1 + 2 + 2 * (len(tr.ae_vars) + len(tr.pc_vars)) and n_ok == len(tr.model.vars)
    assert state["global_step"] == 0 and state["Adam_AE/iterations"] == 0
    k = "autoencoder/encoder/h1/weights"
    np.testing.assert_array_equal(state[k], snaps[3][k])
    np.testing.assert_array_equal(state[f"{k}/Adam_AE"], fresh_w[f"{k}/Adam_AE"])
    assert not np.array_equal(snaps[3][f"{k}/Adam_AE"], fresh_w[f"{k}/Adam_AE"])
    # skip by a name fragment: the probclass keeps its fresh weights
    tr = fresh()
    restore_training_state(tr, checkpoint_at_or_before(d / "ckpts")[1], "probclass3d", fresh)
    state = {k: v.numpy() for k, v in named_state(tr).items()}
    p = "probclass3d/logits/conv3d_conv0_mask/weights"
    np.testing.assert_array_equal(state[p], fresh_w[p])
    np.testing.assert_array_equal(state[k], snaps[3][k])
    # a checkpoint of another architecture is refused with a clear error
    other = Trainer(CPM(load_ae_config(ROOT / "ae_configs/cvpr/low"), pc), itr_per_epoch=10)
    with pytest.raises(ModelError, match="does not fit"):
        restore_training_state(other, checkpoint_at_or_before(d / "ckpts")[1])


def test_log_dir_names(tmp_path):
    assert log_dir_name("cvpr/low", "cvpr/res_shallow", datetime(2018, 5, 15, 11, 3)) == \
        "0515_1103 cvpr@low cvpr@res_shallow"
    assert restore_suffix("/x/ckpts_root/0515_1103 cvpr@low cvpr@res_shallow") == "x@ckpts_root@0515_1103"
    assert log_dir_name("a-b/c", "p", datetime(2018, 5, 15, 11, 3), restore="r@0515_1103") == \
        "0515_1103 a*b@c p RESTORE@r@0515_1103"
    d1 = unique_log_dir(tmp_path, "cvpr/low", "cvpr/res_shallow")
    d2 = unique_log_dir(tmp_path, "cvpr/low", "cvpr/res_shallow")
    assert d1 != d2 and d1.name.split(" ")[0] != d2.name.split(" ")[0]  # next minute, as the original


def _scalars(folder):
    out = {}
    for f in glob.glob(str(Path(folder) / "events.*")):
        for e in tf.compat.v1.train.summary_iterator(f):
            for v in e.summary.value:
                out.setdefault(v.tag, {})[e.step] = float(tf.make_ndarray(v.tensor))
    return out


def test_val_ckpt_step_reset_and_scalars(trained_log_dir, tmp_path, capsys):
    import val
    d, _ = trained_log_dir
    imgs = tmp_path / "imgs"
    write_png(imgs / "a.png", sample_images(("coffee",))["coffee"][:40, :48])
    args = [str(d.parent), "0101", str(imgs), "--estimate_only"]
    assert val.main(args) == 0  # default --ckpt_step 2: ckpts[:-1:2] + [last] = steps 1, 3
    out = d.parent / "0101_0000 imgs"
    with open(out / "validated_ckpts.pkl", "rb") as f:
        assert pickle.load(f) == [1, 3]
    tags = _scalars(out)
    assert sorted(tags["val/imgs/avg_bpp"]) == [1, 3] and sorted(tags["val/imgs/avg_psnr"]) == [1, 3]
    # each checkpoint's weights were restored: the models differ
    assert tags["val/imgs/avg_bpp"][1] != tags["val/imgs/avg_bpp"][3]
    assert val.main(args + ["-s", "1"]) == 0  # only step 2 is missing
    with open(out / "validated_ckpts.pkl", "rb") as f:
        assert pickle.load(f) == [1, 3, 2]
    capsys.readouterr()
    assert val.main(args + ["-s", "1"]) == 0
    assert "all checkpoints validated" in capsys.readouterr().out
    assert val.main(args + ["--reset", "--ckpt_step", "-1", "-cache", "0", "-i", "5"]) == 0
    with open(out / "validated_ckpts.pkl", "rb") as f:
        assert pickle.load(f) == [3]
    assert (out / "measures.csv").is_file()
    (out / "validated_ckpts.pkl").write_bytes(pickle.dumps({"a": 1}))
    assert val.main(args) == 1 and "use --reset" in capsys.readouterr().err
    assert val.main(args + ["-s", "0"]) == 1


def test_codec_distance(tmp_path, monkeypatch):
    d = tmp_path / "out_bpg_imagenet_256_train_val_128x128__100"
    d.mkdir()
    # two images, ms-ssim linear in bpp: 0.9 + 0.05*bpp and 0.8 + 0.05*bpp -> mean 0.85 + 0.05*bpp
    for name, off in (("a", 0.9), ("b", 0.8)):
        rows = [f"{q},{b:.3f},0.5,{off + 0.05 * b:.4f},30.0" for q, b in ((40, 0.05), (30, 0.7), (20, 1.5))]
        (d / f"{name}_out.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("OTHER_CODECS_ROOT", str(tmp_path))
    cd = CodecDistance("testset", "bpg", "ms-ssim")
    assert cd.distance(0.5, 0.9) == pytest.approx(0.9 - (0.85 + 0.025), abs=1e-4)
    assert cd.distance(2.0, 0.9) is None
    with pytest.raises(CodecDistanceReadException, match="kodak"):
        CodecDistance("kodak", "bpg", "ms-ssim")
    monkeypatch.delenv("OTHER_CODECS_ROOT")
    with pytest.raises(CodecDistanceReadException, match="OTHER_CODECS_ROOT"):
        CodecDistance("testset", "bpg", "ms-ssim")
