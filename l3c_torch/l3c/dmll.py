"""Discretized mixture of logistics (DMLL), L3C eqs. (4)-(6), with upstream's RGB channel coupling.

Parameters per sub-pixel channel c and mixture k: mixture logit pi, mean mu, log-scale log s (clamped at
-7) and, for RGB only, coupling coefficients passed through a **sigmoid** (upstream; PixelCNN++ used tanh):
``mu_G += s(c_gr) x_R`` and ``mu_B += s(c_br) x_R + s(c_bg) x_G`` with the actual previous-channel values.
The mixture weights are per channel (not shared over channels as in PixelCNN++).

The likelihood of a symbol is the logistic mass of its bin ``[x - b/2, x + b/2]``; the lowest bin extends to
-inf and the highest to +inf. Upstream's later version (this one) has no PixelCNN++ low-probability branch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_SCALES_MIN = -7.0


class DMLL:
    """A DMLL over ``L`` equally spaced values in ``[x_min, x_max]`` for ``C`` channels and ``K`` mixtures."""

    def __init__(self, rgb: bool, K: int, L: int, x_min: float, x_max: float):
        self.rgb, self.K, self.L = rgb, K, L
        self.x_min, self.x_max = float(x_min), float(x_max)
        self.bin = (self.x_max - self.x_min) / (L - 1)
        self.P = 4 if rgb else 3

    @staticmethod
    def for_rgb(K: int) -> DMLL:
        return DMLL(True, K, 256, 0.0, 255.0)

    @staticmethod
    def for_bottleneck(K: int, L: int, levels_range=(-1, 1)) -> DMLL:
        return DMLL(False, K, L, levels_range[0], levels_range[1])

    def num_params(self, C: int) -> int:
        """Kp, the channels the probability classifier predicts: P*C*K (120 for RGB, 150 for z, K=10)."""
        return self.P * C * self.K

    def split(self, params: torch.Tensor, C: int):
        """``(N, P*C*K, H, W)`` -> logit_pi, mu, log_s, coeffs, each ``(N, C, K, H, W)`` (coeffs None for z)."""
        N, Kp, H, W = params.shape
        if Kp != self.num_params(C):
            raise ValueError(f"expected {self.num_params(C)} parameter channels, got {Kp}")
        p = params.reshape(N, self.P, C, self.K, H, W)
        logit_pi = p[:, 0]
        mu = p[:, 1]
        log_s = torch.clamp(p[:, 2], min=LOG_SCALES_MIN)
        coeffs = torch.sigmoid(p[:, 3]) if self.rgb else None
        return logit_pi, mu, log_s, coeffs

    @staticmethod
    def couple(mu: torch.Tensor, coeffs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """RGB coupling of the means with the actual values ``x (N, 3, H, W)`` (0..255)."""
        xr, xg = x[:, 0:1], x[:, 1:2]  # (N, 1, H, W) broadcast over K
        mu_r = mu[:, 0]
        mu_g = mu[:, 1] + coeffs[:, 0] * xr
        mu_b = mu[:, 2] + coeffs[:, 1] * xr + coeffs[:, 2] * xg
        return torch.stack([mu_r, mu_g, mu_b], dim=1)

    def nll(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood in nats per sub-pixel, ``(N, C, H, W)``; ``x`` holds values (not indices)."""
        C = x.shape[1]
        logit_pi, mu, log_s, coeffs = self.split(params, C)
        if self.rgb:
            mu = self.couple(mu, coeffs, x)
        xk = x.unsqueeze(2)
        inv_s = torch.exp(-log_s)
        centered = xk - mu
        upper = (centered + self.bin / 2) * inv_s
        lower = (centered - self.bin / 2) * inv_s
        log_cdf_upper = upper - F.softplus(upper)  # log sigmoid(upper): mass from -inf
        log_one_minus_cdf_lower = -F.softplus(lower)  # log(1 - sigmoid(lower)): mass to +inf
        delta = torch.sigmoid(upper) - torch.sigmoid(lower)
        log_mid = torch.log(torch.clamp(delta, min=1e-12))
        log_p = torch.where(xk < self.x_min + 1e-3, log_cdf_upper,
                            torch.where(xk > self.x_max - 1e-3, log_one_minus_cdf_lower, log_mid))
        log_w = torch.log_softmax(logit_pi, dim=2)
        return -torch.logsumexp(log_w + log_p, dim=2)

    def pmf(self, logit_pi: torch.Tensor, mu: torch.Tensor, log_s: torch.Tensor) -> torch.Tensor:
        """Per-symbol pmf ``(n, L)`` float32 for ``n`` sub-pixels given ``(n, K)`` mixture parameters
        (means already coupled). Bin edges as in :meth:`nll`; rows sum to 1 up to rounding."""
        n = mu.shape[0]
        edges = self.x_min + self.bin * (torch.arange(self.L - 1, dtype=torch.float32) + 0.5)  # inner edges
        w = torch.softmax(logit_pi.float(), dim=1)
        inv_s = torch.exp(-log_s.float())
        # t[n, k, e] = (edge_e - mu_nk) * inv_s_nk, then sigmoid, then the pi-weighted sum over k (a bmm)
        t = torch.addcmul((-(mu.float() * inv_s)).unsqueeze(2), inv_s.unsqueeze(2), edges.view(1, 1, -1))
        torch.sigmoid_(t)
        cdf = torch.bmm(w.unsqueeze(1), t).squeeze(1)
        full = torch.cat([torch.zeros(n, 1), cdf, torch.ones(n, 1)], dim=1)
        return torch.clamp(full[:, 1:] - full[:, :-1], min=0.0)


def bits(nats: torch.Tensor) -> torch.Tensor:
    return nats / math.log(2)
