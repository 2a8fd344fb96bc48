"""FID/256 patch protocol and the FID/KID formulas, with a small stand-in feature extractor."""

import numpy as np
import pytest
from hific.fid import InceptionFeatures, fid_from_features, fid_kid, kid_from_features, patches

from shared_data.errors import ModelError


def test_patch_grid_counts_kodak_and_small():
    kodak = np.zeros((512, 768, 3), np.uint8)
    assert len(patches(kodak)) == 2 * 3 + 1 * 2  # plus the 128-shifted grid (1 row x 2 columns)
    assert len(patches(np.zeros((300, 1000, 3), np.uint8))) == 3  # 300 < 384: no shifted grid
    assert len(patches(np.zeros((200, 200, 3), np.uint8))) == 0
    img = np.arange(512 * 768 * 3, dtype=np.int64).reshape(512, 768, 3)
    ps = patches(img)
    assert np.array_equal(ps[-1], img[128:384, 384:640])


def stand_in(batch):
    """Per-channel means and stds of a 4x4 grid: a cheap deterministic 'feature extractor'."""
    b = batch.astype(np.float64).__truediv__(255.0).reshape(len(batch), 4, 64, 4, 64, 3)
    return np.concatenate([b.mean((2, 4)).reshape(len(batch), -1), b.std((2, 4)).reshape(len(batch), -1)], 1)


def test_fid_kid_zero_for_identical_and_positive_for_different():
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (512, 768, 3), dtype=np.uint8) for _ in range(3)]
    same = fid_kid(imgs, imgs, stand_in, n_subsets=5, subset_size=20)
    assert same["n_patches"] == 24 and abs(same["fid"]) < 1e-3
    blurred = [np.clip(i.astype(int) // 2 + 64, 0, 255).astype(np.uint8) for i in imgs]
    diff = fid_kid(imgs, blurred, stand_in, n_subsets=5, subset_size=20)
    assert diff["fid"] > 0.1 and diff["kid"] > 10 * abs(same["kid"])


def test_fid_formula_on_gaussians():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, (20000, 2))
    b = rng.normal(0, 1, (20000, 2)) + np.array([3.0, 0.0])
    assert fid_from_features(a, b) == pytest.approx(9.0, rel=0.05)  # |mu1 - mu2|^2, equal covariances
    assert kid_from_features(a, a[::-1], n_subsets=3, subset_size=200) == pytest.approx(0, abs=0.05)


def test_inception_weights_missing_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("HIFIC_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(ModelError, match="weights-inception"):
        InceptionFeatures()
