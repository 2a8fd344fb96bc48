"""Architecture, config, quantizer and DMLL pinned against the survey (docs/reference/l3c.md; configs/ms/cr.cf)."""
import math

import pytest
import torch
from conftest import ROOT, make_net
from l3c.config import ConfigError, apply_overrides, load_config, parse_cf
from l3c.dmll import DMLL
from l3c.network import loss_from_nlls, num_params
from l3c.quantizer import Quantizer
from l3c.train_loop import lr_at


def test_cr_config_values():
    c = load_config(ROOT / "configs/ms/cr.cf")
    assert (c.num_scales, c.Cf, c.kernel_size, c.q.C, c.q.L, c.q.sigma, c.prob.K) == (3, 64, 3, 5, 25, 2, 10)
    assert c.q.levels_range == (-1, 1) and c.lr.initial == 1e-4 and c.lr.schedule == "exp_0.75_e5"
    assert c.enc.num_blocks == 8 and c.dec.num_blocks == 8 and c.enc.feed_F and c.dec.skip
    s = load_config(ROOT / "configs/ms/cr_rgb_shared.cf")
    assert (s.num_scales, s.q.C, s.rgb_bicubic_baseline, s.enc.feed_F, s.dec.skip) == (1, 3, True, False, False)
    r = load_config(ROOT / "configs/ms/cr_rgb.cf")
    assert (r.num_scales, r.dec.skip, r.q.C) == (3, True, 3)


def test_overrides_and_unknown_keys():
    ms, dl = parse_cf(ROOT / "configs/ms/cr.cf"), parse_cf(ROOT / "configs/dl/oi.cf")
    applied = apply_overrides(ms, ["lr.schedule=exp_0.75_e1", "crop_size=64"], dl)
    assert ms["lr.schedule"] == "exp_0.75_e1" and dl["crop_size"] == 64 and len(applied) == 2
    with pytest.raises(ValueError, match="Unused params"):
        apply_overrides(ms, ["upsampling=deconv"], dl)
    with pytest.raises(ConfigError):
        apply_overrides(ms, ["novalue"])


@pytest.mark.parametrize("cf,expected", [("cr", 5_008_470), ("cr_rgb", 2_729_076), ("cr_rgb_shared", 909_700),
                                         ("cr_mini", 609_846)])
def test_parameter_counts(cf, expected):
    net, _ = make_net(cf)
    assert num_params(net) == expected


def test_layer_shapes_cr():
    net, _ = make_net("cr")
    sd = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert sd["sub_rgb_mean.weight"] == (3, 3, 1, 1)
    assert sd["heads.0.head.0.weight"] == (3, 3, 1, 1)          # MeanShift /128
    assert sd["heads.0.head.1.head.weight"] == (64, 3, 3, 3)         # conv3x3 3->64
    assert sd["heads.1.head.weight"] == (64, 64, 3, 3)
    assert sd["nets.0.enc.down.weight"] == (64, 64, 5, 5)
    assert sd["nets.0.enc.body.7.body.2.weight"] == (64, 64, 3, 3)  # 8th ResBlock's second conv
    assert sd["nets.0.enc.body.8.weight"] == (64, 64, 3, 3)         # conv after the blocks
    assert sd["nets.2.enc.to_q.0.weight"] == (5, 64, 1, 1)
    assert sd["nets.1.enc.levels"] == (25,) and sd["nets.1.enc.q.levels"] == (25,)  # twice, as upstream
    assert sd["nets.0.dec.head.weight"] == (64, 5, 1, 1)
    assert sd["nets.2.dec.tail.0.weight"] == (256, 64, 3, 3)        # Upsampler conv before PixelShuffle(2)
    assert sd["prob_clfs.0.atrous.atrous.2.weight"] == (64, 64, 3, 3)
    assert net.prob_clfs[0].atrous.atrous[2].dilation == (4, 4)
    assert sd["prob_clfs.0.atrous.lin.weight"] == (120, 192, 1, 1)  # Kp = 4*3*K
    assert sd["prob_clfs.1.atrous.lin.weight"] == (150, 192, 1, 1)  # Kp = 3*5*K
    assert len(net.prob_clfs) == 3 and len(net.nets) == 3 and len(net.heads) == 3


def test_forward_shapes_and_loss():
    net, _ = make_net("cr_mini")
    x = torch.randint(0, 256, (2, 3, 32, 48)).float()
    net.train()
    nlls, encs = net(x)
    assert [tuple(e.symbols.shape) for e in encs] == [(2, 5, 16, 24), (2, 5, 8, 12), (2, 5, 4, 6)]
    assert all(int(e.symbols.max()) < 25 for e in encs)
    loss = loss_from_nlls(nlls, x.numel())
    loss.backward()
    # the encoder gets gradients (straight-through quantizer)
    assert net.nets[0].enc.down.weight.grad.abs().sum() > 0
    assert net.nets[0].enc.levels.grad is None
    assert abs(net.uniform_bits(encs) - 2 * 5 * 4 * 6 * math.log2(25)) < 1e-6


def test_quantizer_levels_and_straight_through():
    q = Quantizer(Quantizer.make_levels(25, (-1, 1)), 2).train()
    x = torch.tensor([-3.0, -0.04, 0.05, 0.99], requires_grad=True)
    st, hard, sym = q(x)
    assert sym.tolist() == [0, 12, 13, 24]
    assert torch.allclose(st, hard) and torch.allclose(hard, q.levels[sym])
    st.sum().backward()
    assert x.grad is not None and (x.grad != 0).any()


@pytest.mark.parametrize("rgb", [True, False])
def test_dmll_pmf_matches_nll(rgb):
    """The coder's pmf and the training loss are the same distribution (to float precision)."""
    torch.manual_seed(0)
    K, C, H, W = 10, (3 if rgb else 5), 3, 4
    d = DMLL.for_rgb(K) if rgb else DMLL.for_bottleneck(K, 25)
    params = torch.randn(1, d.num_params(C), H, W)
    params[:, C * K:2 * C * K] = params[:, C * K:2 * C * K] * (40 if rgb else 0.3) + (128 if rgb else 0)
    sym = torch.randint(0, d.L, (1, C, H, W))
    sym[0, :, 0, 0] = 0          # lowest bin (mass from -inf)
    sym[0, :, 0, 1] = d.L - 1    # highest bin (mass to +inf)
    x = sym.float() if rgb else (-1 + sym.float() * d.bin)
    nll = d.nll(x, params)
    pi, mu, ls, co = d.split(params, C)
    if rgb:
        mu = d.couple(mu, co, x)
    for c in range(C):
        pmf = d.pmf(pi[0, c].reshape(K, -1).t(), mu[0, c].reshape(K, -1).t(), ls[0, c].reshape(K, -1).t())
        assert torch.allclose(pmf.sum(1), torch.ones(H * W), atol=1e-5)
        p = pmf[torch.arange(H * W), sym[0, c].reshape(-1)]
        ref = torch.exp(-nll[0, c].reshape(-1))
        assert torch.allclose(p, ref, rtol=2e-3, atol=1e-6), (c, p, ref)


def test_dmll_coupling_uses_sigmoid():
    d = DMLL.for_rgb(1)
    mu = torch.zeros(1, 3, 1, 1, 1)
    coeffs = torch.sigmoid(torch.zeros(1, 3, 1, 1, 1))  # 0.5
    x = torch.tensor([100.0, 50.0, 0.0]).view(1, 3, 1, 1)
    out = d.couple(mu, coeffs, x)
    assert out.flatten().tolist() == [0.0, 50.0, 75.0]


def test_lr_schedule():
    assert lr_at("exp_0.75_e5", 1e-4, 0, 100) == 1e-4
    assert lr_at("exp_0.75_e5", 1e-4, 499, 100) == 1e-4
    assert abs(lr_at("exp_0.75_e5", 1e-4, 500, 100) - 0.75e-4) < 1e-12
    assert abs(lr_at("exp_0.75_i10", 1.0, 25, 999) - 0.75 ** 2) < 1e-12
    # fractional epochs, as upstream: int(0.5 * 100) = 50 iterations
    assert abs(lr_at("exp_0.5_e0.5", 1.0, 120, 100) - 0.25) < 1e-12
    # warm restart at W=20 iterations into exp_0.5_i5: before it exp_0.75_i10, after it 0.5 every 5 from W
    sch = "exp_0.75_i10_warm_20_0.5_i5"
    assert abs(lr_at(sch, 1.0, 19, 1) - 0.75) < 1e-12
    assert lr_at(sch, 1.0, 20, 1) == 1.0
    assert abs(lr_at(sch, 1.0, 31, 1) - 0.25) < 1e-12
    # warm start in epochs when the main interval is in epochs
    assert lr_at("exp_0.75_e1_warm_2_0.5_e1", 1.0, 200, 100) == 1.0
    # cosine: LRMAX at 0, LRMAX/2 + LRMIN/2-ish quarter wave, restart every T
    assert lr_at("cos_1e-3_1e-5_i100", 1e-4, 0, 1) == 1e-3
    assert abs(lr_at("cos_1e-3_1e-5_i100", 1e-4, 50, 1) - (1e-5 + (1e-3 - 1e-5) * 0.7071067811865476)) < 1e-12
    assert lr_at("cos_1e-3_1e-5_i100", 1e-4, 100, 1) == 1e-3
    assert lr_at("none", 3e-4, 10 ** 6, 1) == 3e-4
    for bad in ("cos_1e-6_10", "exp_0.75", "exp_0.75_x5", "step_0.1_i5", "exp_a_i5"):
        with pytest.raises(ValueError):
            lr_at(bad, 1e-4, 0, 1)


def test_import_upstream_layout_checkpoint(tmp_path):
    """A checkpoint written in upstream's layout ({'net', 'optim'}, upstream key names) imports strictly."""
    import torch
    from l3c.import_original import import_checkpoint
    from l3c.model_io import ModelError, load_model

    net, _ = make_net("cr_mini", seed=3)
    sd = net.state_dict()
    upstream_keys = {"sub_rgb_mean.weight", "heads.0.head.0.weight", "heads.0.head.1.head.weight",
                     "heads.1.head.weight", "nets.0.enc.down.weight", "nets.0.enc.levels", "nets.0.enc.q.levels",
                     "nets.2.dec.tail.0.weight", "prob_clfs.1.atrous.atrous.0.weight", "prob_clfs.0.atrous.lin.bias"}
    assert upstream_keys <= set(sd)
    ck = tmp_path / "0306_0001 cr oi" / "ckpts" / "ckpt_0000123456.pt"
    ck.parent.mkdir(parents=True)
    torch.save({"net": sd, "optim": {"state": {}, "param_groups": []}}, ck)
    out = import_checkpoint(ck, ROOT / "configs/ms/cr_mini.cf", tmp_path / "imported")
    net2, fp2, itr = load_model(tmp_path / "imported")
    assert itr == 123456
    assert all(torch.equal(v, net2.state_dict()[k]) for k, v in sd.items())
    bad = {k: v for k, v in sd.items() if not k.startswith("prob_clfs.2")}
    torch.save({"net": bad}, ck)
    with pytest.raises(ModelError, match="does not match"):
        import_checkpoint(ck, ROOT / "configs/ms/cr_mini.cf", tmp_path / "imported2")
    assert out.exists()


def test_sampling_writes_upstream_names(tmp_path):
    from conftest import smooth_image
    from l3c.sampling import sample_image

    net, _ = make_net("cr_mini")
    paths = sample_image(net, smooth_image(16, 24), tmp_path, "img", 0)
    tags = [p.stem.split("_")[-1] for p in paths]
    assert tags == ["gt", "rgb", "rgb+bn0", "rgb+bn0+bn1"]
    kept = [float(p.stem.split("_")[-2]) for p in paths]
    assert kept == sorted(kept, reverse=True) and abs(kept[-1] - 5 * 2 * 3 * math.log2(25) / (3 * 16 * 24)) < 1e-3
    from shared_data.imageio import read_image
    assert read_image(paths[0]).shape == (16, 24, 3)
