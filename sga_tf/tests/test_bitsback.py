"""The bits-back model (mbt2018_bb) and real bits-back ANS coding (survey §1 "Bits-back variant", §4)."""
import numpy as np
import pytest
import tensorflow as tf
from sga.bitsback import RANGES, BitsBackCoder, seed_words
from sga.coding import SGAFormatError
from sga.inference import METHODS, IterativeInference, round_latents, with_overrides
from sga.model_bb import MBT2018BB, VARIANCE_UPPER_BOUND

from shared_data import container as lic


def _count(layer):
    return sum(int(np.prod(v.shape)) for v in layer.trainable_variables)


def test_bb_parameter_counts_and_shapes():
    m = MBT2018BB(192)
    got = (_count(m.analysis_transform), _count(m.synthesis_transform), _count(m.hyper_analysis_transform),
           _count(m.hyper_synthesis_transform), _count(m.hyperprior))
    # same g_a, g_s, h_s as mbt2018; h_a has 2N outputs (tfc 1.3 RDFT: one real per kernel tap)
    assert got == (2891136, 2890947, 3096960, 3300192, 8256)
    assert sum(got) == 12187491
    q = m.posterior(tf.zeros((1, 8, 12, 192)))
    assert tuple(q.shape) == (1, 2, 3, 384)
    shapes = {v.name.split("/")[-1]: tuple(v.shape) for v in m.hyperprior.trainable_variables}
    assert shapes["matrix_0:0"] == (192, 3, 1) and shapes["matrix_3:0"] == (192, 1, 3)  # dims (3,3,3)


def test_bb_density_and_training_bound():
    tf.random.set_seed(0)
    m = MBT2018BB(4)
    z = np.linspace(-400, 400, 16001, dtype=np.float32)
    dens = m.z_density(tf.constant(np.repeat(z[:, None], 4, 1))).numpy()
    np.testing.assert_allclose(dens.sum(0) * (z[1] - z[0]), 1.0, atol=2e-3)  # a density, not a pmf
    raw = tf.constant([-9.0, 0.0, 5.0])
    np.testing.assert_allclose(m.scale(raw).numpy(), [0.11, 1.0, np.exp(5.0)], rtol=1e-6)
    m.training_bound = True
    np.testing.assert_allclose(m.scale(raw).numpy(), [0.11, 1.0, VARIANCE_UPPER_BOUND ** 0.5], rtol=1e-6)


@pytest.fixture(scope="module")
def bb_model():
    tf.random.set_seed(3)
    return MBT2018BB(8)


@pytest.mark.parametrize("name", ["bb_no_sga", "bb_sga"])  # bb_plain: test_single_file_and_bad_input
def test_bits_back_chain_round_trip(bb_model, name):
    """Real ANS bits-back: bit-exact ŷ, the borrowed bits come back, and the file size is what the stack
    measured (Σ net bits + the startup bits borrowed from the public seed)."""
    m = bb_model
    x = tf.random.stateless_uniform((2, 64, 80, 3), seed=(4, 5))
    meth = with_overrides(METHODS[name], its=12 if name == "bb_sga" else None)
    y, q, _ = IterativeInference(m, 0.01, meth).run(x, progress=False)
    y_hat, q = round_latents(m, y, q, meth.grid)
    coder = BitsBackCoder(m, 0.01)
    c, infos = coder.encode_chain([y_hat[i:i + 1].numpy() for i in range(2)], name, 64, 80, q_its=6)
    data = lic.pack(c)
    ys, zs, got_method, recovered = coder.decode_chain(lic.unpack(data))
    assert got_method == name and recovered
    for i in range(2):
        np.testing.assert_array_equal(ys[i], y_hat[i:i + 1].numpy())
        np.testing.assert_array_equal(zs[i], infos[i]["z"])
        assert infos[i]["borrowed_bits"] > 0 and infos[i]["net_bits"] == infos[i]["pushed_bits"] - \
            infos[i]["borrowed_bits"]
    assert 8 * len(c.sections[1]) == sum(i["net_bits"] for i in infos) + infos[0]["startup_bits"]
    assert abs(infos[0]["startup_bits"] - infos[0]["borrowed_bits"]) <= 96  # word + head granularity
    # the net z cost is the information content −log2 p(z) + log2 q(z) (the grid constant cancels)
    for i in range(2):
        mq, sq = infos[i]["q"]
        zq = tf.constant(np.concatenate([mq, sq], -1), tf.float32)
        yb, zb, back, _ = m.bits(y_hat[i:i + 1], zq, eps=tf.constant((infos[i]["z"] - mq) / np.exp(0.5 * sq),
                                                                       tf.float32))
        est = float(yb[0] + zb[0] - back[0])
        assert abs(infos[i]["net_bits"] - est) < 0.05 * est + 96


def test_single_file_and_bad_input(bb_model, tiny_model):
    m = bb_model
    coder = BitsBackCoder(m)
    y_hat = np.round(m.analysis_transform(tf.random.stateless_uniform((1, 64, 64, 3), seed=(1, 1))).numpy())
    c, info = coder.encode(y_hat, "bb_plain", 64, 64)
    y2, _, meth, recovered = coder.decode_latents(lic.unpack(lic.pack(c)))
    np.testing.assert_array_equal(y2, y_hat)
    assert meth == "bb_plain" and recovered
    bad = lic.Container(c.codec, c.fingerprint, c.height, c.width, (c.sections[0], c.sections[1][:-6]))
    with pytest.raises(SGAFormatError):
        coder.decode_latents(bad)
    with pytest.raises(SGAFormatError):
        coder.decode_latents(lic.Container(c.codec, c.fingerprint, 640, 64, c.sections))
    with pytest.raises(ValueError, match="bits-back model"):
        BitsBackCoder(tiny_model)
    with pytest.raises(ValueError, match="integer grid"):
        coder.encode(y_hat + 0.3, "bb_plain", 64, 64)
    assert len(seed_words(5)) == 5 and np.all(seed_words(5) >= 2 ** 31) and RANGES[0] == 31
