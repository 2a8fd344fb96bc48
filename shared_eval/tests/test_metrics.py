"""Metrics: closed-form checks (the cross-checks against TF and pytorch_msssim are in tests_crosscheck/)."""

import math

import numpy as np
import pytest

from shared_data.imageio import sample_images
from shared_eval import metrics

RNG = np.random.default_rng(3)


def test_psnr_closed_form():
    a = np.zeros((4, 5, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 10  # MSE = 100 / 60
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / (100 / 60)))
    assert metrics.psnr(a, a) == float("inf")


def test_ms_ssim_identity_and_bounds():
    img = sample_images(("astronaut",))["astronaut"]
    assert metrics.ms_ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    noisy = np.clip(img.astype(int) + RNG.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
    v = metrics.ms_ssim(img, noisy)
    assert 0.5 < v < 1.0
    assert metrics.ms_ssim(noisy, img) == pytest.approx(v, abs=1e-12)  # symmetric
    worse = np.clip(img.astype(int) + RNG.integers(-60, 61, img.shape), 0, 255).astype(np.uint8)
    assert metrics.ms_ssim(img, worse) < v


def test_ms_ssim_odd_sizes_and_errors():
    img = sample_images(("chelsea",))["chelsea"][:181, :203]  # odd sides exercise the symmetric pad
    assert metrics.ms_ssim(img, img) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 176x176"):
        metrics.ms_ssim(img[:100], img[:100])
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.ms_ssim(img, img[:180])


def test_rate_units():
    assert metrics.bpp(96, 32, 24) == 1.0
    assert metrics.bpsp(96, 32, 24) == pytest.approx(1 / 3)
    assert metrics.ms_ssim_db(0.99) == pytest.approx(20.0)
    with pytest.raises(ValueError):
        metrics.bpp(1, 0, 5)
