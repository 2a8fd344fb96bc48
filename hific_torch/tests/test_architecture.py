"""Pins parameter counts and layer layouts of the paper-size model (survey §1.7), built on the meta device."""

import torch
from hific.config import ModelConfig
from hific.model import HiFiC
from hific.network import ChannelNorm, Conv2dSame, ConvTranspose2dSame, Discriminator
from torch.nn.utils import parametrize


def count(m):
    return sum(p.numel() for p in m.parameters())


def test_paper_size_parameter_counts():
    with torch.device("meta"):
        m = HiFiC(ModelConfig())
        d = Discriminator(ModelConfig())
    assert count(m.encoder) == 7_423_420
    assert count(m.generator) == 156_774_683
    assert count(m.hyper_analysis) == 5_754_560
    assert count(m.hyper_synthesis_mean) == count(m.hyper_synthesis_scale) == 5_754_460
    assert count(m.hyper_density) == 14_720  # 13,760 density + 960 quantiles
    assert count(m) == 181_476_303           # ~181.5 M = 726 MB fp32
    assert count(d) == 2_800_797             # ~2.8 M (TF discriminator)


def test_seven_residual_blocks():
    with torch.device("meta"):
        m9 = HiFiC(ModelConfig())
        m7 = HiFiC(ModelConfig(n_residual_blocks=7))
    per_block = 2 * (960 * 960 * 9 + 960) + 2 * 2 * 960
    assert count(m9) - count(m7) == 2 * per_block == 2 * 16_594_560


def test_discriminator_spectral_norm_everywhere_and_patch_grid():
    cfg = ModelConfig(latent_channels=8, disc_channels=(4, 8, 8, 8), disc_latent_channels=3)
    d = Discriminator(cfg)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6 and all(parametrize.is_parametrized(c, "weight") for c in convs)
    out = d(torch.rand(2, 3, 64, 96), torch.rand(2, 8, 4, 6))
    assert out.shape == (2, 1, 8, 12)  # three stride-2 convs, then two stride-1 (TF: 32x32 logits for 256)


def test_channel_norm_statistics():
    cn = ChannelNorm(16)
    x = torch.randn(2, 16, 5, 7) * 3 + 2
    y = cn(x)
    assert torch.allclose(y.mean(1), torch.zeros(2, 5, 7), atol=1e-5)
    assert torch.allclose(y.var(1, unbiased=True), torch.ones(2, 5, 7), atol=1e-3)


def test_transpose_conv_is_adjoint_of_tf_same_conv():
    """TF conv2d_transpose(SAME) is the adjoint of conv2d(SAME) with the same kernel: <Ax, y> = <x, A^T y>."""
    torch.manual_seed(0)
    for k in (3, 5):
        conv = Conv2dSame(2, 3, k, 2).double()
        tconv = ConvTranspose2dSame(3, 2, k, 2).double()
        tconv.weight.data = conv.weight.data.clone()
        conv.bias.data.zero_()
        tconv.bias.data.zero_()
        x = torch.randn(1, 2, 16, 12, dtype=torch.double)
        y = torch.randn(1, 3, 8, 6, dtype=torch.double)
        lhs = (conv(x) * y).sum()
        rhs = (x * tconv(y)).sum()
        assert torch.allclose(lhs, rhs), k


def test_stride2_same_pads_bottom_right():
    conv = Conv2dSame(1, 1, 3, 2)
    conv.weight.data.zero_()
    conv.weight.data[0, 0, 0, 0] = 1.0  # picks the top-left tap
    conv.bias.data.zero_()
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    # SAME for k3 s2 on 4 pads (0 before, 1 after): output (0,0) reads x[0,0]
    assert conv(x)[0, 0, 0, 0] == 0.0 and conv(x)[0, 0, 1, 1] == x[0, 0, 2, 2]


def test_mini_shapes_and_training_forward(mini_model):
    out = mini_model(torch.rand(1, 3, 128, 64))
    assert out.y.shape == (1, mini_model.cfg.latent_channels, 8, 4)
    assert out.x_hat.shape == (1, 3, 128, 64)
    assert out.bpp > 0 and out.q_bpp > 0
