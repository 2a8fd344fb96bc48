"""Entropy models of HiFiC's mean-scale hyperprior (Minnen et al. 2018 as used by Mentzer et al. 2020):

* :class:`FactorizedDensity` -- the non-parametric per-channel density of the hyper-latent z
  (Balle et al. 2018, Sec. 6.1 / App. 6.1), with learned quantiles (an auxiliary loss, as tfc's
  EntropyBottleneck and CompressAI) so that z is rounded around its learned **median** at coding time.
* :class:`MeanScaleConditional` -- p(y | z) = N(mu, sigma^2) (or logistic) convolved with U(-1/2, 1/2),
  sigma lower-bounded at 0.11 (Appendix A.1), coded with a 64-entry log-spaced scale table.

``update()`` builds the probability tables once; they are buffers, saved in the checkpoint and hashed into
the model fingerprint, so encoder and decoder never recompute them on different hardware.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SCALE_BOUND = 0.11
SCALE_TABLE_MIN, SCALE_TABLE_MAX, SCALE_TABLE_LEVELS = 0.11, 256.0, 64
TAIL_MASS = 2.0 ** -8
LIKELIHOOD_BOUND = 1e-9


class _LowerBound(torch.autograd.Function):
    """max(x, b); the gradient passes where x >= b or where it would push x up (port ``LowerBoundToward``)."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (grad < 0)
        return grad * pass_through.to(grad.dtype), None


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    return _LowerBound.apply(x, bound)


def scale_table() -> torch.Tensor:
    """The 64 log-spaced scales in [0.11, 256] (port ``entropy_models.py``; tfc/CompressAI use the same idea)."""
    return torch.exp(torch.linspace(math.log(SCALE_TABLE_MIN), math.log(SCALE_TABLE_MAX), SCALE_TABLE_LEVELS,
                                    dtype=torch.float64))


def scale_indexes(scales: torch.Tensor) -> torch.Tensor:
    """Index of the nearest (in log space) table scale, computed in float64 on CPU so that the encoder and
    the decoder get the same integers (paper-agnostic; see README on GPU-encode/CPU-decode)."""
    s = scales.detach().to("cpu", torch.float64).clamp_min(SCALE_TABLE_MIN)
    step = (math.log(SCALE_TABLE_MAX) - math.log(SCALE_TABLE_MIN)) / (SCALE_TABLE_LEVELS - 1)
    idx = torch.round((torch.log(s) - math.log(SCALE_TABLE_MIN)) / step)
    return idx.clamp_(0, SCALE_TABLE_LEVELS - 1).to(torch.int64)


def _std_cdf(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "gaussian":
        return 0.5 * torch.erfc(-x / math.sqrt(2.0))
    return torch.sigmoid(x)


def _std_quantile(p: float, kind: str) -> float:
    if kind == "gaussian":
        from scipy.stats import norm
        return float(norm.ppf(p))
    return math.log(p / (1 - p))


class FactorizedDensity(nn.Module):
    """Per-channel univariate density whose CDF is a small monotone MLP (Balle 2018, App. 6.1).

    ``filters=(3,3,3)``, ``init_scale=10``: matrices softplus(H_k), biases b_k, gates tanh(a_k) on every
    layer but the last (tfc). ``final_gate=True`` gates the last layer too, as the port does (imports only).
    ``centre="zero"`` rounds z at integers (the port's ``floor(z + 1/2)``) instead of around the medians.
    """

    def __init__(self, channels: int, filters=(3, 3, 3), init_scale: float = 10.0, final_gate: bool = False,
                 centre: str = "median"):
        super().__init__()
        self.channels = channels
        self.centre = centre
        dims = (1, *filters, 1)
        scale = init_scale ** (1.0 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1.0 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.empty(channels, dims[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(filters) or final_gate:
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        # coding tables (filled by update())
        self.register_buffer("pmfs", torch.zeros(channels, 1))
        self.register_buffer("offsets", torch.zeros(channels, dtype=torch.int64))
        self.register_buffer("lengths", torch.zeros(channels, dtype=torch.int64))

    def logits_cdf(self, x: torch.Tensor, stop_gradient: bool = False) -> torch.Tensor:
        """x: (C, 1, N) -> logits of the CDF, (C, 1, N)."""
        for i, (m, b) in enumerate(zip(self.matrices, self.biases)):
            if stop_gradient:
                m, b = m.detach(), b.detach()
            x = torch.matmul(F.softplus(m), x) + b
            if i < len(self.factors):
                f = self.factors[i].detach() if stop_gradient else self.factors[i]
                x = x + torch.tanh(f) * torch.tanh(x)
        return x

    def likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """P(z) = CDF(z + 1/2) - CDF(z - 1/2) with the sign trick, bounded below by 1e-9. z: (B, C, H, W)."""
        b, c, h, w = z.shape
        v = z.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self.logits_cdf(v - 0.5)
        upper = self.logits_cdf(v + 0.5)
        sign = -torch.sign(lower + upper).detach()
        lik = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        lik = lower_bound(lik, LIKELIHOOD_BOUND)
        return lik.reshape(c, b, h, w).permute(1, 0, 2, 3)

    def aux_loss(self) -> torch.Tensor:
        """Drives ``quantiles`` to the tail_mass/2, 0.5 and 1 - tail_mass/2 points of the CDF."""
        logits = self.logits_cdf(self.quantiles, stop_gradient=True)
        t = math.log(2.0 / TAIL_MASS - 1.0)
        target = torch.tensor([-t, 0.0, t], device=logits.device, dtype=logits.dtype)
        return (logits - target).abs().sum()

    @torch.no_grad()
    def fit_quantiles(self, iters: int = 80) -> None:
        """Set ``quantiles`` exactly (bisection on the monotone CDF logits) instead of by the aux loss: used
        when importing a density that was trained without learned quantiles (the port)."""
        t = math.log(2.0 / TAIL_MASS - 1.0)
        target = torch.tensor([-t, 0.0, t], dtype=torch.float32).repeat(self.channels, 1, 1)
        lo, hi = torch.full_like(target, -1.0), torch.full_like(target, 1.0)
        for _ in range(60):  # widen the bracket until it holds every root
            below = self.logits_cdf(lo, stop_gradient=True) > target
            above = self.logits_cdf(hi, stop_gradient=True) < target
            if not (below.any() or above.any()):
                break
            lo = torch.where(below, lo * 2, lo)
            hi = torch.where(above, hi * 2, hi)
        for _ in range(iters):
            mid = (lo + hi) / 2
            go_up = self.logits_cdf(mid, stop_gradient=True) < target
            lo, hi = torch.where(go_up, mid, lo), torch.where(go_up, hi, mid)
        self.quantiles.copy_((lo + hi) / 2)

    @property
    def medians(self) -> torch.Tensor:
        return self.quantiles[:, 0, 1].detach()

    @property
    def centres(self) -> torch.Tensor:
        """Where z is rounded for coding: the medians, or 0 with ``centre="zero"`` (the port)."""
        med = self.medians
        return med if self.centre == "median" else torch.zeros_like(med)

    def round(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(symbols, z_hat) of z (B, C, H, W): round(z - median), + median; or the port's floor(z + 1/2)."""
        if self.centre == "median":
            med = self.medians.to(z.device).reshape(1, -1, 1, 1)
            sym = torch.round(z - med)
            return sym, sym + med
        sym = torch.floor(z + 0.5)
        return sym, sym

    @torch.no_grad()
    def update(self) -> None:
        """Build per-channel pmf tables over [median - a, median + b] (+ one escape bin)."""
        q = self.quantiles.detach().to(torch.float64)
        med = q[:, 0, 1] if self.centre == "median" else torch.zeros_like(q[:, 0, 1])
        lo = torch.ceil(med - q[:, 0, 0]).clamp_min(0).to(torch.int64)
        hi = torch.ceil(q[:, 0, 2] - med).clamp_min(0).to(torch.int64)
        lengths = lo + hi + 1
        lmax = int(lengths.max())
        pmfs = torch.zeros(self.channels, lmax + 1, dtype=torch.float64)
        for c in range(self.channels):
            k = torch.arange(-int(lo[c]), int(hi[c]) + 1, dtype=torch.float32)
            v = (k + med[c].float()).reshape(1, 1, -1)
            # evaluate this channel's density alone
            x_lo, x_hi = v - 0.5, v + 0.5
            lik = self._channel_likelihood(c, x_lo, x_hi).to(torch.float64).reshape(-1)
            n = int(lengths[c])
            pmfs[c, :n] = lik
            pmfs[c, n] = max(1.0 - float(lik.sum()), 1e-9)  # escape bin: the tail mass
        self.pmfs = pmfs.to(torch.float32)
        self.offsets = -lo
        self.lengths = lengths

    def _channel_likelihood(self, c: int, lower_x, upper_x):
        def logits(x):
            for i, (m, b) in enumerate(zip(self.matrices, self.biases)):
                x = torch.matmul(F.softplus(m[c:c + 1]), x) + b[c:c + 1]
                if i < len(self.factors):
                    x = x + torch.tanh(self.factors[i][c:c + 1]) * torch.tanh(x)
            return x
        lo, up = logits(lower_x), logits(upper_x)
        sign = -torch.sign(lo + up)
        return (torch.sigmoid(sign * up) - torch.sigmoid(sign * lo)).abs().clamp_min(LIKELIHOOD_BOUND)


class MeanScaleConditional(nn.Module):
    """p(y_i | mu_i, sigma_i) = CDF((y - mu + 1/2)/sigma) - CDF((y - mu - 1/2)/sigma), sigma >= 0.11.

    ``kind`` is "gaussian" (paper) or "logistic" (the port's ``-lt logistic``).
    """

    def __init__(self, kind: str = "gaussian"):
        super().__init__()
        self.kind = kind
        self.register_buffer("scale_table", scale_table().to(torch.float32))
        self.register_buffer("pmfs", torch.zeros(SCALE_TABLE_LEVELS, 1))
        self.register_buffer("radii", torch.zeros(SCALE_TABLE_LEVELS, dtype=torch.int64))

    def likelihood(self, y: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        scale = lower_bound(scale, SCALE_BOUND)
        v = (y - mean).abs()
        upper = _std_cdf((0.5 - v) / scale, self.kind)
        lower = _std_cdf((-0.5 - v) / scale, self.kind)
        return lower_bound(upper - lower, LIKELIHOOD_BOUND)

    @torch.no_grad()
    def update(self) -> None:
        """One pmf per table scale over [-R, R] with R = ceil(s * q(1 - tail/2)), plus an escape bin."""
        table = scale_table()
        q = _std_quantile(1.0 - TAIL_MASS / 2, self.kind)
        radii = torch.ceil(table * q).to(torch.int64)
        lmax = int(2 * radii.max() + 2)
        pmfs = torch.zeros(SCALE_TABLE_LEVELS, lmax, dtype=torch.float64)
        for i, (s, r) in enumerate(zip(table, radii)):
            k = torch.arange(-int(r), int(r) + 1, dtype=torch.float64)
            p = _std_cdf((k + 0.5) / s, self.kind) - _std_cdf((k - 0.5) / s, self.kind)
            pmfs[i, :2 * r + 1] = p
            pmfs[i, 2 * r + 1] = max(1.0 - float(p.sum()), 1e-9)
        self.pmfs = pmfs.to(torch.float32)
        self.radii = radii


#: the port's bound on the mixture components' log scales (``LOG_SCALES_MIN``)
LOG_SCALE_MIN = -3.0
#: mixture parameters are rounded to this grid before coding tables are built from them, so that tiny
#: float differences between encoder and decoder machines rarely change a coded distribution
PARAM_GRID = 1.0 / 1024
MIXTURE_MAX_RADIUS = 64


class MixtureConditional(nn.Module):
    """The port's ``-LMM`` latent model: p(y | z) = sum_k pi_k [CDF((y - mu_k + 1/2)/s_k) - CDF((y - mu_k - 1/2)/s_k)]
    with K components per latent element (logistic CDF, or Gaussian when ``kind="gaussian"`` as the port's
    ``-lt`` selects), log s_k >= -3, pi = softmax(logits). One 1x1 conv after h_s emits the 3·C·K parameters
    (logits, means, log scales). Unlike the mean-scale prior, y is quantised without a mean offset.

    Coding (the port had none): per element a window [o - R, o + R] around o = round(sum_k pi_k mu_k) with
    R fixed per image from the parameters (<= 64), plus an escape bin; rows are built in float64 on CPU
    from parameters rounded to a 1/1024 grid, and coded with constriction's categorical model family.
    """

    def __init__(self, channels: int, components: int, kind: str = "logistic"):
        super().__init__()
        self.channels, self.components, self.kind = channels, components, kind

    def split(self, params: torch.Tensor):
        b, _, h, w = params.shape
        p = params.reshape(b, 3, self.channels, self.components, h, w)
        return p[:, 0], p[:, 1], lower_bound(p[:, 2], LOG_SCALE_MIN)

    def log_likelihood(self, y: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Natural-log pmf of (noisy or integer) y, (B, C, H, W)."""
        logits, means, log_scales = self.split(params)
        v = (y.unsqueeze(2) - means).abs()
        inv = torch.exp(-log_scales)
        upper = _std_cdf(inv * (0.5 - v), self.kind)
        lower = _std_cdf(inv * (-0.5 - v), self.kind)
        log_pmf = torch.log(lower_bound(upper - lower, LIKELIHOOD_BOUND))
        return torch.logsumexp(F.log_softmax(logits, dim=2) + log_pmf, dim=2)

    @torch.no_grad()
    def coding_rows(self, params: torch.Tensor, chunk: int = 8192):
        """Yield (offsets (n,), probabilities (n, 2R+2) float64) chunks in raster order of (B, C, H, W);
        the last column is the escape bin. Deterministic given ``params``."""
        logits, means, log_scales = self.split(params.detach().to("cpu", torch.float64))
        q = PARAM_GRID
        logits, means = torch.round(logits / q) * q, torch.round(means / q) * q
        scales = torch.exp(torch.round(log_scales / q) * q)
        k = self.components
        logits, means, scales = (t.permute(0, 1, 3, 4, 2).reshape(-1, k) for t in (logits, means, scales))
        pis = torch.softmax(logits, dim=1)
        centre = torch.round((pis * means).sum(1))
        spread = ((means - centre[:, None]).abs() + 8 * scales).amax(1)
        radius = int(min(MIXTURE_MAX_RADIUS, max(2, math.ceil(float(spread.max())) if len(spread) else 2)))
        grid = torch.arange(-radius, radius + 1, dtype=torch.float64)
        for s in range(0, len(centre), chunk):
            c, m, sc, pi = centre[s:s + chunk], means[s:s + chunk], scales[s:s + chunk], pis[s:s + chunk]
            v = (c[:, None] + grid[None, :])[:, :, None]                      # (n, 2R+1, 1)
            up = _std_cdf((v - m[:, None, :] + 0.5) / sc[:, None, :], self.kind)
            lo = _std_cdf((v - m[:, None, :] - 0.5) / sc[:, None, :], self.kind)
            pmf = ((up - lo) * pi[:, None, :]).sum(2).clamp_min(1e-12)
            esc = (1.0 - pmf.sum(1, keepdim=True)).clamp_min(1e-9)
            rows = torch.cat([pmf, esc], dim=1)
            rows = rows / rows.sum(1, keepdim=True)
            yield (c - radius).to(torch.int64).numpy(), rows.numpy()


def table_probabilities(pmf_row: torch.Tensor, length: int) -> np.ndarray:
    """A table row as float64 probabilities for the coder (``length`` symbols incl. the escape bin)."""
    p = pmf_row[:length].to(torch.float64).numpy().copy()
    p = np.maximum(p, 1e-9)
    return p / p.sum()
