"""Entropy models, schedules (official direction) and LPIPS wrapper."""

import math

import pytest
import torch
from hific.config import REGIMES, TrainConfig
from hific.entropy import (
    SCALE_BOUND,
    FactorizedDensity,
    MeanScaleConditional,
    lower_bound,
    scale_indexes,
    scale_table,
)
from hific.losses import rate_weight


def test_lower_bound_gradient_rule():
    x = torch.tensor([0.05, 0.05, 0.5], requires_grad=True)
    y = lower_bound(x, SCALE_BOUND)
    assert torch.allclose(y, torch.tensor([0.11, 0.11, 0.5]))
    y.backward(torch.tensor([1.0, -1.0, 1.0]))  # dL/dy > 0 would push x down: blocked below the bound
    assert x.grad.tolist() == [0.0, -1.0, 1.0]


@pytest.mark.parametrize("kind", ["gaussian", "logistic"])
def test_conditional_likelihood_sums_to_one_and_tables(kind):
    cnd = MeanScaleConditional(kind)
    k = torch.arange(-3000, 3001, dtype=torch.float32)
    for s in (0.05, 0.7, 13.0):
        p = cnd.likelihood(k + 0.3, torch.tensor(0.3), torch.tensor(s))
        assert abs(float(p.sum()) - 1) < 1e-3
    cnd.update()
    for i, r in enumerate(cnd.radii):
        assert abs(float(cnd.pmfs[i, : 2 * r + 2].sum()) - 1) < 1e-5
        assert float(cnd.pmfs[i, 2 * r + 1]) <= 2 ** -8 + 1e-6  # escape mass = the tails


def test_scale_table_and_indexes():
    t = scale_table()
    assert len(t) == 64 and math.isclose(t[0], 0.11) and math.isclose(t[-1], 256.0, rel_tol=1e-9)
    idx = scale_indexes(torch.tensor([0.01, 0.11, 256.0, 1e6]) )
    assert idx.tolist() == [0, 0, 63, 63]
    assert torch.equal(scale_indexes(t.float()), torch.arange(64))


def test_factorized_density_quantiles_learn_the_median():
    torch.manual_seed(0)
    d = FactorizedDensity(2)
    opt = torch.optim.Adam(d.parameters(), 1e-2)
    data = torch.randn(256, 2, 1, 1) * torch.tensor([1.0, 3.0]).reshape(1, 2, 1, 1) + 2.0
    for _ in range(300):
        z = data + torch.rand_like(data) - 0.5
        loss = -torch.log2(d.likelihood(z)).mean() + d.aux_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.allclose(d.medians, torch.tensor([2.0, 2.0]), atol=0.6)
    d.update()
    for c in range(2):
        assert abs(float(d.pmfs[c, : d.lengths[c] + 1].sum()) - 1) < 1e-3


def test_schedule_follows_official_direction():
    cfg = TrainConfig(regime="low")
    early, late = cfg.scheduled(0), cfg.scheduled(50_000)
    assert early["lambda_A"] == 0.5 * late["lambda_A"] == 0.5 * 2.0  # rate weight halved early (TF, NC)
    assert math.isclose(early["target_rate"], 0.20) and late["target_rate"] == 0.14
    assert cfg.scheduled(499_999)["lr"] == 1e-4 and math.isclose(cfg.scheduled(500_000)["lr"], 1e-5)
    assert {r: v for r, v in REGIMES.items()} == {"low": (2.0, 0.14), "med": (1.0, 0.30), "high": (0.5, 0.45)}
    assert rate_weight(0.5, late) == 2.0 and rate_weight(0.1, late) == 2 ** -4


def test_lpips_wrapper_random_backbone_and_missing_weights(tmp_path, monkeypatch):
    from hific.perceptual import LPIPS, LPIPSWeightsMissing

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("HIFIC_ALEXNET_WEIGHTS", raising=False)
    with pytest.raises(LPIPSWeightsMissing, match="alexnet-owt-7be5be79.pth"):
        LPIPS()
    f = LPIPS(pnet_rand=True)
    x = torch.rand(2, 3, 64, 64)
    assert torch.allclose(f(x, x), torch.zeros(2), atol=1e-6)
    assert (f(x, torch.rand(2, 3, 64, 64)) > 0).all()
    assert not any(p.requires_grad for p in f.parameters())
    f.train()
    assert not f.net.training
