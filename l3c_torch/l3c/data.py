"""Training/validation data: random 128-crops with horizontal flips (upstream ``multiscale_trainer.py``).

Images whose shorter side is below the crop size are skipped (upstream ``ImagesCached(min_size=...)``).
Globs may name a directory, a glob pattern, or ``$TRAIN_DIR``/``$KODAK_DIR``.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from shared_data.imageio import read_image

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


def _size(p: Path) -> tuple[int, int]:
    with Image.open(p) as im:
        return im.size


class CropDataset(torch.utils.data.Dataset):
    """uint8 crops as float 0..255 tensors (3, crop, crop). ``train``: random crop + flip; else center crop."""

    def __init__(self, files: list[Path], crop: int, train: bool, cache: bool = True):
        self.files = [f for f in files if min(_size(f)) >= crop]
        if not self.files:
            raise FileNotFoundError(f"no images with both sides >= {crop} px among {len(files)} files")
        self.crop, self.train = crop, train
        self._cache: dict[int, np.ndarray] = {} if cache else None

    def __len__(self):
        return len(self.files)

    def _img(self, i):
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        img = read_image(self.files[i])
        if self._cache is not None:
            self._cache[i] = img
        return img

    def __getitem__(self, i):
        img = self._img(i)
        h, w = img.shape[:2]
        c = self.crop
        if self.train:
            y, x = np.random.randint(0, h - c + 1), np.random.randint(0, w - c + 1)
        else:
            y, x = (h - c) // 2, (w - c) // 2
        out = img[y:y + c, x:x + c]
        if self.train and np.random.rand() < 0.5:
            out = out[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1))).float()
