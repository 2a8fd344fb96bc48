"""The HiFiC codec: E, G, the mean-scale hyperprior, training forward pass and real-bitstream compression.

Paper: F. Mentzer, G. Toderici, M. Tschannen, E. Agustsson, "High-Fidelity Generative Image Compression",
NeurIPS 2020. Rate r(y, z) = -log2 p(y_hat | z_hat) - log2 p(z_hat) (Eq. 3); G sees y_hat quantised with
the straight-through estimator around the predicted mean, round(y - mu) + mu.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared_data import arith
from shared_data import container as ctr
from shared_data.imageio import check_rgb_uint8, crop_to_original, pad_to_multiple

from .coding import TableSet, decode_rows, decode_symbols, encode_rows, encode_symbols
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
from .portable import (
    CONVERT_COMMAND,
    LAYOUT_FLOAT,
    LAYOUT_LEGACY,
    LAYOUT_NAMES,
    LAYOUT_PORTABLE,
    PortableHyper,
    arith_config,
    pack_config,
    symbol_crc,
    unpack_config,
)

#: The image is padded to a multiple of 64 (y at /16, z at /64) in one step (spec Sec. 8.12).
PAD_MULTIPLE = 64
#: Layout version of HiFiC's own sections inside the shared container: 1 (legacy float, read only),
#: 2 (float path with arithmetic record and symbol CRC), 3 (portable integer path); see hific.portable.
SECTION_LAYOUT = LAYOUT_PORTABLE
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


class ModelLoadError(ValueError):
    """A checkpoint is missing, unreadable, or does not match the HiFiC architecture."""


def load_weights_only(path, what: str = "checkpoint"):
    """``torch.load(path, weights_only=True)`` (tensors and plain values: no pickled code ever runs). A file
    holding other pickled objects, or an unreadable one, raises :class:`ModelLoadError`: one line naming it."""
    import re

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        text = str(e)
        m = re.search(r"Unsupported global: GLOBAL \S+|unrecognized function \S+|Unsupported class \S+", text)
        if m:  # a global (code) the weights-only unpickler does not allow; junk bytes are "unreadable"
            raise ModelLoadError(f"{path}: refused: the {what} holds pickled Python objects other than tensors "
                                 "and plain values, which weights_only loading never executes "
                                 f"({m.group(0)})") from None
        first = next((ln.strip() for ln in text.splitlines() if "Unsupported" in ln),
                     text.splitlines()[0] if text else "")
        raise ModelLoadError(f"{path}: not a readable torch checkpoint ({type(e).__name__}: {first})") from None


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
        y = self.encoder(self._preprocess(x01))
        z = self.hyper_analysis(y)
        u_z = noise[0] if noise is not None else torch.empty_like(z).uniform_(-0.5, 0.5)
        z_tilde = z + u_z
        z_lik = self.hyper_density.likelihood(z_tilde)
        if self.cfg.use_latent_mixture_model:
            return self._forward_mixture(x01, y, z, z_tilde, z_lik, num_pixels)
        mean = self.hyper_synthesis_mean(z_tilde)
        scale = self.hyper_synthesis_scale(z_tilde)
        u_y = noise[1] if noise is not None else torch.empty_like(y).uniform_(-0.5, 0.5)
        y_tilde = y + u_y
        y_lik = self.conditional.likelihood(y_tilde, mean, scale)
        y_hat = torch.round(y - mean).detach() + (y - mean) - (y - mean).detach() + mean  # STE (TF _ste_quantize)
        x_hat = self._postprocess(self.generator(y_hat))
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
        params = self.mixture_head(self.hyper_synthesis_mixture(z_tilde))
        y_tilde = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        y_bits = -self.mixture.log_likelihood(y_tilde, params).sum() / math.log(2.0)
        y_hat = torch.round(y).detach() + y - y.detach()
        x_hat = self._postprocess(self.generator(y_hat))
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
        """h_s runs on CPU in float32 for coding, so a GPU encode decodes on CPU (spec Sec. 8.5).
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

    def _use_portable(self, portable: bool | None) -> bool:
        if portable is None:
            return self.is_portable()
        if portable and not self.is_portable():
            raise ctr.ContainerError(f"the model is float-only: portable files need an integerized model "
                                     f"({CONVERT_COMMAND})")
        return bool(portable)

    @torch.no_grad()
    def compress(self, img: np.ndarray, tile: int | None = None,
                 portable: bool | None = None) -> tuple[ctr.Container, dict]:
        """uint8 (H, W, 3) -> (Container, info). info holds the latents and the estimated bits.

        ``portable`` (default: whether the model is integerized) selects the exact integer h_s and tables
        (layout 3) or the float path (layout 2). ``tile`` (latent pixels; None = automatic above 4 MP, 0 =
        never) bounds the encoder's memory; the latents are then coded as one stream, exactly as without
        tiling (tiling is not in the file)."""
        check_rgb_uint8(img)
        self.eval()
        use_int = self._use_portable(portable)
        z_tab, y_tab = self._coding_tables(use_int)
        padded, pad = self._pad(img)
        x = torch.from_numpy(np.ascontiguousarray(padded)).permute(2, 0, 1)[None].float().div(255.0)
        x = x.to(self._device())
        y = self.encode_latents(x, self._tile_for(*padded.shape[:2], tile))
        z = self.hyper_analysis(y).cpu().float()
        z_sym, z_hat = self.hyper_density.round(z)
        _, c, zh, zw = z_sym.shape
        z_ids = np.broadcast_to(np.arange(c)[None, :, None, None], z_sym.shape)
        if self.cfg.use_latent_mixture_model:
            y_sym = torch.round(y.cpu().float())
            rows = self._mixture_rows(z_sym, z_hat, use_int)
            tc = time.perf_counter()
            z_bytes = encode_symbols(z_sym.numpy().astype(np.int64), z_ids, z_tab)
            y_bytes = encode_rows(y_sym.numpy().astype(np.int64), rows)
        else:
            if use_int:
                mean, idx = self.portable.mean_and_indexes(self, z_sym)
            else:
                mean, idx = self._mean_scale_indexes(z_hat)
            y_sym = torch.round(y.cpu().float() - mean)
            tc = time.perf_counter()
            z_bytes = encode_symbols(z_sym.numpy().astype(np.int64), z_ids, z_tab)
            y_bytes = encode_symbols(y_sym.numpy().astype(np.int64), idx.numpy(), y_tab)
        coding_s = time.perf_counter() - tc
        layout = LAYOUT_PORTABLE if use_int else LAYOUT_FLOAT
        cfg_bytes = pack_config(arith_config("portable" if use_int else "float"))
        hp, wp = padded.shape[:2]
        crc = symbol_crc(layout, pad.height, pad.width, hp, wp, cfg_bytes, z_sym.to(torch.int64),
                         y_sym.to(torch.int64))
        header = ctr.pack_ints([layout, hp, wp, crc])
        fp = self.portable_fingerprint() if use_int else self.fingerprint()
        cont = ctr.Container("hific", fp, pad.height, pad.width, (header, cfg_bytes, z_bytes, y_bytes))
        info = {"y_sym": y_sym, "z_sym": z_sym, "padded_shape": padded.shape[:2], "coding_s": coding_s,
                "layout": layout}
        return cont, info

    def _mixture_rows(self, z_sym: torch.Tensor, z_hat: torch.Tensor, use_int: bool):
        """-LMM coding rows: exact from the integer h_s + head (portable), else the float rows."""
        if use_int:
            from .portable import mixture_rows
            params_q = self.portable.hyper_synthesis(self, z_sym)["mixture"]
            return mixture_rows(self.portable, params_q, self.cfg.latent_channels, self.cfg.mixture_components)
        return self.mixture.coding_rows(self._hyper_synthesis_cpu()[0](z_hat))

    @staticmethod
    def _float_mismatch(enc_cfg: dict) -> str:
        return ("a float-path file: the float h_s here may have chosen other coding tables than the encoder's ("
                + arith.explain(enc_cfg, arith_config("float")) + "), or the file is corrupt (the container CRC "
                "passed); retry with `decode --try-arithmetic`, and write portable files (integerized model)")

    def check_file(self, cont: ctr.Container) -> tuple[int, dict[str, str]]:
        """Codec, layout and model checks of a container; returns (layout, the encoder's arithmetic config).

        A portable file for a float-only model, or a file of another model, names both formats / models and
        the conversion command."""
        if cont.codec != "hific":
            raise ctr.ContainerError(f"codec mismatch: the file was written by {cont.codec!r}, this is 'hific'")
        if len(cont.sections) not in (3, 4) or not cont.sections:
            raise ctr.ContainerError(f"corrupt hific file: {len(cont.sections)} sections, expected 3 or 4")
        head = ctr.unpack_ints(cont.sections[0], max_count=16)
        layout = head[0] if head else -1
        want = {LAYOUT_LEGACY: (3, 3), LAYOUT_FLOAT: (4, 4), LAYOUT_PORTABLE: (4, 4)}.get(layout)
        if want is None or (len(head), len(cont.sections)) != want:
            raise ctr.ContainerError(f"corrupt or unknown hific section header {head[:8]} "
                                     f"({len(cont.sections)} sections)")
        float_fp = self.fingerprint()
        if layout == LAYOUT_PORTABLE:
            if not self.is_portable():
                raise ctr.ContainerError(
                    f"the file is a {LAYOUT_NAMES[layout]} HiFiC file (model {cont.fingerprint.hex()}); the "
                    f"loaded model {float_fp.hex()} is float-only (decodes {LAYOUT_NAMES[LAYOUT_FLOAT]} files): "
                    f"convert the model that wrote it with `{CONVERT_COMMAND}`")
            if cont.fingerprint != self.portable_fingerprint():
                raise ctr.ContainerError(f"model fingerprint mismatch: the file was written by portable model "
                                         f"{cont.fingerprint.hex()}, the loaded model is "
                                         f"{self.portable_fingerprint().hex()} (float {float_fp.hex()})")
        elif cont.fingerprint != float_fp:
            hint = ""
            if self.is_portable() and cont.fingerprint == self.portable_fingerprint():
                hint = " (the file claims this model's portable fingerprint but a float layout)"
            raise ctr.ContainerError(f"model fingerprint mismatch: the file ({LAYOUT_NAMES[layout]}) was written "
                                     f"by model {cont.fingerprint.hex()}, the loaded model is {float_fp.hex()}"
                                     + (f" (portable {self.portable_fingerprint().hex()})" if self.is_portable()
                                        else "") + hint)
        enc_cfg = unpack_config(cont.sections[1]) if layout != LAYOUT_LEGACY else {}
        return layout, enc_cfg

    @torch.no_grad()
    def decompress(self, cont: ctr.Container, tile: int | None = None) -> tuple[np.ndarray, dict]:
        """Container -> uint8 (H, W, 3). Raises ContainerError on anything malformed, and when the decoded
        symbols fail the stored CRC (layouts 2, 3). ``tile`` as in :meth:`compress` (the decoder's choice; it
        changes memory, not the result beyond float rounding)."""
        self.eval()
        layout, enc_cfg = self.check_file(cont)
        head = ctr.unpack_ints(cont.sections[0], max_count=16)
        hp, wp = head[1], head[2]
        exp_h, exp_w = self._padded_size(cont.height, cont.width)
        if (hp, wp) != (exp_h, exp_w):
            raise ctr.ContainerError(f"corrupt hific header: padded size {hp}x{wp} does not match the image "
                                     f"size {cont.height}x{cont.width}")
        use_int = layout == LAYOUT_PORTABLE
        z_sec, y_sec = cont.sections[-2], cont.sections[-1]
        z_tab, y_tab = self._coding_tables(use_int)
        c_z, c_y = self.cfg.hyper_channels, self.cfg.latent_channels
        zh, zw = hp // 64, wp // 64
        z_ids = np.broadcast_to(np.arange(c_z)[None, :, None, None], (1, c_z, zh, zw))
        tc = time.perf_counter()
        z_int = decode_symbols(z_sec, z_ids, z_tab)
        z_sym = torch.from_numpy(z_int).float()
        coding_s = time.perf_counter() - tc
        med = self.hyper_density.centres.cpu().reshape(1, -1, 1, 1)
        if self.cfg.use_latent_mixture_model:
            shape = (1, c_y, hp // 16, wp // 16)
            rows = self._mixture_rows(torch.from_numpy(z_int), z_sym + med, use_int)
            tc = time.perf_counter()
            try:
                y_int = decode_rows(y_sec, rows, int(np.prod(shape))).reshape(shape)
            except ctr.ContainerError as e:
                if layout != LAYOUT_FLOAT:
                    raise
                raise ctr.ContainerError(f"{e}; {self._float_mismatch(enc_cfg)}") from None
            coding_s += time.perf_counter() - tc
            mean = None
        else:
            if use_int:
                mean, idx = self.portable.mean_and_indexes(self, torch.from_numpy(z_int))
            else:
                mean, idx = self._mean_scale_indexes(z_sym + med)
            if tuple(idx.shape) != (1, c_y, hp // 16, wp // 16):
                raise ctr.ContainerError("internal shape mismatch while decoding")
            tc = time.perf_counter()
            try:
                y_int = decode_symbols(y_sec, idx.numpy(), y_tab)
            except ctr.ContainerError as e:
                if layout != LAYOUT_FLOAT:
                    raise
                raise ctr.ContainerError(f"{e}; {self._float_mismatch(enc_cfg)}") from None
            coding_s += time.perf_counter() - tc
        if layout != LAYOUT_LEGACY:
            crc = symbol_crc(layout, cont.height, cont.width, hp, wp, cont.sections[1], z_int, y_int)
            if crc != head[3]:
                if use_int:
                    raise ctr.ContainerError("corrupt hific file: the decoded symbols do not match the stored "
                                             "CRC-32 (the payload was altered; the portable path is exact)")
                raise ctr.ContainerError("the decoded symbols do not match the stored CRC-32; "
                                         + self._float_mismatch(enc_cfg))
        y_sym = torch.from_numpy(y_int).float()
        y_hat = (y_sym if mean is None else y_sym + mean).to(self._device())
        x_hat = self.synthesize(y_hat, self._tile_for(hp, wp, tile)).clamp(0, 1)
        out = (x_hat[0].permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
        from shared_data.imageio import PadInfo
        img = crop_to_original(out, PadInfo(cont.height, cont.width, 0, hp - cont.height, 0, wp - cont.width))
        return np.ascontiguousarray(img), {"y_sym": y_sym, "z_sym": z_sym, "coding_s": coding_s,
                                           "layout": layout, "config": enc_cfg}

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


# ---- checkpoints ---------------------------------------------------------------------------------
def save_checkpoint(path, model: HiFiC, extra: dict | None = None) -> None:
    """Atomic torch.save of {config, state_dict, **extra} (tensors and plain types: weights_only-loadable)."""
    import io

    from shared_data.imageio import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({"format": "hific_torch/1", "config": model.cfg.to_dict(), "state_dict": model.state_dict(),
                **(extra or {})}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path, device: str = "cpu", need_tables: bool = True) -> tuple[HiFiC, dict]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True`` (no pickle code)."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such checkpoint file")
    ck = load_weights_only(path)
    if not isinstance(ck, dict) or ck.get("format") != "hific_torch/1" or "state_dict" not in ck:
        raise ModelLoadError(f"{path}: not a hific_torch checkpoint (no 'format': 'hific_torch/1' entry); "
                             "released port checkpoints are imported with hific.import_original")
    try:
        cfg = ModelConfig.from_dict(ck["config"])
    except (TypeError, ValueError) as e:
        raise ModelLoadError(f"{path}: bad model config ({e})") from None
    with torch.device("meta"):
        model = HiFiC(cfg)
    sd = ck["state_dict"]
    model = model.to_empty(device="cpu")
    _resize_table_buffers(model, sd)
    if not isinstance(sd, dict):
        raise ModelLoadError(f"{path}: the state_dict entry is not a dict")
    pkeys = {k[len("portable."):]: v for k, v in sd.items() if isinstance(k, str) and k.startswith("portable.")}
    if pkeys:
        try:
            model.portable = PortableHyper(pkeys)
            if model.portable.settings[0] != 1:
                raise ValueError(f"unknown portable block version {model.portable.settings[0]}")
        except (TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
            raise ModelLoadError(f"{path}: bad portable (integerized) block ({e})") from None
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise ModelLoadError(f"{path}: weights do not match the config ({str(e).splitlines()[0]})") from None
    model.to(device).eval()
    if need_tables and not model.tables_ready():
        raise ModelLoadError(f"{path}: the checkpoint has no coding tables (train.py builds them at the end; "
                             "or call model.update() and save)")
    return model, ck


def load_codec_weights(model: HiFiC, sd: dict) -> None:
    """load_state_dict that first sizes the coding-table buffers from ``sd``. An integer block in ``sd`` is
    left out (training changes the weights it was converted from; integerize the result again)."""
    sd = {k: v for k, v in sd.items() if not k.startswith("portable.")}
    _resize_table_buffers(model, sd)
    model.portable = None
    model._portable_fingerprint = None
    model.load_state_dict(sd, strict=True)
    model._fingerprint = None
    model._tables = None


def _resize_table_buffers(model: HiFiC, sd: dict) -> None:
    """Table buffers change shape in update(); size them from the state dict before loading."""
    for name in ("hyper_density.pmfs", "hyper_density.offsets", "hyper_density.lengths",
                 "conditional.pmfs", "conditional.radii"):
        if name in sd:
            mod_name, attr = name.rsplit(".", 1)
            mod = model.get_submodule(mod_name)
            old = getattr(mod, attr)
            setattr(mod, attr, torch.empty_like(sd[name], device=old.device if old.device.type != "meta" else "cpu"))


def default_model_path() -> Path:
    return Path(__file__).resolve().parent.parent / "zoo" / "mini" / "hific_mini.pt"


def export_codec(src, dst) -> Path:
    """Write a codec-only copy of a training checkpoint (no discriminator, no optimizer states): what
    ``zoo/`` holds. Keeps ``step`` and ``model_type`` for provenance."""
    model, ck = load_checkpoint(src)
    save_checkpoint(dst, model, {"step": int(ck.get("step", 0)), "model_type": ck.get("model_type", ""),
                                 "train_config": ck.get("train_config", {})})
    return Path(dst)
