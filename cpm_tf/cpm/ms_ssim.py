"""Training MS-SSIM in TensorFlow: the original's ``ms_ssim.py`` (``MultiScaleSSIM``), after Wang et al. 2003.

Reproduces the original (fab-jul/imgcomp-cvpr ``code/ms_ssim.py``, with which the published models were
trained), including its small-scale behaviour: at a scale whose side s is below the 11-tap window the window
size becomes ``size = min(11, H, W)`` with σ = 1.5·size/11, but ``gauss_kernel`` makes ``2·(size//2)+1`` taps
(one more than s when s is even), and the image is REFLECT-padded by ``total_pad = taps − W`` before and
``total_pad // 2`` after (the original's ``total_pad + 1 // 2`` precedence slip), on both axes, with the pad
measured on the width only. Separable Gaussian (width pass, then height pass), VALID convolutions;
downsampling by a [0.5, 0.5] box with REFLECT padding (0 before, 1 after) then ``::2``; one **batch-level**
value (every mean runs over the whole batch, not per image). Evaluation uses ``shared_eval.metrics``, not this.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333], np.float32)


def gauss_kernel(sigma: float, size: int) -> np.ndarray:
    """The original's ``gauss_kernel``: ``2·(size//2)+1`` taps (odd, one more than an even ``size``)."""
    n = size // 2
    x = np.arange(-n, n + 1, 1.0)
    g = np.exp(-x * x / (2 * sigma * sigma))
    return (g / np.sum(np.abs(g))).astype(np.float32)


def _separable(x, g):
    """VALID separable filter of NHWC x with the 1D kernel g on every channel: width pass, then height pass."""
    c = x.shape[-1]
    kw = tf.constant(np.tile(g.reshape(1, -1, 1, 1), (1, 1, c, 1)))
    kh = tf.constant(np.tile(g.reshape(-1, 1, 1, 1), (1, 1, c, 1)))
    x = tf.nn.depthwise_conv2d(x, kw, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(x, kh, [1, 1, 1, 1], "VALID")


def gaussian_blur(x, sigma: float, size: int):
    """The original's ``gaussian_blur``: pad (REFLECT, ``total_pad`` before, ``total_pad//2`` after, with
    ``total_pad = max(taps − W, 0)``) then the VALID separable Gaussian."""
    g = gauss_kernel(sigma, size)
    h, w = int(x.shape[1]), int(x.shape[2])
    total_pad = max(len(g) - w, 0)
    before, after = total_pad, total_pad // 2  # original: pad_w1 = total_pad + 1 // 2 (= total_pad + 0)
    if h + before + after < len(g):
        raise ValueError(f"MS-SSIM: a {h}x{w} scale is too small for the original's {len(g)}-tap window "
                         "(the original pads by the width only and fails here too)")
    if total_pad:
        x = tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]], mode="REFLECT")
    return _separable(x, g)


def _ssim(img1, img2, max_val, filter_size, filter_sigma, k1=0.01, k2=0.03, mean=tf.reduce_mean):
    h, w = int(img1.shape[1]), int(img1.shape[2])
    size = min(filter_size, h, w)
    sigma = size * filter_sigma / filter_size if filter_size else 0
    if filter_size:
        def blur(t):
            return gaussian_blur(t, sigma, size)
    else:  # empty window: no blur (as the original)
        def blur(t):
            return t
    mu1, mu2 = blur(img1), blur(img2)
    s11, s22, s12 = blur(img1 * img1), blur(img2 * img2), blur(img1 * img2)
    mu11, mu22, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s11, s22, s12 = s11 - mu11, s22 - mu22, s12 - mu12
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    v1, v2 = 2.0 * s12 + c2, s11 + s22 + c2
    ssim = mean(((2.0 * mu12 + c1) * v1) / ((mu11 + mu22 + c1) * v2))
    cs = mean(v1 / v2)
    return ssim, cs


def _downsample(x):
    """The original's ``kernel_blur`` with [0.5, 0.5] (REFLECT pad 0 before, 1 after), then ``::2``."""
    x = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]], mode="REFLECT")
    return _separable(x, np.full(2, 0.5, np.float32))[:, ::2, ::2, :]


def ms_ssim(img1, img2, max_val=255.0, filter_size=11, filter_sigma=1.5, mean=tf.reduce_mean):
    """Batch-level MS-SSIM of two NHWC float batches in 0..max_val (static H, W, C), as the original.
    ``mean``: the batch mean of each scale's SSIM / cs map (tf.distribute training: the global batch's)."""
    if img1.shape.rank != 4 or None in img1.shape[1:] or img1.shape[1:] != img2.shape[1:]:
        raise ValueError(f"MS-SSIM needs two NHWC batches of one static H, W, C, got {img1.shape} and {img2.shape}")
    mcs, ssim = [], None
    for level in range(len(WEIGHTS)):
        ssim, cs = _ssim(img1, img2, max_val, filter_size, filter_sigma, mean=mean)
        mcs.append(cs)
        if level < len(WEIGHTS) - 1:
            img1, img2 = _downsample(img1), _downsample(img2)
    mcs = tf.stack(mcs[:-1])
    return tf.reduce_prod(mcs ** WEIGHTS[:-1]) * ssim ** WEIGHTS[-1]
