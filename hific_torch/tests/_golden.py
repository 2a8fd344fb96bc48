"""Committed golden files (tests/golden/): a missing file FAILS its test; ``HIFIC_UPDATE_GOLDEN=1`` rewrites
the ones the current code can write (the portable file, the table digest). ``legacy_layout1.*`` was written
by the layout-1 encoder (before stream layout 2) and cannot be regenerated."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("HIFIC_UPDATE_GOLDEN") == "1"


def synthetic(h: int = 40, w: int = 56) -> np.ndarray:
    """The deterministic image the golden files encode (no randomness, any machine)."""
    yy, xx = np.indices((h, w))
    return np.stack([(xx * 4) % 256, (yy * 6) % 256, ((xx + yy) * 3) % 256], -1).astype(np.uint8)


def symbols_digest(z_sym, y_sym) -> str:
    h = hashlib.sha256()
    for s in (z_sym, y_sym):
        a = s.numpy() if hasattr(s, "numpy") else np.asarray(s)
        h.update(np.ascontiguousarray(a.astype("<i8")).tobytes())
    return h.hexdigest()


def need(path: Path) -> Path:
    if not path.is_file():
        raise AssertionError(f"golden file {path} is missing: rerun with HIFIC_UPDATE_GOLDEN=1 to write it")
    return path


def read_json(path: Path) -> dict:
    return json.loads(need(path).read_text())


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
