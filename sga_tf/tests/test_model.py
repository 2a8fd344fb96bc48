"""Pins what a reader would otherwise have to trust: parameter counts and layer shapes (spec §1)."""
import numpy as np
import pytest
import tensorflow as tf
from sga.model import MBT2018, gaussian_conditional_likelihood, parameter_count, scale_table


def _count(layer):
    return sum(int(np.prod(v.shape)) for v in layer.trainable_variables)


@pytest.fixture(scope="module")
def m192():
    return MBT2018(192)


@pytest.mark.parametrize("n,total,parts", [
    # stored variables (RDFT-parameterized kernels hold real+imag parts, as tfc 1.3's RDFTParameterizer did)
    (192, 12856803, (3446976, 3446787, 2654592, 3300192, 8256)),
])
def test_parameter_counts(n, total, parts, m192):
    m = m192
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
