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
TAIL_SCALES = 12.0   # coding format 2: logistic scales kept on each side of every component
RGB_RADICES = (8, 8, 4)  # coding format 3: digits of an 8-bit symbol (first stage outermost; 7+7+3 edges)
W_EPS = 1e-6         # components lighter than this do not widen the window
WINDOWS = (8, 16, 32, 64, 128)  # window widths (inner bin edges) rows are grouped into; wider: dense


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


    def pmf_windowed(self, logit_pi: torch.Tensor, mu: torch.Tensor, log_s: torch.Tensor,
                     tail: float = TAIL_SCALES, w_eps: float = W_EPS) -> torch.Tensor:
        """Per-symbol pmf ``(n, L)`` like :meth:`pmf` (coding format 2), but each row's mixture CDF is
        evaluated only on a window of bin edges around that row's support.

        A row's support is ``[min_k mu_k - tail*s_k, max_k mu_k + tail*s_k]`` over its components with weight
        ``> w_eps``; its window is the smallest of :data:`WINDOWS` edges that covers it (else all ``L-1``
        edges, i.e. :meth:`pmf`). Rows are computed in groups of equal window, so the work is ``K*window``
        sigmoids per row instead of ``K*(L-1)``, and a row's pmf depends on its own parameters only. The
        mass below (above) the window goes to its first (last) bin, so rows still sum to 1; bins outside
        get 0 (the coders still give them their smallest probability). A component's mass beyond ``tail``
        scales is ``sigmoid(-tail)`` (6e-6 for 12): the rate cost is negligible (measured in the tests)."""
        n = mu.shape[0]
        mu, log_s, logit_pi = mu.float(), log_s.float(), logit_pi.float()
        w = torch.softmax(logit_pi, dim=1)
        reach = tail * torch.exp(log_s)
        active = w > w_eps
        inf = torch.tensor(float("inf"))
        lo_v = torch.where(active, mu - reach, inf).amin(dim=1)
        hi_v = torch.where(active, mu + reach, -inf).amax(dim=1)
        last = self.L - 1
        lo = torch.floor((lo_v - self.x_min) / self.bin).clamp(0, last).long()
        hi = torch.ceil((hi_v - self.x_min) / self.bin).clamp(0, last).long()
        need = hi - lo  # inner edges needed per row
        caps = [c for c in WINDOWS if c < last]
        if n == 0 or int(need.min()) > caps[-1]:
            return self.pmf(logit_pi, mu, log_s)  # every row needs the dense CDF
        out = torch.empty(n, self.L)
        group = torch.full((n,), len(caps), dtype=torch.long)
        for gi in reversed(range(len(caps))):
            group[need <= caps[gi]] = gi
        for gi in range(len(caps) + 1):
            rows = (group == gi).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            if gi == len(caps):
                out[rows] = self.pmf(logit_pi[rows], mu[rows], log_s[rows])
                continue
            out[rows] = self._pmf_window(w[rows], mu[rows], log_s[rows], lo[rows], caps[gi])
        return out

    def _pmf_window(self, w, mu, log_s, lo, width: int) -> torch.Tensor:
        """pmf rows from the CDF on ``width`` edges starting at bin ``lo`` (clamped to fit)."""
        n = mu.shape[0]
        lo = lo.clamp(max=self.L - 1 - width)
        j = torch.arange(width + 1)
        edges = self.x_min + self.bin * (lo.unsqueeze(1).float() + (j[:width].float() + 0.5).unsqueeze(0))
        inv_s = torch.exp(-log_s)
        t = torch.baddbmm((-(mu * inv_s)).unsqueeze(2), inv_s.unsqueeze(2), edges.unsqueeze(1))  # (n,K,width)
        torch.sigmoid_(t)
        cdf = torch.bmm(w.unsqueeze(1), t).squeeze(1)
        full = torch.cat([torch.zeros(n, 1), cdf, torch.ones(n, 1)], dim=1)
        win = torch.clamp(full[:, 1:] - full[:, :-1], min=0.0)  # bins lo .. lo+width
        out = torch.zeros(n, self.L)
        out.scatter_(1, lo.unsqueeze(1) + j.unsqueeze(0), win)
        return out

    # -----------------------------------------------------------------------------------------------------
    # Coding format 3: the pmf factorised into digits, P(x) = P(d_1) P(d_2 | d_1) ...
    # -----------------------------------------------------------------------------------------------------
    def mixture_prep(self, logit_pi: torch.Tensor, mu: torch.Tensor, log_s: torch.Tensor):
        """``(n, K)`` parameters -> (weights, 1/s, -mu/s), the per-row terms of every CDF evaluation."""
        w = torch.softmax(logit_pi.float(), dim=1)
        inv_s = torch.exp(-log_s.float())
        return w, inv_s, -(mu.float() * inv_s)

    @staticmethod
    def mixture_cdf(prep, edges: torch.Tensor) -> torch.Tensor:
        """Mixture CDF ``sum_k w_k sigmoid((e - mu_k) / s_k)`` (eq. 5) at ``edges`` ``(E,)`` (shared) or
        ``(n, E)`` (per row): ``(n, E)``, one vectorised expression, the sum over k in a fixed order."""
        w, inv_s, nmi = prep
        e = edges.view(1, 1, -1) if edges.dim() == 1 else edges.unsqueeze(1)
        t = torch.addcmul(nmi.unsqueeze(2), inv_s.unsqueeze(2), e)  # (n, K, E)
        torch.sigmoid_(t)
        t.mul_(w.unsqueeze(2))
        return t.sum(dim=1)

    def stages(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Format 3's digits: radices ``(m_1, .., m_S)`` (first stage outermost, product >= L) and the span
        of one sub-interval at each stage. RGB: :data:`RGB_RADICES`; other L > 8: two stages of
        ``ceil(sqrt(L))``-sized groups (5 x 5 for the 25 levels of z); L <= 8: one stage (the dense pmf)."""
        L = self.L
        if L == 256:
            radices = RGB_RADICES
        elif L > 8:
            G = math.isqrt(L - 1) + 1
            radices = (-(-L // G), G)
        else:
            radices = (L,)
        spans = tuple(math.prod(radices[i + 1:]) for i in range(len(radices)))
        return radices, spans

    def stage_pmf(self, prep, base: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, m: int,
                  span: int, first: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """One stage of format 3: each row's current interval of symbols ``[base, base + m*span)`` (``base``
        ``(n,)`` long, its CDF bounds ``lower``/``upper`` ``(n, 1)``) split into ``m`` sub-intervals of
        ``span`` symbols. Returns the pmf ``(n, m)`` of the sub-interval (normalised; the dense pmf summed
        over each sub-interval, conditioned on the interval) and the CDF ``(n, m + 1)`` at the
        sub-interval boundaries (the next stage's bounds). The CDF is the mixture CDF at the ``m-1`` inner
        boundary edges, clamped into ``[lower, upper]``; edges past symbol ``L-1`` are ``upper`` (the top bin
        extends to +inf); sub-intervals starting at or past ``L`` get 0; an interval whose mass underflowed
        (total <= 1e-30) gets the uniform pmf over its real sub-intervals, so every row stays codable.
        ``first``: the first stage (``base`` 0, bounds 0 and 1 for every row): the edges are shared.
        The mixture CDF lies in [0, 1] up to rounding, so the first stage skips the clamp.)"""
        i = torch.arange(m, dtype=torch.float32)
        partial = math.prod(self.stages()[0]) > self.L  # some rows may hold parts past L-1
        if first:  # every row's interval is [0, m*span): shared edges
            start = (span * i).unsqueeze(0)
        else:
            start = base.float().unsqueeze(1) + span * i.unsqueeze(0)  # (n, m) first symbol of each part
        if m > 1:
            pos = start[:, 1:]
            inner = self.mixture_cdf(prep, self.x_min + self.bin * ((pos[0] if first else pos) - 0.5))
            if not first:
                inner = torch.minimum(torch.maximum(inner, lower), upper)
            if partial:
                inner = torch.where(pos >= self.L, upper, inner)
            full = torch.cat([lower, inner, upper], dim=1)
        else:
            full = torch.cat([lower, upper], dim=1)
        pmf = torch.clamp(full[:, 1:] - full[:, :-1], min=0.0)
        real = start < self.L
        if partial:
            pmf = pmf * real
        total = pmf.sum(dim=1, keepdim=True)
        empty = total <= 1e-30  # (constriction panics on rows of subnormal total)
        pmf = torch.where(empty, real.float() / real.sum(dim=1, keepdim=True), pmf / torch.where(empty, 1.0, total))
        return pmf, full


def bits(nats: torch.Tensor) -> torch.Tensor:
    return nats / math.log(2)
