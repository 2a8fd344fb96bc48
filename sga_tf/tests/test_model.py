"""Pins what a reader would otherwise have to trust: parameter counts and layer shapes (survey §1)."""
import numpy as np
import pytest
import tensorflow as tf
from sga.model import MBT2018, gaussian_conditional_likelihood, parameter_count, scale_table


def _count(layer):
    return sum(int(np.prod(v.shape)) for v in layer.trainable_variables)


@pytest.fixture(scope="module")
def m192():
    return MBT2018(192)


@pytest.mark.parametrize("rdft,total,parts", [
    # tfc 1.3's RDFT parameterization (default): one real coefficient per kernel tap, as the original stores
    ("tfc1", 11265891, (2891136, 2890947, 2175360, 3300192, 8256)),
    # tfc 2's RDFTParameter (pre-fix models): real+imag parts of rfft2d, 5x3 complex = 30 reals per 5x5 kernel
    ("tfc2", 12856803, (3446976, 3446787, 2654592, 3300192, 8256)),
])
def test_parameter_counts(rdft, total, parts, m192):
    m = m192 if rdft == "tfc1" else MBT2018(192, rdft="tfc2")
    assert parameter_count(m) == total
    got = (_count(m.analysis_transform), _count(m.synthesis_transform), _count(m.hyper_analysis_transform),
           _count(m.hyper_synthesis_transform), sum(int(np.prod(v.shape)) for v in m.hyperprior.trainable_variables))
    assert got == parts


def test_layer_shapes_n192(m192):
    n = 192
    m = m192
    x = tf.zeros((1, 128, 192, 3))
    shapes = []
    h = x
    for layer in m.analysis_transform.layers:
        h = layer(h)
        shapes.append(tuple(h.shape))
    assert shapes == [(1, 64, 96, n), (1, 32, 48, n), (1, 16, 24, n), (1, 8, 12, n)]
    y = h
    hz = [tuple((h := layer(h)).shape) for layer in m.hyper_analysis_transform.layers]
    assert hz == [(1, 8, 12, n), (1, 4, 6, n), (1, 2, 3, n)]
    hs = [tuple((h := layer(h)).shape) for layer in m.hyper_synthesis_transform.layers]
    assert hs == [(1, 4, 6, n), (1, 8, 12, int(1.5 * n)), (1, 8, 12, 2 * n)]
    assert tuple(m.synthesis_transform(y).shape) == (1, 128, 192, 3)
    # kernel supports: g_a 5x5, h_a 3x3 then 5x5, h_s 5x5,5x5,3x3 with plain ("variable") kernels
    assert [layer.kernel_support for layer in m.hyper_analysis_transform.layers] == [(3, 3), (5, 5), (5, 5)]
    assert [layer.kernel_support for layer in m.hyper_synthesis_transform.layers] == [(5, 5), (5, 5), (3, 3)]
    assert not m.hyper_analysis_transform.layers[-1].use_bias
    assert all(v.name.endswith(("kernel:0", "bias:0")) for v in m.hyper_synthesis_transform.trainable_variables)


def test_scale_semantics():
    table = scale_table()
    assert table[0] == pytest.approx(0.11) and table[-1] == pytest.approx(256.0) and len(table) == 64
    m1 = MBT2018(8, "tf1")
    raw = tf.constant([-10.0, 0.0, 1.0])
    np.testing.assert_allclose(m1.scale(raw).numpy(), [0.11, 1.0, np.e], rtol=1e-6)
    m2 = MBT2018(8, "tf2")
    # tf2: exp(raw) is an index into the table; exp(0) = 1 -> table[1]
    np.testing.assert_allclose(m2.scale(tf.constant([0.0])).numpy(), [table[1]], rtol=1e-5)
    with pytest.raises(ValueError):
        MBT2018(8, "bogus")


def test_gaussian_conditional_likelihood_sums_to_one():
    k = tf.range(-60.0, 61.0)
    for mu, s in ((0.3, 0.5), (-1.7, 4.0), (0.0, 0.11)):
        p = gaussian_conditional_likelihood(k, mu, s).numpy()
        assert abs(p.sum() - 1.0) < 1e-4


def _gdn_numpy(layer, x, flavour):
    """Reference (I)GDN in numpy: original x/sqrt(b + sum_j g_ji x_j^2), simplified x/(b + sum_j g_ji |x_j|)."""
    beta, gamma = layer.beta.numpy().astype(np.float64), layer.gamma.numpy().astype(np.float64)
    x = x.astype(np.float64)
    pool = (x ** 2 if flavour == "original" else np.abs(x)) @ gamma + beta
    norm = np.sqrt(pool) if flavour == "original" else pool
    return x * norm if layer.inverse else x / norm


@pytest.mark.parametrize("flavour", ["original", "simplified"])
def test_gdn_flavours(flavour):
    """The default GDN is tfc 1.3's (Ballé et al. 2016); 'simplified' is tfc 2's default (pre-fix models)."""
    m = MBT2018(4, gdn=flavour)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2, (1, 3, 5, 4)).astype(np.float32)
    for layer in (m.analysis_transform.layers[0].activation, m.synthesis_transform.layers[1].activation):
        layer.gamma_parameter.variable.assign(rng.uniform(0.05, 0.5, (4, 4)).astype(np.float32))
        layer.beta_parameter.variable.assign(rng.uniform(0.5, 2.0, (4,)).astype(np.float32))
        got = layer(tf.constant(x)).numpy()
        np.testing.assert_allclose(got, _gdn_numpy(layer, x, flavour), rtol=2e-6, atol=1e-6)
    other = _gdn_numpy(layer, x, "simplified" if flavour == "original" else "original")
    assert np.max(np.abs(got - other)) > 1e-2  # the two flavours really differ
    assert MBT2018(4).gdn == "original"
    with pytest.raises(ValueError, match="gdn must be"):
        MBT2018(4, gdn="bogus")


def test_gdn_config_keeps_legacy_fingerprints():
    """Pre-fix checkpoints (no 'gdn' field) load as simplified and their config (hence file fingerprints) is
    the one of before the fix; original-GDN models declare it."""
    from conftest import ZOO_MODEL
    from sga.checkpoints import load_model

    model, args = load_model(ZOO_MODEL)
    assert "gdn" not in args and model.gdn == "simplified"
    assert model.config() == {"model": "mbt2018", "num_filters": 32, "scale_semantics": "tf1"}
    assert MBT2018(4).config()["gdn"] == "original"
