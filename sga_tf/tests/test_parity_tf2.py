"""Parity with the ORIGINAL's branch ``tf2`` (issue 18): ``parity/tf2/`` holds the outputs of
mandt-lab/improving-inference-for-neural-image-compression branch ``tf2`` (TF 2.10 / tfc 2.10 API, run unpatched
on TF 2.14.1 / tfc 2.14.1) on its own freshly initialised num_filters=32 ``MBT2018Model`` (its
``save_weights`` checkpoint) and the Kodak crop of the branch-``main`` fixture, written by
``tools/parity/make_sga_tf2_fixture.py`` (``parity/PROVENANCE.md``, "Branch tf2"). The weights enter through
``sga.tf2_import``; the eval pass (M3: ẑ on the prior's quantization offsets, μ, σ, ŷ, bits, x̂), the training
loss with the original's noise, ONE training step (Keras Adam 1e-4, ε 1e-7, the branch's optimizer) and one
SGA step of ``iterative_infer`` (offset grids, Keras Adam 5e-4) are compared.

Tolerances (float32): tensors and scalars ≤ 1e-5 relative; the Adam steps in units of lr (every element whose
|g| ≥ 1e-4 within 1e-3 lr + 2 ulp, all within 0.1 lr: Keras Adam's first step lr·g/(|g| + 3.2e-6) follows the
float32 noise of small gradients)."""
import functools
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from shared_data import parity
from shared_data.parity import FixtureError

ROOT = Path(__file__).resolve().parent.parent / "parity" / "tf2"
ORIGINAL_COMMIT = "89a2849a0dab0f93a5b67015d8d507dac9dfe3f5"  # branch tf2 of the original
REGEN = "tools/parity/make_sga_tf2_fixture.py (or update ORIGINAL_COMMIT)"
REQUIRED = ("outputs.npz", "step/outputs.npz", "ckpt/ckpt-0.index")
REL = 1e-5
_rel = parity.rel_err


def check_fixture(root: Path = ROOT, commit: str = ORIGINAL_COMMIT) -> parity.Fixture:
    return parity.load(root, commit=commit, required=REQUIRED, regen=REGEN, fixture="sga-tf2")


@functools.cache
def _fixture():
    return check_fixture()


def _fresh():
    from sga.tf2_import import import_tf2

    return import_tf2(ROOT / "ckpt", lmbda=_fixture().params["lmbda"])


@pytest.fixture(scope="module")
def fx():
    model, args = _fresh()
    o = _fixture().npz("outputs.npz")
    return model, args, o, tf.constant(o["input"].astype(np.float32) / 255.0)


def _close(ours, want, what, tol=REL):
    err = _rel(ours, want)
    assert err < tol, f"{what}: relative difference {err:.3g} > {tol:g}"


def test_fixture_check_names_the_bad_file(tmp_path):
    import shutil

    root = tmp_path / "tf2"
    shutil.copytree(ROOT, root)
    check_fixture(root)
    f = root / "step" / "outputs.npz"
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0xFF
    f.write_bytes(bytes(b))
    with pytest.raises(FixtureError, match=r"step/outputs\.npz: sha256 .* differs"):
        check_fixture(root)
    with pytest.raises(FixtureError, match="made from original commit .*, this port follows 0000"):
        check_fixture(root, commit="0000")


def test_import_refuses_other_checkpoints(tmp_path):
    from sga.tf2_import import import_tf2

    from shared_data.errors import ModelError

    with pytest.raises(ModelError, match="no TF2 checkpoint"):
        import_tf2(tmp_path)
    with pytest.raises(ModelError, match="not an II:tf2 MBT2018Model checkpoint"):
        import_tf2(Path(__file__).resolve().parent.parent / "parity" / "mbt2018" / "ckpt")
    with pytest.raises(NotImplementedError, match="in memory only"):
        import_tf2(ROOT / "ckpt", out_dir=tmp_path)


def test_forward_matches_original_m3(fx):
    """The branch's eval pass (``model(x, training=False)``) with ``z_grid="median"`` (its
    ``ContinuousBatchedEntropyModel`` rounds ẑ around the prior's quantization offsets)."""
    model, args, o, x = fx
    assert (model.gdn, model.rdft, model.scale_semantics, model.z_grid) == ("simplified", "tfc2", "tf2", "median")
    y = model.analysis_transform(x)
    z = model.hyper_analysis_transform(y)
    _close(y, o["eval/y"], "y")
    _close(z, o["eval/z"], "z")
    _close(model.z_offsets(), o["eval/z_offset"], "z offsets", 1e-4)
    z_hat = model.quantize_z(tf.constant(o["eval/z"]))
    _close(z_hat, o["eval/z_hat"], "ẑ")
    mu, sigma = model.side_params(z_hat, tf.shape(y))
    _close(mu, o["eval/mu"], "μ")
    _close(sigma, o["eval/scale"], "σ")
    y_hat = tf.round(tf.constant(o["eval/y"]) - mu) + mu
    _close(y_hat, o["eval/y_hat"], "ŷ")
    _, y_bits, z_bits, mse = model.rd_terms(x, tf.constant(o["eval/y_hat"]), tf.constant(o["eval/z_hat"]))
    _close(y_bits, o["eval/y_bits"], "y bits")
    _close(z_bits, o["eval/z_bits"], "z bits")
    x_hat = model.synthesis_transform(tf.constant(o["eval/y_hat"])) * 255.0
    _close(x_hat, o["eval/x_hat"], "x̂")
    _close(float(mse) * 255 ** 2, o["eval/mse"], "MSE")


def test_m3_z_grid_switch_both_ways(fx):
    """Without the switch (``z_grid="integer"``, this project's default) ẑ = round(z): μ, σ and the bits move
    by the stored amount (measured: README difference 15); with it they are the original's (test above)."""
    model, args, o, x = fx
    z = tf.constant(o["eval/z"])
    y = tf.constant(o["eval/y"])
    model.z_grid = "integer"
    try:
        z_int = model.quantize_z(z)
    finally:
        model.z_grid = "median"
    np.testing.assert_array_equal(z_int.numpy(), np.round(o["eval/z"]))
    mu, _ = model.side_params(z_int, tf.shape(y))
    _, y_bits, z_bits, _ = model.rd_terms(x, tf.round(y - mu) + mu, z_int)
    dy = float(y_bits[0]) - float(o["eval/y_bits"][0])
    dz = float(z_bits[0]) - float(o["eval/z_bits"][0])
    # measured: offsets |o| ≤ 0.481, 20 of the 288 ẑ in another bin, y bits −8.310, z bits −0.190 (of the
    # original's 8459.3 + 1552.9 bits: −0.085 %)
    off = o["eval/z_offset"].reshape(1, 1, 1, -1)
    moved = int(np.sum(np.round(o["eval/z"]) != np.round(o["eval/z"] - off)))  # other bin, not only shifted
    print(f"integer vs median ẑ grid: |offset| ≤ {np.max(np.abs(off)):.3f}, {moved} ẑ in another bin, "
          f"y bits {dy:+.3f}, z bits {dz:+.3f}")
    assert moved == 20
    assert abs(dy - -8.310) < 0.01 and abs(dz - -0.190) < 0.01, (dy, dz)


def test_training_loss_and_one_step_match_original():
    """The branch's ``train_step`` (Keras Adam lr 1e-4, ε 1e-7) vs this project's ``training_loss`` + the same
    optimizer on the imported weights, with the original's uniform noise replayed."""
    from sga.tf2_import import tf2_key_map
    from sga.train import training_loss

    model, _ = _fresh()
    o = _fixture().npz("outputs.npz")
    x = tf.constant(o["input"].astype(np.float32) / 255.0)
    lm = _fixture().params["lmbda"]
    before = {k: v.numpy().astype(np.float64) for k, v in tf2_key_map(model).items()}
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss, bpp, mse = training_loss(model, x, lm, tf.constant(o["train/noise_y"]), tf.constant(o["train/noise_z"]))
    _close(float(loss), o["train/loss"], "training loss")
    _close(float(bpp), o["train/bpp"], "training bpp")
    _close(float(mse) * 255 ** 2, o["train/mse"], "training MSE")
    grads = tape.gradient(loss, variables)
    opt = tf.keras.optimizers.Adam(learning_rate=_fixture().params["train_lr"])  # the branch's: ε 1e-7
    opt.apply_gradients(zip(grads, variables))
    grad_of = {id(v): g.numpy() for v, g in zip(variables, grads)}
    step = _fixture().npz("step/outputs.npz")
    # Keras Adam's first step is lr·g/(|g| + ε/√(1−β2)) = lr·g/(|g| + 3.2e-6) per element: for |g| ≥ 1e-4
    # (30× that) it is ±lr to 3 %, insensitive to float noise in g; below (most elements of this freshly
    # initialised model; the RDFT kernels' imaginary DC terms, whose gradient is float noise) the fraction of lr
    # follows the gradients' float32 differences, so those get 0.1 lr (measured max: 0.025 lr)
    lr, bad, worst, n, small, total = _fixture().params["train_lr"], {}, 0.0, 0, 0, 0
    for key, var in tf2_key_map(model).items():
        want = step["step/" + key].astype(np.float64)
        got = var.numpy().astype(np.float64) - before[key]
        err = np.abs(got - want)
        ulp = np.spacing(np.abs(before[key] + want).astype(np.float32)).astype(np.float64)
        firm = np.abs(grad_of[id(var)]) >= 1e-4
        small += int(np.sum(~firm))
        total += firm.size
        worst_firm = float(np.max(err[firm] / (1e-3 * lr + 2 * ulp[firm]), initial=0.0))
        worst = max(worst, float(np.max(err)) / lr)
        n += 1
        if worst_firm > 1 or np.max(err) > 0.1 * lr:
            bad[key] = (worst_firm, float(np.max(err)) / lr)
    assert n == len(step) == len(variables)
    assert not bad, f"training step differs from the original's (|g| ≥ 1e-4: in tolerances; all: in lr): {bad}"
    print(f"tf2 training step: max deviation {worst:.3g} lr over {n} variables ({small} of {total} elements with |g| < 1e-4)")


def _gumbel(sample, logits, temperature):
    return temperature * np.log(np.maximum(sample.astype(np.float64), 1e-300)) - logits


def test_one_sga_step_matches_original():
    """``iterative_infer``'s first step: ẑ = sga_round(z − o) + o, ŷ = sga_round(y − μ(ẑ)) + μ(ẑ) (the
    branch relaxes around the offsets, this project's M1 around the integers as branch ``main``), the
    original's Gumbel draws replayed, the objective, Keras Adam lr 5e-4 on (y, z)."""
    from sga.inference import _soft_round_logits, sga_round

    model, _ = _fresh()
    o = _fixture().npz("outputs.npz")
    x = tf.constant(o["input"].astype(np.float32) / 255.0)
    lm, T = _fixture().params["lmbda"], float(o["sga/T"])
    temp = tf.constant(T, tf.float32)
    y = tf.Variable(o["sga/y0"])
    z = tf.Variable(o["sga/z0"])
    off = model.z_offsets()
    g = {k: tf.constant(_gumbel(o[f"sga/sample_{k}"], o[f"sga/logits_{k}"], T), tf.float32) for k in "yz"}
    with tf.GradientTape() as tape:
        logits_z, _ = _soft_round_logits(z - off, temp)
        z_t = sga_round(z - off, temp, gumbel=g["z"]) + off
        mu, _ = model.side_params(z_t, tf.shape(y))
        logits_y, _ = _soft_round_logits(y - mu, temp)
        y_t = sga_round(y - mu, temp, gumbel=g["y"]) + mu
        _, y_bits, z_bits, mse = model.rd_terms(x, y_t, z_t)
        npx = float(x.shape[1] * x.shape[2])
        loss = lm * mse * 255.0 ** 2 + (y_bits[0] + z_bits[0]) / npx
    _close(logits_z, o["sga/logits_z"], "z logits", 1e-4)
    _close(logits_y, o["sga/logits_y"], "y logits", 1e-4)
    _close(y_bits, o["sga/y_bits"], "SGA y bits")
    _close(z_bits, o["sga/z_bits"], "SGA z bits")
    _close(float(loss), o["sga/loss"], "SGA loss")
    lr = _fixture().params["sga_lr"]
    tf.keras.optimizers.Adam(learning_rate=lr).apply_gradients(zip(tape.gradient(loss, [y, z]), [y, z]))
    for var, k in ((y, "y"), (z, "z")):
        got = var.numpy().astype(np.float64) - o[f"sga/{k}0"]
        want = o[f"sga/{k}1"].astype(np.float64) - o[f"sga/{k}0"]
        ulp = np.spacing(np.abs(o[f"sga/{k}1"]).astype(np.float32)).astype(np.float64)
        err = np.abs(got - want)
        assert np.quantile(err / (1e-3 * lr + 2 * ulp), 0.99) <= 1 and np.max(err) < 0.1 * lr, \
            f"SGA {k} step differs by {np.max(err) / lr:.3g} lr"
