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
