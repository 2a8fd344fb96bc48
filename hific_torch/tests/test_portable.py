"""Portable files (issue 15): the integer h_s and tables, stream layouts 1-3, golden files, the
arithmetic-config record, and payload corruption behind a recomputed container CRC (issue 17)."""

import dataclasses
import zlib

import numpy as np
import pytest
import torch
from hific import portable as pt
from hific.checkpoints import load_checkpoint, load_codec_weights, save_checkpoint
from hific.codec import decode_image, encode_image, mixture_rows
from hific.config import MINI
from hific.model import HiFiC
from PIL import Image

from shared_data import container as ctr
from shared_data.exact import IntegerizeError

from . import _golden as gd
from .test_cli import run
from .test_codec import image


def test_integer_hs_tracks_the_float_hs(portable_model):
    """The integer μ is the float μ to ~2^-10, and the scale indexes agree almost everywhere."""
    m = portable_model
    torch.manual_seed(3)
    z_sym = torch.randint(-4, 5, (1, MINI.hyper_channels, 3, 5))
    mean_i, idx_i = m.portable.mean_and_indexes(m, z_sym)
    mean_f, idx_f = m._mean_scale_indexes(z_sym.float() + m.hyper_density.medians.reshape(1, -1, 1, 1))
    assert mean_i.dtype == torch.float32 and idx_i.dtype == torch.int64
    assert (mean_i - mean_f).abs().max() < 0.02
    assert (idx_i == idx_f).float().mean() > 0.99 and (idx_i - idx_f).abs().max() <= 1
    # every value is an integer / 2^ACT_FRAC: exact in float32 and float64
    q = mean_i.double() * (1 << pt.ACT_FRAC)
    assert torch.equal(q, q.round())


def test_integer_tables_and_thresholds(portable_model):
    p = portable_model.portable
    z_tab, y_tab = p.coding_tables()
    for probs in z_tab.probs + y_tab.probs:
        assert probs.dtype == np.float64 and probs.min() > 0 and abs(probs.sum() - 1) < 1e-12
    t = p.thresholds.numpy()
    assert len(t) == 63 and np.all(np.diff(t) > 0)
    # σ exactly at a threshold takes the upper scale (nearest in log space, ties up), one below the lower
    s = torch.tensor([float(t[10] - 1), float(t[10])], dtype=torch.float64)
    assert torch.searchsorted(p.thresholds.double(), s, right=True).tolist() == [10, 11]


def test_rshift_round_matches_shared_exact():
    from shared_data.exact import rshift_round as ref
    acc = np.array([-7, -6, -5, -4, -1, 0, 1, 3, 4, 5, 2**52 - 3], dtype=np.int64)
    for s in (1, 2, 3):
        got = pt.rshift_round(torch.from_numpy(acc.astype(np.float64)), s).numpy().astype(np.int64)
        assert got.tolist() == ref(acc, s).tolist()


@pytest.mark.parametrize("h,w", [(64, 64), (37, 53), (1, 1)])
def test_portable_round_trip_and_rate(portable_model, h, w):
    img = image(max(h, 64), max(w, 64), seed=2)[:h, :w]
    cont, enc = encode_image(portable_model, img)
    assert enc["layout"] == pt.LAYOUT_PORTABLE and cont.fingerprint == portable_model.portable_fingerprint()
    rec, dec = decode_image(portable_model, ctr.unpack(ctr.pack(cont)))
    assert rec.shape == img.shape and dec["layout"] == pt.LAYOUT_PORTABLE
    assert torch.equal(enc["y_sym"], dec["y_sym"]) and torch.equal(enc["z_sym"], dec["z_sym"])
    fcont, _ = encode_image(portable_model, img, portable=False)
    assert fcont.fingerprint == portable_model.fingerprint() and len(fcont.sections) == 4
    if h * w >= 64 * 64:  # same model, exact arithmetic: rate within 1 % of the float path on this image
        assert len(ctr.pack(cont)) <= 1.01 * len(ctr.pack(fcont)) + 8


def test_layouts_models_and_messages(mini_model, portable_model, tmp_path):
    img = image(64, 64, seed=4)
    pcont, _ = encode_image(portable_model, img)
    # a portable file for a float-only model: both formats and the conversion command are named
    with pytest.raises(ctr.ContainerError, match=r"portable integer path \(layout 3\).*float-only.*"
                                                 r"python -m hific integerize CKPT OUT"):
        decode_image(mini_model, pcont)
    # a float-path file (layout 2) of the float model decodes with its integerized copy (same float weights)
    fcont, enc = encode_image(mini_model, img)
    assert enc["layout"] == pt.LAYOUT_FLOAT
    rec_a, _ = decode_image(mini_model, fcont)
    rec_b, dec = decode_image(portable_model, fcont)
    assert np.array_equal(rec_a, rec_b) and dec["config"]["path"] == "float"
    with pytest.raises(ctr.ContainerError, match="float-only"):
        encode_image(mini_model, img, portable=True)
    # unknown layout / section count
    bad = ctr.Container("hific", mini_model.fingerprint(), 64, 64, (ctr.pack_ints([7, 64, 64, 0]), b"", b"", b""))
    with pytest.raises(ctr.ContainerError, match="unknown hific section header"):
        decode_image(mini_model, bad)
    # the integerized checkpoint round-trips through save/load with both fingerprints
    p = tmp_path / "int.pt"
    save_checkpoint(p, portable_model)
    m2, _ = load_checkpoint(p)
    assert m2.is_portable() and m2.fingerprint() == mini_model.fingerprint()
    assert m2.portable_fingerprint() == portable_model.portable_fingerprint()
    assert np.array_equal(decode_image(m2, pcont)[0], decode_image(portable_model, pcont)[0])


def test_integerize_cli_and_the_2_53_bound(mini_model, tmp_path):
    src = tmp_path / "float.pt"
    save_checkpoint(src, mini_model)
    r = run("integerize", src, tmp_path / "int.pt")
    assert r.returncode == 0 and "portable fingerprint" in r.stdout, r.stderr
    m, ck = load_checkpoint(tmp_path / "int.pt")
    assert m.is_portable() and ck["integerized"]["float_fingerprint"] == mini_model.fingerprint().hex()
    big = HiFiC(MINI).eval()
    load_codec_weights(big, mini_model.state_dict())
    with torch.no_grad():
        big.hyper_synthesis_scale.net[4].weight.mul_(1e7)
    save_checkpoint(tmp_path / "big.pt", big)
    with pytest.raises(IntegerizeError, match="layer 'hyper_synthesis_scale.net.4' cannot be integerised"):
        pt.integerize(big)
    r = run("integerize", tmp_path / "big.pt", tmp_path / "never.pt")
    assert r.returncode == 1 and "hyper_synthesis_scale.net.4" in r.stderr and not (tmp_path / "never.pt").exists()
    lmm = HiFiC(dataclasses.replace(MINI, use_latent_mixture_model=True, likelihood_type="gaussian"))
    lmm.update()
    with pytest.raises(NotImplementedError, match="portable -LMM needs --likelihood_type logistic"):
        pt.integerize(lmm)


def test_portable_lmm_logistic_rows_and_round_trip():
    """-LMM (logistic): rows from the integer h_s + head with softmax / exp / sigmoid tables; exact round
    trip, rows are probability vectors close to the float rows, rate close to the float path."""
    torch.manual_seed(7)
    m = HiFiC(dataclasses.replace(MINI, use_latent_mixture_model=True, likelihood_type="logistic")).eval()
    with torch.no_grad():  # spread the mixture parameters so that components and escapes all occur
        m.mixture_head.weight.mul_(20)
    m.update()
    m.portable = pt.integerize(m)
    z = torch.randint(-2, 3, (1, MINI.hyper_channels, 2, 2))
    z_hat = z.float() + m.hyper_density.medians.reshape(1, -1, 1, 1)
    (fo, fp), = list(mixture_rows(m, z, z_hat, False))
    (io, ip), = list(mixture_rows(m, z, z_hat, True))
    assert np.array_equal(fo, io) and fp.shape == ip.shape
    assert np.allclose(ip.sum(1), 1) and ip.min() > 0 and np.abs(fp - ip).max() < 0.02
    (io2, ip2), = list(mixture_rows(m, z, z_hat, True))
    assert np.array_equal(io, io2) and np.array_equal(ip, ip2)
    img = image(96, 128, seed=1)
    cont, enc = encode_image(m, img)
    assert enc["layout"] == pt.LAYOUT_PORTABLE
    rec, dec = decode_image(m, ctr.unpack(ctr.pack(cont)))
    assert torch.equal(enc["y_sym"], dec["y_sym"]) and rec.shape == img.shape
    fcont, _ = encode_image(m, img, portable=False)
    assert len(ctr.pack(cont)) <= 1.02 * len(ctr.pack(fcont)) + 8


def test_zoo_models_are_integerized(zoo_ckpt):
    for path in (zoo_ckpt, zoo_ckpt.with_name("hific_mini_stage1.pt")):
        m, ck = load_checkpoint(path)
        assert m.is_portable() and m.portable.settings[1:3] == (pt.ACT_FRAC, pt.WEIGHT_FRAC)
        assert ck["integerized"]["float_fingerprint"] == m.fingerprint().hex()
        assert path.stat().st_size <= 7 * 1024 * 1024
    m, _ = load_checkpoint(zoo_ckpt)
    assert m.fingerprint().hex() == "d778d6233262551a"  # the float identity of the recorded mini run
    # training from an integerized checkpoint (resume / warm start) takes the float weights only, and
    # rebuilding the tables drops a stale integer block
    fresh = HiFiC(MINI)
    load_codec_weights(fresh, m.state_dict())
    assert not fresh.is_portable() and fresh.fingerprint() == m.fingerprint()
    m.update()
    assert not m.is_portable()


def test_arith_config_section():
    cfg = pt.arith_config("portable")
    assert {"torch", "torch_threads", "torch_capability", "isa", "path", "numpy", "mkldnn"} <= set(cfg)
    data = pt.pack_config(cfg)
    assert len(data) < 64 and pt.unpack_config(data) == cfg
    for junk in (b"\xff\x00", data[:-3], data + b"x", zlib.compress(b"a=b")):
        with pytest.raises(ctr.ContainerError, match="arithmetic-config"):
            pt.unpack_config(junk)


# ---- golden files --------------------------------------------------------------------------------------
def test_golden_legacy_layout1_file_still_decodes(zoo_ckpt):
    """A file written by the layout-1 encoder (float path, no records) decodes with the integerized zoo
    model; G is float: within 1 grey level of the committed decode."""
    model, _ = load_checkpoint(zoo_ckpt)
    cont = ctr.read(gd.need(gd.GOLDEN / "legacy_layout1.lic"), codec="hific")
    rec, info = decode_image(model, cont)
    ref = np.asarray(Image.open(gd.need(gd.GOLDEN / "legacy_layout1_decoded.png")))
    assert info["layout"] == pt.LAYOUT_LEGACY and rec.shape == ref.shape
    assert np.abs(rec.astype(int) - ref.astype(int)).max() <= 1


def test_golden_portable_file(zoo_ckpt):
    """The committed portable file decodes to the pinned symbols (exact) and within 1 grey level of the
    committed image; the zoo model re-encodes the synthetic image to the same bytes (shared_data.golden, with the
    committed file's arithmetic record in place of this machine's: tests/_golden.py)."""
    model, _ = load_checkpoint(zoo_ckpt)
    lic, js, png = (gd.GOLDEN / n for n in ("portable_layout3.lic", "portable_layout3.json",
                                            "portable_layout3_decoded.png"))
    if gd.UPDATE:
        cont, enc = encode_image(model, gd.synthetic())
        ctr.write(lic, cont)
        rec, _ = decode_image(model, cont)
        Image.fromarray(rec).save(png)
        gd.write_json(js, {"symbols_sha256": gd.symbols_digest(enc["z_sym"], enc["y_sym"]),
                           "model_portable_fingerprint": model.portable_fingerprint().hex()})
    meta = gd.read_json(js)
    cont = ctr.read(gd.need(lic), codec="hific")
    rec, info = decode_image(model, cont)
    assert info["layout"] == pt.LAYOUT_PORTABLE
    assert gd.symbols_digest(info["z_sym"], info["y_sym"]) == meta["symbols_sha256"]
    ref = np.asarray(Image.open(gd.need(png)))
    assert np.abs(rec.astype(int) - ref.astype(int)).max() <= 1
    again, _ = encode_image(model, gd.synthetic())  # the same bytes but for this machine's arithmetic record
    gd.check_file(lic, again)


# ---- issue 17: payload corruption behind a recomputed container CRC ------------------------------------
def _mutants(data: bytes, start: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        b = bytearray(data[:-4])
        pos = int(rng.integers(start, len(b)))
        b[pos] ^= 1 << int(rng.integers(8))
        yield bytes(b) + (zlib.crc32(bytes(b)) & 0xFFFFFFFF).to_bytes(4, "little")


@pytest.mark.parametrize("portable", [True, False], ids=["portable", "float"])
def test_mutated_payloads_with_recomputed_crc_are_refused(zoo_ckpt, portable):
    """300 files with one payload bit flipped and the container CRC-32 rewritten: every one is refused with
    a ContainerError or decodes to exactly the clean image (a flip in the coder's flush bits); none decodes
    to a wrong image (issue 17: 19 of 60 did before the symbol CRC)."""
    model, _ = load_checkpoint(zoo_ckpt)
    img = image(80, 96, seed=11)
    cont, _ = encode_image(model, img, portable=portable)
    data = ctr.pack(cont)
    clean, _ = decode_image(model, ctr.unpack(data))
    start = len(data) - 4 - sum(len(s) for s in cont.sections)
    out = {"refused": 0, "identical": 0, "wrong": 0}
    for f in _mutants(data, start, 300, seed=17 + portable):
        try:
            rec, _ = decode_image(model, ctr.unpack(f))
        except ctr.ContainerError as e:
            assert str(e)
            out["refused"] += 1
            continue
        out["identical" if np.array_equal(rec, clean) else "wrong"] += 1
    assert out["wrong"] == 0, out
    assert out["refused"] >= 280, out


def test_shared_fuzz_harness_finds_no_bad_outcome(zoo_ckpt):
    """shared_data.fuzz (raw, CRC-recomputed, payload and structured mutations) on a portable file: no crash,
    hang or silent-wrong decode."""
    from shared_data import fuzz

    model, _ = load_checkpoint(zoo_ckpt)
    data = ctr.pack(encode_image(model, image(80, 96, seed=12))[0])
    other = ctr.pack(encode_image(model, image(64, 64, seed=13))[0])

    def decode(b: bytes) -> np.ndarray:
        return decode_image(model, ctr.unpack(b, codec="hific"))[0]

    rep = fuzz.run(decode, data, errors=(ctr.ContainerError,), n_cases=400, seed=0, time_limit=30.0,
                   others=[other], progress=False)
    print(rep.summary())
    assert rep.ok, rep.summary()
