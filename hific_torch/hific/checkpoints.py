"""Checkpoint I/O: the one place HiFiC models are written to and read from disk.

A checkpoint is ``torch.save`` of ``{"format": "hific_torch/1", "config": ModelConfig.to_dict(), "state_dict":
..., **extra}`` (tensors and plain values only), written atomically and read with ``weights_only=True``, so no
pickled code ever runs. Every refusal is a :class:`shared_data.errors.ModelError` naming the file. Released
checkpoints of the PyTorch port are converted by :mod:`hific.import_original`; the integer block of portable
files is added by :func:`hific.portable.integerize_file`.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import torch

from shared_data.errors import ModelError
from shared_data.imageio import atomic_write_bytes

from .config import ModelConfig
from .model import HiFiC
from .portable import PortableHyper

#: The ``format`` entry of every hific_torch checkpoint.
FORMAT = "hific_torch/1"
#: The committed default model (integerized: writes portable files).
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "zoo" / "mini" / "hific_mini.pt"


def default_model_path() -> Path:
    return DEFAULT_MODEL


def load_weights_only(path, what: str = "checkpoint"):
    """``torch.load(path, weights_only=True)`` (tensors and plain values: no pickled code ever runs). A file
    holding other pickled objects, or an unreadable one, raises :class:`ModelError`: one line naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        text = str(e)
        m = re.search(r"Unsupported global: GLOBAL \S+|unrecognized function \S+|Unsupported class \S+", text)
        if m:  # a global (code) the weights-only unpickler does not allow; junk bytes are "unreadable"
            raise ModelError(f"{path}: refused: the {what} holds pickled Python objects other than tensors "
                             "and plain values, which weights_only loading never executes "
                             f"({m.group(0)})") from None
        first = next((ln.strip() for ln in text.splitlines() if "Unsupported" in ln),
                     text.splitlines()[0] if text else "")
        raise ModelError(f"{path}: not a readable torch checkpoint ({type(e).__name__}: {first})") from None


def is_checkpoint(path) -> bool:
    """Cheap test (no torch.load): ``path`` is a torch zip archive whose pickle names :data:`FORMAT`."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next((n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            return name is not None and FORMAT.encode() in z.read(name)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError):
        return False


def save_checkpoint(path, model: HiFiC, extra: dict | None = None) -> None:
    """Atomic torch.save of {config, state_dict, **extra} (tensors and plain types: weights_only-loadable)."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "config": model.cfg.to_dict(), "state_dict": model.state_dict(),
                **(extra or {})}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path, device: str = "cpu", need_tables: bool = True) -> tuple[HiFiC, dict]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True`` (no pickle code)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such checkpoint file")
    ck = load_weights_only(path)
    if not isinstance(ck, dict) or ck.get("format") != FORMAT or "state_dict" not in ck:
        raise ModelError(f"{path}: not a hific_torch checkpoint (no 'format': '{FORMAT}' entry); "
                         "released port checkpoints are imported with hific.import_original")
    try:
        cfg = ModelConfig.from_dict(ck["config"])
    except (TypeError, ValueError) as e:
        raise ModelError(f"{path}: bad model config ({e})") from None
    with torch.device("meta"):
        model = HiFiC(cfg)
    sd = ck["state_dict"]
    model = model.to_empty(device="cpu")
    _resize_table_buffers(model, sd)
    if not isinstance(sd, dict):
        raise ModelError(f"{path}: the state_dict entry is not a dict")
    pkeys = {k[len("portable."):]: v for k, v in sd.items() if isinstance(k, str) and k.startswith("portable.")}
    if pkeys:
        try:
            model.portable = PortableHyper(pkeys)
            if model.portable.settings[0] != 1:
                raise ValueError(f"unknown portable block version {model.portable.settings[0]}")
        except (TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
            raise ModelError(f"{path}: bad portable (integerized) block ({e})") from None
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise ModelError(f"{path}: weights do not match the config ({str(e).splitlines()[0]})") from None
    model.to(device).eval()
    if need_tables and not model.tables_ready():
        raise ModelError(f"{path}: the checkpoint has no coding tables (train.py builds them at the end; "
                         "or call model.update() and save)")
    return model, ck


def load_codec_weights(model: HiFiC, sd: dict) -> None:
    """load_state_dict that first sizes the coding-table buffers from ``sd``. An integer block in ``sd`` is
    left out (training changes the weights it was converted from; integerize the result again)."""
    sd = {k: v for k, v in sd.items() if not k.startswith("portable.")}
    _resize_table_buffers(model, sd)
    model.portable = None
    model._portable_fingerprint = None
    model.load_state_dict(sd, strict=True)
    model._fingerprint = None
    model._tables = None


def _resize_table_buffers(model: HiFiC, sd: dict) -> None:
    """Table buffers change shape in update(); size them from the state dict before loading."""
    for name in ("hyper_density.pmfs", "hyper_density.offsets", "hyper_density.lengths",
                 "conditional.pmfs", "conditional.radii"):
        if name in sd:
            mod_name, attr = name.rsplit(".", 1)
            mod = model.get_submodule(mod_name)
            old = getattr(mod, attr)
            setattr(mod, attr, torch.empty_like(sd[name], device=old.device if old.device.type != "meta" else "cpu"))


def export_codec(src, dst) -> Path:
    """Write a codec-only copy of a training checkpoint (no discriminator, no optimizer states): what
    ``zoo/`` holds. Keeps ``step`` and ``model_type`` for provenance."""
    model, ck = load_checkpoint(src)
    save_checkpoint(dst, model, {"step": int(ck.get("step", 0)), "model_type": ck.get("model_type", ""),
                                 "train_config": ck.get("train_config", {})})
    return Path(dst)
