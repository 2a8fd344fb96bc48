"""Regenerate the HiFiC parity fixture (``hific_torch/parity/``) with the ORIGINAL code,
Justin-Tan/high-fidelity-generative-compression (the unofficial PyTorch port of Mentzer et al., "High-Fidelity
Generative Image Compression", NeurIPS 2020; this project's "port").

The original is imported from a checkout the user supplies (never copied into this repository) and run on
this project's torch (hific_torch/.venv, CPU, one thread). What runs is the original's own ``src.model.Model``
(its ``forward``: ``compression_forward`` -> ``Hyperprior.forward`` -> ``compression_loss`` ->
``GAN_loss``), its ``train.py`` functions ``optimize_compression_loss`` / ``optimize_loss`` and its three Adam
optimisers built as its ``train.py`` builds them, in the order its ``train`` loop uses them for a
``compression_gan`` model (``discriminator_steps = 1``): iteration 1 trains E, G, h_a, h_s (``amort``) and the
hyper-latent density (``hyper``) on the compression loss (with ``beta * G_loss``); iteration 2 trains D
(``disc``) on the discriminator loss of a fresh forward pass. Both iterations see the same crop.

Shims (nothing in the checkout is edited):

* ``src.loss.perceptual_similarity.perceptual_loss`` is replaced by a stub whose ``PerceptualLoss.forward``
  returns zeros: **the LPIPS term is off** (the original's ``Model`` would download AlexNet ImageNet weights);
  the k_P * LPIPS part of the loss is therefore 0 in the fixture.
* Reduced widths (the original hard-codes E/G widths 60..960, N = 320 and D widths 64..512 / 12 context
  channels): ``Model`` is built with its own ``latent_channels = 16``, ``n_residual_blocks = 2``; then every
  conv / transposed conv / ChannelNorm of ``Encoder``, ``Generator`` and ``Discriminator`` is replaced, in
  place and in module order, by a freshly initialised layer of the same class and hyper-parameters (kernel,
  stride, padding, padding_mode, output_padding; D's convs re-wrapped with ``nn.utils.spectral_norm`` as the
  original's ``Discriminator`` does) with the channel counts of ``WIDTHS``; the ``Hyperprior`` is rebuilt by
  the original's own constructor with ``hyperlatent_filters = N`` (``Model.amortization_models`` updated to
  the new h_a / h_s). The forward code is the original's, unchanged.
* the original's ``torch.nn.init.uniform_`` calls inside the forward passes (its quantisation noise) are
  recorded (the noise is stored, so this project's forward is fed the same samples).

Fixture ``hific_torch/parity/small/``:

* ``orig_ckpt/port_model.pt``: ``{'model_state_dict': Model.state_dict(), 'args': {...}, 'steps': 0,
  'epoch': 0}`` -- the freshly initialised weights under the original's own key names (what its
  ``utils.save_model`` writes, less the optimiser states), loadable with ``torch.load(weights_only=True)``;
* ``orig_outputs.npz`` (no pickles): ``input`` (1, 3, H, W uint8), ``noise/{g,d,eval}/{z,y}``, for the
  generator-step forward (``g/``, training mode): ``y`` (E output), ``z`` (h_a output), ``mean``, ``scale_raw``
  (h_s outputs before the 0.11 bound), ``y_hat`` (``latents_quantized``, STE), ``x_hat``, the HyperInfo rates
  ``latent_nbpp hyperlatent_nbpp total_nbpp latent_qbpp hyperlatent_qbpp total_qbpp``, ``d_logits`` (D on
  [x, x_hat]), the loss parts the original logs (``loss/<name>`` from ``Model.storage_train``) and the two
  returned losses; ``grad/<key>`` (every gradient when ``amort`` steps, D's too -- the original never zeroes
  them before its D step); ``after_g/<key>`` (the whole state dict after the generator step); the D-step
  forward ``d/...`` likewise (without ``x_hat``) and ``after_d/<key>`` (D after its step); the eval-mode forward (``model.eval()``:
  z rounded as ``floor(z + 1/2)``, no medians) ``eval/{mean,scale_raw,x_hat,latent_qbpp,hyperlatent_qbpp}``;
* ``PROVENANCE.md`` and, last, ``MANIFEST.json`` (schema ``lic-parity/1`` of ``shared_data.parity``: commit,
  sha256 of every file, versions; crop, seeds and widths under ``params``).

Environment (scratch only; nothing changes ``hific_torch/requirements*``): the original needs ``autograd``
(``src/compression/compression_utils.py``), installed into a scratch folder::

    git clone https://github.com/Justin-Tan/high-fidelity-generative-compression /tmp/hific-orig   # 7d4e9e7
    hific_torch/.venv/bin/python -m pip install --no-deps --target /tmp/hific-deps autograd==1.9.1
    PYTHONPATH=/tmp/hific-deps KODAK_DIR=/path/to/kodak \\
        hific_torch/.venv/bin/python tools/parity/make_hific_fixture.py --original /tmp/hific-orig

A rerun on the same machine writes byte-identical files (measured: same sha256 for ``port_model.pt`` and
``orig_outputs.npz``). A checkout without ``.git`` (``git archive``) needs ``--commit SHA``. ``--check``
regenerates in memory and exits 1 when an array differs from the committed one by more than ``CHECK_RTOL`` of
its largest value; ``HIFIC_ORIGINAL=PATH`` (and ``PYTHONPATH`` with autograd) makes
``hific_torch/tests/test_parity.py`` run that check.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "hific_torch" / "parity"
ORIG_REPO = "https://github.com/Justin-Tan/high-fidelity-generative-compression"
NAME = "small"
CROP = ("kodim01.png", 128, 256, 192, 256)  # image, top, left, height, width
SEED = 0            # torch.manual_seed before the original's Model(...) and the width surgery
FORWARD_SEEDS = {"g": 1, "d": 2, "eval": 3}  # torch.manual_seed before each forward pass (noise is stored too)
C, N, NRB = 16, 12, 2  # latent channels, hyper-latent channels, residual blocks
#: original channel count -> the fixture's (E/G share one map, D has its own; C, N, 3 and 1 are kept)
WIDTHS = {"Encoder": {60: 6, 120: 8, 240: 12, 480: 16, 960: 24},
          "Generator": {60: 6, 120: 8, 240: 12, 480: 16, 960: 24},
          "Discriminator": {64: 8, 128: 12, 256: 16, 512: 24, 12: 4, 15: 7}}
CHECK_RTOL = 1e-6
ORIG_FILES = ("src/model.py", "src/hyperprior.py", "src/network/encoder.py", "src/network/generator.py",
              "src/network/discriminator.py", "src/network/hyper.py", "src/normalisation/channel.py",
              "src/compression/hyperprior_model.py", "src/helpers/maths.py", "src/helpers/utils.py",
              "src/loss/losses.py", "default_config.py", "train.py")


def _sha256(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _commit(original: Path, given: str | None) -> str:
    if given:
        return given
    try:
        return subprocess.run(["git", "-C", str(original), "rev-parse", "HEAD"], check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit(f"{original}: not a git checkout; pass --commit SHA (the commit it was exported from)") from None


def _load_crop(kodak: Path) -> tuple[np.ndarray, dict]:
    from PIL import Image
    name, top, left, h, w = CROP
    p = kodak / name
    if not p.is_file():
        raise SystemExit(f"{p}: missing (set KODAK_DIR to the Kodak folder)")
    img = np.asarray(Image.open(p).convert("RGB"))
    crop = img[top:top + h, left:left + w]
    if crop.shape != (h, w, 3):
        raise SystemExit(f"{p}: image {img.shape} too small for the crop {CROP}")
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None]), {"image": name, "sha256": _sha256(p), "top": top,
                                                                  "left": left, "height": h, "width": w}


def import_original(src: Path) -> dict:
    """Import the original's modules from ``src`` with the LPIPS stub (see the module docstring)."""
    import torch
    for p in (str(src),):
        if p not in sys.path:
            sys.path.insert(0, p)
    stub = types.ModuleType("src.loss.perceptual_similarity.perceptual_loss")

    class PerceptualLoss:  # LPIPS off: the original's Model would download AlexNet ImageNet weights
        def __init__(self, *a, **k):
            pass

        def forward(self, x_gen, x_real, normalize=True):
            return torch.zeros(x_gen.shape[0], 1, 1, 1, dtype=x_gen.dtype)

    stub.PerceptualLoss = PerceptualLoss
    import src.loss.perceptual_similarity as psim
    sys.modules[stub.__name__] = stub
    psim.perceptual_loss = stub
    import default_config
    import train as orig_train
    from src import hyperprior, model
    from src.network import discriminator
    from src.normalisation import channel
    return {"model": model, "hyperprior": hyperprior, "channel": channel, "default_config": default_config,
            "train": orig_train, "discriminator": discriminator}


def _shrink(module, widths: dict, orig: dict) -> None:
    """Replace every conv / transposed conv / ChannelNorm below ``module`` (module order) by a fresh layer of
    the same class and hyper-parameters with channel counts mapped through ``widths``."""
    import torch.nn as nn
    f = lambda c: widths.get(c, c)  # noqa: E731
    cn = orig["channel"].ChannelNorm2D
    for name, child in list(module.named_children()):
        sn = hasattr(child, "weight_orig")
        if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d)):
            kw = dict(kernel_size=child.kernel_size, stride=child.stride, padding=child.padding,
                      padding_mode=child.padding_mode, bias=child.bias is not None)
            if isinstance(child, nn.ConvTranspose2d):
                kw["output_padding"] = child.output_padding
            if sn:  # the original's Discriminator: nn.utils.spectral_norm(nn.Conv2d(...))
                for hook in list(child._forward_pre_hooks.values()):
                    assert type(hook).__name__ == "SpectralNorm"
            new = type(child)(f(child.in_channels), f(child.out_channels), **kw)
            if sn:
                new = nn.utils.spectral_norm(new)
            setattr(module, name, new)
        elif isinstance(child, cn):
            new = orig["channel"].ChannelNorm2D_wrap(f(child.gamma.shape[1]), momentum=0.1, affine=True,
                                                     track_running_stats=False)
            setattr(module, name, new)
        else:
            _shrink(child, widths, orig)


def _args(orig: dict, hw: tuple[int, int]):
    dc = orig["default_config"]

    class Args(dc.hific_args):
        pass
    Args.latent_channels = C
    Args.n_residual_blocks = NRB
    Args.batch_size = 1
    Args.image_dims = (3, *hw)
    Args.latent_dims = (C, hw[0] // 16, hw[1] // 16)
    Args.crop_size = hw[0]
    Args.gpu = 0
    Args.multigpu = False
    Args.model_type = dc.ModelTypes.COMPRESSION_GAN
    return Args


def _args_dict(a) -> dict:
    out = {}
    for n in dir(a):
        if n.startswith("_"):
            continue
        v = getattr(a, n)
        if isinstance(v, (str, int, float, bool)) or v is None:
            out[n] = v
        elif isinstance(v, tuple) and all(isinstance(t, int) for t in v):
            out[n] = list(v)
        elif isinstance(v, dict) and n.endswith(("schedule", "_map")):
            out[n] = json.loads(json.dumps(v))
    return out


def _np(t) -> np.ndarray:
    import torch
    return t.detach().cpu().numpy().copy() if torch.is_tensor(t) else np.asarray(t)


def run_original(orig: dict, x_u8: np.ndarray) -> tuple[dict, dict, dict]:
    """-> (port checkpoint dict, arrays, info)."""
    import logging

    import torch
    torch.set_num_threads(1)
    dc, M = orig["default_config"], orig["model"]
    hw = tuple(x_u8.shape[2:])
    args = _args(orig, hw)
    log = logging.getLogger("hific-orig")
    log.setLevel(logging.WARNING)
    torch.manual_seed(SEED)
    model = M.Model(args, log, model_mode=dc.ModelModes.TRAINING, model_type=dc.ModelTypes.COMPRESSION_GAN)
    _shrink(model.Encoder, WIDTHS["Encoder"], orig)
    _shrink(model.Generator, WIDTHS["Generator"], orig)
    _shrink(model.Discriminator, WIDTHS["Discriminator"], orig)
    model.Hyperprior = orig["hyperprior"].Hyperprior(bottleneck_capacity=C, hyperlatent_filters=N,
                                                     likelihood_type=args.likelihood_type, entropy_code=False)
    model.amortization_models = [model.Encoder, model.Generator, *model.Hyperprior.amortization_models]
    model.train()
    sd0 = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ckpt = {"model_state_dict": sd0, "args": _args_dict(args), "steps": 0, "epoch": 0}

    # the original's train.py optimiser construction
    import itertools
    amort_params = itertools.chain.from_iterable([am.parameters() for am in model.amortization_models])
    amort = torch.optim.Adam(amort_params, lr=args.learning_rate)
    hyper = torch.optim.Adam(model.Hyperprior.hyperlatent_likelihood.parameters(), lr=args.learning_rate)
    disc = torch.optim.Adam(model.Discriminator.parameters(), lr=args.learning_rate)
    n_amort = sum(p.numel() for g in amort.param_groups for p in g["params"])
    n_hyper = sum(p.numel() for g in hyper.param_groups for p in g["params"])
    n_disc = sum(p.numel() for g in disc.param_groups for p in g["params"])

    A: dict[str, np.ndarray] = {"input": x_u8}
    x = torch.from_numpy(x_u8).float().div(255.0)
    names = {id(p): k for k, p in model.named_parameters()}

    def capture(prefix: str):
        hooks, noise = [], []
        store = lambda k: (lambda _m, _i, out: A.__setitem__(f"{prefix}/{k}", _np(out)))  # noqa: E731
        hooks.append(model.Encoder.register_forward_hook(store("y")))
        hooks.append(model.Hyperprior.analysis_net.register_forward_hook(store("z")))
        hooks.append(model.Hyperprior.synthesis_mu.register_forward_hook(store("mean")))
        hooks.append(model.Hyperprior.synthesis_std.register_forward_hook(store("scale_raw")))
        hooks.append(model.Generator.register_forward_hook(store("x_hat")))

        def hyperinfo(_m, _i, out):
            for k in ("latent_nbpp", "hyperlatent_nbpp", "total_nbpp", "latent_qbpp", "hyperlatent_qbpp",
                      "total_qbpp"):
                A[f"{prefix}/{k}"] = _np(getattr(out, k))
            A[f"{prefix}/y_hat"] = _np(out.decoded)
        hooks.append(model.Hyperprior.register_forward_hook(hyperinfo))
        if model.Discriminator is not None:
            hooks.append(model.Discriminator.register_forward_hook(
                lambda _m, _i, out: A.__setitem__(f"{prefix}/d_logits", _np(out[1]))))
        real_uniform = torch.nn.init.uniform_

        def uniform(t, a=0.0, b=1.0, **kw):
            r = real_uniform(t, a, b, **kw)
            noise.append(r.detach().clone())
            return r
        torch.nn.init.uniform_ = uniform

        def done():
            torch.nn.init.uniform_ = real_uniform
            for h in hooks:
                h.remove()
            if len(noise) != 2:
                raise SystemExit(f"expected 2 noise draws (z, y) in the {prefix} forward, saw {len(noise)}")
            A[f"noise/{prefix}/z"], A[f"noise/{prefix}/y"] = _np(noise[0]), _np(noise[1])
        return done

    # --- eval-mode forward (z rounded as floor(z + 1/2), h_s on it), before any step ---
    model.eval()
    done = capture("eval")
    torch.manual_seed(FORWARD_SEEDS["eval"])
    with torch.no_grad():
        model.compression_forward(x)
    done()
    for k in ("y", "y_hat", "latent_nbpp", "hyperlatent_nbpp", "total_nbpp", "total_qbpp"):
        A.pop(f"eval/{k}", None)  # the same as (or noisy variants of) the training-mode ones
    model.train()

    # --- iteration 1: generator step (train.py: losses = model(data, train_generator=True)) ---
    grads = {}

    def snap_grads(opt, *_a, **_k):
        for g in opt.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    grads[names[id(p)]] = _np(p.grad)
        for p in model.Discriminator.parameters():
            if p.grad is not None:
                grads[names[id(p)]] = _np(p.grad)
    h1 = amort.register_step_pre_hook(snap_grads)
    h2 = hyper.register_step_pre_hook(snap_grads)
    done = capture("g")
    torch.manual_seed(FORWARD_SEEDS["g"])
    losses = model(x, train_generator=True)
    done()
    A["g/loss_compression"], A["g/loss_disc"] = _np(losses["compression"]), _np(losses["disc"])
    orig["train"].optimize_compression_loss(losses["compression"], amort, hyper)
    h1.remove()
    h2.remove()
    for k, v in grads.items():
        A[f"grad/{k}"] = v
    for k, v in model.state_dict().items():
        A[f"after_g/{k}"] = _np(v)
    d_leak = {k: _np(p.grad) for k, p in model.Discriminator.named_parameters() if p.grad is not None}
    for k, v in d_leak.items():
        A[f"d_grad_before_d_step/{k}"] = v

    # --- iteration 2: discriminator step (train_generator=False; optimize_loss(disc_loss, disc_opt)) ---
    done = capture("d")
    torch.manual_seed(FORWARD_SEEDS["d"])
    losses = model(x, train_generator=False)
    done()
    A["d/loss_compression"], A["d/loss_disc"] = _np(losses["compression"]), _np(losses["disc"])
    A.pop("d/x_hat")  # size: the D step is checked through its logits, loss and parameters
    orig["train"].optimize_loss(losses["disc"], disc)
    for k, v in model.Discriminator.state_dict().items():
        A[f"after_d/Discriminator.{k}"] = _np(v)

    for pref, st in (("g", 0), ("d", 1)):  # the original's own loss bookkeeping (Model.store_loss)
        for k, vals in model.storage_train.items():
            if len(vals) > st:
                A[f"{pref}/loss/{k}"] = np.asarray(vals[st], dtype=np.float64)
    A = {k: (v.astype(np.float32) if v.dtype == np.float64 and "/loss/" not in k else v) for k, v in A.items()}
    info = {"step_counter": int(model.step_counter), "optimizer_params": {"amort": n_amort, "hyper": n_hyper,
                                                                          "disc": n_disc}}
    return ckpt, A, info


def _savez_deterministic(path: Path, arrays: dict) -> None:
    """``np.savez_compressed`` with fixed zip timestamps, so a rerun is byte-identical."""
    import zipfile
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for k in sorted(arrays):
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arrays[k]), allow_pickle=False)
            info = zipfile.ZipInfo(k + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def _check(ref_p: Path, arrays: dict) -> bool:
    ok = True
    with np.load(ref_p, allow_pickle=False) as z:
        ref = {k: z[k] for k in z.files}
    for k in sorted(set(ref) | set(arrays)):
        if k not in ref or k not in arrays:
            print(f"{k}: only in {'the committed' if k in ref else 'the regenerated'} fixture")
            ok = False
            continue
        a, b = np.asarray(arrays[k], np.float64), np.asarray(ref[k], np.float64)
        if a.size == b.size == 1:  # scalars are stored with shape (1,) (np.ascontiguousarray)
            a, b = a.reshape(1), b.reshape(1)
        if a.shape != b.shape:
            print(f"{k}: shape {a.shape} vs committed {b.shape}")
            ok = False
            continue
        s = float(np.abs(b).max()) if b.size else 0.0
        err = float(np.abs(a - b).max()) / s if s > 0 else float(np.abs(a).max(initial=0.0))
        if err > CHECK_RTOL:
            print(f"{k}: differs by {err:.3g} of its largest value")
            ok = False
    return ok


def _provenance(manifest: dict, cmd: str) -> str:
    c = manifest["params"]["input"]
    o = manifest["original"]
    lines = [
        "# HiFiC parity fixture `small`: provenance", "",
        f"Made by `tools/parity/make_hific_fixture.py` from the ORIGINAL code, {ORIG_REPO} at commit "
        f"`{o['commit']}` (imported from a local checkout, never copied here); `MANIFEST.json` lists the "
        "sha256 of every file (checked by `hific_torch/tests/test_parity.py`) and of the original's source "
        "files used.", "",
        "What ran: the original's `src.model.Model` (`compression_gan`, its `hific_args` defaults: regime low, "
        "lambda_A = 2, lambda_B = 2^-4, k_M = 0.075 * 2^-5, beta = 0.15, schedules at step 1, non-saturating GAN "
        "loss) and its `train.py` `optimize_compression_loss` / `optimize_loss` with its three Adam optimisers "
        "(lr 1e-4): iteration 1 = generator step (`amort` + `hyper`), iteration 2 = discriminator step (`disc`), "
        "same crop, batch 1.", "",
        "Shims (the checkout is not edited):", "",
        "- **LPIPS off**: `src.loss.perceptual_similarity.perceptual_loss.PerceptualLoss` is a stub returning "
        "zeros (the original would download AlexNet ImageNet weights), so the k_P * LPIPS term is 0.",
        f"- **Reduced widths**: `Model` built with `latent_channels = {C}`, `n_residual_blocks = {NRB}`; every "
        "conv / transposed conv / ChannelNorm of Encoder, Generator, Discriminator replaced in module order by "
        "a fresh layer of the same class and hyper-parameters (D's convs re-wrapped in `nn.utils.spectral_norm`)"
        f" with channels E/G {WIDTHS['Encoder']}, D {WIDTHS['Discriminator']}; the Hyperprior rebuilt by the "
        f"original's constructor with `hyperlatent_filters = {N}`.",
        "- Quantisation noise of each forward recorded from the original's `torch.nn.init.uniform_` calls "
        "(stored as `noise/...`).", "",
        f"Seeds: `torch.manual_seed({SEED})` before `Model(...)`; {FORWARD_SEEDS} before the eval, generator-"
        "step and discriminator-step forwards.", "",
        f"Input: Kodak `{c['image']}` (sha256 {c['sha256'][:16]}...), rows {c['top']}..{c['top'] + c['height'] - 1}"
        f", columns {c['left']}..{c['left'] + c['width'] - 1} ({c['height']} x {c['width']}), from "
        "`$KODAK_DIR` (a real Kodak crop, not a synthetic image).", "",
        f"Versions: {json.dumps(manifest['versions'])}.", "",
        "Files: `orig_ckpt/port_model.pt` (the initial weights in the original's state-dict layout, "
        "`{'model_state_dict', 'args', 'steps', 'epoch'}`), `orig_outputs.npz` (arrays listed in the "
        "generator's docstring), `MANIFEST.json`.", "",
        "Command:", "", "```", cmd, "```", "",
    ]
    return "\n".join(lines)


def _write_index(out: Path, commit: str, cmd: str) -> None:
    """``parity/PROVENANCE.md``: one line per fixture (atomic write)."""
    text = "\n".join([
        "# HiFiC parity fixtures: provenance", "",
        f"Made by `tools/parity/make_hific_fixture.py` from the ORIGINAL code, {ORIG_REPO} at commit `{commit}` "
        "(imported from a local checkout, never copied here); the fixture's own `PROVENANCE.md` lists the shims "
        "(LPIPS stub: the LPIPS term is off; reduced widths), seeds, versions and input, its `MANIFEST.json` the "
        "sha256 of its files (checked by `hific_torch/tests/test_parity.py`).", "",
        "| fixture | original config | input | outputs |", "|---|---|---|---|",
        f"| [`{NAME}/`]({NAME}/PROVENANCE.md) | `hific_args` (compression_gan, regime low), C={C}, N={N}, "
        f"{NRB} residual blocks, reduced widths | kodim01 {CROP[3]}x{CROP[4]} crop | eval pass, generator step, "
        "discriminator step |", "",
        "Regenerate (or `--check` against the committed arrays):", "", "```", cmd, "```", ""])
    tmp = out / "PROVENANCE.md.tmp"
    tmp.write_text(text)
    os.replace(tmp, out / "PROVENANCE.md")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--original", required=True, type=Path, help="checkout of " + ORIG_REPO)
    p.add_argument("--commit", default=None, help="commit of the checkout (when it has no .git)")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    p.add_argument("--check", action="store_true", help="regenerate in memory and compare with the committed one")
    a = p.parse_args(argv)
    import torch
    kodak = Path(os.environ.get("KODAK_DIR", "/work/shared/data/kodak"))
    x_u8, crop = _load_crop(kodak)
    src = a.original.resolve()
    commit = _commit(src, a.commit)
    orig = import_original(src)
    ckpt, arrays, info = run_original(orig, x_u8)
    out = a.out / NAME
    if a.check:
        ok = _check(out / "orig_outputs.npz", arrays)
        print("check:", "identical within", CHECK_RTOL if ok else "DIFFERENT")
        return 0 if ok else 1
    import autograd
    import scipy

    from shared_data import parity

    versions = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                "scipy": scipy.__version__, "autograd": getattr(autograd, "__version__", "1.9.1"),
                "platform": platform.platform()}
    tmp = Path(tempfile.mkdtemp(prefix="hific_fixture_", dir=a.out if a.out.exists() else None))
    try:
        (tmp / "orig_ckpt").mkdir()
        buf = io.BytesIO()
        torch.save(ckpt, buf)
        (tmp / "orig_ckpt" / "port_model.pt").write_bytes(buf.getvalue())
        _savez_deterministic(tmp / "orig_outputs.npz", arrays)
        params = {"input": crop, "seeds": {"init": SEED, **FORWARD_SEEDS}, "widths": {
                      k: {str(o): n for o, n in v.items()} for k, v in WIDTHS.items()},
                  "latent_channels": C, "hyper_channels": N, "n_residual_blocks": NRB, "lpips": "off (stub)",
                  **info}
        manifest = parity.manifest(
            tmp, fixture=NAME, repository=ORIG_REPO, commit=commit, generator="tools/parity/make_hific_fixture.py",
            original_files={f: _sha256(src / f) for f in ORIG_FILES if (src / f).is_file()},
            versions=versions, params=params, files=("orig_ckpt/port_model.pt", "orig_outputs.npz"))
        files = manifest["files"]
        cmd = ("PYTHONPATH=/path/to/hific-deps KODAK_DIR=/path/to/kodak hific_torch/.venv/bin/python "
               f"tools/parity/make_hific_fixture.py --original /path/to/high-fidelity-generative-compression"
               f"{' --commit ' + commit if a.commit else ''}")
        (tmp / "PROVENANCE.md").write_text(_provenance(manifest, cmd))
        out.mkdir(parents=True, exist_ok=True)
        (out / "orig_ckpt").mkdir(exist_ok=True)
        for rel in [*files, "PROVENANCE.md"]:
            os.replace(tmp / rel, out / rel)
        parity.write_manifest(out, manifest)  # last: an interrupted run leaves a manifest naming the stale files
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _write_index(a.out, commit, cmd)
    total = sum((out / r).stat().st_size for r in [*files, "PROVENANCE.md", "MANIFEST.json"])
    print(f"wrote {out} ({total:,} bytes): {len(arrays)} arrays, original {commit[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
