"""Regenerate the L3C parity fixture (``l3c_torch/parity/``) with the ORIGINAL code, fab-jul/L3C-PyTorch
(Mentzer et al., "Practical Full Resolution Learned Lossless Image Compression", CVPR 2019).

The original is imported from a checkout the user supplies (it is never copied into this repository) and run
on this project's torch (2.13, CPU, one thread). Two fixtures, each in ``l3c_torch/parity/<name>/``, named
after the original config they start from (``FIXTURES``); overrides go through the original's own
``helpers.global_config`` (what its ``train.py -p key=value`` does):

* ``cr``: L3C, ``src/configs/ms/cr.cf`` with ``Cf=16 enc.num_blocks=1 dec.num_blocks=1`` (the paper's
  architecture: 3 scales, C=5, L=25, K=10, RMSprop lr 1e-4, with fewer channels and blocks); input two 24x32
  (HxW) Kodak crops: a dark one of kodim17 containing zeros (every sub-pixel in the DMLL's ordinary bin
  branch or its x=0 edge branch) and a textured one of kodim01 (most sub-pixels beyond the 1e-12 clamp of
  the untrained model);
* ``cr_rgb_shared``: the RGB Shared baseline, ``cr_rgb_shared.cf`` with ``Cf=16 dec.num_blocks=1``; input
  two 16x32 crops at the same places; besides the training step, the test-time pass of the original's
  ``multiscale_tester`` with ``--recursive=auto`` (the one net applied 3 more times: 4 levels).

``torch.manual_seed(0)`` as the original's ``train.py``, then ``MultiscaleBlueprint(config)`` (modules in
training mode, as constructed). Each fixture holds

* ``orig_ckpt/ckpt_0000000000.pt``: ``{'net': state_dict, 'optim': RMSprop state}`` as the original's
  ``Saver`` writes them, under the original's key names (the freshly initialised weights);
* ``orig_outputs.npz`` (no pickles): ``input`` (N, 3, H, W uint8) and the original's tensors for it, all
  from the training-mode forward of ``MultiscaleTrainer.train_step``: per scale s (1 = z^(1) ...)
  ``enc_pre_q/s`` (to_q output, before Q; L3C only), ``enc_F/s`` (encoder features fed to the next scale;
  L3C only), ``symbols/s`` (``Out.S``), ``bn/s`` (``Out.bn``: z^(s), straight-through values), and per
  predicted level i (0 = RGB, predicted from f^(i+1)) ``dec_F/i`` (decoder output f^(i+1)), ``P/i`` (DMLL
  parameters, NKpHW), ``nll/i`` (nats per sub-pixel, NCHW, the original's ``DiscretizedMixLogisticLoss``),
  ``cost_nats`` (per level), ``bpsp`` (``nonrecursive_bpsps``: the predicted levels + the uniform top),
  ``loss`` (``loss_pc``), ``lr``; after ``loss_pc.backward()`` ``grad/<param>``; after ONE
  ``optim.step()`` every state-dict entry as ``after/<key>``; for a recursive fixture, before the step,
  ``eval/symbols/s``, ``eval/P/i``, ``eval/nll/i``, ``eval/cost_nats`` and ``eval/bpsp``
  (``recursive_bpsps``) of the test-time pass;
* ``config_ms.cf`` (the resolved configuration, ``key = literal`` lines), ``MANIFEST.json`` (schema
  ``lic-parity/1`` of ``shared_data.parity``: commit, sha256 of every file, versions; config and crops under
  ``params``) and ``PROVENANCE.md``.

Environment (scratch only; nothing changes ``l3c_torch/requirements*``): the original runs on torch 2.x
with ``fjcommon==0.2.12`` and stubs for ``torchvision`` (used only for TensorBoard summaries and data
transforms, which this script never calls) and ``fasteners`` (log-dir locks), created by this script in a
temporary folder::

    git clone https://github.com/fab-jul/L3C-PyTorch /tmp/l3c-orig                # HEAD 469d43b
    l3c_torch/.venv/bin/python -m pip install --no-deps --target /tmp/l3c-orig-deps fjcommon==0.2.12
    PYTHONPATH=/tmp/l3c-orig-deps KODAK_DIR=/path/to/kodak \\
        l3c_torch/.venv/bin/python tools/parity/make_l3c_fixture.py --original /tmp/l3c-orig

A rerun on the same machine writes byte-identical files (measured; fixed zip timestamps, one thread). A
checkout without ``.git`` (``git archive``) needs ``--commit SHA``; ``--fixture NAME`` makes one of them. ``--check`` regenerates in memory
temporary folder, writes nothing and exits 1 when an array differs from the committed one by more than
``CHECK_RTOL`` of its largest value (symbols: at all); ``L3C_ORIGINAL=PATH`` makes
``l3c_torch/tests/test_parity.py`` run that check.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "l3c_torch" / "parity"  # one folder per fixture
ORIG_REPO = "https://github.com/fab-jul/L3C-PyTorch"
FIXTURES = {  # name -> original config, -p overrides, crop (H, W), test-time --recursive
    "cr": {"config": "cr.cf", "overrides": ["Cf=16", "enc.num_blocks=1", "dec.num_blocks=1"],
           "crop": (24, 32), "recursive": 0},
    "cr_rgb_shared": {"config": "cr_rgb_shared.cf", "overrides": ["Cf=16", "dec.num_blocks=1"],
                      "crop": (16, 32), "recursive": 3},
}
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
    "src/configs/ms/cr.cf", "src/configs/ms/cr_rgb_shared.cf", "src/test/multiscale_tester.py", "src/pytorch_ext.py", "src/blueprints/multiscale_blueprint.py",
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


def _load_crops(kodak: Path, crop_hw) -> tuple[np.ndarray, list[dict]]:
    from PIL import Image

    CROP_H, CROP_W = crop_hw
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


def import_original(src: Path) -> dict:
    """Import the original's modules from ``src`` with the stubs of ``_STUBS`` (in a temporary folder)."""
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
    return {"pe": pe, "MultiscaleBlueprint": MultiscaleBlueprint, "config_parser": config_parser,
            "global_config": global_config, "lr_schedule": lr_schedule, "fjcommon": fj_version}


def _np(t) -> np.ndarray:
    return t.detach().numpy().copy()


def _per_level(A: dict, prefix: str, out, losses) -> None:
    """Symbols, z^(s) and, per predicted level, P and the per-sub-pixel NLL (the original's own target and
    loss pairing, ``Out.iter_targets_and_predictions``) of an ``Out``."""
    import torch

    for s in range(1, len(out.S)):
        A[f"{prefix}symbols/{s}"] = out.S[s].numpy().astype(np.int64)
        A[f"{prefix}bn/{s}"] = _np(out.bn[s])
    pairs = out.iter_targets_and_predictions(loss_rgb=losses.loss_dmol_rgb, loss_others=losses.loss_dmol_n)
    for i, (loss, target, P) in enumerate(pairs):
        A[f"{prefix}P/{i}"] = _np(P)
        with torch.no_grad():
            A[f"{prefix}nll/{i}"] = _np(loss(target.detach().clone(), P.detach().clone(), i))


def run_original(orig: dict, src: Path, fdef: dict, x_u8: np.ndarray) -> tuple[dict, dict, dict, dict]:
    """One training step of the original (and its test-time pass when ``fdef['recursive']``) on ``x_u8``.

    Returns (ckpt, arrays, flat config, extra facts)."""
    import torch

    pe, global_config = orig["pe"], orig["global_config"]
    torch.set_num_threads(1)
    pe.set_device(False)
    config_ms, _ = orig["config_parser"].parse(str(src / "configs" / "ms" / fdef["config"]))
    global_config.reset()
    global_config.add_from_flag(fdef["overrides"])
    global_config.update_config(config_ms)  # as MultiscaleTrainer.__init__
    flat = dict(config_ms.all_params_and_values())

    torch.manual_seed(SEED)
    blueprint = orig["MultiscaleBlueprint"](config_ms)
    net, losses = blueprint.net, blueprint.losses
    optim = torch.optim.RMSprop(net.parameters(), config_ms.lr.initial, weight_decay=config_ms.weight_decay)
    sched = orig["lr_schedule"].from_spec(config_ms.lr.schedule, config_ms.lr.initial, [optim], epoch_len=1)
    ckpt = {"net": {k: v.detach().clone() for k, v in net.state_dict().items()}, "optim": optim.state_dict()}
    x = torch.from_numpy(x_u8).float()
    A: dict[str, np.ndarray] = {"input": x_u8}

    if fdef["recursive"]:  # multiscale_tester.test: eval mode, no grad, forward(x, recursive), get_loss
        blueprint.set_eval()
        with torch.no_grad():
            out = blueprint.forward(x, fdef["recursive"])
            loss_out = blueprint.get_loss(out)
        _per_level(A, "eval/", out, losses)
        costs, _, _ = losses.get(out)
        A["eval/cost_nats"] = np.array([float(c) for c in costs], dtype=np.float64)
        A["eval/bpsp"] = np.array([float(b) for b in loss_out.recursive_bpsps], dtype=np.float64)
        net.train()
        losses.train()

    hooks = []
    for s, sub in enumerate(net.nets, 1):
        def pre_q(_m, _i, out, s=s):
            A[f"enc_pre_q/{s}"] = _np(out)

        def enc(_m, _i, out, s=s):
            if out.F is not None:
                A[f"enc_F/{s}"] = _np(out.F)

        def dec(_m, _i, out, s=s):
            A[f"dec_F/{s - 1}"] = _np(out.F)  # f^(s) predicts level s-1
        hooks += [sub.enc.register_forward_hook(enc), sub.dec.register_forward_hook(dec)]
        if hasattr(sub.enc, "to_q"):
            hooks.append(sub.enc.to_q[0].register_forward_hook(pre_q))

    # MultiscaleTrainer.train_step(i=0, ...)
    sched.update(ITR)
    net.zero_grad()
    out = blueprint.forward(x)
    loss_out = blueprint.get_loss(out)
    for h in hooks:
        h.remove()
    _per_level(A, "", out, losses)
    costs, _, n_sub = losses.get(out)
    A["cost_nats"] = np.array([float(c.detach()) for c in costs], dtype=np.float64)
    A["bpsp"] = np.array([float(b.detach()) if torch.is_tensor(b) else float(b)
                          for b in loss_out.nonrecursive_bpsps], dtype=np.float64)
    A["loss"] = np.array(float(loss_out.loss_pc.detach()), dtype=np.float64)
    A["lr"] = np.array(optim.param_groups[0]["lr"], dtype=np.float64)
    loss_out.loss_pc.backward()
    for name, p in net.named_parameters():
        if p.grad is not None:
            A[f"grad/{name}"] = _np(p.grad)
    optim.step()
    for k, v in net.state_dict().items():
        A[f"after/{k}"] = _np(v)

    # how far the quantizer inputs are from a decision boundary (a tie could flip a symbol elsewhere)
    margins = []
    if not config_ms.rgb_bicubic_baseline:
        lo, hi = config_ms.q.levels_range
        step = (hi - lo) / (config_ms.q.L - 1)
        for s in range(1, len(out.S)):
            v = A[f"enc_pre_q/{s}"]
            inside = v[(v > lo) & (v < hi)]
            frac = (inside - lo) / step - np.floor((inside - lo) / step)
            margins.append(float(np.min(np.abs(frac - 0.5)) * step) if inside.size else float("inf"))
    extra = {"num_subpixels": int(n_sub), "quantizer_margin_min": min(margins) if margins else None,
             "fjcommon": orig["fjcommon"], "torch": torch.__version__,
             "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
    return ckpt, A, flat, extra


def _check(name: str, ref_p: Path, arrays: dict) -> bool:
    """``--check``: the regenerated arrays against the committed ones (True when all agree)."""
    if not ref_p.is_file():
        print(f"{ref_p}: no committed fixture to check against")
        return False
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
        if ("symbols/" in k and d != 0) or rel > CHECK_RTOL:
            bad.append(k)
    for rel, k in sorted(worst, reverse=True)[:3]:
        print(f"{name} {k}: max |new - committed| = {rel:.3g} x max |committed|")
    if bad:
        print(f"{ref_p}: {len(bad)} arrays differ beyond {CHECK_RTOL:g} (or are missing/extra): {bad[:8]}")
        return False
    print(f"{ref_p}: all {len(worst)} arrays reproduced within {CHECK_RTOL:g}")
    return True


def _write_provenance(path: Path, name: str, fdef: dict, manifest: dict, args_line: str):
    m = {**manifest["params"], **manifest}  # lic-parity/1: the fixture's own settings are under "params"
    ov = " -p ".join(fdef["overrides"])
    step = ("One step of the original's `MultiscaleTrainer.train_step` (iteration 0): `lr_schedule.update(0)`, "
            "`net.zero_grad()`, `blueprint.forward`, `blueprint.get_loss`, `loss_pc.backward()`, "
            f"`RMSprop(net.parameters(), {m['config']['lr.initial']}, weight_decay={m['config']['weight_decay']})"
            ".step()`.")
    if fdef["recursive"]:
        step = (f"Before it, the test-time pass of the original's `multiscale_tester` with `--recursive={fdef['recursive']}` "
                f"(`blueprint.set_eval()`, no grad, `blueprint.forward(x, {fdef['recursive']})`, `get_loss`: "
                "`eval/*`). Then o" + step[1:])
    margin = m["quantizer_margin_min"]
    lines = [
        f"# L3C parity fixture `{name}`: provenance",
        "",
        "Written by `tools/parity/make_l3c_fixture.py` (do not edit by hand; rerun the generator).",
        "",
        f"- Original: {m['original']['repository']}, commit `{m['original']['commit']}`, imported from a local "
        "checkout (never copied into this repository).",
        f"- Configuration: the original's `src/configs/ms/{fdef['config']}` with `-p {ov}` through the "
        "original's `helpers.global_config` (resolved in `config_ms.cf`); `torch.manual_seed("
        f"{SEED})`; `MultiscaleBlueprint(config)` in training mode; CPU, {m['versions']['threads']} thread.",
        "- Input: " + "; ".join(f"`{c['image']}` rows {c['top']}..{c['top'] + c['height'] - 1}, columns "
                                 f"{c['left']}..{c['left'] + c['width'] - 1} (sha256 {c['sha256'][:16]}...)"
                                 for c in m["input"]["crops"]) + " of KODAK_DIR, as one batch (N=2).",
        f"- {step}",
        "- Shims (nothing else differs from the original's code):",
        *[f"  - {s}" for s in SHIMS],
        f"- Library versions: Python {m['versions']['python']}, torch {m['versions']['torch']} (CPU capability "
        f"{m['versions']['cpu_capability']}), numpy {m['versions']['numpy']}, Pillow {m['versions']['Pillow']}, "
        f"fjcommon {m['versions']['fjcommon']}; {m['versions']['platform']}.",
        *([f"- Smallest distance of a quantizer input to a decision boundary: {margin:.3g} (a cross-platform "
           "float difference below this cannot flip a symbol)."] if margin is not None else []),
        "- Command (writes every fixture; `--fixture NAME` one):",
        "",
        "```",
        args_line,
        "```",
        "",
        "Files (sha256 in `MANIFEST.json`, checked by `l3c_torch/tests/test_parity.py`):",
        "",
        *[f"- `{f}` ({info['bytes']} bytes)" for f, info in sorted(m["files"].items())],
        "",
        "`orig_outputs.npz` keys: " + ", ".join(f"`{k}`" for k in m["array_groups"]) + ".",
        "",
    ]
    path.write_text("\n".join(lines))


def _savez_deterministic(path: Path, arrays: dict) -> None:
    """``np.savez_compressed`` with fixed zip timestamps, so a rerun on the same platform is byte-identical."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for k in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[k], order="C"), allow_pickle=False)  # keeps 0-d shapes
            info = zipfile.ZipInfo(k + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def write_fixture(out: Path, name: str, fdef: dict, commit: str, root: Path, crops: list, ckpt: dict,
                  arrays: dict, flat: dict, extra: dict, cmd: str) -> int:
    """Write one fixture folder atomically per file (MANIFEST.json last). Returns its size in bytes."""
    import PIL
    import torch

    from shared_data import parity

    tmp = Path(tempfile.mkdtemp(prefix=".l3c-parity-", dir=out.parent))
    try:
        (tmp / "orig_ckpt").mkdir()
        torch.save(ckpt, tmp / "orig_ckpt" / "ckpt_0000000000.pt")
        _savez_deterministic(tmp / "orig_outputs.npz", arrays)
        (tmp / "config_ms.cf").write_text(
            f"# {ORIG_REPO} @ {commit[:7]}: src/configs/ms/{fdef['config']} with -p {' -p '.join(fdef['overrides'])}"
            " (resolved)\n" + "".join(f"{k} = {v!r}\n" for k, v in flat.items()))
        params = {
            "what": f"L3C parity fixture {name!r}: the original's weights, input and outputs of one training step",
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in flat.items()},
            "config_file": fdef["config"], "overrides": fdef["overrides"], "recursive": fdef["recursive"],
            "seed": SEED, "iteration": ITR,
            "input": {"layout": "NCHW uint8", "crops": crops},
            "num_subpixels": extra["num_subpixels"],
            "quantizer_margin_min": extra["quantizer_margin_min"],
            "array_groups": sorted({k.rsplit("/", 1)[0] + "/*" if "/" in k else k for k in arrays}),
        }
        versions = {"python": platform.python_version(), "torch": extra["torch"], "numpy": np.__version__,
                    "Pillow": PIL.__version__, "fjcommon": extra["fjcommon"],
                    "cpu_capability": extra["cpu_capability"], "threads": extra["threads"],
                    "platform": platform.platform()}
        manifest = parity.manifest(
            tmp, fixture=name, repository=ORIG_REPO, commit=commit, generator="tools/parity/make_l3c_fixture.py",
            original_files={f: _sha256(root / f) for f in ORIG_FILES if (root / f).is_file()},
            versions=versions, params=params)
        files = manifest["files"]
        _write_provenance(tmp / "PROVENANCE.md", name, fdef, manifest, cmd)
        (out / "orig_ckpt").mkdir(parents=True, exist_ok=True)
        # data files first, MANIFEST.json last: an interrupted run leaves a manifest that names the stale files
        for rel in [*files, "PROVENANCE.md"]:
            os.replace(tmp / rel, out / rel)
        parity.write_manifest(out, manifest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sum(f["bytes"] for f in files.values())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--original", required=True, type=Path, help="checkout of fab-jul/L3C-PyTorch")
    ap.add_argument("--commit", help="commit of the checkout when it has no .git")
    ap.add_argument("--kodak", type=Path, default=Path(os.environ.get("KODAK_DIR", REPO.parent / "shared/data/kodak")))
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="parent folder of the fixtures")
    ap.add_argument("--fixture", choices=sorted(FIXTURES), action="append", help="default: all")
    ap.add_argument("--check", action="store_true", help="compare with the fixtures in --out, write nothing")
    a = ap.parse_args(argv)

    src = _src_dir(a.original.resolve())
    root = src.parent if src.name == "src" else src
    commit = _commit(root, a.commit)
    orig = import_original(src)
    cmd = ("PYTHONPATH=/path/to/l3c-orig-deps KODAK_DIR=/path/to/kodak l3c_torch/.venv/bin/python "
           "tools/parity/make_l3c_fixture.py --original /path/to/L3C-PyTorch"
           + (f" --commit {commit}" if a.commit else ""))
    ok = True
    for name in a.fixture or sorted(FIXTURES):
        fdef = FIXTURES[name]
        x_u8, crops = _load_crops(a.kodak, fdef["crop"])
        ckpt, arrays, flat, extra = run_original(orig, src, fdef, x_u8)
        if a.check:
            ok &= _check(name, a.out / name / "orig_outputs.npz", arrays)
            continue
        size = write_fixture(a.out / name, name, fdef, commit, root, crops, ckpt, arrays, flat, extra, cmd)
        print(f"wrote {a.out / name} ({size} bytes; loss {float(arrays['loss']):.6f}, "
              f"bpsp {arrays['bpsp'].round(6).tolist()})")
    if not a.check:
        _write_index(a.out, commit, cmd)
    return 0 if ok else 1


def _write_index(out: Path, commit: str, cmd: str) -> None:
    """``parity/PROVENANCE.md``: what each fixture folder is (details in ``<name>/PROVENANCE.md``)."""
    rows = [f"| [`{n}/`]({n}/PROVENANCE.md) | `src/configs/ms/{f['config']}` -p {' -p '.join(f['overrides'])} | "
            f"2 x {f['crop'][0]}x{f['crop'][1]} | {'train step + test-time `--recursive=' + str(f['recursive']) + '`' if f['recursive'] else 'train step'} |"
            for n, f in sorted(FIXTURES.items())]
    text = "\n".join([
        "# L3C parity fixtures: provenance",
        "",
        f"Made by `tools/parity/make_l3c_fixture.py` from the ORIGINAL code, {ORIG_REPO} at commit `{commit}` "
        "(imported from a local checkout, never copied here), with stubs for `torchvision` and `fasteners` only; "
        "every folder's own `PROVENANCE.md` lists the shims, library versions and inputs, its `MANIFEST.json` "
        "the sha256 of its files (checked by `l3c_torch/tests/test_parity.py`).",
        "",
        "| fixture | original config | input (Kodak crops) | outputs |",
        "|---|---|---|---|",
        *rows,
        "",
        "Regenerate (or `--check` against the committed arrays):",
        "",
        "```",
        cmd,
        "```",
        "",
    ])
    tmp = out / ".PROVENANCE.md.tmp"
    tmp.write_text(text)
    os.replace(tmp, out / "PROVENANCE.md")


if __name__ == "__main__":
    sys.exit(main())
