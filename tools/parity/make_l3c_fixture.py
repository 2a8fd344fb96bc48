"""Regenerate the L3C parity fixture (``l3c_torch/parity/``) with the ORIGINAL code, fab-jul/L3C-PyTorch
(Mentzer et al., "Practical Full Resolution Learned Lossless Image Compression", CVPR 2019).

The original is imported from a checkout the user supplies (it is never copied into this repository) and run
on this project's torch (2.13, CPU, one thread). Configuration: the original's ``src/configs/ms/cr.cf`` with
the global-config overrides ``Cf=16 enc.num_blocks=1 dec.num_blocks=1`` applied through the original's own
``helpers.global_config`` (what its ``train.py -p Cf=16 ...`` does): the paper's architecture (3 scales,
C=5, L=25, K=10, RMSprop lr 1e-4) with fewer channels and blocks. ``torch.manual_seed(0)`` as the
original's ``train.py``, then ``MultiscaleBlueprint(config)`` (modules in training mode, as constructed). The
input is a batch of two 24x32 (HxW) Kodak crops (``CROPS``): a dark one of kodim17 containing zeros (every
sub-pixel in the DMLL's ordinary bin branch or its x=0 edge branch) and a textured one of kodim01 (most
sub-pixels beyond the 1e-12 clamp of the untrained model). It writes

* ``orig_ckpt/ckpt_0000000000.pt``: ``{'net': state_dict, 'optim': RMSprop state}`` as the original's
  ``Saver`` writes them, under the original's key names (the freshly initialised weights);
* ``orig_outputs.npz`` (no pickles): ``input`` (N, 3, H, W uint8) and the original's tensors for it, all
  from the training-mode forward of ``MultiscaleTrainer.train_step``: per scale s (1 = z^(1) ...)
  ``enc_pre_q/s`` (to_q output, before Q), ``enc_F/s`` (encoder features fed to the next scale),
  ``symbols/s`` (``Out.S``), ``bn/s`` (``Out.bn``: z^(s), straight-through values), and per predicted
  level i (0 = RGB, predicted from f^(i+1)) ``dec_F/i`` (decoder output f^(i+1)), ``P/i`` (DMLL
  parameters, NKpHW), ``nll/i`` (nats per sub-pixel, NCHW, the original's ``DiscretizedMixLogisticLoss``),
  ``cost_nats`` (per level), ``bpsp`` (``nonrecursive_bpsps``: three levels + the uniform z^(3)),
  ``loss`` (``loss_pc``), ``lr``; after ``loss_pc.backward()`` ``grad/<param>``; after ONE
  ``optim.step()`` every state-dict entry as ``after/<key>``;
* ``config_ms.cf`` (the resolved configuration, ``key = literal`` lines), ``MANIFEST.json`` (commit,
  config, crops, versions, sha256 of every file) and ``PROVENANCE.md``.

Environment (scratch only; nothing changes ``l3c_torch/requirements*``): the original runs on torch 2.x
with ``fjcommon==0.2.12`` and stubs for ``torchvision`` (used only for TensorBoard summaries and data
transforms, which this script never calls) and ``fasteners`` (log-dir locks), created by this script in a
temporary folder::

    git clone https://github.com/fab-jul/L3C-PyTorch /tmp/l3c-orig                # HEAD 469d43b
    l3c_torch/.venv/bin/python -m pip install --no-deps --target /tmp/l3c-orig-deps fjcommon==0.2.12
    PYTHONPATH=/tmp/l3c-orig-deps KODAK_DIR=/path/to/kodak \\
        l3c_torch/.venv/bin/python tools/parity/make_l3c_fixture.py --original /tmp/l3c-orig

A checkout without ``.git`` (``git archive``) needs ``--commit SHA``. ``--check`` regenerates in memory
temporary folder, writes nothing and exits 1 when an array differs from the committed one by more than
``CHECK_RTOL`` of its largest value (symbols: at all); ``L3C_ORIGINAL=PATH`` makes
``l3c_torch/tests/test_parity.py`` run that check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "l3c_torch" / "parity"
ORIG_REPO = "https://github.com/fab-jul/L3C-PyTorch"
OVERRIDES = ["Cf=16", "enc.num_blocks=1", "dec.num_blocks=1"]  # upstream train.py -p syntax
CROP_H, CROP_W = 24, 32  # divisible by 2^num_scales = 8 (no padding)
CROPS = (("kodim17.png", 4, 60), ("kodim01.png", 200, 300))  # (image, top, left) of each crop
SEED = 0  # torch.manual_seed(0), the original's train.py
ITR = 0  # the one training step is iteration 0 of the original's train loop
FJCOMMON = "0.2.12"
CHECK_RTOL = 1e-5  # --check: per array, max |new - committed| / max |committed|
SHIMS = [
    "`torchvision` is a stub package (`torchvision.utils.make_grid` and every `torchvision.transforms.X` raise "
    "NotImplementedError): the original imports it at module level for TensorBoard image summaries and data "
    "loaders, neither of which runs here (the summarizer stays the original's `NoOp`).",
    "`fasteners` is a stub module (`InterProcessLock` raises): the original imports it for log-dir locks, not used.",
    "`pytorch_ext.set_device(False)`: the original's CPU device switch, so the run is on the CPU also where CUDA "
    "exists.",
    "No source line of the original is changed; `fjcommon==0.2.12` from PyPI (the original pinned 0.2.10, which "
    "behaves the same for config parsing, `NoOp`, `assert_exc` and `functools_ext`).",
]
# the original's source files this fixture depends on (their sha256 go into MANIFEST.json)
ORIG_FILES = [
    "src/configs/ms/cr.cf", "src/pytorch_ext.py", "src/blueprints/multiscale_blueprint.py",
    "src/modules/multiscale_network.py", "src/modules/net.py", "src/modules/edsr.py", "src/modules/head.py",
    "src/modules/prob_clf.py", "src/modules/quantizer.py", "src/criterion/logistic_mixture.py",
    "src/train/lr_schedule.py", "src/train/multiscale_trainer.py", "src/helpers/global_config.py",
]

_STUBS = {
    "torchvision/__init__.py": '"""Stub (make_l3c_fixture): summaries and transforms only."""\n'
                               "from . import transforms, utils  # noqa: F401\n",
    "torchvision/utils.py": "def make_grid(*a, **k):\n"
                            "    raise NotImplementedError('torchvision stub: no summaries')\n",
    "torchvision/transforms.py": "def __getattr__(name):\n"
                                 "    def _missing(*a, **k):\n"
                                 "        raise NotImplementedError(f'torchvision stub: transforms.{name}')\n"
                                 "    return _missing\n",
    "fasteners/__init__.py": "class InterProcessLock:\n"
                             "    def __init__(self, *a, **k):\n"
                             "        raise NotImplementedError('fasteners stub')\n",
}


def _sha256(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _src_dir(original: Path) -> Path:
    for cand in (original / "src", original):
        if (cand / "modules" / "multiscale_network.py").is_file():
            return cand
    sys.exit(f"make_l3c_fixture: error: {original}: not a checkout of {ORIG_REPO} (no src/modules/multiscale_network.py)")


def _commit(original: Path, given: str | None) -> str:
    try:
        head = subprocess.run(["git", "-C", str(original), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head = None
    if head and given and not head.startswith(given):
        sys.exit(f"make_l3c_fixture: error: {original} is at {head}, not --commit {given}")
    if not (head or given):
        sys.exit(f"make_l3c_fixture: error: {original} has no .git; pass --commit SHA (the commit it was taken from)")
    return head or given


def _load_crops(kodak: Path) -> tuple[np.ndarray, list[dict]]:
    from PIL import Image

    imgs, info = [], []
    for name, top, left in CROPS:
        p = kodak / name
        if not p.is_file():
            sys.exit(f"make_l3c_fixture: error: {p}: no such file (set KODAK_DIR or --kodak)")
        a = np.asarray(Image.open(p).convert("RGB"))
        c = a[top:top + CROP_H, left:left + CROP_W]
        if c.shape != (CROP_H, CROP_W, 3):
            sys.exit(f"make_l3c_fixture: error: {p}: crop {top},{left} does not fit {a.shape}")
        imgs.append(c.transpose(2, 0, 1))
        info.append({"image": name, "sha256": _sha256(p), "top": top, "left": left, "height": CROP_H, "width": CROP_W})
    return np.ascontiguousarray(np.stack(imgs)), info


def run_original(src: Path, x_u8: np.ndarray) -> tuple[dict, dict, dict, dict]:
    """Import the original from ``src`` (with stubs) and run one training step of it on ``x_u8``.

    Returns (ckpt, arrays, flat config, extra facts)."""
    import torch

    stub_dir = Path(tempfile.mkdtemp(prefix="l3c-orig-stubs-"))
    for rel, text in _STUBS.items():
        (stub_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (stub_dir / rel).write_text(text)
    sys.path[:0] = [str(stub_dir), str(src)]
    try:
        import fjcommon
        import pytorch_ext as pe
        from blueprints.multiscale_blueprint import MultiscaleBlueprint
        from fjcommon import config_parser
        from helpers.global_config import global_config
        from train import lr_schedule
    finally:
        shutil.rmtree(stub_dir, ignore_errors=True)
    fj_version = getattr(fjcommon, "__version__", None)
    if fj_version is None:
        from importlib.metadata import version

        fj_version = version("fjcommon")
    if fj_version != FJCOMMON:
        sys.exit(f"make_l3c_fixture: error: fjcommon {fj_version} imported, need {FJCOMMON}")

    torch.set_num_threads(1)
    pe.set_device(False)
    config_ms, _ = config_parser.parse(str(src / "configs" / "ms" / "cr.cf"))
    global_config.add_from_flag(OVERRIDES)
    global_config.update_config(config_ms)  # as MultiscaleTrainer.__init__
    flat = dict(config_ms.all_params_and_values())

    torch.manual_seed(SEED)
    blueprint = MultiscaleBlueprint(config_ms)
    net = blueprint.net
    optim = torch.optim.RMSprop(net.parameters(), config_ms.lr.initial, weight_decay=config_ms.weight_decay)
    sched = lr_schedule.from_spec(config_ms.lr.schedule, config_ms.lr.initial, [optim], epoch_len=1)
    ckpt = {"net": {k: v.detach().clone() for k, v in net.state_dict().items()}, "optim": optim.state_dict()}

    A: dict[str, np.ndarray] = {"input": x_u8}
    hooks = []
    for s, sub in enumerate(net.nets, 1):
        def pre_q(_m, _i, out, s=s):
            A[f"enc_pre_q/{s}"] = out.detach().numpy().copy()

        def enc(_m, _i, out, s=s):
            A[f"enc_F/{s}"] = out.F.detach().numpy().copy()

        def dec(_m, _i, out, s=s):
            A[f"dec_F/{s - 1}"] = out.F.detach().numpy().copy()  # f^(s) predicts level s-1
        hooks += [sub.enc.to_q[0].register_forward_hook(pre_q), sub.enc.register_forward_hook(enc),
                  sub.dec.register_forward_hook(dec)]

    # MultiscaleTrainer.train_step(i=0, ...)
    sched.update(ITR)
    net.zero_grad()
    x = torch.from_numpy(x_u8).float()
    out = blueprint.forward(x)
    loss_out = blueprint.get_loss(out)
    for h in hooks:
        h.remove()
    losses = blueprint.losses
    for i, P in enumerate(out.P):
        A[f"P/{i}"] = P.detach().numpy().copy()
        target = out.S[0].float() if i == 0 else out.bn[i].detach()
        loss = losses.loss_dmol_rgb if i == 0 else losses.loss_dmol_n
        with torch.no_grad():
            A[f"nll/{i}"] = loss(target.clone(), P.detach().clone(), i).numpy().copy()
    for s in range(1, len(out.S)):
        A[f"symbols/{s}"] = out.S[s].numpy().astype(np.int64)
        A[f"bn/{s}"] = out.bn[s].detach().numpy().copy()
    costs, _, n_sub = losses.get(out)
    A["cost_nats"] = np.array([float(c.detach()) for c in costs], dtype=np.float64)
    A["bpsp"] = np.array([float(b.detach()) if hasattr(b, "detach") else float(b) for b in loss_out.nonrecursive_bpsps], dtype=np.float64)
    A["loss"] = np.array(float(loss_out.loss_pc.detach()), dtype=np.float64)
    A["lr"] = np.array(optim.param_groups[0]["lr"], dtype=np.float64)
    loss_out.loss_pc.backward()
    for name, p in net.named_parameters():
        if p.grad is not None:
            A[f"grad/{name}"] = p.grad.detach().numpy().copy()
    optim.step()
    for k, v in net.state_dict().items():
        A[f"after/{k}"] = v.detach().numpy().copy()

    # how far the quantizer inputs are from a decision boundary (a tie could flip a symbol elsewhere)
    lo, hi = config_ms.q.levels_range
    step = (hi - lo) / (config_ms.q.L - 1)
    margins = []
    for s in range(1, len(out.S)):
        v = A[f"enc_pre_q/{s}"]
        inside = v[(v > lo) & (v < hi)]
        frac = (inside - lo) / step - np.floor((inside - lo) / step)
        margins.append(float(np.min(np.abs(frac - 0.5)) * step) if inside.size else float("inf"))
    extra = {"num_subpixels": int(n_sub), "quantizer_margin_min": min(margins),
             "fjcommon": fj_version, "torch": torch.__version__,
             "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
    return ckpt, A, flat, extra


def _write_provenance(path: Path, manifest: dict, args_line: str):
    m = manifest
    lines = [
        "# L3C parity fixture: provenance",
        "",
        "Written by `tools/parity/make_l3c_fixture.py` (do not edit by hand; rerun the generator).",
        "",
        f"- Original: {m['original']['repository']}, commit `{m['original']['commit']}`, imported from a local "
        "checkout (never copied into this repository).",
        f"- Configuration: the original's `src/configs/ms/cr.cf` with `-p {' -p '.join(OVERRIDES)}` through the "
        "original's `helpers.global_config` (resolved in `config_ms.cf`); `torch.manual_seed("
        f"{SEED})`; `MultiscaleBlueprint(config)` in training mode; CPU, {m['versions']['threads']} thread.",
        "- Input: " + "; ".join(f"`{c['image']}` rows {c['top']}..{c['top'] + c['height'] - 1}, columns "
                                 f"{c['left']}..{c['left'] + c['width'] - 1} (sha256 {c['sha256'][:16]}...)"
                                 for c in m["input"]["crops"]) + " of KODAK_DIR, as one batch (N=2).",
        "- One step of the original's `MultiscaleTrainer.train_step` (iteration 0): `lr_schedule.update(0)`, "
        "`net.zero_grad()`, `blueprint.forward`, `blueprint.get_loss`, `loss_pc.backward()`, "
        f"`RMSprop(net.parameters(), {m['config']['lr.initial']}, weight_decay={m['config']['weight_decay']})"
        ".step()`.",
        "- Shims (nothing else differs from the original's code):",
        *[f"  - {s}" for s in SHIMS],
        f"- Library versions: Python {m['versions']['python']}, torch {m['versions']['torch']} (CPU capability "
        f"{m['versions']['cpu_capability']}), numpy {m['versions']['numpy']}, Pillow {m['versions']['Pillow']}, "
        f"fjcommon {m['versions']['fjcommon']}; {m['versions']['platform']}.",
        f"- Smallest distance of a quantizer input to a decision boundary: {m['quantizer_margin_min']:.3g} "
        "(a cross-platform float difference below this cannot flip a symbol).",
        "- Command:",
        "",
        "```",
        args_line,
        "```",
        "",
        "Files (sha256 in `MANIFEST.json`, checked by `l3c_torch/tests/test_parity.py`):",
        "",
        *[f"- `{name}` ({info['bytes']} bytes)" for name, info in sorted(m["files"].items())],
        "",
        "`orig_outputs.npz` keys: " + ", ".join(f"`{k}`" for k in m["array_groups"]) + ".",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--original", required=True, type=Path, help="checkout of fab-jul/L3C-PyTorch")
    ap.add_argument("--commit", help="commit of the checkout when it has no .git")
    ap.add_argument("--kodak", type=Path, default=Path(os.environ.get("KODAK_DIR", REPO.parent / "shared/data/kodak")))
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--check", action="store_true", help="compare with the fixture in --out, write nothing")
    a = ap.parse_args(argv)

    src = _src_dir(a.original.resolve())
    root = src.parent if src.name == "src" else src
    commit = _commit(root, a.commit)
    x_u8, crops = _load_crops(a.kodak)
    ckpt, arrays, flat, extra = run_original(src, x_u8)

    import PIL
    import torch

    if a.check:
        ref_p = a.out / "orig_outputs.npz"
        if not ref_p.is_file():
            sys.exit(f"make_l3c_fixture: error: {ref_p}: no committed fixture to check against")
        with np.load(ref_p, allow_pickle=False) as z:
            ref = {k: z[k] for k in z.files}
        worst, bad = [], sorted(set(ref) ^ set(arrays))
        for k in sorted(set(ref) & set(arrays)):
            r, o = ref[k].astype(np.float64), arrays[k].astype(np.float64)
            if r.shape != o.shape:
                bad.append(k)
                continue
            scale = float(np.abs(r).max()) if r.size else 0.0
            d = float(np.abs(o - r).max()) if r.size else 0.0
            rel = d / scale if scale > 0 else d
            worst.append((rel, k))
            if (k.startswith("symbols/") and d != 0) or rel > CHECK_RTOL:
                bad.append(k)
        for rel, k in sorted(worst, reverse=True)[:5]:
            print(f"{k}: max |new - committed| = {rel:.3g} x max |committed|")
        if bad:
            print(f"{ref_p}: {len(bad)} arrays differ beyond {CHECK_RTOL:g} (or are missing/extra): {bad[:8]}")
            return 1
        print(f"{ref_p}: all {len(worst)} arrays reproduced within {CHECK_RTOL:g}")
        return 0

    tmp = Path(tempfile.mkdtemp(prefix=".l3c-parity-", dir=a.out.parent))
    try:
        (tmp / "orig_ckpt").mkdir()
        torch.save(ckpt, tmp / "orig_ckpt" / "ckpt_0000000000.pt")
        np.savez_compressed(tmp / "orig_outputs.npz", **arrays)
        (tmp / "config_ms.cf").write_text(
            f"# {ORIG_REPO} @ {commit[:7]}: src/configs/ms/cr.cf with -p {' -p '.join(OVERRIDES)} (resolved)\n"
            + "".join(f"{k} = {v!r}\n" for k, v in flat.items()))
        files = {}
        for p in sorted(tmp.rglob("*")):
            if p.is_file():
                rel = p.relative_to(tmp).as_posix()
                files[rel] = {"sha256": _sha256(p), "bytes": p.stat().st_size}
        manifest = {
            "what": "L3C parity fixture: the original's weights, input and outputs of one training step",
            "original": {"repository": ORIG_REPO, "commit": commit,
                         "files_sha256": {f: _sha256(root / f) for f in ORIG_FILES if (root / f).is_file()}},
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in flat.items()},
            "overrides": OVERRIDES, "seed": SEED, "iteration": ITR,
            "input": {"layout": "NCHW uint8", "crops": crops},
            "num_subpixels": extra["num_subpixels"],
            "quantizer_margin_min": extra["quantizer_margin_min"],
            "versions": {"python": platform.python_version(), "torch": extra["torch"], "numpy": np.__version__,
                         "Pillow": PIL.__version__, "fjcommon": extra["fjcommon"],
                         "cpu_capability": extra["cpu_capability"], "threads": extra["threads"],
                         "platform": platform.platform()},
            "array_groups": sorted({k.split("/")[0] + ("/*" if "/" in k else "") for k in arrays}),
            "files": files,
        }
        (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        cmd = ("PYTHONPATH=/path/to/l3c-orig-deps KODAK_DIR=/path/to/kodak l3c_torch/.venv/bin/python "
               f"tools/parity/make_l3c_fixture.py --original /path/to/L3C-PyTorch{' --commit ' + commit if a.commit else ''}")
        _write_provenance(tmp / "PROVENANCE.md", manifest, cmd)
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "orig_ckpt").mkdir(exist_ok=True)
        # data files first, MANIFEST.json last: an interrupted run leaves a manifest that names the stale files
        for rel in [*files, "PROVENANCE.md", "MANIFEST.json"]:
            os.replace(tmp / rel, a.out / rel)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(f["bytes"] for f in files.values())
    print(f"wrote {a.out} ({total} bytes; loss {float(arrays['loss']):.6f}, bpsp {arrays['bpsp'].round(6).tolist()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
