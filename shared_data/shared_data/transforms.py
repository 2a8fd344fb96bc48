"""Loader-time transforms on ``uint8 (H, W, 3)`` arrays, framework-free, and a folder reader. They are the
building blocks of :mod:`shared_data.readers` (the tf.data / torch / numpy readers with the papers' presets),
which is what sub-projects should use for training data.

* :func:`random_crop` / :func:`center_crop` / :func:`random_flip_lr` — CPM (160 crop + flip), L3C (128 crop +
  flip, center crop for validation), SGA / iREC (256 crops).
* :func:`hific_rescale_crop` — HiFiC's training transform: scale ~ U(0.75, 0.95), raised so the shorter side
  stays >= the crop, resize to ``ceil(scale·H) × ceil(scale·W)`` (bilinear, as torchvision's and TF's default),
  then a random crop (the PyTorch port also flips; the TF original does not: ``flip`` chooses).
* :class:`ImageFolder` — a map-style dataset (``len`` / ``[i]``) over a folder of images that a torch
  ``DataLoader`` accepts as is; ``min_size`` drops images smaller than the crop as L3C's ``ImagesCached`` does.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DatasetError
from .imageio import IMAGE_SUFFIXES, list_images, read_image  # noqa: F401  (IMAGE_SUFFIXES: re-export)


def _rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def random_crop(img: np.ndarray, size: int | tuple[int, int], rng=None) -> np.ndarray:
    """A uniformly placed ``size`` crop; raises ValueError when the image is smaller than the crop."""
    ch, cw = (size, size) if isinstance(size, int) else size
    h, w = img.shape[:2]
    if h < ch or w < cw:
        raise ValueError(f"image {h}x{w} is smaller than the crop {ch}x{cw}")
    r = _rng(rng)
    y = int(r.integers(0, h - ch + 1))
    x = int(r.integers(0, w - cw + 1))
    return img[y:y + ch, x:x + cw]


def center_crop(img: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    ch, cw = (size, size) if isinstance(size, int) else size
    h, w = img.shape[:2]
    if h < ch or w < cw:
        raise ValueError(f"image {h}x{w} is smaller than the crop {ch}x{cw}")
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[y:y + ch, x:x + cw]


def random_flip_lr(img: np.ndarray, rng=None, p: float = 0.5) -> np.ndarray:
    return img[:, ::-1] if _rng(rng).random() < p else img


def hific_rescale_crop(img: np.ndarray, rng=None, crop: int = 256, scale_range: tuple[float, float] = (0.75, 0.95),
                       flip: bool = False) -> np.ndarray:
    """HiFiC's random downscale + crop (see the module docstring)."""
    r = _rng(rng)
    h, w = img.shape[:2]
    scale = max(float(r.uniform(*scale_range)), crop / min(h, w))
    nh, nw = math.ceil(scale * h), math.ceil(scale * w)
    if (nh, nw) != (h, w):
        img = np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((nw, nh), Image.BILINEAR))
    out = random_crop(img, crop, r)
    return random_flip_lr(out, r) if flip else out


class ImageFolder:
    """Images under ``root`` (sorted), read as ``uint8 (H, W, 3)`` and passed through ``transform(img, rng)``.

    Each process (e.g. each DataLoader worker) gets its own generator seeded from (seed, pid).
    """

    def __init__(self, root: str | os.PathLike, transform=None, min_size: int = 0, seed: int = 0):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: no such folder")
        self.paths = list_images(self.root)
        if min_size:
            keep = []
            for p in self.paths:
                with Image.open(p) as im:
                    if min(im.size) >= min_size:
                        keep.append(p)
            self.paths = keep
        if not self.paths:
            raise DatasetError(f"{self.root}: no images with both sides >= {min_size}")
        self.transform = transform
        self.seed = seed
        self._rng = None
        self._pid = None

    @classmethod
    def from_manifest(cls, out: str | os.PathLike, transform=None, min_size: int = 0, seed: int = 0,
                      prefix: str = "") -> ImageFolder:
        """The images a ``prepare`` run wrote into ``out`` (optionally only under ``prefix``), filtered by
        the sizes its manifest recorded — no file is opened (L3C's ``images_loader.py update --min_size``)."""
        from .pipeline import Manifest

        out = Path(out)
        self = cls.__new__(cls)
        self.root = out
        self.paths = sorted(out / o["path"] for r in Manifest(out).records.values() if r.get("status") == "done"
                            for o in r.get("outputs", []) if "width" in o and o["path"].startswith(prefix)
                            and min(o["width"], o["height"]) >= min_size)
        if not self.paths:
            raise DatasetError(f"{out}: no prepared images" + (f" with both sides >= {min_size}" if min_size else ""))
        self.transform, self.seed, self._rng, self._pid = transform, seed, None, None
        return self

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        if self._rng is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._rng = np.random.default_rng([self.seed, self._pid])
        img = read_image(self.paths[i])
        return self.transform(img, self._rng) if self.transform else img
