"""Real lossless coding: round trips, strips, golden bytes, bad input."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, make_net, smooth_image
from l3c.coding import BACKENDS, decode_container, encode_array, read_header

from shared_data.container import ContainerError, pack, unpack


def roundtrip(net, fp, img, backend="constriction", **kw):
    res = encode_array(net, img, fp, backend, **kw)
    data = pack(res.container)
    out, stats, be = decode_container(net, unpack(data, "l3c", fp))
    return data, out, res, be


@pytest.mark.parametrize("h,w", [(1, 1), (7, 13), (9, 17)])
def test_roundtrip_odd_sizes(mini_net, h, w):
    net, fp = mini_net
    img = smooth_image(h, w, seed=h * 100 + w)
    data, out, res, be = roundtrip(net, fp, img)
    assert be == "constriction"
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.array_equal(out, img)


def test_rgb_baselines_roundtrip():
    for cf in ("cr_rgb_mini", "cr_rgb_shared_mini"):
        net, fp = make_net(cf, recursive=3 if "shared" in cf else 0)
        img = smooth_image(5, 9, seed=3)
        _, out, _, _ = roundtrip(net, fp, img)
        assert np.array_equal(out, img), cf
        assert net.pad_multiple == (16 if "shared" in cf else 8)


def test_strips_are_exact_and_cost_nothing(mini_net):
    """Strip-wise coding (bounded memory) decodes bit-exact and the halo makes it match whole-image rate."""
    net, fp = mini_net
    img = smooth_image(40, 20, seed=5)
    d_whole, out1, r1, _ = roundtrip(net, fp, img)
    d_strip, out2, r2, _ = roundtrip(net, fp, img, strip_pixels=16 * 24, chunk=100)
    assert np.array_equal(out1, img) and np.array_equal(out2, img)
    assert read_header(unpack(d_strip)) ["strip_pixels"] == 16 * 24
    assert abs(r2.stats.est_bits - r1.stats.est_bits) < 1e-3 * r1.stats.est_bits


def test_encoder_strips_give_the_whole_image_symbols(mini_net):
    """Every encoder level runs in strips with a halo (issue 17: bounded 4K encode memory); its symbols equal
    the whole-image pass's at every level, for strips smaller than a level and for one-strip levels."""
    from l3c.coding import run_encoders
    from l3c.network import image_to_input

    from shared_data.imageio import pad_to_multiple

    net, _ = mini_net
    img = smooth_image(96, 64, seed=3)
    xp = image_to_input(pad_to_multiple(img, net.pad_multiple)[0])
    with torch.no_grad():
        whole = [e.symbols for e in net.run_encoders(xp)]
        for sp in (16 * 16, 64 * 24, 64 * 96):
            strips = run_encoders(net, xp, strip_pixels=sp)
            assert len(strips) == len(whole)
            for a, b in zip(whole, strips):
                assert a.shape == b.shape and torch.equal(a, b), sp


def test_windowed_pmf_matches_dense():
    """Format 2's windowed pmfs equal the dense ones up to the dropped tails: rows sum to 1, and the
    cross-entropy of symbols drawn from the dense pmf grows by < 0.01 % (sharp and wide mixtures)."""
    import torch
    from l3c.dmll import DMLL

    dm = DMLL.for_rgb(10)
    g = torch.Generator().manual_seed(0)
    n = 3000
    for spread, log_s in ((2.0, -1.0), (8.0, 0.5), (30.0, 2.5)):
        pi = torch.randn(n, 10, generator=g) * 2
        mu = 20 + torch.rand(n, 1, generator=g) * 215 + torch.randn(n, 10, generator=g) * spread
        ls = log_s + 0.3 * torch.randn(n, 10, generator=g)
        a, b = dm.pmf(pi, mu, ls), dm.pmf_windowed(pi, mu, ls)
        assert torch.allclose(b.sum(1), torch.ones(n), atol=1e-5)
        x = torch.multinomial(a, 1, generator=g).squeeze(1)
        ca = -torch.log2(a[torch.arange(n), x].clamp_min(2 ** -24)).mean()
        cb = -torch.log2(b[torch.arange(n), x].clamp_min(2 ** -24)).mean()
        assert float(cb) <= float(ca) * 1.0001 + 1e-6, (spread, log_s, float(ca), float(cb))


@pytest.mark.parametrize("L", [256, 33, 25, 7])
def test_factorised_pmf_is_the_dense_pmf(L):
    """Format 3's P(d_1) P(d_2 | d_1) .. equals the dense pmf (float rounding only), for RGB, a partial last
    group (L=33: 6 x 6), z (L=25: 5 x 5) and one stage (L=7); parts past L-1 get 0; an interval whose mass
    underflowed still gets a codable pmf."""
    import torch
    from l3c.dmll import DMLL, RGB_RADICES

    dm = DMLL.for_rgb(10) if L == 256 else DMLL.for_bottleneck(10, L)
    radices, spans = dm.stages()
    assert radices == {256: RGB_RADICES, 33: (6, 6), 25: (5, 5), 7: (7,)}[L]
    assert spans[-1] == 1 and math_prod(radices) >= L
    g = torch.Generator().manual_seed(1)
    n = 2000
    span = dm.x_max - dm.x_min
    pi = torch.randn(n, 10, generator=g) * 2
    mu = dm.x_min + torch.rand(n, 10, generator=g) * span
    ls = math_log(span / 40) + torch.randn(n, 10, generator=g)
    dense = dm.pmf(pi, mu, ls)
    prep = dm.mixture_prep(pi, mu, ls)
    x = torch.multinomial(dense, 1, generator=g).squeeze(1)
    base = torch.zeros(n, dtype=torch.int64)
    lower, upper = torch.zeros(n, 1), torch.ones(n, 1)
    p = torch.ones(n)
    for m, sp in zip(radices, spans):
        pmf, full = dm.stage_pmf(prep, base, lower, upper, m, sp, first=sp == spans[0])
        assert torch.allclose(pmf.sum(1), torch.ones(n), atol=1e-5)
        assert (pmf[(base.unsqueeze(1) + sp * torch.arange(m)) >= L] == 0).all()
        d = torch.div(x - base, sp, rounding_mode="floor")
        p = p * pmf[torch.arange(n), d]
        lower, upper = full.gather(1, d[:, None]), full.gather(1, d[:, None] + 1)
        base = base + d * sp
    assert torch.equal(base, x)
    assert torch.allclose(p, dense[torch.arange(n), x], atol=2e-6)
    # an interval of zero mass (far tail of a sharp row) still gets a codable pmf
    sharp = dm.mixture_prep(torch.zeros(1, 10), torch.full((1, 10), dm.x_min), torch.full((1, 10), -7.0))
    far, _ = dm.stage_pmf(sharp, torch.tensor([(radices[0] - 1) * spans[0]]), torch.ones(1, 1),
                          torch.ones(1, 1), radices[-1] if len(radices) > 1 else 1, 1)
    assert float(far.sum()) > 0.99


def math_prod(v):
    import math

    return math.prod(v)


def math_log(v):
    import math

    return math.log(v)


def test_format3_pmfs_use_one_thread(mini_net, monkeypatch):
    """Format 3 builds its pmfs with one intra-op thread, so they do not depend on the machine's thread count
    (torch's elementwise kernels compute each thread's vector tail with scalar code: the hazard is real,
    e.g. ``torch.sigmoid`` of 1e6 values differed in one element between 1 and 2 threads here). The
    convolutions themselves may still differ in the last bit across thread counts (outside the coder)."""
    import torch
    from l3c.dmll import DMLL

    seen = []
    real = DMLL.mixture_cdf

    def spy(prep, edges):
        seen.append(torch.get_num_threads())
        return real(prep, edges)

    monkeypatch.setattr(DMLL, "mixture_cdf", staticmethod(spy))
    net, fp = mini_net
    n0 = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        data, out, _, _ = roundtrip(net, fp, smooth_image(16, 24, seed=4))
    finally:
        torch.set_num_threads(n0)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == n0


def test_torchac_and_constriction_both_exact(mini_net):
    """One torchac test (it JIT-compiles a C++ extension on first import, ~35 s)."""
    net, fp = mini_net
    img = smooth_image(7, 13, seed=9)
    d1, o1, r1, b1 = roundtrip(net, fp, img, "torchac")
    d2, o2, r2, b2 = roundtrip(net, fp, img, "constriction")
    assert (b1, b2) == ("torchac", "constriction")
    assert np.array_equal(o1, img) and np.array_equal(o2, img)
    assert d1 != d2


@pytest.mark.parametrize("fmt", [1, 2, 3])
def test_float_formats_roundtrip(fmt):
    """The float-path stream formats (1 = the first release's dense pmfs, 2 = windowed, 3 = factorised)
    still encode and decode, within one process (their bytes depend on the CPU's float kernels, so they
    are not pinned); new files record the arithmetic configuration."""
    net, fp = make_net("cr_mini", seed=0)
    img = smooth_image(5, 6, seed=42)
    data, out, _, _ = roundtrip(net, fp, img, fmt=fmt)
    assert np.array_equal(out, img)
    c = unpack(data)
    assert read_header(c)["format"] == fmt
    from l3c.coding import recorded_arith

    assert recorded_arith(net, c)["torch_threads"] == str(torch.get_num_threads())
    assert data[:4] == b"LIC\x89" and data[5] == 3  # container magic, codec id of l3c


def test_pixel_crc_refuses_a_desynchronised_decoder():
    """A decoder whose network computes differently (simulated: nudged weights, same fingerprint) must not
    return a wrong image: either the stream breaks or the pixel CRC refuses it."""
    net, fp = make_net("cr_mini", seed=0)
    img = smooth_image(9, 11, seed=3)
    c = encode_array(net, img, fp).container
    with torch.no_grad():
        for p_ in net.parameters():
            p_.add_(0.05 * torch.randn_like(p_))
    with pytest.raises(ContainerError, match="pixel CRC|corrupt"):
        decode_container(net, c)


def test_pixel_crc_mismatch_is_named():
    """The stream decodes but the pixels are not the encoder's (here: a forged CRC field) → a clear error."""
    import dataclasses

    from shared_data.container import pack_ints, unpack_ints
    net, fp = make_net("cr_mini", seed=0)
    c = encode_array(net, smooth_image(6, 7, seed=5), fp).container
    vals = unpack_ints(c.sections[0])
    forged = dataclasses.replace(c, sections=(pack_ints(vals[:6] + [vals[6] ^ 1]),) + c.sections[1:])
    with pytest.raises(ContainerError, match="pixel CRC mismatch"):
        decode_container(net, forged)


def test_corrupt_truncated_wrong_model(mini_net):
    net, fp = mini_net
    img = smooth_image(9, 9, seed=1)
    data = pack(encode_array(net, img, fp).container)
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x55
    with pytest.raises(ContainerError, match="CRC|corrupt"):
        decode_container(net, unpack(bytes(bad), "l3c", fp))
    with pytest.raises(ContainerError, match="truncated|CRC"):
        decode_container(net, unpack(data[:-7], "l3c", fp))
    other, ofp = make_net("cr_mini", seed=1)
    with pytest.raises(ContainerError, match="fingerprint"):
        unpack(data, "l3c", ofp)
    # a file whose header claims a different model geometry (bypassing the fingerprint) is refused too
    rgb, rfp = make_net("cr_rgb_shared_mini", recursive=3)
    with pytest.raises(ContainerError, match="wrong model|levels"):
        decode_container(rgb, unpack(data, "l3c"))


def test_torchac_missing_compiler_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake(name, *a, **k):
        if name == "torchac":
            raise OSError("error: command 'c++' failed: No such file or directory")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    monkeypatch.delitem(sys.modules, "torchac", raising=False)
    from l3c.coding import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="C\\+\\+ compiler.*ninja"):
        BACKENDS["torchac"]().new_encoder()


def test_cli_errors(tmp_path):
    """python -m l3c: non-zero exit and one clear line on stderr."""
    bad = tmp_path / "x.lic"
    bad.write_bytes(b"not a container at all")
    r = subprocess.run([sys.executable, "-m", "l3c", "decode", str(bad), str(tmp_path / "o.png")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "not a compressed-image container" in r.stderr


def test_recorded_thread_count_is_reproduced(tmp_path):
    """A float-path file records the arithmetic configuration (torch threads, CPU capability, versions); a
    file encoded with 1 thread decodes under the default env (the decoder takes the file's thread count),
    and with that reproduction disabled (LIC_THREADS) the error names the mismatch, not "corrupt"."""
    from PIL import Image

    from shared_data import arith

    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(40, 56, seed=3)).save(src)
    lic = tmp_path / "t1.lic"
    r = arith.run([sys.executable, "-m", "l3c", "encode", str(src), str(lic), "--float"], "threads-1", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    from l3c.coding import recorded_arith
    from l3c.model_io import load_model

    from shared_data.container import read

    net, _, _ = load_model()
    rec = recorded_arith(net, read(lic))
    assert rec["torch_threads"] == "1" and rec["torch_capability"] and rec["torch"] == torch.__version__
    assert rec["l3c_path"] == "float"
    r = arith.run([sys.executable, "-m", "l3c", "decode", str(lic), str(tmp_path / "o.png")], "default", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), np.asarray(Image.open(src)))
    r = arith.run([sys.executable, "-m", "l3c", "decode", str(lic), str(tmp_path / "o2.png")], "threads-2",
                  cwd=ROOT)
    if r.returncode != 0:  # the float network's last bits differ between 1 and 2 threads on this machine
        assert "torch_threads=1" in r.stderr and "torch_threads=2" in r.stderr, r.stderr


def test_chunk_field_is_bounded(mini_net):
    """Issue 17: a header's chunk field below MIN_CHUNK (1 would make a decode ~10^4x slower: one coder call and a
    dozen torch ops per symbol) or above MAX_CHUNK is refused up front; the encoder refuses to write one."""
    import dataclasses

    from l3c.coding import MAX_CHUNK, MIN_CHUNK

    from shared_data.container import pack_ints, unpack_ints
    net, fp = mini_net
    img = smooth_image(6, 7, seed=5)
    c = encode_array(net, img, fp, chunk=MIN_CHUNK).container
    assert np.array_equal(decode_container(net, c)[0], img)
    vals = unpack_ints(c.sections[0])
    for bad in (0, 1, MIN_CHUNK - 1, MAX_CHUNK + 1):
        forged = dataclasses.replace(c, sections=(pack_ints(vals[:5] + [bad] + vals[6:]),) + c.sections[1:])
        with pytest.raises(ContainerError, match=f"chunk of {bad} symbols"):
            decode_container(net, forged)
        with pytest.raises(ValueError, match="chunk"):
            encode_array(net, img, fp, chunk=bad)
