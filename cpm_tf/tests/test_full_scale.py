"""SCALE=full without a GPU: ImageNet TFRecords as shared_data writes them (``python -m shared_data prepare
imagenet-cpm``: ``records/{train,val}/*.tfrecord``, feature ``image/encoded``) feed train.py and
``reproduce.py --scale full`` (the full-size cvpr configs; 1 step, small crops via --set)."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared_data import tfrecord
from shared_data.imageio import sample_images, write_png

ROOT = Path(__file__).resolve().parents[1]


def _jpeg(a):
    b = io.BytesIO()
    Image.fromarray(a).save(b, "JPEG", quality=90)
    return b.getvalue()


@pytest.fixture(scope="module")
def records_root(tmp_path_factory):
    """Two tiny shards (train, val) written with shared_data's TFRecord writer, 3 photos each."""
    root = tmp_path_factory.mktemp("imagenet") / "records"
    img = sample_images(("coffee",))["coffee"]
    for split in ("train", "val"):
        recs = [tfrecord.encode_example({"image/encoded": _jpeg(img[40 * i:40 * i + 96, 50 * i:50 * i + 128])})
                for i in range(3)]
        tfrecord.write_records(root / split / f"{split}-00000.tfrecord", recs)
    return root


def test_records_pipeline(records_root, monkeypatch):
    from cpm.data import IMAGENET_TRAIN_IMAGES, make_dataset

    from shared_data.errors import DatasetError
    monkeypatch.setenv("RECORDS_ROOT", str(records_root))
    ds, n = make_dataset("imgnet_train", (64, 64), 4)
    x = next(iter(ds)).numpy()
    assert n == IMAGENET_TRAIN_IMAGES and x.shape == (4, 64, 64, 3) and 0 <= x.min() and x.max() <= 255
    assert x.std() > 10  # real photo content decoded from the JPEG bytes
    monkeypatch.setenv("RECORDS_ROOT", str(records_root.parent / "nothing"))
    with pytest.raises(DatasetError, match="tfrecord"):
        make_dataset("imgnet_train", (64, 64), 4)
    monkeypatch.delenv("RECORDS_ROOT")
    with pytest.raises(DatasetError, match="RECORDS_ROOT"):
        make_dataset("imgnet_test", (64, 64), 4)


def _run(args, env_extra, timeout=900):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env_extra}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_reproduce_full_bad_arguments(records_root, tmp_path):
    env = {"RECORDS_ROOT": str(records_root)}
    r = _run(["reproduce.py", "--scale", "full", "--out", str(tmp_path / "o"), "--configs", "low,huge"], env)
    assert r.returncode == 1 and "huge" in r.stderr.strip().splitlines()[-1]
    r = _run(["reproduce.py", "--scale", "full", "--out", str(tmp_path / "o"), "--configs", "low",
              "--set", "bach_size=2"], env)
    assert r.returncode == 1 and "bach_size" in r.stderr.strip().splitlines()[-1]
    r = _run(["reproduce.py", "--scale", "full", "--out", str(tmp_path / "o"), "--configs", "low"],
             {"RECORDS_ROOT": ""})
    assert r.returncode == 1 and "RECORDS_ROOT" in r.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_reproduce_full_one_step(records_root, tmp_path):
    """The full-scale driver end to end: cvpr/low (full-size network) trains 1 step on the records, then
    is evaluated with real bitstreams (on a small image instead of Kodak, to keep it short)."""
    evald = tmp_path / "eval"
    write_png(evald / "a.png", sample_images(("coffee",))["coffee"][:64, :72])
    out = tmp_path / "full"
    r = _run(["reproduce.py", "--scale", "full", "--out", str(out), "--configs", "low", "--max_steps", "1",
              "--set", "crop_size=(32, 32)", "--set", "batch_size=2", "--images", str(evald)],
             {"RECORDS_ROOT": str(records_root)})
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["scale"] == "full" and s["n_images"] == 1 and s["bpp"] > 0 and s["configs"] == ["low"]
    log_dir = Path(s["log_dirs"][0])
    assert json.loads((log_dir / "train_info.json").read_text())["steps"] == 1
    cfg = json.loads((log_dir / "config.json").read_text())
    assert cfg["ae"]["num_chan_bn"] == 32 and cfg["ae"]["arch_param_B"] == 5 and cfg["ae"]["batch_size"] == 2
    assert "A" in (out / "measures.csv").read_text()


@pytest.mark.slow
def test_train_py_on_records_with_flags(records_root, tmp_path):
    """train.py on imgnet_train/imgnet_test records with -lmeta -lgrads -d, then --from_identity."""
    import tensorflow as tf
    ae = tmp_path / "ae"
    ae.write_text(f"use {ROOT / 'ae_configs/mini/low'}\ncrop_size = (64, 64)\nbatch_size = 2\n")
    env = {"RECORDS_ROOT": str(records_root)}
    logs = tmp_path / "logs"
    r = _run(["train.py", str(ae), "pc_configs/mini/res_shallow", "-o", str(logs), "--max_steps", "2",
              "-ltrain", "1", "-ltest", "2", "-lmeta", "-lgrads", "-d", "smoke test"], env)
    assert r.returncode == 0, r.stderr[-2000:]
    (d,) = (p for p in logs.iterdir() if p.is_dir())
    assert "smoke test" in (d / "description.txt").read_text()
    tags = set()
    for f in (d / "train").glob("events.*"):
        for e in tf.compat.v1.train.summary_iterator(str(f)):
            tags |= {v.tag for v in e.summary.value}
    # -lmeta: the traced graph of the first step as a summary, and a profiler trace next to it
    assert "train_step" in tags and list((d / "train" / "plugins" / "profile").glob("*/*.trace*"))
    assert "gradients/global_norm_AE" in tags and "gradients/global_norm_PC" in tags
    assert "gradients/autoencoder/encoder/h1/weights" in tags
    r = _run(["train.py", str(ae), "pc_configs/mini/res_shallow", "-o", str(logs), "--max_steps", "1",
              "-ltest", "-1", "--from_identity", str(d)], env)
    assert r.returncode == 0, r.stderr[-2000:]
    (d2,) = (p for p in logs.iterdir() if p.is_dir() and "RESTORE@" in p.name)
    assert json.loads((d2 / "train_info.json").read_text())["steps"] == 1  # step counter not restored
    w1, w2 = np.load(d / "weights.npz"), np.load(d2 / "weights.npz")
    k = "autoencoder/encoder/centers"
    assert np.abs(w1[k] - w2[k]).max() < 0.01  # restored weights (one more small Adam step)
