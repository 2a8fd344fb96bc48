"""The L3C multiscale network (Mentzer et al. 2019, §3, Fig. 2): encoders E^(s), quantizer Q, decoders
D^(s) and the atrous probability classifiers, plus the bicubic RGB baselines.

Index conventions (as upstream's ``multiscale_network.py``): ``nets[i].enc`` is E^(i+1), ``nets[i].dec`` is D^(i+1),
``prob_clfs[i]`` predicts level i from D^(i+1)'s output F^(i+1); level 0 is the RGB image x, level s >= 1
is the bottleneck z^(s) at H/2^s. The coarsest level gets a uniform prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from shared_data.errors import ConfigError

from .config import Config
from .dmll import DMLL
from .quantizer import Quantizer

RGB_MEAN = (0.4488, 0.4371, 0.4040)


def default_conv(cin: int, cout: int, k: int, stride: int = 1, rate: int = 1) -> nn.Conv2d:
    """upstream ``pe.default_conv``: bias, 'same' padding (``rate`` when dilated), PyTorch default init."""
    pad = rate if rate > 1 else k // 2
    return nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=rate, bias=True)


class MeanShift(nn.Conv2d):
    """EDSR's MeanShift: a 1x1 conv initialised to ``(x - sign*range*mean) / std``.

    Upstream sets ``requires_grad=False`` on the *module*, which does not freeze it: the weights train.
    We keep that (released weights include trained MeanShifts)."""

    def __init__(self, rgb_range: float, mean, std, sign: int = -1):
        super().__init__(3, 3, kernel_size=1)
        std_t = torch.tensor(std, dtype=torch.float32)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1) / std_t.view(3, 1, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(mean, dtype=torch.float32) / std_t)


class ResBlock(nn.Module):
    """EDSR residual block: conv3x3 - ReLU - conv3x3, + x (no BatchNorm, no res-scaling)."""

    def __init__(self, Cf: int, k: int):
        super().__init__()
        self.body = nn.Sequential(default_conv(Cf, Cf, k), nn.ReLU(True), default_conv(Cf, Cf, k))

    def forward(self, x):
        return self.body(x) + x


def _body(Cf, k, n):
    return nn.Sequential(*[ResBlock(Cf, k) for _ in range(n)], default_conv(Cf, Cf, k))


@dataclass
class EncOut:
    bn: torch.Tensor        # decoder input and next-finer target (straight-through at train time)
    bn_q: torch.Tensor      # hard values
    symbols: torch.Tensor   # int64 symbols (level indices, or 0..255 for the RGB baselines)
    F: torch.Tensor | None  # features fed to the next encoder (enc.feed_F)


class EDSRLikeEnc(nn.Module):
    """E^(s): conv5x5 stride 2, 8 ResBlocks + conv3x3 with a global skip (=F), conv1x1 to C, quantize."""

    def __init__(self, cfg: Config):
        super().__init__()
        Cf, k = cfg.Cf, cfg.kernel_size
        self.down = default_conv(Cf, Cf, 5, stride=2)
        self.body = _body(Cf, k, cfg.enc.num_blocks)
        self.to_q = nn.Sequential(default_conv(Cf, cfg.q.C, 1))
        self.levels = Quantizer.make_levels(cfg.q.L, cfg.q.levels_range)
        self.q = Quantizer(self.levels, cfg.q.sigma)

    def forward(self, x) -> EncOut:
        x = self.down(x)
        Fs = self.body(x) + x
        z = self.to_q(Fs)
        with torch.autocast(x.device.type, enabled=False):  # soft quantization in float32 under bf16 autocast
            bn, bn_q, sym = self.q(z.float())
        return EncOut(bn, bn_q, sym, Fs)


class BicubicSubsampling(nn.Module):
    """RGB baselines' 'encoder': back to uint8, PIL bicubic x0.5 per image, symbols are the uint8 values."""

    def forward(self, x) -> EncOut:
        mean = 255.0 * torch.tensor(RGB_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        img = torch.round(torch.clamp(x.detach() + mean, 0, 255)).to(torch.uint8).cpu().numpy()
        outs = []
        for im in img:
            h, w = im.shape[1:]
            pil = Image.fromarray(np.ascontiguousarray(im.transpose(1, 2, 0)), mode="RGB")
            small = pil.resize((max(1, w // 2), max(1, h // 2)), Image.BICUBIC)
            outs.append(np.asarray(small, dtype=np.uint8).transpose(2, 0, 1))
        sym = torch.from_numpy(np.stack(outs)).to(x.device).long()
        bn = sym.to(x.dtype) - mean
        return EncOut(bn, bn, sym, None)


class EDSRDec(nn.Module):
    """D^(s): conv1x1 C->Cf, (+ coarser decoder output if dec.skip), 8 ResBlocks + conv3x3 with global skip,
    Upsampler (conv3x3 Cf->4Cf, PixelShuffle(2))."""

    def __init__(self, cfg: Config, C: int):
        super().__init__()
        Cf, k = cfg.Cf, cfg.kernel_size
        self.head = default_conv(C, Cf, 1)
        self.body = _body(Cf, k, cfg.dec.num_blocks)
        self.tail = nn.Sequential(default_conv(Cf, 4 * Cf, 3), nn.PixelShuffle(2))

    def forward(self, x, features_to_fuse=None):
        x = self.head(x)
        if features_to_fuse is not None:
            x = x + features_to_fuse
        x = self.body(x) + x
        return self.tail(x)


class StackedAtrousConvs(nn.Module):
    def __init__(self, rates, Cin, Cout, k):
        super().__init__()
        self.atrous = nn.ModuleList([default_conv(Cin, Cin, k, rate=r) for r in rates])
        self.lin = default_conv(len(rates) * Cin, Cout, 1)

    def forward(self, x):
        return self.lin(torch.cat([a(x) for a in self.atrous], dim=1))


class AtrousProbabilityClassifier(nn.Module):
    """Probability head: conv3x3 with dilation 1, 2, 4 in parallel, concat, conv1x1 -> Kp (no activation)."""

    def __init__(self, cfg: Config, Kp: int):
        super().__init__()
        self.atrous = StackedAtrousConvs((1, 2, 4), cfg.Cf, Kp, cfg.kernel_size)

    def forward(self, x):
        return self.atrous(x)


class Head(nn.Module):
    """Cin -> Cf conv3x3 (the conv giving E^(s+1)'s input in Fig. 2)."""

    def __init__(self, cfg: Config, Cin: int):
        super().__init__()
        self.head = default_conv(Cin, cfg.Cf, cfg.kernel_size)

    def forward(self, x):
        return self.head(x)


class RGBHead(nn.Module):
    """Scale-0 head: MeanShift(0, 0, std=128), i.e. /128, then Head(Cin=3)."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.head = nn.Sequential(MeanShift(0.0, (0.0, 0.0, 0.0), (128.0, 128.0, 128.0)), Head(cfg, 3))

    def forward(self, x):
        return self.head(x)


class Net(nn.Module):
    """One scale's encoder and decoder (upstream ``Net``: ``.enc`` and ``.dec``)."""

    def __init__(self, cfg: Config, enc: nn.Module):
        super().__init__()
        self.enc = enc
        self.dec = EDSRDec(cfg, cfg.q.C)


class MultiscaleNetwork(nn.Module):
    """The whole model. ``recursive`` (RGB Shared at test time) appends levels that reuse the last net."""

    def __init__(self, cfg: Config, recursive: int = 0):
        super().__init__()
        self.cfg = cfg
        self.num_scales = cfg.num_scales
        self.baseline = bool(cfg.rgb_bicubic_baseline)
        if recursive and not self.baseline:
            raise ValueError("--recursive applies to the RGB baselines only")
        self.recursive = recursive
        C, K = cfg.q.C, cfg.prob.K
        if self.baseline and C != 3:
            raise ConfigError(f"rgb_bicubic_baseline needs q.C=3, got {C}")
        enc_cls = {"EDSRLikeEnc": EDSRLikeEnc, "BicubicSubsampling": BicubicSubsampling}.get(cfg.enc.cls)
        if enc_cls is None:
            raise ConfigError(f"unknown enc.cls {cfg.enc.cls!r}")
        if cfg.dec.cls != "EDSRDec":
            raise ConfigError(f"unknown dec.cls {cfg.dec.cls!r}")
        self.sub_rgb_mean = MeanShift(255.0, RGB_MEAN, (1.0, 1.0, 1.0))
        self.nets = nn.ModuleList([Net(cfg, enc_cls(cfg) if enc_cls is EDSRLikeEnc else enc_cls())
                                   for _ in range(self.num_scales)])
        self.dmll_rgb = DMLL.for_rgb(K)
        self.dmll_z = DMLL.for_rgb(K) if self.baseline else DMLL.for_bottleneck(K, cfg.q.L, cfg.q.levels_range)
        self.prob_clfs = nn.ModuleList(
            [AtrousProbabilityClassifier(cfg, self.dmll_rgb.num_params(3))]
            + [AtrousProbabilityClassifier(cfg, self.dmll_z.num_params(C)) for _ in range(self.num_scales - 1)])
        if self.baseline:
            self.heads = nn.ModuleList([nn.Identity() for _ in range(self.num_scales)])
        else:
            self.heads = nn.ModuleList([RGBHead(cfg)] + [Head(cfg, cfg.Cf) for _ in range(self.num_scales - 1)])

    # ---- geometry ----
    @property
    def num_levels(self) -> int:
        """Number of bottleneck levels (3 for L3C; 4 for RGB Shared with recursive=3)."""
        return self.num_scales + self.recursive

    @property
    def pad_multiple(self) -> int:
        return 2 ** self.num_levels

    @property
    def decoder_halo(self) -> int:
        """Rows (at a level's output resolution) a strip of decoder D^(s) + probability head must see on each
        side to give the whole-image result: (2 * dec.num_blocks + 2) 3x3 convs at half resolution plus the
        dilation-4 head, rounded up to even (used by the strip-wise coder, :mod:`l3c.coding`)."""
        h = 2 * (2 * self.cfg.dec.num_blocks + 2) + 4
        return h + (h % 2)

    @property
    def encoder_halo(self) -> int:
        """Full-resolution rows E^(1) (head 3x3, 5x5 stride 2, body) needs on each side of a strip, even."""
        h = 1 + 2 + 2 * (2 * self.cfg.enc.num_blocks + 1)
        return h + (h % 2)

    def net_index(self, i: int) -> int:
        return min(i, self.num_scales - 1)

    def dmll(self, level: int) -> DMLL:
        return self.dmll_rgb if level == 0 else self.dmll_z

    def level_channels(self, level: int) -> int:
        return 3 if level == 0 else self.cfg.q.C

    def level_L(self, level: int) -> int:
        return self.dmll(level).L

    # ---- symbols <-> values ----
    def symbols_to_target(self, level: int, sym: torch.Tensor) -> torch.Tensor:
        """Symbols to the values the DMLL models (0..255 for RGB/baselines, level values for z)."""
        if level == 0 or self.baseline:
            return sym.float()
        return self.nets[0].enc.q.to_value(sym)

    def symbols_to_bn(self, sym: torch.Tensor) -> torch.Tensor:
        """Symbols of a level >= 1 to the decoder input (level values for z; mean-subtracted RGB for the
        baselines), the same map at every level."""
        if self.baseline:
            return sym.float() - 255.0 * torch.tensor(RGB_MEAN).view(1, 3, 1, 1)
        return self.nets[0].enc.q.to_value(sym)

    # ---- passes ----
    def encode_level(self, i: int, x_in: torch.Tensor) -> EncOut:
        """E^(i+1) applied to the previous level's features (x_in = mean-subtracted image at i=0)."""
        j = self.net_index(i)
        return self.nets[j].enc(self.heads[j](x_in))

    def run_encoders(self, x: torch.Tensor) -> list[EncOut]:
        """All encoders fine -> coarse; ``x`` is the uint8-valued float image (N, 3, H, W)."""
        outs, inp = [], self.sub_rgb_mean(x)
        for i in range(self.num_levels):
            out = self.encode_level(i, inp)
            outs.append(out)
            inp = out.F if (self.cfg.enc.feed_F and out.F is not None) else out.bn
        return outs

    def decode_level(self, i: int, bn: torch.Tensor, fuse: torch.Tensor | None) -> torch.Tensor:
        """D^(i+1): features F^(i+1) at the resolution of level i."""
        j = self.net_index(i)
        use_fuse = fuse if (self.cfg.dec.skip and fuse is not None) else None
        return self.nets[j].dec(bn, use_fuse)

    def prob_params(self, i: int, feats: torch.Tensor) -> torch.Tensor:
        return self.prob_clfs[self.net_index(i)](feats)

    def forward(self, x: torch.Tensor, hard: bool | None = None):
        """Training/eval pass. Returns ``(nll_per_level, enc_outs)`` where ``nll_per_level[i]`` is the summed
        nats of level i (0 = RGB) predicted from F^(i+1), ``i < num_levels``."""
        encs = self.run_encoders(x)
        use_hard = (not self.training) if hard is None else hard
        bns = [e.bn_q if use_hard else e.bn for e in encs]
        nlls = [None] * self.num_levels
        fuse = None
        for i in reversed(range(self.num_levels)):
            feats = self.decode_level(i, bns[i], fuse)
            params = self.prob_params(i, feats)
            if i == 0:
                target = x
            elif self.baseline:
                target = encs[i - 1].symbols.float()
            else:
                target = bns[i - 1]
            with torch.autocast(x.device.type, enabled=False):  # the mixture likelihood in float32 under bf16
                nlls[i] = self.dmll(i).nll(target.float(), params.float()).sum()  # autocast (no-op otherwise)
            fuse = feats
        return nlls, encs

    def uniform_bits(self, encs: list[EncOut]) -> float:
        """Bits of the coarsest level under the uniform prior: C*h*w*log2(L) per image in the batch."""
        top = encs[-1].symbols
        return float(top.numel() * math.log2(self.level_L(self.num_levels)))


def num_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def bpsp_from_nlls(nlls, n_subpixels: int) -> list[float]:
    """bpsp of each level: nats / (ln 2 * number of input RGB sub-pixels) (upstream get_loss)."""
    return [float(n) / (math.log(2) * n_subpixels) for n in nlls]


def loss_from_nlls(nlls, n_subpixels: int) -> torch.Tensor:
    """The training loss: sum over levels of bpsp (L3C eq. (7); no other term)."""
    return sum(nlls) / (math.log(2) * n_subpixels)


def image_to_input(img: np.ndarray) -> torch.Tensor:
    """A uint8 ``(H, W, 3)`` image (padded by the caller to ``pad_multiple`` with
    :func:`shared_data.imageio.pad_to_multiple`, zeros split floor(p/2) / rest as upstream's ``pad.py``) as
    the network's float input ``(1, 3, H, W)`` with values 0..255."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()[None]
