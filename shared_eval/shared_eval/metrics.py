"""Image quality and rate measures, in NumPy, identical for every codec.

- PSNR over RGB, data range 255: 10·log10(255² / MSE), MSE over all pixels and channels.
- MS-SSIM of Wang, Simoncelli & Bovik (2003): five scales, 11-tap Gaussian window with σ = 1.5,
  K1 = 0.01, K2 = 0.03, data range 255, exponents (0.0448, 0.2856, 0.3001, 0.2363, 0.1333).
  Per scale the SSIM terms use a 'valid' Gaussian filter; between scales the image is padded
  symmetrically to even size and 2×2 average-pooled. Contrast-structure (cs) terms of scales 1–4 and the
  full SSIM of scale 5 are combined per channel (negative values clipped at 0, as in
  ``tf.image.ssim_multiscale`` and ``pytorch_msssim``), then averaged over the channels.
- bpp = 8·bytes / (H·W) of the original image; bpsp = bits per sub-pixel = bpp / 3.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
_K1, _K2 = 0.01, 0.03


def _as_float(img: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"{name}: expected (H, W) or (H, W, C), got shape {a.shape}")
    return a.astype(np.float64)


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_float(a, "a"), _as_float(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {x.shape} vs {y.shape}")
    return x, y


def mse(a: np.ndarray, b: np.ndarray) -> float:
    x, y = _pair(a, b)
    return float(np.mean((x - y) ** 2))


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB over all pixels and channels; ``inf`` for identical images."""
    m = mse(a, b)
    return float("inf") if m == 0 else float(10.0 * np.log10(data_range**2 / m))


def _gaussian(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation over the two spatial axes of (H, W, C)."""
    r = len(g) // 2
    y = correlate1d(x, g, axis=0, mode="constant")[r:x.shape[0] - r]
    return correlate1d(y, g, axis=1, mode="constant")[:, r:x.shape[1] - r]


def _ssim_cs(x: np.ndarray, y: np.ndarray, data_range: float, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean SSIM and contrast-structure terms of one scale."""
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    mu_x, mu_y = _filter_valid(x, g), _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mu_x**2
    syy = _filter_valid(y * y, g) - mu_y**2
    sxy = _filter_valid(x * y, g) - mu_x * mu_y
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (lum * cs_map).mean(axis=(0, 1)), cs_map.mean(axis=(0, 1))


def _downsample(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[:2]
    x = np.pad(x, [(0, h % 2), (0, w % 2), (0, 0)], mode="symmetric")
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def ms_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0, filter_size: int = 11,
            sigma: float = 1.5, weights: np.ndarray = MS_SSIM_WEIGHTS) -> float:
    """Multi-scale SSIM (Wang et al. 2003, Eq. 7) of two images (H, W[, C]) in 0..data_range.

    The smallest scale must still be at least ``filter_size`` pixels: images need a shorter side of
    ``filter_size · 2**(len(weights)-1)`` = 176 pixels for the default five scales.
    """
    x, y = _pair(a, b)
    levels = len(weights)
    need = filter_size * 2 ** (levels - 1)
    if min(x.shape[:2]) < need:
        raise ValueError(f"MS-SSIM with {levels} scales and an {filter_size}-tap window needs images of at "
                         f"least {need}x{need}, got {x.shape[0]}x{x.shape[1]}")
    g = _gaussian(filter_size, sigma)
    terms = []
    for level in range(levels):
        ssim_c, cs_c = _ssim_cs(x, y, data_range, g)
        if level < levels - 1:
            terms.append(cs_c)
            x, y = _downsample(x), _downsample(y)
        else:
            terms.append(ssim_c)
    stack = np.maximum(np.stack(terms), 0.0)  # (levels, C)
    per_channel = np.prod(stack ** np.asarray(weights)[:, None], axis=0)
    return float(per_channel.mean())


def ms_ssim_db(value: float) -> float:
    """MS-SSIM in dB, −10·log10(1 − MS-SSIM), as iREC and many papers plot it."""
    return float("inf") if value >= 1.0 else float(-10.0 * np.log10(1.0 - value))


def bpp(num_bytes: int, height: int, width: int) -> float:
    """Bits per pixel of a real file: 8·bytes / (H·W) of the original (unpadded) image."""
    if height <= 0 or width <= 0:
        raise ValueError(f"bad image size {height}x{width}")
    return 8.0 * num_bytes / (height * width)


def bpsp(num_bytes: int, height: int, width: int, channels: int = 3) -> float:
    """Bits per sub-pixel (L3C's unit for lossless coding): 8·bytes / (H·W·C)."""
    return bpp(num_bytes, height, width) / channels
