"""Model shapes and parameter counts (pinned), plus the lossless likelihood's normalisation."""

import numpy as np
import pytest
import tensorflow as tf
from rec.codec import build
from rec.coding.residual import pixel_probabilities
from rec.models import build_model


def test_large_level_2_vae_shapes_and_params():
    m = build({"model": "large_level_2_vae", "level_1_filters": 196, "level_2_filters": 128})
    assert m.count_params() == 10_308_659
    x = tf.zeros((1, 128, 192, 3))
    loc_x, logscale_x = m.infer_y_stats(x)
    assert loc_x.shape == (1, 8, 12, 196)          # y: H/16 × W/16 × N
    qz_loc, qz_scale = m.posterior_z(loc_x)
    assert qz_loc.shape == (1, 2, 3, 128)          # z: H/64 × W/64 × M
    assert np.all(qz_scale.numpy() > 0)
    x_hat, kl1, kl2 = m(x)
    assert x_hat.shape == x.shape and float(kl1) >= 0 and float(kl2) >= 0


def test_resnet_vae_params_for_24_blocks_and_latent_size():
    counts = {}
    for n in (1, 2):
        counts[n] = build({"model": "resnet_vae", "num_res_blocks": n}).count_params()
    per_block = counts[2] - counts[1]
    # block 0 has no inference residual convs (2 × 3×3 160→160 convs with scale and bias)
    first_extra = 2 * (9 * 160 * 160 + 2 * 160)
    assert counts[1] + 23 * per_block == 29_463_063
    assert per_block - first_extra > 0
    m = build({"model": "resnet_vae", "num_res_blocks": 3, "deterministic_filters": 16,
               "stochastic_filters": 4})
    recon, ll, kls = m(tf.zeros((2, 32, 32, 3), tf.uint8))
    assert recon.shape == (2, 32, 32, 3) and ll.shape == (2,)
    assert [k.shape for k in kls] == [(2, 16, 16, 4)] * 3
    # the paper's latent size: 24 levels × 16×16×32 for a 32×32 image
    assert 24 * 16 * 16 * 32 == 196_608


def test_unused_original_models_raise():
    with pytest.raises(NotImplementedError):
        build_model({"model": "large_resnet_vae"})
    with pytest.raises(ValueError):
        build_model({"model": "nope"})


def test_pixel_probabilities_normalised_and_peaked():
    p = pixel_probabilities(np.array([-0.5 + 0.5 / 256, 0.0, 0.49]), np.log(0.01))
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert p[1].argmax() in (127, 128) and p[0].argmax() == 0 and p[2].argmax() >= 250


def test_layer_flavours():
    """``layer_flavour``: absent = legacy (checkpoints from before issue 18); "original" = the original's
    SignalConv (RDFT kernels, centred reflect-padded up-convolution) and zero ``prior_base``."""
    from rec.codec import save_model
    from rec.models.layers import SignalConv2D, irdft_matrix

    from shared_data.errors import ModelError

    cfg = {"model": "large_level_2_vae", "level_1_filters": 8, "level_2_filters": 4}
    legacy, orig = build(cfg), build({**cfg, "layer_flavour": "original"})
    assert legacy.layer_flavour == "legacy" and orig.layer_flavour == "original"
    assert np.all(orig.prior_base.numpy() == 0) and np.any(legacy.prior_base.numpy() != 0)
    assert legacy.count_params() == orig.count_params()
    names = {v.name.split("/")[-1] for v in orig.weights}
    assert "kernel_rdft:0" in names and "kernel_rdft:0" not in {v.name.split("/")[-1] for v in legacy.weights}
    m = irdft_matrix((5, 5))
    np.testing.assert_allclose(m @ m.T, np.eye(25), atol=1e-12)       # orthogonal basis
    up = SignalConv2D(3, 5, "up", flavour="original")
    y = up(tf.random.normal((1, 3, 5, 2)))
    assert y.shape == (1, 6, 10, 3) and up.kernel.shape == (5, 5, 3, 2)
    # an impulse at input row i spreads over output rows 2i−2 … 2i+2 (tfc's centred kernel); the legacy SAME
    # conv2d_transpose puts it at 2i−1 … 2i+3: the one-pixel shift of issue 18
    imp = np.zeros((1, 5, 5, 1), np.float32)
    imp[0, 2, 2, 0] = 1
    for flavour, centre in (("original", 4), ("legacy", 5)):
        up2 = SignalConv2D(1, 5, "up", flavour=flavour, rdft=False)
        up2(tf.zeros((1, 5, 5, 1)))
        up2._kernel_var.assign(tf.ones((5, 5, 1, 1)))
        rows = np.nonzero(up2(tf.constant(imp)).numpy()[0, :, :, 0].sum(1))[0]
        assert (rows.min() + rows.max()) / 2 == centre, (flavour, rows)
    with pytest.raises(ModelError, match="layer_flavour"):
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            save_model(orig, cfg, d)           # config says legacy (absent), model is original
