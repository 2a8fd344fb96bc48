"""Transforms of HiFiC (Mentzer et al. 2020, Fig. 2 / Appendix A.1): encoder E, generator G, hyper-analysis
h_a, the two hyper-synthesis nets h_s (mean and scale) and the latent-conditioned patch discriminator D.

Padding follows the official TF code (Keras ``padding="same"`` with zeros: stride-2 layers pad
bottom/right), implemented by :func:`same_pad` / :class:`ConvTranspose2dSame`, instead of the PyTorch port's
reflection pads (whose stride-2 pad was applied top/right).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .config import ModelConfig


def _same_amounts(size: int, k: int, s: int) -> tuple[int, int]:
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def same_pad(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """Zero-pad ``x`` as TF ``padding="SAME"`` does for a ``k``x``k`` conv with stride ``s``."""
    top, bottom = _same_amounts(x.shape[-2], k, s)
    left, right = _same_amounts(x.shape[-1], k, s)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom))


class Conv2dSame(nn.Conv2d):
    """Conv2d with TF "SAME" zero padding (any input size, any stride)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1):
        super().__init__(cin, cout, k, stride=stride, padding=0)

    def forward(self, x):
        return super().forward(same_pad(x, self.kernel_size[0], self.stride[0]))


class Conv2dPad(nn.Conv2d):
    """Conv2d after an explicit ``F.pad`` of (left, right, top, bottom) in ``mode`` "reflect" or "constant"
    (zeros): the port's layers (``layout="port"``). Same parameters/state-dict keys as ``nn.Conv2d``."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, pad: tuple[int, int, int, int], mode: str):
        super().__init__(cin, cout, k, stride=stride, padding=0)
        self.pad, self.mode = tuple(pad), mode

    def forward(self, x):
        return super().forward(F.pad(x, self.pad, mode=self.mode))


def conv(cin: int, cout: int, k: int, stride: int, cfg: ModelConfig, port_pad=None, port_mode="reflect"):
    """A conv of the configured layout: TF SAME zeros, or the port's explicit pad (default: (k-1)/2 all
    round, reflect)."""
    if cfg.layout == "tf":
        return Conv2dSame(cin, cout, k, stride)
    return Conv2dPad(cin, cout, k, stride, port_pad if port_pad is not None else ((k - 1) // 2,) * 4, port_mode)


#: the port's stride-2 encoder pad, ReflectionPad2d((0, 1, 1, 0)): right and *top* (TF pads right/bottom)
PORT_STRIDE2_PAD = (0, 1, 1, 0)


class ConvTranspose2dSame(nn.ConvTranspose2d):
    """ConvTranspose2d aligned as TF ``conv2d_transpose(padding="SAME")``: output = stride x input, and the
    output is cropped by the amount the matching SAME conv pads before (0 for k3 s2, 1 for k5 s2).
    ``offset`` overrides that crop: the port's ``ConvTranspose2d(padding=p, output_padding=1)`` is
    ``offset=p`` with p = (k-1)/2."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 2, offset: int | None = None):
        super().__init__(cin, cout, k, stride=stride, padding=0)
        self.offset = offset

    def forward(self, x):
        y = super().forward(x)
        k, s = self.kernel_size[0], self.stride[0]
        h, w = x.shape[-2] * s, x.shape[-1] * s
        if self.offset is None:
            top, _ = _same_amounts(h, k, s)
            left, _ = _same_amounts(w, k, s)
        else:
            top = left = self.offset
        return y[..., top:top + h, left:left + w]


def conv_t(cin: int, cout: int, k: int, cfg: ModelConfig):
    return ConvTranspose2dSame(cin, cout, k, 2, offset=None if cfg.layout == "tf" else (k - 1) // 2)


class ChannelNorm(nn.Module):
    """ChannelNorm (paper Eq. 6): per pixel, normalise over channels with the unbiased variance,
    ``(x - mu) / sqrt(var + eps)``, then a per-channel affine (gamma=1, beta=0 at init)."""

    def __init__(self, channels: int, eps: float = 1e-3):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        mu = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True, unbiased=True)
        return (x - mu) * torch.rsqrt(var + self.eps) * self.gamma + self.beta


def norm_layer(channels: int, cfg: ModelConfig) -> nn.Module:
    if cfg.use_channel_norm:
        return ChannelNorm(channels)
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


class Encoder(nn.Module):
    """E: conv7x7 60 -> 4 x [conv3x3 s2 (120, 240, 480, 960)] each + norm + ReLU -> conv3x3 C (no act)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        ch = cfg.encoder_channels
        layers: list[nn.Module] = [conv(3, ch[0], 7, 1, cfg), norm_layer(ch[0], cfg), nn.ReLU()]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [conv(cin, cout, 3, 2, cfg, PORT_STRIDE2_PAD), norm_layer(cout, cfg), nn.ReLU()]
        layers.append(conv(ch[-1], cfg.latent_channels, 3, 1, cfg))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class ResidualBlock(nn.Module):
    """conv3x3 -> norm -> ReLU -> conv3x3 -> norm, plus identity."""

    def __init__(self, channels: int, cfg: ModelConfig):
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels, 3, 1, cfg), norm_layer(channels, cfg), nn.ReLU(),
                                  conv(channels, channels, 3, 1, cfg), norm_layer(channels, cfg))

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    """G: norm -> conv3x3 960 -> norm; ``n_residual_blocks`` residual blocks with a global skip; 4 x
    [convT3x3 s2 + norm + ReLU]; conv7x7 -> 3. No output activation in training (clamped at eval)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        ch = cfg.generator_channels
        self.head = nn.Sequential(norm_layer(cfg.latent_channels, cfg), conv(cfg.latent_channels, ch[0], 3, 1, cfg),
                                  norm_layer(ch[0], cfg))
        self.resblocks = nn.Sequential(*[ResidualBlock(ch[0], cfg) for _ in range(cfg.n_residual_blocks)])
        up: list[nn.Module] = []
        for cin, cout in zip(ch[:-1], ch[1:]):
            up += [conv_t(cin, cout, 3, cfg), norm_layer(cout, cfg), nn.ReLU()]
        self.upsample = nn.Sequential(*up)
        self.out = conv(ch[-1], 3, 7, 1, cfg)
        self.tanh = cfg.normalize_input_image

    def forward(self, y_hat):
        h = self.head(y_hat)
        h = self.resblocks(h) + h
        x = self.out(self.upsample(h))
        return torch.tanh(x) if self.tanh else x


class HyperAnalysis(nn.Module):
    """h_a: conv3x3 N ReLU -> conv5x5 s2 N ReLU -> conv5x5 s2 N."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c, n = cfg.latent_channels, cfg.hyper_channels
        self.net = nn.Sequential(conv(c, n, 3, 1, cfg, port_mode="constant"), nn.ReLU(), conv(n, n, 5, 2, cfg),
                                 nn.ReLU(), conv(n, n, 5, 2, cfg))

    def forward(self, y):
        return self.net(y)


class HyperSynthesis(nn.Module):
    """One h_s branch (mean or scale): convT5x5 s2 N ReLU -> convT5x5 s2 N ReLU -> conv3x3 -> ``out`` (C).
    (The port's last layer is a stride-1 ConvTranspose2d(3, padding=1): the same map as this zero-padded
    conv with the kernel transposed and flipped, which is how its weights are imported.)"""

    def __init__(self, cfg: ModelConfig, out_channels: int | None = None):
        super().__init__()
        c, n = out_channels or cfg.latent_channels, cfg.hyper_channels
        self.net = nn.Sequential(conv_t(n, n, 5, cfg), nn.ReLU(), conv_t(n, n, 5, cfg),
                                 nn.ReLU(), conv(n, c, 3, 1, cfg, port_mode="constant"))

    def forward(self, z_hat):
        return self.net(z_hat)


class Discriminator(nn.Module):
    """Latent-conditioned patch discriminator D(x, y_hat) (TF ``_PatchDiscriminatorCompareGANImpl``).

    y_hat (stop-gradient) -> SN conv3x3 -> 12 -> LeakyReLU(0.2) -> nearest resize to the image size, concat
    with RGB -> SN conv4x4 s2 64, 128, 256, s1 512 (LeakyReLU 0.2 each) -> SN conv4x4 s1 -> 1 logit per patch.
    Spectral norm on every layer, zero "SAME" padding. Returns logits (B, 1, H/8, W/8).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.disc_channels
        self.latent_conv = spectral_norm(Conv2dSame(cfg.latent_channels, cfg.disc_latent_channels, 3, 1))
        strides = [2] * (len(d) - 1) + [1]
        cins = [3 + cfg.disc_latent_channels] + list(d[:-1])
        self.convs = nn.ModuleList(spectral_norm(Conv2dSame(ci, co, 4, s)) for ci, co, s in zip(cins, d, strides))
        self.logits = spectral_norm(Conv2dSame(d[-1], 1, 4, 1))

    def forward(self, x, y_hat):
        lat = F.leaky_relu(self.latent_conv(y_hat.detach()), 0.2)
        lat = F.interpolate(lat, size=x.shape[-2:], mode="nearest")
        h = torch.cat([x, lat], dim=1)
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
        return self.logits(h)


class PortDiscriminator(nn.Module):
    """The PyTorch port's D (``src/network/discriminator.py``), selected by ``ModelConfig.discriminator="port"``
    for parity with it; not the paper's / TF's D (:class:`Discriminator`, the default).

    y_hat (stop-gradient) -> conv3x3 (reflect pad, no SN) -> 12 -> LeakyReLU(0.2) -> nearest upsampling x16,
    concat with RGB -> 4 x [legacy ``torch.nn.utils.spectral_norm`` conv4x4 s2, reflect pad 1, LeakyReLU 0.2]
    (64, 128, 256, 512) -> conv1x1 -> 1 (no SN). Returns logits (B, 1, H/16, W/16); H, W multiples of 16.
    Module names and state-dict keys (``weight_orig/_u/_v``) are the port's, so its weights load as they are.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.disc_channels
        if len(d) != 4:
            raise ValueError(f"the port's discriminator has 4 strided convs, got disc_channels={d}")
        self.context_conv = nn.Conv2d(cfg.latent_channels, cfg.disc_latent_channels, 3, padding=1,
                                      padding_mode="reflect")
        cins = [3 + cfg.disc_latent_channels, *d[:-1]]
        for i, (ci, co) in enumerate(zip(cins, d), start=1):
            setattr(self, f"conv{i}", torch.nn.utils.spectral_norm(
                nn.Conv2d(ci, co, 4, stride=2, padding=1, padding_mode="reflect")))
        self.conv_out = nn.Conv2d(d[-1], 1, 1)

    def forward(self, x, y_hat):
        if x.shape[-2] != 16 * y_hat.shape[-2] or x.shape[-1] != 16 * y_hat.shape[-1]:
            raise ValueError(f"the port's discriminator needs an image 16x the latent size, got {tuple(x.shape)} "
                             f"and {tuple(y_hat.shape)}")
        lat = F.leaky_relu(self.context_conv(y_hat.detach()), 0.2)
        lat = F.interpolate(lat, scale_factor=16, mode="nearest")
        h = torch.cat([x, lat], dim=1)
        for i in range(1, 5):
            h = F.leaky_relu(getattr(self, f"conv{i}")(h), 0.2)
        return self.conv_out(h)


def make_discriminator(cfg: ModelConfig) -> nn.Module:
    """D of the configuration: the official TF one (default) or the port's (``discriminator="port"``)."""
    return PortDiscriminator(cfg) if cfg.discriminator == "port" else Discriminator(cfg)
