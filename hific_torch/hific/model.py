"""The HiFiC model: E, G, the mean-scale hyperprior, the training forward pass, coding tables and identity.

Paper: F. Mentzer, G. Toderici, M. Tschannen, E. Agustsson, "High-Fidelity Generative Image Compression",
NeurIPS 2020. Rate r(y, z) = -log2 p(y_hat | z_hat) - log2 p(z_hat) (Eq. 3); G sees y_hat quantised with
the straight-through estimator around the predicted mean, round(y - mu) + mu.

Where the rest lives: the file format and the :class:`shared_data.codec.Codec` protocol (``encode_image`` /
``decode_image``, stream layouts) in :mod:`hific.codec`; checkpoints in :mod:`hific.checkpoints`; the exact
integer hyper-synthesis of portable files in :mod:`hific.portable`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from shared_data import container as ctr
from shared_data.imageio import pad_to_multiple

from .coding import TableSet
from .config import ModelConfig
from .entropy import (
    SCALE_BOUND,
    FactorizedDensity,
    MeanScaleConditional,
    MixtureConditional,
    scale_indexes,
    table_probabilities,
)
from .network import Encoder, Generator, HyperAnalysis, HyperSynthesis
from .portable import CONVERT_COMMAND, PortableHyper

#: The image is padded to a multiple of 64 (y at /16, z at /64) in one step (survey §8.12, docs/reference/hific.md).
PAD_MULTIPLE = 64
#: Images above this many (padded) pixels run E and G tile by tile (bounded memory); see tiled().
AUTO_TILE_PIXELS = 4_000_000
DEFAULT_TILE = 64  # latent pixels (1024 image pixels)


def tiled(fn, x: torch.Tensor, tile: int, margin: int, up: int = 1, down: int = 1) -> torch.Tensor:
    """Apply a translation-equivariant ``fn`` on overlapping tiles of ``x`` and stitch the centres.

    Output size = input size * up / down. ``tile`` and ``margin`` are in input pixels; with ``margin`` at
    least the receptive-field radius of ``fn`` every output pixel equals the untiled result (up to float
    summation order), so there are no seams. For a strided ``fn`` (the encoder, down=16) tile and margin must
    be multiples of ``down`` so that the tiles keep the stride grid.
    """
    if tile % down or margin % down:
        raise ValueError(f"tile {tile} and margin {margin} must be multiples of {down}")
    h, w = x.shape[-2:]
    out = None
    for i0 in range(0, h, tile):
        for j0 in range(0, w, tile):
            i1, j1 = min(i0 + tile, h), min(j0 + tile, w)
            a0, b0 = max(i0 - margin, 0), max(j0 - margin, 0)
            a1, b1 = min(i1 + margin, h), min(j1 + margin, w)
            y = fn(x[..., a0:a1, b0:b1])
            if out is None:
                out = y.new_empty((*y.shape[:-2], h * up // down, w * up // down))
            out[..., i0 * up // down:i1 * up // down, j0 * up // down:j1 * up // down] = \
                y[..., (i0 - a0) * up // down:(i1 - a0) * up // down, (j0 - b0) * up // down:(j1 - b0) * up // down]
    return out


@dataclass
class ForwardOutput:
    x_hat: torch.Tensor
    y: torch.Tensor
    y_hat: torch.Tensor
    bpp: torch.Tensor            # noisy-likelihood estimate, batch mean (training rate term)
    q_bpp: torch.Tensor          # quantised-likelihood estimate, batch mean (compared to r_t)
    y_bpp: torch.Tensor
    z_bpp: torch.Tensor
    y_q_bpp: torch.Tensor | None = None   # the parts of q_bpp
    z_q_bpp: torch.Tensor | None = None


def _f32(like: torch.Tensor):
    """A float32 island under bf16 autocast (the rate terms and the rounding; a no-op without autocast)."""
    return torch.autocast(like.device.type, enabled=False)


class HiFiC(nn.Module):
    """Encoder, generator and hyperprior (the discriminator lives in :class:`hific.network.Discriminator`)."""

    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        cfg = cfg if cfg is not None else ModelConfig()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.generator = Generator(cfg)
        self.hyper_analysis = HyperAnalysis(cfg)
        if cfg.use_latent_mixture_model:  # the port's -LMM: one h_s branch + 1x1 conv -> 3·C·K parameters
            self.hyper_synthesis_mixture = HyperSynthesis(cfg)
            self.mixture_head = nn.Conv2d(cfg.latent_channels, 3 * cfg.latent_channels * cfg.mixture_components, 1)
            self.mixture = MixtureConditional(cfg.latent_channels, cfg.mixture_components, cfg.likelihood_type)
        else:
            self.hyper_synthesis_mean = HyperSynthesis(cfg)
            self.hyper_synthesis_scale = HyperSynthesis(cfg)
        self.hyper_density = FactorizedDensity(cfg.hyper_channels, cfg.factorized_filters,
                                               final_gate=cfg.layout == "port", centre=cfg.z_rounding)
        self.conditional = MeanScaleConditional(cfg.likelihood_type)
        self.portable: PortableHyper | None = None  # the integer h_s and tables (python -m hific integerize)
        self._fingerprint: bytes | None = None
        self._portable_fingerprint: bytes | None = None
        self._tables = None

    # ---- training ---------------------------------------------------------------------------------
    def _preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        return x01 * 2 - 1 if self.cfg.normalize_input_image else x01

    def _postprocess(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1) / 2 if self.cfg.normalize_input_image else x

    def forward(self, x01: torch.Tensor, noise: tuple[torch.Tensor, torch.Tensor] | None = None) -> ForwardOutput:
        """x01 in [0, 1], (B, 3, H, W) with H, W multiples of 64. Returns x_hat in [0, 1] (unclamped).
        ``noise`` = (u_z, u_y) replaces the U(-1/2, 1/2) samples (parity tests feed the original's)."""
        b, _, h, w = x01.shape
        num_pixels = b * h * w
        # Under bf16 autocast (training only, ``train --bf16``) the convolutions run in bfloat16 and the rate
        # terms, the quantisation and x_hat in float32 (``_f32``); without autocast this is the float32 path.
        y = self.encoder(self._preprocess(x01)).float()
        z = self.hyper_analysis(y).float()
        u_z = noise[0] if noise is not None else torch.empty_like(z).uniform_(-0.5, 0.5)
        z_tilde = z + u_z
        with _f32(x01):
            z_lik = self.hyper_density.likelihood(z_tilde)
        if self.cfg.use_latent_mixture_model:
            return self._forward_mixture(x01, y, z, z_tilde, z_lik, num_pixels)
        mean = self.hyper_synthesis_mean(z_tilde).float()
        scale = self.hyper_synthesis_scale(z_tilde).float()
        u_y = noise[1] if noise is not None else torch.empty_like(y).uniform_(-0.5, 0.5)
        with _f32(x01):
            y_tilde = y + u_y
            y_lik = self.conditional.likelihood(y_tilde, mean, scale)
            y_hat = torch.round(y - mean).detach() + (y - mean) - (y - mean).detach() + mean  # STE (TF _ste_quantize)
        x_hat = self._postprocess(self.generator(y_hat).float())
        with _f32(x01):
            y_bits = -self._log2(y_lik).sum()
            z_bits = -self._log2(z_lik).sum()
            with torch.no_grad():
                z_q = self.hyper_density.round(z)[1]
                y_q = torch.round(y - mean) + mean
                y_q_bits = -self._log2(self.conditional.likelihood(y_q, mean, scale)).sum()
                z_q_bits = -self._log2(self.hyper_density.likelihood(z_q)).sum()
                q_bits = y_q_bits + z_q_bits
        return ForwardOutput(x_hat, y, y_hat, (y_bits + z_bits) / num_pixels, q_bits / num_pixels,
                             y_bits / num_pixels, z_bits / num_pixels, y_q_bits / num_pixels, z_q_bits / num_pixels)

    def _log2(self, lik: torch.Tensor) -> torch.Tensor:
        """log2 of a (bounded) likelihood for the rate estimate; ``rate_log_eps`` > 0 adds the port's eps."""
        eps = self.cfg.rate_log_eps
        return torch.log2(lik + eps) if eps else torch.log2(lik)

    def _forward_mixture(self, x01, y, z, z_tilde, z_lik, num_pixels) -> ForwardOutput:
        """-LMM: y quantised without a mean offset (port ``HyperpriorDLMM``): noise for the rate, STE round
        for G."""
        params = self.mixture_head(self.hyper_synthesis_mixture(z_tilde)).float()
        with _f32(x01):
            y_tilde = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            y_bits = -self.mixture.log_likelihood(y_tilde, params).sum() / math.log(2.0)
            y_hat = torch.round(y).detach() + y - y.detach()
        x_hat = self._postprocess(self.generator(y_hat).float())
        with _f32(x01):
            z_bits = -self._log2(z_lik).sum()  # the port: eps for z (_estimate_entropy), none for y (_estimate_entropy_log)
            with torch.no_grad():
                z_q = self.hyper_density.round(z)[1]
                q_bits = (-self.mixture.log_likelihood(torch.round(y), params).sum() / math.log(2.0)
                          - self._log2(self.hyper_density.likelihood(z_q)).sum())
        return ForwardOutput(x_hat, y, y_hat, (y_bits + z_bits) / num_pixels, q_bits / num_pixels,
                             y_bits / num_pixels, z_bits / num_pixels)

    def aux_loss(self) -> torch.Tensor:
        return self.hyper_density.aux_loss()

    # ---- coding tables and identity --------------------------------------------------------------
    @torch.no_grad()
    def update(self) -> None:
        """Build the coding tables (stored as buffers, i.e. in the checkpoint). Call after training. Drops an
        integer block (it was converted from the old weights: run ``python -m hific integerize`` again)."""
        self.hyper_density.update()
        self.conditional.update()
        self.portable = None
        self._fingerprint = None
        self._portable_fingerprint = None
        self._tables = None

    def tables_ready(self) -> bool:
        return bool((self.hyper_density.lengths > 0).all()) and bool((self.conditional.radii > 0).all())

    def codec_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items()}

    def fingerprint(self) -> bytes:
        """8 bytes over the config and every float weight and table (shared_data.container.fingerprint):
        the identity of the float path, unchanged by integerize (its ``portable.*`` block is left out)."""
        if self._fingerprint is None:
            sd = self.state_dict()
            bufs = (sd[k].detach().cpu().contiguous().numpy().tobytes() for k in sorted(sd)
                    if not k.startswith("portable."))
            self._fingerprint = ctr.fingerprint(self.cfg.canonical_json(), bufs)
        return self._fingerprint

    def portable_fingerprint(self) -> bytes:
        """8 bytes over the config, every weight and the integer block: the identity of portable files."""
        if self.portable is None:
            raise RuntimeError(f"the model is not integerized ({CONVERT_COMMAND})")
        if getattr(self, "_portable_fingerprint", None) is None:
            sd = self.state_dict()
            bufs = (sd[k].detach().cpu().contiguous().numpy().tobytes() for k in sorted(sd))
            self._portable_fingerprint = ctr.fingerprint(self.cfg.canonical_json() + "|portable", bufs)
        return self._portable_fingerprint

    def _coding_tables(self, portable: bool = False) -> tuple[TableSet, TableSet]:
        if portable:
            return self.portable.coding_tables()
        if getattr(self, "_tables", None) is None:
            if not self.tables_ready():
                raise RuntimeError("coding tables are not built: call model.update() after training")
            d = self.hyper_density
            z_tab = TableSet([table_probabilities(d.pmfs[c].cpu(), int(d.lengths[c]) + 1)
                              for c in range(d.channels)], [int(o) for o in d.offsets])
            cnd = self.conditional
            y_tab = TableSet([table_probabilities(cnd.pmfs[i].cpu(), 2 * int(r) + 2)
                              for i, r in enumerate(cnd.radii)], [-int(r) for r in cnd.radii])
            self._tables = (z_tab, y_tab)
        return self._tables

    def _hyper_synthesis_cpu(self):
        """h_s runs on CPU in float32 for coding, so a GPU encode decodes on CPU (survey §8.5, docs/reference/hific.md).
        Returns (mean net, scale net), or for -LMM (parameter net, None)."""
        if self.cfg.use_latent_mixture_model:
            mods = (nn.Sequential(self.hyper_synthesis_mixture, self.mixture_head), None)
        else:
            mods = (self.hyper_synthesis_mean, self.hyper_synthesis_scale)
        dev = next(mods[0].parameters()).device
        if dev.type == "cpu":
            return mods
        cache = getattr(self, "_hs_cpu", None)
        if cache is None:
            cache = tuple(copy.deepcopy(m).cpu().float() if m is not None else None for m in mods)
            object.__setattr__(self, "_hs_cpu", cache)
        return cache

    @torch.no_grad()
    def _mean_scale_indexes(self, z_hat_cpu: torch.Tensor):
        hs_m, hs_s = self._hyper_synthesis_cpu()
        mean = hs_m(z_hat_cpu)
        scale = hs_s(z_hat_cpu).clamp_min(SCALE_BOUND)
        return mean, scale_indexes(scale)

    # ---- compression -----------------------------------------------------------------------------
    def _padded_size(self, h: int, w: int) -> tuple[int, int]:
        """Coded size: a multiple of 64; with the port's layout also >= 128 (its reflection pads in h_a need
        y >= 8 latents: the port cannot code smaller images at all)."""
        least = 128 if self.cfg.layout == "port" else PAD_MULTIPLE
        return tuple(max(least, -(-v // PAD_MULTIPLE) * PAD_MULTIPLE) for v in (h, w))

    def _pad(self, img: np.ndarray):
        padded, pad = pad_to_multiple(img, PAD_MULTIPLE, mode="reflect", split="end")
        hp, wp = self._padded_size(*img.shape[:2])
        if (hp, wp) != padded.shape[:2]:
            from shared_data.imageio import PadInfo
            padded = np.pad(padded, ((0, hp - padded.shape[0]), (0, wp - padded.shape[1]), (0, 0)), mode="edge")
            pad = PadInfo(img.shape[0], img.shape[1], 0, hp - img.shape[0], 0, wp - img.shape[1])
        return padded, pad

    def _device(self):
        return next(self.encoder.parameters()).device

    def _tile_for(self, h: int, w: int, tile: int | None) -> int:
        if tile is None:
            return DEFAULT_TILE if h * w > AUTO_TILE_PIXELS else 0
        return int(tile)

    def encode_latents(self, x: torch.Tensor, tile: int = 0) -> torch.Tensor:
        """E(x); with ``tile`` > 0 (latent pixels) tile by tile with a 4-latent (64 px) margin, which covers
        E's receptive field (radius ~ 3 + 15 + 16 px)."""
        x = self._preprocess(x)
        if not tile:
            return self.encoder(x)
        return tiled(self.encoder, x, 16 * tile, 64, up=1, down=16)

    def synthesize(self, y_hat: torch.Tensor, tile: int = 0) -> torch.Tensor:
        """G(y_hat) in [0, 1] (unclamped); with ``tile`` > 0 tile by tile with a margin of
        4 + 2 * n_residual_blocks latent pixels, which covers G's receptive-field radius in latent units:
        1 (head) + 2 per residual block + 1 + 1/2 + 1/4 + 1/8 (the four transposed convs) + 3/16 (7x7)."""
        if not tile:
            return self._postprocess(self.generator(y_hat))
        margin = 4 + 2 * self.cfg.n_residual_blocks
        return tiled(lambda t: self._postprocess(self.generator(t)), y_hat, tile, margin, up=16, down=1)

    def is_portable(self) -> bool:
        """True when the model carries the integer block (``python -m hific integerize``)."""
        return self.portable is not None

    @torch.no_grad()
    def estimate_bits(self, img: np.ndarray) -> float:
        """Model bits of ``img`` under the coding distributions (-log2 of the quantised likelihoods)."""
        padded, _ = self._pad(img)
        x = torch.from_numpy(np.ascontiguousarray(padded)).permute(2, 0, 1)[None].float().div(255.0)
        y = self.encoder(self._preprocess(x.to(self._device()))).cpu().float()
        z = self.hyper_analysis(y)
        z_hat = self.hyper_density.round(z)[1]
        hs_m, hs_s = self._hyper_synthesis_cpu()
        if self.cfg.use_latent_mixture_model:
            return float(-self.mixture.log_likelihood(torch.round(y), hs_m(z_hat)).sum() / math.log(2.0)
                         - torch.log2(self.hyper_density.likelihood(z_hat)).sum())
        mean, scale = hs_m(z_hat), hs_s(z_hat)
        y_hat = torch.round(y - mean) + mean
        return float(-torch.log2(self.conditional.likelihood(y_hat, mean, scale)).sum()
                     - torch.log2(self.hyper_density.likelihood(z_hat)).sum())
