"""The 25-level scalar quantizer of the bottlenecks (L3C §3.2, ported from CPM, Mentzer et al. 2018).

Soft assignment ``phi = softmax(-sigma * (x - l)^2)`` over fixed levels ``l = linspace(-1, 1, L)``;
``x_soft = sum(l * phi)``. The forward value is the hard (nearest) level and the gradient is the soft one
(straight-through, as upstream's ``x_soft.data = x_hard``).
"""

from __future__ import annotations

import torch
from torch import nn


class Quantizer(nn.Module):
    def __init__(self, levels: nn.Parameter, sigma: float = 2.0):
        super().__init__()
        # upstream: the encoder owns ``levels`` (a Parameter without gradient) and the quantizer references
        # the same tensor, so the state dict holds it twice (``enc.levels`` and ``enc.q.levels``).
        self.levels = levels
        self.sigma = float(sigma)
        self.L = int(levels.numel())

    @staticmethod
    def make_levels(L: int = 25, levels_range=(-1, 1)) -> nn.Parameter:
        lo, hi = levels_range
        return nn.Parameter(torch.linspace(float(lo), float(hi), L), requires_grad=False)

    def forward(self, x: torch.Tensor):
        """Returns ``(x_st, x_hard, symbols)``: straight-through value, hard value, level indices (int64)."""
        levels = self.levels.to(x.dtype)
        dist = (x.unsqueeze(-1) - levels) ** 2
        symbols = dist.argmin(dim=-1)
        x_hard = levels[symbols]
        if not (self.training and x.requires_grad):
            return x_hard, x_hard, symbols
        phi = torch.softmax(-self.sigma * dist, dim=-1)
        x_soft = (phi * levels).sum(dim=-1)
        return x_soft + (x_hard - x_soft).detach(), x_hard, symbols

    def to_value(self, symbols: torch.Tensor) -> torch.Tensor:
        """Symbols (indices) back to level values (``to_bn``)."""
        return self.levels[symbols.long()]
