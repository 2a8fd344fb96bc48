"""Image lists for training, validation and testing: a directory, a glob or ``$TRAIN_DIR``/``$KODAK_DIR``.

The crops themselves (upstream ``multiscale_trainer.py``: random 128 crop + horizontal flip, images with a
side below the crop skipped as ``ImagesCached(min_size=...)``) come from ``shared_data.readers`` (preset
``l3c``), see :func:`l3c.train_loop.train`.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

IMG_EXT = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".ppm", ".tif", ".tiff")
REPO = Path(__file__).resolve().parents[2]


def default_dir(var: str) -> Path:
    defaults = {"KODAK_DIR": REPO.parent / "shared" / "data" / "kodak",
                "TRAIN_DIR": REPO.parent / "shared" / "data" / "train-photos"}
    return Path(os.environ.get(var) or defaults[var])


def resolve_glob(spec: str) -> list[Path]:
    """Image files named by a directory, a glob or ``$VAR`` (with the repo's data defaults)."""
    if spec.startswith("$"):
        spec = str(default_dir(spec[1:]))
    p = Path(os.path.expanduser(spec))
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMG_EXT)
    elif p.is_file():
        files = [p]
    else:
        files = sorted(Path(f) for f in glob.glob(os.path.expanduser(spec)) if f.lower().endswith(IMG_EXT))
    return files
