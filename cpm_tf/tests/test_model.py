"""Pins the architecture to the released configs (parameter count, every variable's shape) and checks the
heatmap, quantizer and the causality of the masked 3D context model."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from cpm.config import load_ae_config, load_pc_config
from cpm.model import CPM, first_mask, heatmap3d, other_mask, quantize

ROOT = Path(__file__).resolve().parents[1]


def expected_shapes(C, B=5, n=128, L=6, k=24):
    """Every variable of the original (slim names) and its shape, written out from the paper / survey §2, §5."""
    out = {}

    def conv(scope, kh, cin, cout, transpose=False):
        out[f"{scope}/weights"] = (kh, kh, cout, cin) if transpose else (kh, kh, cin, cout)
        for v in ("beta", "gamma", "moving_mean", "moving_variance"):
            out[f"{scope}/BatchNorm/{v}"] = (cout,)

    def res(scope):
        conv(f"{scope}/conv1", 3, n, n)
        conv(f"{scope}/conv2", 3, n, n)

    e, d = "autoencoder/encoder", "autoencoder/decoder"
    conv(f"{e}/h1", 5, 3, n // 2)
    conv(f"{e}/h2", 5, n // 2, n)
    for b in range(B):
        for i in (1, 2, 3):
            res(f"{e}/res_block_enc_{b}/enc_{b}_{i}")
    res(f"{e}/res_block_enc_final")
    conv(f"{e}/to_bn", 5, n, C + 1)
    out[f"{e}/centers"] = (L,)
    conv(f"{d}/from_bn", 3, C, n, transpose=True)
    for b in range(B):
        for i in (1, 2, 3):
            res(f"{d}/res_block_dec_{b}/dec_{b}_{i}")
    res(f"{d}/dec_after_res")
    conv(f"{d}/h12", 5, n, n // 2, transpose=True)
    conv(f"{d}/h13", 5, n // 2, 3, transpose=True)
    p = "probclass3d/logits"
    for name, cin, cout in (("conv3d_conv0_mask", 1, k), ("res1/conv3d_conv1_mask", k, k),
                            ("res1/conv3d_conv2_mask", k, k), ("conv3d_conv2_mask", k, L)):
        out[f"{p}/{name}/weights"] = (2, 3, 3, cin, cout)
        out[f"{p}/{name}/biases"] = (cout,)
    return out


# low: encoder 4800 + 204800 + 32·147456 + 105600 (convs) + 2·(64+128+32·128+33) (BN) + 6 (centers)
#      = 5,042,440; decoder 36864 + 32·147456 + 204800 + 4800 + 2·(128+32·128+64+3) = 4,973,638;
#      probclass 456 + 2·10392 + 2598 = 23,838  ->  10,039,916.  hi: +102400+64 (to_bn) +36864 (from_bn).
@pytest.mark.parametrize("name,C,trainable", [("low", 32, 10_039_916), ("hi", 64, 10_179_244)])
def test_parameter_count_and_shapes(name, C, trainable):
    m = CPM(load_ae_config(ROOT / "ae_configs/cvpr" / name), load_pc_config(ROOT / "pc_configs/cvpr/res_shallow"))
    shapes = {k: tuple(v.shape) for k, v in m.vars.items()}
    assert shapes == expected_shapes(C)
    n_train = sum(int(np.prod(v.shape)) for v in m.ae_variables() + m.pc_variables())
    assert n_train == trainable
    assert sum(int(np.prod(v.shape)) for v in m.pc_variables()) == 23_838  # probclass3d
    assert m.context_size == 9


def test_masks():
    np.testing.assert_array_equal(first_mask(3), np.array(
        [[[1, 1, 1], [1, 1, 1], [1, 1, 1]], [[1, 1, 1], [1, 0, 0], [0, 0, 0]]], np.float32))
    np.testing.assert_array_equal(other_mask(3), np.array(
        [[[1, 1, 1], [1, 1, 1], [1, 1, 1]], [[1, 1, 1], [1, 1, 0], [0, 0, 0]]], np.float32))


def test_heatmap_and_quantizer():
    logit = np.array([-100.0, 0.0, 100.0], np.float32).reshape(1, 1, 3, 1)
    bn = np.concatenate([logit, np.ones((1, 1, 3, 4), np.float32)], -1)
    m = heatmap3d(tf.constant(bn)).numpy()[0, 0]
    np.testing.assert_allclose(m, [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]], atol=1e-6)
    centers = tf.constant([0.5, -1.0, 2.0], tf.float32)
    x = tf.Variable([[0.4, -2.0, 1.4, 3.0]])
    with tf.GradientTape() as tape:
        qsoft, qhard, sym = quantize(x, centers, sigma=1.0)
        qbar = qsoft + tf.stop_gradient(qhard - qsoft)
        loss = tf.reduce_sum(qbar)
    np.testing.assert_array_equal(sym.numpy(), [[0, 1, 2, 2]])
    np.testing.assert_allclose(qbar.numpy(), [[0.5, -1.0, 2.0, 2.0]])
    g = tape.gradient(loss, x).numpy()
    assert np.all(np.isfinite(g)) and np.any(g != 0)  # straight-through: gradients of qsoft


def test_forward_shapes():
    m = CPM(load_ae_config(ROOT / "ae_configs/mini/low"), load_pc_config(ROOT / "pc_configs/mini/res_shallow"))
    x = tf.random.uniform((2, 32, 48, 3), 0, 255)
    enc = m.encode(x, training=True)
    assert enc.qbar.shape == (2, 4, 6, m.C) and enc.symbols.dtype == tf.int64
    assert m.decode(enc.qbar, training=True).shape == (2, 32, 48, 3)
    logits = m.pc_logits(enc.qhard)
    assert logits.shape == (2, m.C, 4, 6, m.L)
    assert float(tf.reduce_min(logits)) >= 0.0  # ReLU on the logits, as the original


def test_context_model_is_causal(mini_codec):
    """Changing symbol p changes no logit at or before p in coding order (channel, row, column)."""
    m = mini_codec.model
    saved = m.numpy_weights()
    rng = np.random.RandomState(0)
    for v in m.pc_variables():  # non-trivial weights
        v.assign_add(rng.normal(0, 0.1, v.shape).astype(np.float32))
    try:
        C, h, w = m.C, 5, 6
        sym = rng.randint(0, m.L, (C, h, w))
        centers = m.centers.numpy()
        base = m.pc_logits(tf.constant(centers[sym.transpose(1, 2, 0)][None])).numpy()[0]
        for p in [(3, 2, 3), (0, 0, 0), (C - 1, h - 1, w - 1)]:
            s2 = sym.copy()
            s2[p] = (s2[p] + 1) % m.L
            new = m.pc_logits(tf.constant(centers[s2.transpose(1, 2, 0)][None])).numpy()[0]
            changed = np.any(np.abs(new - base) > 1e-6, axis=-1)
            order = np.arange(C * h * w).reshape(C, h, w)
            assert not np.any(changed[order <= order[p]]), p
            if p == (3, 2, 3):
                assert changed[3, 2, 4] or changed[3, 3, 3] or changed[4, 2, 3]
    finally:
        m.load_weights(saved)
