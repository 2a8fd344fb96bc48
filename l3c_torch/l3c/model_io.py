"""Run directories, checkpoints and model fingerprints.

A run directory (what ``train.py`` writes and ``zoo/mini`` is) holds ``config_ms.cf`` and ``config_dl.cf``
(the resolved configs, overrides applied) and ``ckpts/ckpt_{itr:010d}.pt`` files with ``{'net', 'optim'}``
(``optim`` omitted in the zoo). Log dirs are named ``MMDD_HHMM <ms> <dl> [k=v ...]`` as upstream, so a run
is addressed by ``LOG_DIR`` + its ``MMDD_HHMM`` id.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from shared_data.container import fingerprint as container_fingerprint
from shared_data.errors import ModelError

from .config import Config, ConfigError, parse_cf
from .network import MultiscaleNetwork

CKPT_RE = re.compile(r"ckpt_(\d{10})\.pt$")
HERE = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = HERE / "zoo" / "mini"
EXACT_FILE = "exact.pt"


def load_weights_only(path, what: str = "checkpoint", map_location="cpu"):
    """``torch.load(path, weights_only=True)``: tensors and plain values only, no pickled code is ever run.
    A file that holds other pickled objects (or is unreadable) raises :class:`ModelError`, one line naming
    ``path``."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        text = str(e)
        m = re.search(r"Unsupported global: GLOBAL \S+|unrecognized function \S+|Unsupported class \S+", text)
        hint = m.group(0) if m else ""
        if hint:  # a global (code) the weights-only unpickler does not allow; junk bytes are "unreadable"
            raise ModelError(f"{path}: refused: the {what} holds pickled Python objects other than tensors and "
                             f"plain values, which a weights-only load never executes ({hint})"
                             ) from None
        first = next((ln.strip() for ln in text.splitlines() if "Unsupported" in ln),
                     text.splitlines()[0] if text else "")
        raise ModelError(f"{path}: unreadable {what} ({type(e).__name__}: {first})") from None


def upgrade_state_dict(sd: dict) -> dict:
    """Map this port's pre-release key layout (``encs.i``/``decs.i``/``quantize.levels``) to the upstream
    layout used now (``nets.i.enc``/``nets.i.dec``, ``enc.levels`` + ``enc.q.levels``). Upstream keys pass."""
    if not any(k.startswith(("encs.", "decs.")) for k in sd):
        return sd
    out = {}
    for k, v in sd.items():
        parts = k.split(".")
        if parts[0] in ("encs", "decs"):
            role = "enc" if parts[0] == "encs" else "dec"
            rest = ".".join(parts[2:])
            if rest == "quantize.levels":
                out[f"nets.{parts[1]}.enc.levels"] = v
                out[f"nets.{parts[1]}.enc.q.levels"] = v
                continue
            out[f"nets.{parts[1]}.{role}.{rest}"] = v
        elif k.startswith("heads.0.head.1.") and not k.startswith("heads.0.head.1.head."):
            out["heads.0.head.1.head." + k[len("heads.0.head.1."):]] = v
        else:
            out[k] = v
    return out


def list_ckpts(run_dir: Path) -> list[tuple[int, Path]]:
    d = Path(run_dir) / "ckpts"
    if not d.is_dir():
        return []
    out = [(int(m.group(1)), p) for p in d.iterdir() if (m := CKPT_RE.search(p.name))]
    return sorted(out)


def find_run(log_dir: str | os.PathLike, run_id: str) -> Path:
    """``LOG_DIR`` + ``MMDD_HHMM`` (or a full directory name) -> the run directory."""
    log_dir = Path(log_dir)
    if (log_dir / run_id).is_dir():
        return log_dir / run_id
    if not log_dir.is_dir():
        raise ModelError(f"{log_dir}: no such log directory")
    hits = sorted(p for p in log_dir.iterdir() if p.is_dir() and p.name.split(" ")[0] == run_id)
    if not hits:
        raise ModelError(f"no run {run_id!r} in {log_dir} (runs: {sorted(p.name for p in log_dir.iterdir())})")
    if len(hits) > 1:
        raise ModelError(f"run id {run_id!r} is ambiguous in {log_dir}: {[p.name for p in hits]}")
    return hits[0]


def load_run_config(run_dir: Path) -> Config:
    p = Path(run_dir) / "config_ms.cf"
    if not p.is_file():
        raise ModelError(f"{run_dir}: not a model directory (no config_ms.cf)")
    try:
        return Config(parse_cf(p))
    except ConfigError as e:
        raise ModelError(f"{run_dir}: unusable config_ms.cf ({e})") from None


def load_model(run_dir: str | os.PathLike | None = None, itr: int = -1, recursive: int | str = "auto",
               float_only: bool = False):
    """Load ``(net, fingerprint, itr)`` from a run directory (default: the committed ``zoo/mini``).

    ``recursive='auto'`` gives RGB Shared its 3 extra test-time levels (upstream ``--recursive=auto``).
    ``net.exact`` is the integer decoder path (``exact.pt``, written by ``python -m l3c integerize``) or
    None; ``fingerprint`` is the float model's (format-4 files carry ``net.exact.fingerprint``)."""
    run_dir = Path(run_dir) if run_dir is not None else DEFAULT_MODEL
    if not run_dir.is_dir():
        raise ModelError(f"{run_dir}: no such model directory")
    cfg = load_run_config(run_dir)
    ckpts = list_ckpts(run_dir)
    if not ckpts:
        raise ModelError(f"{run_dir}: no checkpoints in ckpts/")
    if itr == -1:
        itr, path = ckpts[-1]
    else:
        found = dict(ckpts)
        if itr not in found:
            raise ModelError(f"{run_dir}: no checkpoint for iteration {itr} (have {sorted(found)})")
        path = found[itr]
    if recursive == "auto":
        recursive = 3 if (cfg.rgb_bicubic_baseline and cfg.num_scales == 1) else 0
    net = MultiscaleNetwork(cfg, recursive=int(recursive))
    state = load_weights_only(path)
    sd = state.get("net", state) if isinstance(state, dict) else None
    if not isinstance(sd, dict):
        raise ModelError(f"{path}: no 'net' state dict")
    try:
        net.load_state_dict(upgrade_state_dict(sd), strict=True)
    except RuntimeError as e:
        raise ModelError(f"{path}: checkpoint does not match config_ms.cf ({str(e).splitlines()[0]})") from None
    net.eval()
    fp = model_fingerprint(net)
    net.exact = None
    if (run_dir / EXACT_FILE).is_file() and not float_only:
        from .integer import ExactModel

        net.exact = ExactModel.load(run_dir / EXACT_FILE, net, fp)
    return net, fp, itr


def integerize_run(src: str | os.PathLike, out: str | os.PathLike, itr: int = -1, max_images: int = 6,
                   crop: int = 128, log=print) -> Path:
    """``python -m l3c integerize CKPT OUT``: convert a run directory's (or a checkpoint file's, inside
    ``RUN/ckpts/``) decoders and heads to the integer path and write ``OUT/exact.pt`` (with the configs and
    float checkpoint copied when OUT is another directory). The activation ranges are measured on Kodak
    crops ($KODAK_DIR; else $TRAIN_DIR; else a synthetic image). Fails naming a layer whose accumulator
    could reach 2**53 (``IntegerizeError``)."""
    import shutil

    from .integer import calibration_images, integerize

    src = Path(src)
    if src.is_file():
        m = CKPT_RE.search(src.name)
        if not m or src.parent.name != "ckpts":
            raise ModelError(f"{src}: expected a run directory or RUN/ckpts/ckpt_NNNNNNNNNN.pt")
        src, itr = src.parent.parent, int(m.group(1))
    net, fp, itr = load_model(src, itr, float_only=True)
    out = Path(out)
    if out.resolve() != src.resolve():
        (out / "ckpts").mkdir(parents=True, exist_ok=True)
        for name in ("config_ms.cf", "config_dl.cf"):
            if (src / name).is_file():
                shutil.copyfile(src / name, out / name)
        ck = dict(list_ckpts(src))[itr]
        shutil.copyfile(ck, out / "ckpts" / ck.name)
    images, calib = calibration_images(max_images, crop)
    ex = integerize(net, images, fp, calib)
    ex.save(out / EXACT_FILE)
    log(f"{out / EXACT_FILE}: integer decoders + DMLL tables of {src} (iteration {itr}), activations "
        f"{ex.meta['a_frac']} fractional bits (max |a| {ex.meta['act_max']} on {calib}), "
        f"format-4 fingerprint {ex.fingerprint.hex()}")
    return out / EXACT_FILE


def model_fingerprint(net: MultiscaleNetwork) -> bytes:
    """8-byte fingerprint over the canonical config (+ recursive) and all weights sorted by name."""
    sd = net.state_dict()
    cfg = net.cfg.canonical() + f"|recursive={net.recursive}"
    return container_fingerprint(cfg, (sd[k].detach().cpu().contiguous().numpy().tobytes() for k in sorted(sd)))


def save_ckpt(run_dir: Path, itr: int, net, optim=None) -> Path:
    """Atomic checkpoint write ``ckpts/ckpt_{itr:010d}.pt``."""
    d = Path(run_dir) / "ckpts"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"ckpt_{itr:010d}.pt"
    tmp = d / f".{path.name}.tmp"
    obj = {"net": net.state_dict()}
    if optim is not None:
        obj["optim"] = optim.state_dict()
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def export_run(run_dir: str | os.PathLike, dest: str | os.PathLike, itr: int = -1) -> Path:
    """Copy a run's configs and one checkpoint (weights only, no optimizer state) to ``dest`` (the zoo)."""
    run_dir, dest = Path(run_dir), Path(dest)
    ckpts = dict(list_ckpts(run_dir))
    if not ckpts:
        raise ModelError(f"{run_dir}: no checkpoints")
    itr = max(ckpts) if itr == -1 else itr
    state = load_weights_only(ckpts[itr])
    if not isinstance(state, dict) or not isinstance(state.get("net"), dict):
        raise ModelError(f"{ckpts[itr]}: no 'net' state dict")
    (dest / "ckpts").mkdir(parents=True, exist_ok=True)
    for old in (dest / "ckpts").glob("ckpt_*.pt"):
        old.unlink()
    for name in ("config_ms.cf", "config_dl.cf"):
        (dest / name).write_text((run_dir / name).read_text())
    out = dest / "ckpts" / f"ckpt_{itr:010d}.pt"
    torch.save({"net": {k: v.cpu() for k, v in upgrade_state_dict(state["net"]).items()}}, out)
    return out
