"""-LMM (the port's discretized logistic mixture latent model) with real coding: exact round trips."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from hific import portable
from hific.checkpoints import load_checkpoint, save_checkpoint
from hific.codec import decode_image, encode_image
from hific.coding import decode_rows, encode_rows
from hific.config import MINI
from hific.entropy import MixtureConditional
from hific.model import HiFiC

from shared_data import container as ctr

LMM = dataclasses.replace(MINI, use_latent_mixture_model=True, likelihood_type="logistic", name="mini-lmm")


@pytest.fixture(scope="module")
def lmm_model():
    torch.manual_seed(7)
    m = HiFiC(LMM).eval()
    with torch.no_grad():  # spread the mixture parameters so that components and escapes all occur
        m.mixture_head.weight.mul_(20)
    m.update()
    return m


def test_mixture_pmf_sums_to_one_and_matches_rows():
    torch.manual_seed(0)
    mix = MixtureConditional(3, 4, "logistic")
    params = torch.randn(1, 3 * 3 * 4, 2, 2)
    ys = torch.arange(-150, 151, dtype=torch.float32).reshape(-1, 1, 1, 1, 1)
    lik = torch.stack([mix.log_likelihood(y.expand(1, 3, 2, 2), params).exp() for y in ys])
    assert torch.allclose(lik.sum(0), torch.ones(1, 3, 2, 2), atol=1e-3)
    offsets, rows = next(mix.coding_rows(params))
    assert np.allclose(rows.sum(1), 1.0)
    # a row equals the pmf at its integers (parameters are rounded to the 1/1024 grid: small tolerance)
    i = 5  # raster index -> (c, h, w)
    c, h, w = np.unravel_index(i, (3, 2, 2))
    for j in range(0, rows.shape[1] - 1, 3):
        p = float(lik[int(offsets[i] + j + 150), 0, c, h, w])
        assert abs(rows[i, j] - p) < 1e-2 * max(p, 1e-3)


def test_rows_coder_round_trip_with_escapes():
    rng = np.random.default_rng(1)
    n = 5000
    probs = rng.random((n, 9)) + 0.01
    probs /= probs.sum(1, keepdims=True)
    offsets = rng.integers(-20, 20, n)
    sym = offsets + rng.integers(0, 8, n)
    sym[::97] = rng.integers(-2 ** 40, 2 ** 40, len(sym[::97]))  # escapes of every magnitude
    chunks = lambda: ((offsets[s:s + 700], probs[s:s + 700]) for s in range(0, n, 700))  # noqa: E731
    data = encode_rows(sym, chunks())
    assert np.array_equal(decode_rows(data, chunks(), n), sym)
    with pytest.raises(ctr.ContainerError):
        decode_rows(data[:-5], chunks(), n)


@pytest.mark.parametrize("h,w", [(64, 64), (45, 70)])
def test_lmm_codec_round_trip_exact(lmm_model, h, w):
    rng = np.random.default_rng(h)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    cont, enc = encode_image(lmm_model, img)
    data = ctr.pack(cont)
    rec, dec = decode_image(lmm_model, ctr.unpack(data, codec="hific", model_fingerprint=lmm_model.fingerprint()))
    assert rec.shape == img.shape
    assert torch.equal(enc["y_sym"], dec["y_sym"]) and torch.equal(enc["z_sym"], dec["z_sym"])
    # real bits track the model's estimate (1/1024 parameter grid, windows and escapes cost little)
    est = lmm_model.estimate_bits(img)
    rec_bits = 8 * len(portable.pack_config(portable.arith_config("portable")))  # the arithmetic record (grows with set env vars)
    assert 8 * len(data) <= est * 1.05 + 8 * 64 + rec_bits and 8 * len(data) >= est * 0.95


def test_lmm_forward_and_checkpoint(lmm_model, tmp_path):
    x = torch.rand(2, 3, 64, 64)
    out = lmm_model.train()(x)
    assert out.x_hat.shape == x.shape and math.isfinite(float(out.bpp)) and float(out.q_bpp) > 0
    out.bpp.backward()
    assert lmm_model.mixture_head.weight.grad is not None
    lmm_model.eval()
    save_checkpoint(tmp_path / "lmm.pt", lmm_model)
    m2, _ = load_checkpoint(tmp_path / "lmm.pt")
    assert m2.cfg.use_latent_mixture_model and m2.fingerprint() == lmm_model.fingerprint()
