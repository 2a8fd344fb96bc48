"""Issue 15 items 2-3: the integerized h_s, exact table selection, stored tables, stream format 5/6, conversion."""
import numpy as np
import pytest
import tensorflow as tf
from sga import portable
from sga.bitsback import BitsBackCoder
from sga.coding import FORMAT_PORTABLE, Coder, SGAArithmeticError, SGAFormatError, y_table_indexes
from sga.inference import round_latents
from sga.model import MBT2018, scale_table
from sga.model_bb import MBT2018BB

from shared_data import container as lic
from shared_data import exact


def _integerized(model):
    data, rec = portable.integerize_model(model)
    model.__dict__["integer_data"] = (data, rec)
    return model


@pytest.fixture(scope="module")
def int_model():
    tf.random.set_seed(5)
    return _integerized(MBT2018(8))


@pytest.fixture(scope="module")
def latents(int_model):
    rng = np.random.default_rng(2)
    z = tf.constant(np.round(rng.normal(size=(1, 2, 3, 8)) * 4).astype(np.float32))
    mu, sigma = int_model.side_params(z, (1, 6, 9, 8))
    y = mu + sigma * rng.normal(size=(1, 6, 9, 8)).astype(np.float32)
    return y, z


def test_integer_hs_follows_the_float_hs(int_model, latents):
    _, z = latents
    data = int_model.integer_data[0]
    mu_q, raw_q = portable.hs_int(data, z.numpy() * 4.0, (1, 6, 9, 8))
    out = int_model.hyper_synthesis_transform(z).numpy()[:, :6, :9]
    np.testing.assert_allclose(mu_q / 2 ** portable.OUT_FRAC, out[..., :8], atol=5e-3)
    np.testing.assert_allclose(raw_q / 2 ** portable.OUT_FRAC, out[..., 8:], atol=5e-3)
    assert np.array_equal(mu_q, np.round(mu_q))  # integers held in float64


def test_scale_index_matches_the_float_rule_away_from_thresholds():
    t1 = portable.scale_thresholds("tf1", 64, 0.11, 256.0)
    raw = np.linspace(-4, 7, 4001)
    raw_q = np.round(raw * 2 ** portable.OUT_FRAC)
    got = portable.scale_index({"scale_thresholds": t1}, raw_q, "tf1")
    sig = np.maximum(np.exp(raw_q / 2 ** portable.OUT_FRAC), 0.11)
    ref = np.searchsorted(scale_table()[:-1], sig, side="left")
    logt = np.log(scale_table())
    far = np.min(np.abs((raw_q / 2 ** portable.OUT_FRAC)[:, None] - logt[None]), axis=1) > 1e-9
    np.testing.assert_array_equal(got[far], ref[far])
    assert got.min() == 0 and got.max() == 63
    t2 = portable.scale_thresholds("tf2", 64, 0.11, 256.0)
    got2 = portable.scale_index({"scale_thresholds": t2}, raw_q, "tf2")
    np.testing.assert_array_equal(got2[far], np.minimum(np.ceil(np.exp(raw_q / 2 ** 12)), 63)[far])
    # a pinned threshold: floor(ln(0.11) * 4096) from 40-digit arithmetic
    assert t1[0] == -9041


def test_mu_base_and_bin_match_the_float_rule():
    mu_q = np.arange(-3 * 4096, 3 * 4096 + 1, 7, dtype=np.float64)
    base, f_idx = portable.mu_base_and_bin(mu_q, 16)
    idx, base_f = y_table_indexes(mu_q / 2 ** 12, np.ones_like(mu_q), "integer")
    no_tie = (mu_q % 4096 != 2048) & (mu_q % 256 != 128)  # float rule: round half to even; ours: half up
    np.testing.assert_array_equal(base[no_tie], base_f[no_tie])
    np.testing.assert_array_equal(f_idx[no_tie], (idx % 17)[no_tie])


@pytest.mark.parametrize("grid,method", [("integer", "sga"), ("offset", "m3")])
def test_portable_round_trip(int_model, latents, grid, method, tmp_path):
    y, z = latents
    coder = Coder(int_model)
    assert coder.portable and coder.fingerprint != coder.float_fingerprint
    y_hat, z_hat = round_latents(int_model, y, z, grid)
    c = coder.encode(y_hat.numpy(), z_hat.numpy(), grid, method, 90, 140)
    assert lic.unpack_ints(c.sections[0])[0] == FORMAT_PORTABLE
    lic.write(tmp_path / "p.lic", c)
    y2, z2, m, g = coder.decode_latents(coder.read(tmp_path / "p.lic"), "p.lic")
    np.testing.assert_array_equal(z2, z_hat.numpy())
    if grid == "integer":
        np.testing.assert_array_equal(y2, y_hat.numpy())
    else:
        np.testing.assert_allclose(y2, y_hat.numpy(), atol=1e-2)
    # the float path of the same (integerized) model still writes and reads format 3
    cf = Coder(int_model, portable=False).encode(y_hat.numpy(), z_hat.numpy(), grid, method, 90, 140)
    lic.write(tmp_path / "f.lic", cf)
    assert coder.decode(coder.read(tmp_path / "f.lic"))[1] == method


def test_portable_file_on_a_float_only_model_names_formats_and_command(int_model, latents, tmp_path):
    y, z = latents
    y_hat, z_hat = round_latents(int_model, y, z, "integer")
    lic.write(tmp_path / "p.lic", Coder(int_model).encode(y_hat.numpy(), z_hat.numpy(), "integer", "sga", 90, 140))
    float_only = MBT2018(8)
    float_only.set_weights(int_model.get_weights())
    with pytest.raises(SGAFormatError, match=r"p.lic: portable format 5 .*float-only .*python -m sga integerize"):
        Coder(float_only).read(tmp_path / "p.lic")
    with pytest.raises(SGAFormatError, match="portable format 5"):
        Coder(float_only).decode(lic.read(tmp_path / "p.lic"), "p.lic")
    with pytest.raises(ValueError, match="float-only .*integerize"):
        Coder(float_only, portable=True)


def test_conversion_refuses_a_layer_over_the_bound_naming_it():
    tf.random.set_seed(1)
    m = MBT2018(8)
    layer = m.hyper_synthesis_transform.layers[1]
    layer.kernel_parameter.assign(layer.kernel_parameter * 1e9)
    with pytest.raises(exact.IntegerizeError, match="layer 'hyper_synthesis.layer_1'"):
        portable.integerize_model(m)


def test_integerize_cli_writes_a_loadable_model(tmp_path):
    from sga.__main__ import main
    from sga.checkpoints import export_weights, load_model

    tf.random.set_seed(2)
    m = MBT2018(8)
    export_weights(m, {"num_filters": 8, "lmbda": 0.01}, tmp_path / "f")
    assert main(["integerize", str(tmp_path / "f"), str(tmp_path / "i")]) == 0
    mi, args = load_model(tmp_path / "i")
    assert args["integerized"]["version"] == portable.INTEGER_VERSION and mi.integer_data is not None
    assert load_model(tmp_path / "f")[0].integer_data is None
    assert Coder(mi).float_fingerprint == Coder(load_model(tmp_path / "f")[0]).fingerprint
    # weights trained further in place without re-running integerize: refused, naming the command
    from shared_data.errors import ModelError

    v = mi.hyper_synthesis_transform.trainable_variables[-1]
    v.assign_add(tf.ones_like(v))
    export_weights(mi, args, tmp_path / "i")
    with pytest.raises(ModelError, match="converted from other weights.*python -m sga integerize"):
        load_model(tmp_path / "i")


@pytest.fixture(scope="module")
def int_bb_model():
    tf.random.set_seed(7)
    return _integerized(MBT2018BB(8))


def test_portable_bits_back_single_file_and_chain_mismatch(int_bb_model, monkeypatch):
    rng = np.random.default_rng(4)
    y_hats = [np.round(rng.normal(size=(1, 4, 4, 8)) * 2).astype(np.float32) for _ in range(2)]
    coder = BitsBackCoder(int_bb_model, 0.01)
    assert coder.portable
    c, _ = coder.encode(y_hats[0], "bb_plain", 64, 64)
    assert lic.unpack_ints(c.sections[0])[0] == 6
    y2, _, _, recovered = coder.decode_latents(c)
    np.testing.assert_array_equal(y2, y_hats[0])
    assert recovered
    data = int_bb_model.integer_data[0]
    mu, sigma = coder._side(np.full((1, 1, 1, 8), 3), (1, 4, 4, 8), True)
    out = int_bb_model.hyper_synthesis_transform(tf.fill((1, 1, 1, 8), 0.75)).numpy()[:, :4, :4]
    np.testing.assert_allclose(mu, out[..., :8], atol=5e-3)
    np.testing.assert_allclose(sigma, np.maximum(np.exp(out[..., 8:]), 0.11), rtol=5e-3)
    assert data["exp_table"].dtype == np.int64
    # a chain whose decoder-side float q fit differs (emulated): a clear error, never wrong images
    chain, _ = coder.encode_chain(y_hats, "bb_plain", 64, 64)
    real = coder.q_fit

    def off(*a, **k):
        m, s = real(*a, **k)
        return m + 0.3, s

    monkeypatch.setattr(coder, "q_fit", off)
    with pytest.raises(SGAArithmeticError, match="portable bits-back chain: ŷ and z are exact"):
        coder.decode_chain(chain, "c.lic")
