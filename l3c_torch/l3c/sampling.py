"""Sampling from the model (upstream ``test.py --sample``, paper Fig. 4): keep the coarse levels, sample
the finer ones from the DMLL. Mixture chosen per sub-pixel by Gumbel-max, then inverse-CDF sampling of
the logistic; RGB channels are sampled R, G, B with the coupling on the *sampled* values (clamped 0..255).

Outputs per image (names as upstream): ``_gt`` (all levels real), ``_rgb`` (x sampled given z^(1)),
``_rgb+bn0`` (z^(1) and x sampled given z^(2)), ``_rgb+bn0+bn1`` (z^(2), z^(1), x sampled given z^(3)).
The number in each name is the bpsp of what was kept (the real levels), as upstream's README example.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from shared_data.imageio import crop_to_original, pad_to_multiple, write_png

from .dmll import DMLL
from .network import MultiscaleNetwork, image_to_input


def sample_dmll(dm: DMLL, params: torch.Tensor, C: int, gen: torch.Generator) -> torch.Tensor:
    """Draw values ``(N, C, H, W)`` from the DMLL; RGB channels are coupled through the sampled values."""
    logit_pi, mu, log_s, coeffs = dm.split(params, C)
    N, _, K, H, W = mu.shape
    out = torch.zeros(N, C, H, W)
    for c in range(C):
        g = -torch.log(-torch.log(torch.rand(logit_pi[:, c].shape, generator=gen).clamp(1e-10, 1 - 1e-10)))
        k = torch.argmax(logit_pi[:, c] + g, dim=1, keepdim=True)  # (N, 1, H, W)
        m = torch.gather(mu[:, c], 1, k)[:, 0]
        ls = torch.gather(log_s[:, c], 1, k)[:, 0]
        if dm.rgb and c > 0:
            co = [torch.gather(coeffs[:, j], 1, k)[:, 0] for j in range(3)]
            m = m + co[0] * out[:, 0] if c == 1 else m + co[1] * out[:, 0] + co[2] * out[:, 1]
        u = torch.rand(m.shape, generator=gen).clamp(1e-5, 1 - 1e-5)
        x = m + torch.exp(ls) * (torch.log(u) - torch.log(1 - u))
        x = torch.clamp(x, dm.x_min, dm.x_max)
        out[:, c] = dm.x_min + torch.round((x - dm.x_min) / dm.bin) * dm.bin  # nearest representable value
    return out


@torch.no_grad()
def sample_image(net: MultiscaleNetwork, img: np.ndarray, out_dir: str | Path, name: str, idx: int = 0,
                 seed: int = 0) -> list[Path]:
    if net.baseline:
        raise NotImplementedError("--sample is implemented for L3C models (bottleneck levels), not the RGB baselines")
    net.eval()
    gen = torch.Generator().manual_seed(seed)
    padded, info = pad_to_multiple(img, net.pad_multiple)
    xp = image_to_input(padded)
    nlls, encs = net(xp)
    n = 3 * img.shape[0] * img.shape[1]
    bits = [float(v) / math.log(2) / n for v in nlls] + [net.uniform_bits(encs) / n]  # per level 0..S
    NL = net.num_levels
    written = []
    out_dir = Path(out_dir)
    for n_sampled in range(NL + 1):  # 0 = gt; 1 = rgb; 2 = rgb+bn0; 3 = rgb+bn0+bn1
        vals = [None] * (NL + 1)
        for i in range(n_sampled, NL + 1):  # real levels
            vals[i] = xp if i == 0 else encs[i - 1].bn_q
        fuse = None
        for i in reversed(range(NL)):
            feats = net.decode_level(i, vals[i + 1], fuse)
            if vals[i] is None:
                params = net.prob_params(i, feats)
                vals[i] = sample_dmll(net.dmll(i), params, net.level_channels(i), gen)
            fuse = feats
        kept = sum(bits[n_sampled:])
        tag = ["gt", "rgb", "rgb+bn0", "rgb+bn0+bn1", "rgb+bn0+bn1+bn2"][n_sampled]
        rec = crop_to_original(vals[0][0].clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).numpy(), info)
        p = out_dir / f"{idx}_{name}_{kept:.3f}_{tag}.png"
        write_png(p, np.ascontiguousarray(rec))
        written.append(p)
    return written
