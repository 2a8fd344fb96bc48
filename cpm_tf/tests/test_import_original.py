"""The TF1 importer, on a checkpoint written in the original's (name-based, slim) layout by this test."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from cpm.codec import load_codec
from cpm.config import load_ae_config, load_pc_config
from cpm.import_original import convert
from cpm.model import CPM

from shared_data.errors import ModelError

ROOT = Path(__file__).resolve().parents[1]
AE, PC = ROOT / "ae_configs/mini/low", ROOT / "pc_configs/mini/res_shallow"


def write_tf1_checkpoint(prefix, drop=None):
    ref = CPM(load_ae_config(AE), load_pc_config(PC), seed=7)
    rng = np.random.RandomState(3)
    values = {k: v.numpy() + rng.normal(0, 0.01, v.shape).astype(np.float32) for k, v in ref.vars.items()}
    g = tf.Graph()
    with g.as_default():
        vs = [tf.compat.v1.Variable(val, name=k) for k, val in values.items() if k != drop]
        vs.append(tf.compat.v1.Variable(values["autoencoder/encoder/h1/weights"], name="autoencoder/encoder/h1/weights/Adam"))
        vs.append(tf.compat.v1.Variable(0, name="global_step", dtype=tf.int64))
        saver = tf.compat.v1.train.Saver(vs)
        with tf.compat.v1.Session(graph=g) as s:
            s.run(tf.compat.v1.global_variables_initializer())
            saver.save(s, str(prefix))
    return values


def test_import_tf1_checkpoint(tmp_path):
    values = write_tf1_checkpoint(tmp_path / "model.ckpt-100")
    info = convert(str(tmp_path / "model.ckpt-100"), AE, PC, tmp_path / "out")
    assert info["unused"] == []
    codec = load_codec(tmp_path / "out")
    for k, v in codec.model.vars.items():
        np.testing.assert_array_equal(v.numpy(), values[k], err_msg=k)


def test_import_missing_variable(tmp_path):
    write_tf1_checkpoint(tmp_path / "m.ckpt", drop="autoencoder/encoder/centers")
    with pytest.raises(ModelError, match="centers"):
        convert(str(tmp_path / "m.ckpt"), AE, PC, tmp_path / "out")
