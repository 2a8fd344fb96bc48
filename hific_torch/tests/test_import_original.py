"""Import of the PyTorch port's checkpoints (HIFIC-low/med/high layout), loaded with weights_only=True.

The test writes a small checkpoint in the port's layout (its key names and tensor layouts, survey §1 and
the port's save_model dict), imports it, and checks every transform against an independent functional
forward of the port's architecture written here from the survey (reflection pads, stride-2 pad right/top,
ConvTranspose2d(padding, output_padding=1), ChannelNorm, the gated last density layer).
"""

import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hific.checkpoints import load_checkpoint
from hific.codec import decode_image, encode_image
from hific.import_original import import_port_checkpoint
from hific.import_original import main as import_main

from shared_data import container as ctr
from shared_data.errors import ModelError

ENC, C, N, GEN, NRB = (4, 6, 8, 10, 12), 8, 6, (12, 10, 8, 6, 4), 2


def _conv(sd, key, cin, cout, k, g):
    sd[f"{key}.weight"] = torch.randn(cout, cin, k, k, generator=g) / math.sqrt(cin * k * k)
    sd[f"{key}.bias"] = torch.randn(cout, generator=g) * 0.1


def _convT(sd, key, cin, cout, k, g):
    sd[f"{key}.weight"] = torch.randn(cin, cout, k, k, generator=g) / math.sqrt(cin * k * k / 4)
    sd[f"{key}.bias"] = torch.randn(cout, generator=g) * 0.1


def _norm(sd, key, c, g):
    sd[f"{key}.gamma"] = 1 + 0.1 * torch.randn(1, c, 1, 1, generator=g)
    sd[f"{key}.beta"] = 0.1 * torch.randn(1, c, 1, 1, generator=g)


def port_state_dict(seed=0, lmm=False, k_mix=4):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    cin = 3
    for i, co in enumerate(ENC, 1):
        _conv(sd, f"Encoder.conv_block{i}.1", cin, co, 7 if i == 1 else 3, g)
        _norm(sd, f"Encoder.conv_block{i}.2", co, g)
        cin = co
    _conv(sd, "Encoder.conv_block_out.1", ENC[-1], C, 3, g)
    _norm(sd, "Generator.conv_block_init.0", C, g)
    _conv(sd, "Generator.conv_block_init.2", C, GEN[0], 3, g)
    _norm(sd, "Generator.conv_block_init.3", GEN[0], g)
    for r in range(NRB):
        for j in (1, 2):
            _conv(sd, f"Generator.resblock_{r}.conv{j}", GEN[0], GEN[0], 3, g)
            _norm(sd, f"Generator.resblock_{r}.norm{j}", GEN[0], g)
    for i in range(1, 5):
        _convT(sd, f"Generator.upconv_block{i}.0", GEN[i - 1], GEN[i], 3, g)
        _norm(sd, f"Generator.upconv_block{i}.1", GEN[i], g)
    _conv(sd, "Generator.conv_block_out.1", GEN[-1], 3, 7, g)
    _conv(sd, "Hyperprior.analysis_net.conv1", C, N, 3, g)
    _conv(sd, "Hyperprior.analysis_net.conv2", N, N, 5, g)
    _conv(sd, "Hyperprior.analysis_net.conv3", N, N, 5, g)
    for br in (("synthesis_DLMM_params",) if lmm else ("synthesis_mu", "synthesis_std")):
        _convT(sd, f"Hyperprior.{br}.conv1", N, N, 5, g)
        _convT(sd, f"Hyperprior.{br}.conv2", N, N, 5, g)
        _convT(sd, f"Hyperprior.{br}.conv3", N, C, 3, g)
    if lmm:
        _conv(sd, "Hyperprior.synthesis_DLMM_params.conv_out", C, 3 * C * k_mix, 1, g)
    dims = (1, 3, 3, 3, 1)
    for k in range(4):
        sd[f"Hyperprior.hyperlatent_likelihood.H_{k}"] = 0.3 * torch.randn(N, dims[k + 1], dims[k], generator=g)
        sd[f"Hyperprior.hyperlatent_likelihood.a_{k}"] = 0.3 * torch.randn(N, dims[k + 1], 1, generator=g)
        sd[f"Hyperprior.hyperlatent_likelihood.b_{k}"] = 0.3 * torch.randn(N, dims[k + 1], 1, generator=g)
    # the port's D (not imported) and its legacy spectral-norm keys
    sd["Discriminator.conv1.weight_orig"] = torch.randn(64, 15, 4, 4, generator=g)
    sd["Discriminator.conv1.weight_u"] = torch.randn(64, generator=g)
    return sd


def write_port_checkpoint(path, sd, **args):
    torch.save({"model_state_dict": sd, "compression_optimizer_state_dict": {"state": {}, "param_groups": []},
                "hyperprior_optimizer_state_dict": {"state": {}, "param_groups": []}, "epoch": 3, "steps": 200000,
                "args": {"regime": "low", "likelihood_type": "gaussian", "normalize_input_image": False,
                         "n_residual_blocks": NRB, "latent_channels": C, "image_dims": (3, 256, 256), **args},
                "discriminator_state_dict": {"conv1.weight_orig": sd["Discriminator.conv1.weight_orig"]}}, path)


# ---- the port's forward, written from the survey (independent of hific.network) -------------------------
def cn(x, sd, key):
    mu, var = x.mean(1, keepdim=True), x.var(1, keepdim=True, unbiased=True)
    return (x - mu) * torch.rsqrt(var + 1e-3) * sd[f"{key}.gamma"] + sd[f"{key}.beta"]


def conv(x, sd, key, pad, mode="reflect", stride=1):
    return F.conv2d(F.pad(x, pad, mode=mode), sd[f"{key}.weight"], sd[f"{key}.bias"], stride=stride)


def conv_t(x, sd, key, k, stride):
    p = (k - 1) // 2
    return F.conv_transpose2d(x, sd[f"{key}.weight"], sd[f"{key}.bias"], stride=stride, padding=p,
                              output_padding=stride - 1)


def port_encoder(x, sd):
    h = F.relu(cn(conv(x, sd, "Encoder.conv_block1.1", (3, 3, 3, 3)), sd, "Encoder.conv_block1.2"))
    for i in range(2, 6):  # ReflectionPad2d((0, 1, 1, 0)): right and top
        h = F.relu(cn(conv(h, sd, f"Encoder.conv_block{i}.1", (0, 1, 1, 0), stride=2), sd, f"Encoder.conv_block{i}.2"))
    return conv(h, sd, "Encoder.conv_block_out.1", (1, 1, 1, 1))


def port_generator(y, sd):
    head = cn(conv(cn(y, sd, "Generator.conv_block_init.0"), sd, "Generator.conv_block_init.2", (1, 1, 1, 1)),
              sd, "Generator.conv_block_init.3")
    h = head
    for r in range(NRB):
        t = F.relu(cn(conv(h, sd, f"Generator.resblock_{r}.conv1", (1, 1, 1, 1)), sd, f"Generator.resblock_{r}.norm1"))
        h = h + cn(conv(t, sd, f"Generator.resblock_{r}.conv2", (1, 1, 1, 1)), sd, f"Generator.resblock_{r}.norm2")
    h = h + head
    for i in range(1, 5):
        h = F.relu(cn(conv_t(h, sd, f"Generator.upconv_block{i}.0", 3, 2), sd, f"Generator.upconv_block{i}.1"))
    return conv(h, sd, "Generator.conv_block_out.1", (3, 3, 3, 3))


def port_hyper_analysis(y, sd):
    h = F.relu(conv(y, sd, "Hyperprior.analysis_net.conv1", (1, 1, 1, 1), mode="constant"))
    h = F.relu(conv(h, sd, "Hyperprior.analysis_net.conv2", (2, 2, 2, 2), stride=2))
    return conv(h, sd, "Hyperprior.analysis_net.conv3", (2, 2, 2, 2), stride=2)


def port_hyper_synthesis(z, sd, br):
    h = F.relu(conv_t(z, sd, f"Hyperprior.{br}.conv1", 5, 2))
    h = F.relu(conv_t(h, sd, f"Hyperprior.{br}.conv2", 5, 2))
    return conv_t(h, sd, f"Hyperprior.{br}.conv3", 3, 1)


def port_density_likelihood(z, sd):
    b, c, h, w = z.shape
    v = z.permute(1, 0, 2, 3).reshape(c, 1, -1)

    def logits(x):
        for k in range(4):
            p = "Hyperprior.hyperlatent_likelihood."
            x = torch.bmm(F.softplus(sd[f"{p}H_{k}"]), x) + sd[f"{p}b_{k}"]
            x = x + torch.tanh(sd[f"{p}a_{k}"]) * torch.tanh(x)
        return x
    lik = torch.sigmoid(logits(v + 0.5)) - torch.sigmoid(logits(v - 0.5))
    return lik.reshape(c, b, h, w).permute(1, 0, 2, 3)


# ---- tests --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    path = tmp_path_factory.mktemp("port") / "hific_low.pt"
    sd = port_state_dict()
    write_port_checkpoint(path, sd)
    model, info = import_port_checkpoint(path)
    return sd, model, info, path


def test_config_inferred_from_shapes(imported):
    sd, model, info, _ = imported
    cfg = model.cfg
    assert (cfg.encoder_channels, cfg.latent_channels, cfg.hyper_channels) == (ENC, C, N)
    assert (cfg.generator_channels, cfg.n_residual_blocks, cfg.layout) == (GEN, NRB, "port")
    assert cfg.use_channel_norm and cfg.name == "port-low" and info["steps"] == 200000


@pytest.mark.parametrize("h,w", [(128, 128), (128, 192)])
def test_imported_transforms_equal_the_ports(imported, h, w):
    sd, model, _, _ = imported
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h + w))
    with torch.no_grad():
        y = model.encoder(x)
        assert torch.allclose(y, port_encoder(x, sd), atol=1e-5)
        assert torch.allclose(model.generator(y), port_generator(y, sd), atol=1e-4)
        z = model.hyper_analysis(y)
        assert torch.allclose(z, port_hyper_analysis(y, sd), atol=1e-5)
        zq = torch.round(z)
        assert torch.allclose(model.hyper_synthesis_mean(zq), port_hyper_synthesis(zq, sd, "synthesis_mu"), atol=1e-5)
        assert torch.allclose(model.hyper_synthesis_scale(zq), port_hyper_synthesis(zq, sd, "synthesis_std"),
                              atol=1e-5)
        assert torch.allclose(model.hyper_density.likelihood(zq), port_density_likelihood(zq, sd).clamp_min(1e-9),
                              atol=1e-6)


def test_imported_quantiles_and_codec_round_trip(imported, tmp_path):
    _, model, _, path = imported
    d = model.hyper_density
    logits = d.logits_cdf(d.quantiles, stop_gradient=True)
    t = math.log(2 / 2 ** -8 - 1)
    assert torch.allclose(logits[:, 0], torch.tensor([-t, 0.0, t]).expand(N, 3), atol=1e-3)
    img = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    cont, enc = encode_image(model, img)
    rec, dec = decode_image(model, ctr.unpack(ctr.pack(cont), codec="hific", model_fingerprint=model.fingerprint()))
    assert rec.shape == img.shape and torch.equal(enc["y_sym"], dec["y_sym"])
    # CLI: writes a regular hific_torch checkpoint that loads with tables and the same fingerprint
    out = tmp_path / "imported.pt"
    assert import_main([str(path), str(out)]) == 0
    m2, ck = load_checkpoint(out)
    assert m2.fingerprint() == model.fingerprint() and ck["model_type"] == "imported_port"
    # the port's layout (reflection pads, its transposed-conv alignment) integerizes too: a portable file
    from hific.portable import LAYOUT_PORTABLE, integerize
    m2.portable = integerize(m2)
    cont, enc = encode_image(m2, img)
    rec2, dec = decode_image(m2, ctr.unpack(ctr.pack(cont)))
    assert enc["layout"] == LAYOUT_PORTABLE and torch.equal(enc["y_sym"], dec["y_sym"])
    assert np.abs(rec2.astype(int) - rec.astype(int)).mean() < 2


def test_lmm_layout_imports(tmp_path):
    path = tmp_path / "lmm.pt"
    sd = port_state_dict(seed=3, lmm=True)
    write_port_checkpoint(path, sd, likelihood_type="logistic", use_latent_mixture_model=True)
    model, _ = import_port_checkpoint(path)
    assert model.cfg.use_latent_mixture_model and model.cfg.mixture_components == 4
    z = torch.round(torch.randn(1, N, 1, 2) * 3)
    with torch.no_grad():
        ours = model.mixture_head(model.hyper_synthesis_mixture(z))
        ref = F.conv2d(port_hyper_synthesis(z, sd, "synthesis_DLMM_params"),
                       sd["Hyperprior.synthesis_DLMM_params.conv_out.weight"],
                       sd["Hyperprior.synthesis_DLMM_params.conv_out.bias"])
    assert torch.allclose(ours, ref, atol=1e-5)
    img = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    cont, enc = encode_image(model, img)
    _, dec = decode_image(model, cont)
    assert torch.equal(enc["y_sym"], dec["y_sym"])


class NotATensor:  # pickled into a checkpoint: weights_only loading must refuse it, never run it
    def __reduce__(self):
        return (print, ("this must never run",))


def test_wrong_or_unknown_layouts_are_clear_errors(tmp_path, imported):
    sd = port_state_dict()
    cases = {
        "missing.pt": ({"model_state_dict": {k: v for k, v in sd.items() if not k.startswith("Generator.conv_block_out")},
                        "args": {}}, "missing port keys"),
        "unknown.pt": ({"weights": {"a": torch.zeros(1)}}, "unknown checkpoint layout"),
        "extra.pt": ({"model_state_dict": {**sd, "Hyperprior.extra_net.weight": torch.zeros(1)}}, "unexpected port keys"),
        "shape.pt": ({"model_state_dict": {**sd, "Generator.conv_block_out.1.bias": torch.zeros(4)}}, "shape"),
        "noise.pt": ({"model_state_dict": sd, "args": {"sample_noise": True}}, "sample_noise"),
    }
    for name, (obj, msg) in cases.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(ModelError, match=msg):
            import_port_checkpoint(tmp_path / name)
    (tmp_path / "evil.pt").write_bytes(b"")
    torch.save({"model_state_dict": sd, "args": {"x": NotATensor()}}, tmp_path / "evil.pt", pickle_module=pickle)
    with pytest.raises(ModelError, match="weights_only"):
        import_port_checkpoint(tmp_path / "evil.pt")
    data = imported[3].read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="not a readable torch checkpoint"):
        import_port_checkpoint(tmp_path / "trunc.pt")
    with pytest.raises(ModelError, match="no such checkpoint"):
        import_port_checkpoint(tmp_path / "absent.pt")
    # our own checkpoint is pointed to load_checkpoint
    from hific.import_original import main
    assert main([str(tmp_path / "unknown.pt"), str(tmp_path / "o.pt")]) == 2
