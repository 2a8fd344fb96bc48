"""Import of released TF1/tfc 1.3 checkpoints: the test writes a checkpoint in the TF1 name layout itself
(tf.compat.v1 graph + Saver, ``model.ckpt-<step>``) from a reference model, imports it into a fresh model and
checks that every parameter and the model's outputs match."""
import json

import numpy as np
import pytest
import tensorflow as tf
from sga.checkpoints import load_model, parse_lambda
from sga.model import MBT2018
from sga.tf1_import import import_tf1, irdft_matrix, rdft_from_kernel, tf1_variable_names

from shared_data.errors import ModelError


def _tf1_values(ref: MBT2018):
    """What the released checkpoint would hold for ``ref``'s parameters (TF1 names, tfc 1.3 layouts)."""
    vals = {}
    for ours, scope in (("analysis_transform", "analysis_transform"), ("synthesis_transform", "synthesis_transform"),
                        ("hyper_analysis_transform", "hyper_analysis_transform"),
                        ("hyper_synthesis_transform", "mbt2018_hyper_synthesis_transform")):
        for i, layer in enumerate(getattr(ref, ours).layers):
            k = layer.kernel.numpy().astype(np.float64)
            if ours == "hyper_synthesis_transform":
                vals[f"{scope}/layer_{i}/kernel"] = k.astype(np.float32)
            else:
                vals[f"{scope}/layer_{i}/kernel_rdft"] = rdft_from_kernel(k).astype(np.float32)
            if layer.use_bias:
                vals[f"{scope}/layer_{i}/bias"] = layer.bias.numpy()
            if layer.activation is not None and hasattr(layer.activation, "beta_parameter"):
                g = layer.activation
                vals[f"{scope}/layer_{i}/{g.name}/reparam_beta"] = g.beta_parameter.variable.numpy()
                vals[f"{scope}/layer_{i}/{g.name}/reparam_gamma"] = g.gamma_parameter.variable.numpy()
    for v in ref.hyperprior.trainable_variables:
        vals[f"entropy_bottleneck/{v.name.split('/')[-1].split(':')[0]}"] = v.numpy()
    return vals


def _write_tf1_checkpoint(run_dir, vals, step=1000):
    """tf.compat.v1 Saver checkpoint with exactly these variable names (+ things the importer ignores)."""
    extra = {"entropy_bottleneck/quantiles": np.zeros((8, 1, 3), np.float32), "global_step": np.int64(step),
             "analysis_transform/layer_0/bias/Adam": np.zeros(8, np.float32), "beta1_power": np.float32(0.9)}
    g = tf.Graph()
    with g.as_default():
        vs = [tf.compat.v1.Variable(v, name=k) for k, v in {**vals, **extra}.items()]
        saver = tf.compat.v1.train.Saver(vs)
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, str(run_dir / "model.ckpt"), global_step=step)


def test_irdft_matrix_orthonormal_and_dc():
    m = irdft_matrix((5, 5))
    np.testing.assert_allclose(m @ m.T, np.eye(25), atol=1e-12)
    np.testing.assert_allclose(m[:, 0], np.full(25, 0.2), atol=1e-12)  # DC basis: constant 1/sqrt(25)


def test_import_tf1_layout(tmp_path):
    tf.random.set_seed(11)
    ref = MBT2018(8)
    for v in ref.trainable_variables:  # move away from the initializer so that a wrong mapping shows
        v.assign(v + tf.random.stateless_normal(v.shape, seed=(1, len(v.name))) * 0.01)
    vals = _tf1_values(ref)
    assert set(vals) == set(tf1_variable_names(8))
    run = tmp_path / "mbt2018-num_filters=8-lmbda=0.0025"
    run.mkdir()
    _write_tf1_checkpoint(run, vals)
    assert (run / "checkpoint").is_file() and (run / "model.ckpt-1000.index").is_file()
    names = {n for n, _ in tf.train.list_variables(str(run / "model.ckpt-1000"))}
    assert "analysis_transform/layer_0/gdn_0/reparam_beta" in names  # the TF1 layout, not object-based

    out = tmp_path / "imported"
    model, args = import_tf1(run, out)
    assert args["lmbda"] == 0.0025 and args["num_filters"] == 8
    info = json.loads((out / "import.json").read_text())
    assert set(info["ignored"]) == {"entropy_bottleneck/quantiles", "global_step",
                                    "analysis_transform/layer_0/bias/Adam", "beta1_power"}
    loaded, _ = load_model(out)
    for a, b in ((ref, model), (ref, loaded)):
        for na in ("analysis_transform", "synthesis_transform", "hyper_analysis_transform",
                   "hyper_synthesis_transform"):
            for la, lb in zip(getattr(a, na).layers, getattr(b, na).layers):
                np.testing.assert_allclose(la.kernel.numpy(), lb.kernel.numpy(), atol=2e-6)
        x = tf.random.stateless_uniform((1, 64, 64, 3), seed=(2, 3))
        ya, yb = a.analysis_transform(x), b.analysis_transform(x)
        np.testing.assert_allclose(ya.numpy(), yb.numpy(), atol=1e-4)
        za = tf.round(a.hyper_analysis_transform(ya))
        ra, rb = a.rd_terms(x, tf.round(ya), za), b.rd_terms(x, tf.round(ya), za)
        for u, v in zip(ra, rb):
            np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-4, atol=1e-4)


def test_import_errors(tmp_path, capsys):
    tf.random.set_seed(1)
    run = tmp_path / "my_model_run"  # no λ in the name
    run.mkdir()
    _write_tf1_checkpoint(run, _tf1_values(MBT2018(8)))
    with pytest.raises(ValueError, match="cannot parse lambda from run name 'my_model_run'"):
        import_tf1(run)
    model, args = import_tf1(run, lmbda=0.04)
    assert args["lmbda"] == 0.04
    from sga.__main__ import main

    capsys.readouterr()
    assert main(["import-tf1", str(run), str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot parse lambda from run name 'my_model_run'" in err
    assert main(["import-tf1", str(run), str(tmp_path / "o"), "--lambda", "0.04"]) == 0
    assert (tmp_path / "o" / "args.json").is_file()
    with pytest.raises(ModelError, match="no TF1 checkpoint"):
        import_tf1(tmp_path / "empty-lmbda=0.01" if (tmp_path / "empty-lmbda=0.01").mkdir() is None else None)
    with pytest.raises(ValueError, match="pass --lambda"):
        parse_lambda("mbt2018-num_filters=192")
    assert parse_lambda("mbt2018-num_filters=192-lmbda=1e-3") == 1e-3
