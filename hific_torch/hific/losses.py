"""HiFiC objectives (paper Eq. 4 and 5):

L_EG = lambda' r(y) + k_M MSE + k_P LPIPS - beta log D(x', y),   lambda' = lambda_A if r > r_t else lambda_B
L_D  = -log(1 - D(x', y)) - log D(x, y)

MSE on [0, 255] (TF ``_compute_distortion_loss``), non-saturating GAN loss as BCE on patch logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distortion_mse255(x_hat01: torch.Tensor, x01: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(x_hat01 * 255.0, x01 * 255.0)


def rate_weight(q_bpp: float, sched: dict) -> float:
    """lambda' of Eq. 4 with the scheduled target and weights (TrainConfig.scheduled)."""
    return sched["lambda_A"] if q_bpp > sched["target_rate"] else sched["lambda_B"]


def generator_gan_loss(d_fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x', y) averaged over patches (non-saturating)."""
    return F.binary_cross_entropy_with_logits(d_fake_logits, torch.ones_like(d_fake_logits))


def discriminator_loss(d_real_logits: torch.Tensor, d_fake_logits: torch.Tensor) -> torch.Tensor:
    return (F.binary_cross_entropy_with_logits(d_real_logits, torch.ones_like(d_real_logits))
            + F.binary_cross_entropy_with_logits(d_fake_logits, torch.zeros_like(d_fake_logits)))


def compression_loss(out, x01, sched: dict, k_M: float, k_P: float, lpips_fn=None):
    """Stage-1 loss (no GAN term): returns (loss, dict of scalars)."""
    lam = rate_weight(float(out.q_bpp), sched)
    mse = distortion_mse255(out.x_hat, x01)
    loss = lam * out.bpp + k_M * mse
    logs = {"rate/bpp": float(out.bpp.detach()), "rate/q_bpp": float(out.q_bpp), "rate/lambda": lam,
            "distortion/mse255": float(mse.detach())}
    if lpips_fn is not None and k_P > 0:
        lp = lpips_fn(out.x_hat, x01).mean()
        loss = loss + k_P * lp
        logs["distortion/lpips"] = float(lp.detach())
    logs["loss/compression"] = float(loss.detach())
    return loss, logs
