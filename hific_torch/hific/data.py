"""Training crops (TF ``model.py _get_dataset`` / port ``datasets.py``): per image a random scale in
[0.75, 0.95] (raised so the short side stays >= crop), resize, random ``crop_size`` crop, random horizontal
flip (port; TF has none). Unreadable files are reported once and skipped, never silently shrinking batches.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from shared_data.imageio import ImageReadError, list_images, read_image


def random_crop(img: np.ndarray, crop: int, rng: random.Random) -> np.ndarray:
    h, w = img.shape[:2]
    short = min(h, w)
    scale = rng.uniform(0.75, 0.95)
    scale = max(scale, crop / short)
    nh, nw = max(crop, int(np.ceil(scale * h))), max(crop, int(np.ceil(scale * w)))
    if (nh, nw) != (h, w):
        img = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BICUBIC))
    top, left = rng.randint(0, nh - crop), rng.randint(0, nw - crop)
    out = img[top:top + crop, left:left + crop]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


class CropDataset(torch.utils.data.Dataset):
    """Random crops in [0, 1], (3, crop, crop) float32."""

    def __init__(self, folder, crop_size: int = 256, seed: int = 0, cache: bool = False):
        self.files = list_images(folder)
        self.crop = crop_size
        self.rng = random.Random(seed)
        self.bad: set[Path] = set()
        # cache=True keeps decoded uint8 images in memory (PNG decoding was ~60 % of a MINI CPU step);
        # the random rescale/crop/flip is still drawn per sample.
        self.cache: dict[Path, np.ndarray] | None = {} if cache else None

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        for j in range(len(self.files)):
            path = self.files[(i + j) % len(self.files)]
            if path in self.bad:
                continue
            try:
                img = self.cache.get(path) if self.cache is not None else None
                if img is None:
                    img = read_image(path)
                    if self.cache is not None:
                        self.cache[path] = img
            except ImageReadError as e:
                print(f"warning: skipping unreadable training image: {e}")
                self.bad.add(path)
                continue
            x = random_crop(img, self.crop, self.rng)
            return torch.from_numpy(x).permute(2, 0, 1).float().div(255.0)
        raise RuntimeError("no readable training image left")


def infinite_batches(loader, sampler=None, first_epoch: int = 0):
    """Endless batches; with a DistributedSampler, a new shuffle per epoch (``set_epoch``)."""
    epoch = first_epoch
    while True:
        if sampler is not None:
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1
