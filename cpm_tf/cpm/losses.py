"""Losses of Sec. 3.3 (the original's ``train.py:get_loss``)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .ms_ssim import ms_ssim


def rate_losses(bc, heatmap, beta, H_target, mean=tf.reduce_mean):
    """bc: bits per symbol (N,C,h,w); heatmap: (N,h,w,C). Returns H_real, H_mask, H_soft, pc_loss.

    H_soft = (H_mask + H_real)/2 with H_mask = mean(bc·m) (Eq. 10); pc_loss = β·max(H_soft − H_target, 0).
    ``mean``: the batch mean (tf.distribute training passes the global batch's, cpm.train_loop.global_mean).
    """
    m = tf.transpose(heatmap, [0, 3, 1, 2])
    H_real = mean(bc)
    H_mask = mean(bc * m)
    H_soft = 0.5 * (H_mask + H_real)
    pc_loss = beta * tf.maximum(H_soft - H_target, 0.0)
    return H_real, H_mask, H_soft, pc_loss


def distortion_loss(x, x_out, config, mean=tf.reduce_mean):
    """5000·(1 − MS-SSIM) on the float (clipped, unrounded) output, batch-level MS-SSIM; or mse/psnr.
    ``mean``: as in :func:`rate_losses`."""
    kind = config.distortion_to_minimize
    if kind == "ms_ssim":
        v = ms_ssim(x, x_out, mean=mean)
        return config.K_ms_ssim * (1.0 - v), v
    mse = mean(tf.square(x - x_out))
    if kind == "mse":
        return mse, None
    if kind == "psnr":
        psnr = 10.0 * tf.math.log(255.0 ** 2 / mse) / np.log(10.0)
        return config.K_psnr - psnr, None
    raise ValueError(f"unknown distortion_to_minimize {kind!r}")


def weight_regularization(model):
    """slim.l2_regularizer(f) on every AE conv weight (f·Σw²/2) plus 0.1·l2_loss(centers)."""
    f = model.ae_config.regularization_factor
    reg = tf.add_n([tf.nn.l2_loss(v) for k, v in model.vars.items()
                    if k.startswith("autoencoder") and k.endswith("/weights")]) * f
    reg += model.ae_config.regularization_factor_centers * tf.nn.l2_loss(model.centers)
    if model.pc_config.regularization_factor is not None:
        reg += model.pc_config.regularization_factor * tf.add_n(
            [tf.nn.l2_loss(v) for k, v in model.vars.items() if k.startswith("probclass3d") and k.endswith("/weights")])
    return reg
