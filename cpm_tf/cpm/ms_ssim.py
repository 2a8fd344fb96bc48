"""Training MS-SSIM in TensorFlow (the original's ``ms_ssim.py``, after Wang et al. 2003).

Separable Gaussian window (11, σ 1.5, shrunk to the image side at coarse scales as in the TF-models
reference), VALID convolutions, downsampling by a [0.5, 0.5] box with REFLECT padding (0 before, 1 after)
then ``::2``, and one **batch-level** value: every mean runs over the whole batch (not per image).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333], np.float32)


def _gauss_1d(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).astype(np.float32)


def _filter(x, g):
    """Separable VALID filter of NHWC x with the 1D kernel g (applied to every channel)."""
    c = x.shape[-1]
    kh = tf.constant(np.tile(g.reshape(-1, 1, 1, 1), (1, 1, c, 1)))
    kw = tf.constant(np.tile(g.reshape(1, -1, 1, 1), (1, 1, c, 1)))
    x = tf.nn.depthwise_conv2d(x, kh, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(x, kw, [1, 1, 1, 1], "VALID")


def _ssim(img1, img2, max_val, filter_size, filter_sigma, k1=0.01, k2=0.03):
    h, w = img1.shape[1], img1.shape[2]
    size = min(filter_size, h, w)
    sigma = size * filter_sigma / filter_size if filter_size else 0
    g = _gauss_1d(size, sigma)
    mu1, mu2 = _filter(img1, g), _filter(img2, g)
    s11, s22, s12 = _filter(img1 * img1, g), _filter(img2 * img2, g), _filter(img1 * img2, g)
    mu11, mu22, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s11, s22, s12 = s11 - mu11, s22 - mu22, s12 - mu12
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    v1, v2 = 2.0 * s12 + c2, s11 + s22 + c2
    ssim = tf.reduce_mean(((2.0 * mu12 + c1) * v1) / ((mu11 + mu22 + c1) * v2))
    cs = tf.reduce_mean(v1 / v2)
    return ssim, cs


def _downsample(x):
    x = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]], mode="REFLECT")
    k = np.full((2, 1, 1, 1), 0.5, np.float32)
    c = x.shape[-1]
    x = tf.nn.depthwise_conv2d(x, tf.constant(np.tile(k, (1, 1, c, 1))), [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, tf.constant(np.tile(k.reshape(1, 2, 1, 1), (1, 1, c, 1))), [1, 1, 1, 1],
                               "VALID")
    return x[:, ::2, ::2, :]


def ms_ssim(img1, img2, max_val=255.0, filter_size=11, filter_sigma=1.5):
    """Batch-level MS-SSIM of two NHWC float batches in 0..max_val (static H, W)."""
    mcs, ssim = [], None
    for level in range(len(WEIGHTS)):
        ssim, cs = _ssim(img1, img2, max_val, filter_size, filter_sigma)
        mcs.append(cs)
        if level < len(WEIGHTS) - 1:
            img1, img2 = _downsample(img1), _downsample(img2)
    mcs = tf.stack(mcs[:-1])
    return tf.reduce_prod(mcs ** WEIGHTS[:-1]) * ssim ** WEIGHTS[-1]
