"""FID/KID with HiFiC's patch protocol ("FID/256", paper Sec. 5 / App. A.6; NC ``_update_patch_fid``):

every image is cut into non-overlapping 256x256 patches, plus a second grid shifted by 128 pixels when the
image is at least 384 pixels in that direction; all patches of all images are pooled. FID (Heusel et al.
2017) is the Frechet distance of Gaussian fits to the features; KID (Binkowski et al. 2018) the unbiased
MMD with the cubic polynomial kernel, averaged over ``n_subsets`` random subsets of ``subset_size``.

The feature extractor is pluggable: :class:`InceptionFeatures` loads torch-fidelity's ``inception-v3-compat``
from a local weights file (never downloaded; a clear error names the file), tests pass a small stand-in.
Kodak images (768x512) give 2x3 + 1x2 = 8 patches each; the paper reports no FID on Kodak (too few).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from scipy import linalg

from shared_data.errors import ModelError

PATCH = 256
SHIFT = 128


def patches(img: np.ndarray, patch: int = PATCH, shift: int = SHIFT) -> list[np.ndarray]:
    """Non-overlapping patch x patch crops of (H, W, 3), then the grid shifted by ``shift`` in both
    directions if H and W are >= patch + shift (NC applies the shift when both sides allow it)."""
    h, w = img.shape[:2]
    out = [img[i:i + patch, j:j + patch] for i in range(0, h - patch + 1, patch)
           for j in range(0, w - patch + 1, patch)]
    if h >= patch + shift and w >= patch + shift:
        out += [img[i:i + patch, j:j + patch] for i in range(shift, h - patch + 1, patch)
                for j in range(shift, w - patch + 1, patch)]
    return out


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature rows of ``a`` and ``b`` (N x D each)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"FID needs >= 2 feature rows per set, got {len(a)} and {len(b)}")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kid_from_features(a: np.ndarray, b: np.ndarray, n_subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> float:
    """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, mean over random subsets (torch-fidelity/NC defaults)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("KID needs >= 2 feature rows per set")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        vals.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                    - 2 * kxy.mean())
    return float(np.mean(vals))


def patch_features(images: Iterable[np.ndarray], extractor: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Features of every protocol patch of every image; ``extractor`` maps (N, 256, 256, 3) uint8 -> (N, D)."""
    feats = []
    for img in images:
        ps = patches(img)
        if ps:
            feats.append(np.asarray(extractor(np.stack(ps))))
    if not feats:
        raise ValueError("no image is at least 256x256: FID/256 has no patches")
    return np.concatenate(feats)


def fid_kid(originals: Iterable[np.ndarray], reconstructions: Iterable[np.ndarray], extractor,
            **kid_kwargs) -> dict:
    fa = patch_features(originals, extractor)
    fb = patch_features(reconstructions, extractor)
    return {"fid": fid_from_features(fa, fb), "kid": kid_from_features(fa, fb, **kid_kwargs),
            "n_patches": len(fa)}


class InceptionFeatures:
    """torch-fidelity's ``inception-v3-compat`` 2048-d pool features from a local weights file.

    torch-fidelity is not pinned in requirements.txt (it is not needed for coding or training); install it and
    put ``weights-inception-2015-12-05-6726825d.pth`` at ``$HIFIC_INCEPTION_WEIGHTS``.
    """

    FILE = "weights-inception-2015-12-05-6726825d.pth"

    def __init__(self, weights_path: str | os.PathLike | None = None):
        path = Path(weights_path or os.environ.get("HIFIC_INCEPTION_WEIGHTS", "")) if (
            weights_path or os.environ.get("HIFIC_INCEPTION_WEIGHTS")) else None
        if path is None or not path.is_file():
            raise ModelError(f"FID/KID need the Inception weights '{self.FILE}' at $HIFIC_INCEPTION_WEIGHTS "
                             f"(got {path}); they are never downloaded at run time")
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as e:
            raise ImportError("FID/KID need the 'torch-fidelity' package (pip install torch-fidelity)") from e
        self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                               feature_extractor_weights_path=str(path)).eval()

    def __call__(self, batch_uint8: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(batch_uint8).permute(0, 3, 1, 2).contiguous()
        with torch.no_grad():
            return self.net(x)[0].numpy()
