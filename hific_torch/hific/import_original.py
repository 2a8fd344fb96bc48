"""Import the PyTorch port's released checkpoints (HIFIC-low / -med / -high) into this package.

  python -m hific.import_original hific_low.pt zoo/port_low.pt     # then: python -m hific encode --model ...

The port (Justin-Tan/high-fidelity-generative-compression) saves ``{'model_state_dict': Model.state_dict(),
'args': {...}, 'steps', 'epoch', '<name>_optimizer_state_dict', ['discriminator_state_dict']}``. Its key
names (survey §1, docs/reference/hific.md) are mapped onto this package's modules:

=====================================================  ==============================================
port                                                   hific_torch
=====================================================  ==============================================
``Encoder.conv_block{1..5}.1`` / ``.2`` (norm)        ``encoder.net.{0,3,6,9,12}`` / ``{1,4,7,10,13}``
``Encoder.conv_block_out.1``                           ``encoder.net.15``
``Generator.conv_block_init.{0,2,3}``                  ``generator.head.{0,1,2}``
``Generator.resblock_m.{conv1,norm1,conv2,norm2}``     ``generator.resblocks.m.body.{0,1,3,4}``
``Generator.upconv_block{1..4}.{0,1}``                 ``generator.upsample.{0,3,6,9}`` / ``{1,4,7,10}``
``Generator.conv_block_out.1``                         ``generator.out``
``Hyperprior.analysis_net.conv{1,2,3}``                ``hyper_analysis.net.{0,2,4}``
``Hyperprior.synthesis_mu/std.conv{1,2,3}``            ``hyper_synthesis_mean/scale.net.{0,2,4}`` (*)
``Hyperprior.synthesis_DLMM_params.conv{1,2,3}``       ``hyper_synthesis_mixture.net.{0,2,4}`` (*)
``Hyperprior.synthesis_DLMM_params.conv_out``          ``mixture_head``
``Hyperprior.hyperlatent_likelihood.{H,b,a}_k``        ``hyper_density.{matrices,biases,factors}.k``
=====================================================  ==============================================

(*) the port's last h_s layer is a stride-1 ``ConvTranspose2d(3, padding=1)``; it becomes the equivalent
zero-padded conv (kernel transposed in/out and flipped). The model is built with ``layout="port"`` (the port's
reflection padding, its stride-2 pad on the right/top, its transposed-conv alignment, its gate on the last
density layer), so the imported transforms compute what the port's do. The discriminator is not imported
(the port's D is not the paper's; see README) -- fine-tuning restarts it -- unless ``with_discriminator=True``
(``--with-discriminator``): then ``Discriminator.*`` becomes a :class:`hific.network.PortDiscriminator`
(``discriminator="port"``, the port's keys as they are) returned in ``info["discriminator"]``. Because the
port has no learned quantiles, they are solved exactly from the imported density (bisection) and the tables
are built once; z is rounded around them unless ``z_rounding="zero"`` (``--z-rounding zero``: the port's
``floor(z + 1/2)``, tables centred at 0 -- what the port computes; issue 18 parity).

Loading uses ``torch.load(weights_only=True)``: no pickled code is ever executed; a checkpoint that holds
anything but tensors and plain Python values is refused with a clear error.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

from shared_data.errors import ModelError

from .checkpoints import load_weights_only, save_checkpoint
from .config import ModelConfig
from .model import HiFiC
from .network import PortDiscriminator

#: keys of a port checkpoint's state dict that are not codec weights and are deliberately skipped
_IGNORED_PREFIXES = ("Discriminator.", "perceptual_loss.", "Hyperprior.prior_density.",
                     "Hyperprior.prior_entropy_model.", "Hyperprior.hyperprior_entropy_model.")
_REQUIRED = ("Encoder.conv_block1.1.weight", "Encoder.conv_block_out.1.weight", "Generator.conv_block_init.2.weight",
             "Generator.conv_block_out.1.weight", "Hyperprior.analysis_net.conv1.weight",
             "Hyperprior.hyperlatent_likelihood.H_0")


def _load_raw(path: Path) -> dict:
    if not path.is_file():
        raise ModelError(f"{path}: no such checkpoint file")
    return load_weights_only(path, "port checkpoint")


def port_state_dict(ck) -> tuple[dict, dict]:
    """(state dict, args) of a port checkpoint (the full training dict or a bare ``Model.state_dict()``)."""
    if not isinstance(ck, dict):
        raise ModelError(f"not a port checkpoint: the file holds a {type(ck).__name__}, not a dict")
    if ck.get("format") == "hific_torch/1":
        raise ModelError("this is already a hific_torch checkpoint: load it with hific.checkpoints.load_checkpoint "
                             "(or pass it to --model) instead of importing it")
    if "model_state_dict" in ck:
        sd, args = ck["model_state_dict"], ck.get("args") or {}
    elif any(isinstance(k, str) and k.startswith("Encoder.") for k in ck):
        sd, args = ck, {}
    else:
        keys = sorted(str(k) for k in ck)[:8]
        raise ModelError(f"unknown checkpoint layout: no 'model_state_dict' and no 'Encoder.*' keys "
                             f"(top-level keys: {keys}); expected a checkpoint of the PyTorch port")
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ModelError("unknown checkpoint layout: 'model_state_dict' is not a dict of tensors")
    if not isinstance(args, dict):
        args = {}
    return sd, args


def _shape(sd, key) -> tuple[int, ...]:
    return tuple(sd[key].shape)


def infer_config(sd: dict, args: dict, with_discriminator: bool = False, **overrides) -> ModelConfig:
    """The architecture of a port state dict, from its tensor shapes (and ``args`` for non-shape options);
    ``with_discriminator`` adds the port's D widths (``discriminator="port"``); ``overrides`` are further
    :class:`ModelConfig` fields (the parity switches ``z_rounding="zero"``, ``rate_log_eps=1e-9``)."""
    lmm = any(k.startswith("Hyperprior.synthesis_DLMM_params.") for k in sd)
    required = list(_REQUIRED) + (["Hyperprior.synthesis_DLMM_params.conv_out.weight"] if lmm else
                                  ["Hyperprior.synthesis_mu.conv3.weight", "Hyperprior.synthesis_std.conv3.weight"])
    missing = [k for k in required if k not in sd]
    if missing:
        raise ModelError(f"unknown checkpoint layout: missing port keys {missing[:4]}"
                             f"{' ...' if len(missing) > 4 else ''} (is this a HiFiC port checkpoint?)")
    if args.get("sample_noise"):
        raise ModelError("the checkpoint was trained with the port's sample_noise option (noise channels in "
                             "G), which this package does not implement")
    enc = tuple(_shape(sd, f"Encoder.conv_block{i}.1.weight")[0] for i in range(1, 6))
    latent = _shape(sd, "Encoder.conv_block_out.1.weight")[0]
    hyper = _shape(sd, "Hyperprior.analysis_net.conv1.weight")[0]
    gen = (_shape(sd, "Generator.conv_block_init.2.weight")[0],
           *(_shape(sd, f"Generator.upconv_block{i}.0.weight")[1] for i in range(1, 5)))
    nrb = len({m.group(1) for k in sd for m in [re.match(r"Generator\.resblock_(\d+)\.", k)] if m})
    n_h = len([k for k in sd if re.fullmatch(r"Hyperprior\.hyperlatent_likelihood\.H_\d+", k)])
    filters = tuple(_shape(sd, f"Hyperprior.hyperlatent_likelihood.H_{k}")[1] for k in range(n_h - 1))
    channel_norm = "Encoder.conv_block1.2.gamma" in sd
    k_mix = 4
    if lmm:
        k_mix = _shape(sd, "Hyperprior.synthesis_DLMM_params.conv_out.weight")[0] // (3 * latent)
    regime = args.get("regime", "")
    extra = dict(overrides)
    if with_discriminator:
        keys = [f"Discriminator.conv{i}.weight_orig" for i in range(1, 5)] + ["Discriminator.context_conv.weight",
                                                                             "Discriminator.conv_out.weight"]
        missing = [k for k in keys if k not in sd]
        if missing:
            raise ModelError(f"no port discriminator in the checkpoint: missing {missing[:3]} (a "
                                 "compression_gan checkpoint holds Discriminator.* weights)")
        extra.update(discriminator="port", disc_channels=tuple(_shape(sd, k)[0] for k in keys[:4]),
                     disc_latent_channels=_shape(sd, "Discriminator.context_conv.weight")[0])
    try:
        return ModelConfig(encoder_channels=enc, latent_channels=latent, hyper_channels=hyper,
                           generator_channels=gen, n_residual_blocks=nrb, use_channel_norm=channel_norm,
                           normalize_input_image=bool(args.get("normalize_input_image", False)),
                           likelihood_type=str(args.get("likelihood_type", "gaussian")),
                           factorized_filters=filters, layout="port", use_latent_mixture_model=lmm,
                           mixture_components=k_mix, name=f"port-{regime}" if regime else "port", **extra)
    except (TypeError, ValueError) as e:
        raise ModelError(f"unsupported port configuration: {e}") from None


def key_map(cfg: ModelConfig) -> dict[str, str]:
    """port key prefix -> hific_torch key prefix (parameters are suffixed .weight/.bias/.gamma/.beta)."""
    m = {"Encoder.conv_block_out.1": "encoder.net.15",
         "Generator.conv_block_init.0": "generator.head.0", "Generator.conv_block_init.2": "generator.head.1",
         "Generator.conv_block_init.3": "generator.head.2", "Generator.conv_block_out.1": "generator.out"}
    for i in range(1, 6):
        m[f"Encoder.conv_block{i}.1"] = f"encoder.net.{3 * (i - 1)}"
        m[f"Encoder.conv_block{i}.2"] = f"encoder.net.{3 * (i - 1) + 1}"
    for r in range(cfg.n_residual_blocks):
        for src, dst in (("conv1", 0), ("norm1", 1), ("conv2", 3), ("norm2", 4)):
            m[f"Generator.resblock_{r}.{src}"] = f"generator.resblocks.{r}.body.{dst}"
    for i in range(1, 5):
        m[f"Generator.upconv_block{i}.0"] = f"generator.upsample.{3 * (i - 1)}"
        m[f"Generator.upconv_block{i}.1"] = f"generator.upsample.{3 * (i - 1) + 1}"
    for i in range(1, 4):
        m[f"Hyperprior.analysis_net.conv{i}"] = f"hyper_analysis.net.{2 * (i - 1)}"
    branches = ({"synthesis_DLMM_params": "hyper_synthesis_mixture"} if cfg.use_latent_mixture_model else
                {"synthesis_mu": "hyper_synthesis_mean", "synthesis_std": "hyper_synthesis_scale"})
    for src, dst in branches.items():
        for i in range(1, 4):
            m[f"Hyperprior.{src}.conv{i}"] = f"{dst}.net.{2 * (i - 1)}"
    if cfg.use_latent_mixture_model:
        m["Hyperprior.synthesis_DLMM_params.conv_out"] = "mixture_head"
    return m


_DENSITY = re.compile(r"Hyperprior\.hyperlatent_likelihood\.([Hba])_(\d+)$")


def convert_state_dict(sd: dict, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Port state dict -> this package's parameter names (coding tables not included)."""
    prefixes = key_map(cfg)
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for k, v in sd.items():
        if k.startswith(_IGNORED_PREFIXES):
            continue
        md = _DENSITY.match(k)
        if md:
            kind = {"H": "matrices", "b": "biases", "a": "factors"}[md.group(1)]
            out[f"hyper_density.{kind}.{md.group(2)}"] = v.float()
            continue
        prefix, _, leaf = k.rpartition(".")
        if prefix not in prefixes:
            unknown.append(k)
            continue
        dst = f"{prefixes[prefix]}.{leaf}"
        if re.fullmatch(r"Hyperprior\.synthesis_\w+\.conv3", prefix) and leaf == "weight":
            v = v.transpose(0, 1).flip(-1, -2)  # stride-1 ConvTranspose2d(p=1) == conv with this kernel
        out[dst] = v.float().contiguous()
    if unknown:
        raise ModelError(f"unknown checkpoint layout: unexpected port keys {unknown[:4]}"
                             f"{' ...' if len(unknown) > 4 else ''}")
    return out


def port_discriminator(sd: dict, cfg: ModelConfig, source="checkpoint") -> PortDiscriminator:
    """The port's ``Discriminator.*`` weights (legacy spectral-norm ``weight_orig/_u/_v``) as a
    :class:`PortDiscriminator` (cfg from :func:`infer_config` with ``with_discriminator=True``)."""
    d_sd = {k[len("Discriminator."):]: v.float() for k, v in sd.items() if k.startswith("Discriminator.")}
    disc = PortDiscriminator(cfg)
    own = disc.state_dict()
    missing, extra = sorted(set(own) - set(d_sd)), sorted(set(d_sd) - set(own))
    if missing or extra:
        raise ModelError(f"{source}: port discriminator keys do not match (missing {missing[:4]}, "
                             f"unexpected {extra[:4]})")
    for k, v in d_sd.items():
        if tuple(own[k].shape) != tuple(v.shape):
            raise ModelError(f"{source}: Discriminator.{k} has shape {tuple(v.shape)}, expected "
                                 f"{tuple(own[k].shape)}")
    disc.load_state_dict(d_sd)
    return disc


def import_port_checkpoint(path, with_discriminator: bool = False, **overrides) -> tuple[HiFiC, dict]:
    """Load a port checkpoint (weights_only) into a :class:`HiFiC` with coding tables; returns (model, info).
    ``overrides``: ModelConfig fields, e.g. ``z_rounding="zero"`` and ``rate_log_eps=1e-9`` (what the port
    computes); ``with_discriminator`` also imports the port's D (``info["discriminator"]``)."""
    path = Path(path)
    raw = _load_raw(path)
    sd, args = port_state_dict(raw)
    cfg = infer_config(sd, args, with_discriminator=with_discriminator, **overrides)
    weights = convert_state_dict(sd, cfg)
    model = HiFiC(cfg)
    own = model.state_dict()
    skip = ("hyper_density.quantiles", "hyper_density.pmfs", "hyper_density.offsets", "hyper_density.lengths",
            "conditional.")
    expected = {k for k in own if not k.startswith(skip)}
    missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
    if missing or extra:
        raise ModelError(f"{path}: port weights do not cover the model (missing {missing[:4]}, "
                             f"unexpected {extra[:4]})")
    for k, v in weights.items():
        if tuple(own[k].shape) != tuple(v.shape):
            raise ModelError(f"{path}: {k} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}")
    model.load_state_dict(weights, strict=False)
    model.hyper_density.fit_quantiles()
    model.eval()
    model.update()
    steps = raw.get("steps") if isinstance(raw, dict) else None
    info = {"source": str(path), "regime": args.get("regime"), "steps": steps if isinstance(steps, int) else None,
            "port_args": {k: v for k, v in args.items() if isinstance(v, (str, int, float, bool)) or v is None}}
    if with_discriminator:
        info["discriminator"] = port_discriminator(sd, cfg, path)
    return model, info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="import a released PyTorch-port HiFiC checkpoint (weights_only)")
    p.add_argument("src", help="the port's .pt checkpoint (e.g. hific_low.pt)")
    p.add_argument("dst", help="where to write the hific_torch checkpoint (codec + coding tables)")
    p.add_argument("--z-rounding", choices=("median", "zero"), default="median",
                   help="median (default, TF / CompressAI) or zero (the port's floor(z + 1/2))")
    a = p.parse_args(argv)
    try:
        model, info = import_port_checkpoint(a.src, z_rounding=a.z_rounding)
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    save_checkpoint(a.dst, model, {"step": int(info.get("steps") or 0), "model_type": "imported_port",
                                   "import": {k: v for k, v in info.items() if k != "port_args"}})
    n = sum(p.numel() for p in model.parameters())
    print(f"imported {a.src} -> {a.dst}: {model.cfg.name}, {n:,} parameters, fingerprint {model.fingerprint().hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
