"""The portable integer decoder path (stream format 4, ``l3c.integer``): conversion, exactness, round trips,
format/model mismatches, the committed golden file."""

import numpy as np
import pytest
import torch
from conftest import ROOT, make_net, smooth_image
from l3c import integer
from l3c.coding import check_model, decode_container, encode_array, read_header

from shared_data import exact
from shared_data.container import ContainerError, pack, unpack

GOLDEN = ROOT / "tests" / "golden" / "5x6_f4.lic"


@pytest.fixture(scope="module")
def exact_net():
    net, fp = make_net("cr_mini", seed=0)
    net.exact = integer.integerize(net, [smooth_image(32, 48, seed=1)], fp, "synthetic")
    return net, fp


def roundtrip(net, fp, img, **kw):
    res = encode_array(net, img, fp, **kw)
    data = pack(res.container)
    c = unpack(data, "l3c")
    check_model(net, c, fp)
    out, stats, _ = decode_container(net, c)
    return data, out, res


@pytest.mark.parametrize("h,w", [(1, 1), (7, 13), (19, 10)])
def test_format4_roundtrip_odd_sizes(exact_net, h, w):
    net, fp = exact_net
    img = smooth_image(h, w, seed=h * 7 + w)
    data, out, res = roundtrip(net, fp, img)
    assert read_header(unpack(data))["format"] == 4
    assert unpack(data).fingerprint == net.exact.fingerprint != fp
    assert np.array_equal(out, img)


def test_format4_strips_and_rate_vs_float(exact_net):
    """Strips give the same integer pmfs as the whole image (the same bits; the streams interleave the digits
    of each chunk, so they differ) (the rate cost vs the float path is checked on the trained zoo model, test_zoo)."""
    net, fp = exact_net
    img = smooth_image(40, 24, seed=5)
    d1, out1, r1 = roundtrip(net, fp, img)
    d2, out2, r2 = roundtrip(net, fp, img, strip_pixels=16 * 12, chunk=100)
    assert np.array_equal(out1, img) and np.array_equal(out2, img)
    # the same integer pmfs: the bits agree up to the float summation order of the estimate
    assert abs(r1.stats.est_bits - r2.stats.est_bits) <= 1e-6 * r1.stats.est_bits  # (float32 log2 sums)


def test_integer_params_do_not_depend_on_threads(exact_net):
    """Every value the coder sees is an exact integer computation: thread counts give identical tensors."""
    net, fp = exact_net
    ex = net.exact
    g = torch.Generator().manual_seed(0)
    sym = torch.randint(0, 25, (1, 5, 12, 20), generator=g)
    out = []
    n0 = torch.get_num_threads()
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            f = ex.decode_level(1, sym, None)
            p = ex.prob_params(1, f)
            out.append(p)
            assert torch.equal(p, torch.round(p)) and float(p.abs().max()) < 2 ** 27
    finally:
        torch.set_num_threads(n0)
    assert torch.equal(out[0], out[1])


def test_integer_network_tracks_the_float_network(exact_net):
    """The integer decoder computes the float D^(s) and heads up to fixed-point rounding."""
    net, fp = exact_net
    ex = net.exact
    sym = torch.randint(0, 25, (1, 5, 8, 8), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ff = net.decode_level(1, net.symbols_to_bn(sym), None)
    fi = ex.decode_level(1, sym, None) * 2.0 ** -ex.a_frac
    assert float((fi - ff).abs().max()) < 1e-3 * max(1.0, float(ff.abs().max()))


def test_tables_are_stored_and_exact():
    t = integer.make_tables()
    V = integer.SIG_RANGE << integer.SIG_FRAC
    assert len(t["sigmoid"]) == 2 * V and t["sigmoid"][V] == round(2 ** 30 / (1 + np.exp(-0.5 / 2 ** 11)))
    assert t["mant"][0] == 2 ** 20 and t["exp"][0] == 2 ** 16
    assert torch.all(t["sigmoid"][1:] >= t["sigmoid"][:-1])


def test_unconvertible_checkpoint_names_the_layer(monkeypatch):
    """A layer whose worst-case accumulator reaches 2^53 is refused at conversion time, by name (here forced
    by asking for 40-bit weights)."""
    net, fp = make_net("cr_mini", seed=0)
    monkeypatch.setattr(integer, "W_BITS", 40)
    with pytest.raises(exact.IntegerizeError, match="layer 'dec0.body0.c1' cannot be integerised.*2\\^53"):
        integer.integerize(net, [smooth_image(16, 16)], fp)


def test_format_model_mismatch_names_both(exact_net, tmp_path):
    """A format-4 file given to a float-only model names the format and the conversion command; a float file
    still decodes with the converted model (it keeps the float path)."""
    net, fp = exact_net
    img = smooth_image(9, 9, seed=3)
    c4 = encode_array(net, img, fp).container
    plain, pfp = make_net("cr_mini", seed=0)
    with pytest.raises(integer.ExactFormatError, match="stream format 4.*only the float path.*integerize"):
        check_model(plain, c4, pfp)
    with pytest.raises(integer.ExactFormatError, match="integerize"):
        decode_container(plain, c4)
    c3 = encode_array(net, img, fp, fmt=3).container
    check_model(net, c3, fp)
    assert np.array_equal(decode_container(net, c3)[0], img)
    other, ofp = make_net("cr_mini", seed=1)
    other.exact = None
    with pytest.raises(ContainerError, match="fingerprint mismatch.*stream format 3"):
        check_model(other, c3, ofp)


def test_exact_model_save_load(exact_net, tmp_path):
    net, fp = exact_net
    net.exact.save(tmp_path / "exact.pt")
    ex2 = integer.ExactModel.load(tmp_path / "exact.pt", net, fp)
    assert ex2.fingerprint == net.exact.fingerprint
    other, ofp = make_net("cr_mini", seed=1)
    with pytest.raises(ValueError, match="converted from float model"):
        integer.ExactModel.load(tmp_path / "exact.pt", other, ofp)


def test_golden_format4_file_decodes():
    """The committed format-4 file (zoo/mini, portable path) pins the bytes the encoder writes on every machine
    (shared_data.golden: missing file FAILS, L3C_UPDATE_GOLDEN=1 rewrites it) and decodes to the exact image
    (also checked under emulated other CPUs by test_cross_arith)."""
    from l3c.model_io import load_model

    from shared_data import golden

    net, fp, _ = load_model()
    img = smooth_image(5, 6, seed=42)
    golden.check(GOLDEN, pack(encode_array(net, img, fp).container), "l3c")
    c = unpack(GOLDEN.read_bytes(), "l3c")
    assert read_header(c)["format"] == 4
    check_model(net, c, fp)
    out, _, _ = decode_container(net, c)
    assert np.array_equal(out, img)


def test_prob_head_row_blocks_are_exact(exact_net, monkeypatch):
    """The integer probability head runs in row blocks with a halo (issue 17: bounded 4K memory): exactly the
    whole-strip parameters, and a file encoded with tiny blocks is byte-identical to one with whole strips."""
    net, fp = exact_net
    ex = net.exact
    feats = ex.decode_level(0, torch.randint(0, 5, (1, net.cfg.q.C, 12, 9)), None)
    whole = ex.prob_params(0, feats)
    img = smooth_image(40, 36, seed=4)
    d_whole = pack(encode_array(net, img, fp, strip_pixels=16 * 36).container)
    monkeypatch.setattr(integer, "PROB_BLOCK_PIXELS", 3 * feats.shape[-1])
    assert torch.equal(ex.prob_params(0, feats), whole)
    d_blocks, out, _ = roundtrip(net, fp, img, strip_pixels=16 * 36)
    assert d_blocks == d_whole and np.array_equal(out, img)
