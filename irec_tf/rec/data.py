"""Datasets: folders of images (CLIC / Kodak / $TRAIN_DIR photos) and 32×32 crops for the lossless model.

The original read CIFAR-10 / ImageNet32 through tfds and ``{base}/clic2019/{train,test}/*.png`` for lossy.
Here every dataset is a folder of image files read with ``shared_data.imageio.read_image``; CIFAR-10 /
ImageNet32 folders (once prepared by shared_data) are read the same way, since they are 32×32 images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from shared_data.imageio import read_image

EXTS = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".webp", ".tif", ".tiff")
REPO = Path(__file__).resolve().parents[2]


def kodak_dir() -> Path:
    return Path(os.environ.get("KODAK_DIR", REPO.parent / "shared" / "data" / "kodak"))


def train_dir() -> Path:
    return Path(os.environ.get("TRAIN_DIR", REPO.parent / "shared" / "data" / "train-photos"))


def list_images(folder, limit: int | None = None) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: image folder does not exist (set KODAK_DIR / TRAIN_DIR / "
                                "dataset.dataset_base_path)")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTS)
    if not files:
        raise FileNotFoundError(f"{folder}: no image files")
    return files[:limit] if limit else files


def random_crops(files, crop: int, batch_size: int, seed: int = 0, max_images: int = 200):
    """Infinite generator of uint8 batches (B, crop, crop, 3) of random crops (images smaller than the crop
    are edge-padded). Loads at most ``max_images`` images into memory once."""
    rs = np.random.RandomState(seed)
    images = []
    for p in list(files)[:max_images]:
        img = read_image(p)
        if img.shape[0] < crop or img.shape[1] < crop:
            ph, pw = max(0, crop - img.shape[0]), max(0, crop - img.shape[1])
            img = np.pad(img, [(0, ph), (0, pw), (0, 0)], mode="edge")
        images.append(img)
    if not images:
        raise ValueError("no training images")
    while True:
        batch = np.empty((batch_size, crop, crop, 3), np.uint8)
        for i in range(batch_size):
            img = images[rs.randint(len(images))]
            y = rs.randint(img.shape[0] - crop + 1)
            x = rs.randint(img.shape[1] - crop + 1)
            batch[i] = img[y:y + crop, x:x + crop]
            if rs.rand() < 0.5:
                batch[i] = batch[i, :, ::-1]
        yield batch


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(size, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return np.ascontiguousarray(img[y:y + s, x:x + s])
