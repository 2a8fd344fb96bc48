"""Datasets: folders of images (CLIC / Kodak / $TRAIN_DIR photos) and 32×32 crops for the lossless model.

The original read CIFAR-10 / ImageNet32 through tfds and ``{base}/clic2019/{train,test}/*.png`` for lossy.
Here every dataset is a folder of image files listed by the project's one rule
(:func:`shared_data.imageio.list_images`: recursive, case-insensitive suffixes, hidden files skipped) and read
with ``shared_data.imageio.read_image``; the data folders default through :mod:`shared_data.paths`
(``$KODAK_DIR`` / ``$TRAIN_DIR``). CIFAR-10 / ImageNet32 folders (once prepared by shared_data) are read the
same way, since they are 32×32 images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared_data.errors import DatasetError
from shared_data.imageio import list_images, read_image


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
        raise DatasetError("no training images (the file list is empty)")
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


# --- CIFAR-10 / ImageNet32 (the lossless datasets) -------------------------------------------------------
#
# The original read tfds ``cifar10`` (splits train/test) and ``downsampled_imagenet/32x32`` (train/validation).
# Here they are read from the distributed batch files with shared_data's array reader
# (:mod:`shared_data.readers.arrays`: CIFAR-10 "python version" pickles, downsampled-ImageNet ``.npz`` /
# pickles → (N, 32, 32, 3) uint8), or from the PNG folders ``python -m shared_data prepare cifar10|imagenet32``
# writes. This module only finds the folder and maps the original's config keys / split names.

#: the original's split names (+ aliases) → the reader's split names
SMALL_SPLITS = {"cifar10": {"train": "train", "test": "test"},
                "imagenet32": {"train": "train", "validation": "val", "val": "val", "test": "val"}}
#: where the distributed archives unpack to, relative to ``dataset_base_path`` (or ``…/<dataset>``)
_RAW_DIRS = {"cifar10": ("cifar-10-batches-py",),
             "imagenet32": ("Imagenet32_train_npz", "Imagenet32_val_npz", "Imagenet32_train", "Imagenet32_val")}


def _reader_split(name: str, split: str) -> str:
    if name not in SMALL_SPLITS:
        raise DatasetError(f"unknown 32x32 dataset {name!r}; known: {sorted(SMALL_SPLITS)}")
    if split not in SMALL_SPLITS[name]:
        raise DatasetError(f"{name} has no split {split!r}; use one of {sorted(SMALL_SPLITS[name])}")
    return SMALL_SPLITS[name][split]


def small_dataset_source(name: str, base, split: str):
    """Locate split ``split`` of ``name`` under ``base``: the batch files in ``base``, ``base/<name>`` or the
    archives' folders below them (→ ("batches", files)), else the prepared PNG folder
    ``base[/<name>]/<train|test|val>`` (→ ("images", files)). Raises :class:`DatasetError` naming the places."""
    from shared_data.readers import ReaderError
    from shared_data.readers.arrays import batch_files

    rsplit = _reader_split(name, split)
    base = Path(base)
    if not base.is_dir():
        raise DatasetError(f"{base}: dataset folder does not exist (dataset_info.dataset_base_path)")
    dirs = [base / name, base] + [d / raw for d in (base / name, base) for raw in _RAW_DIRS[name]]
    for d in dirs:
        if d.is_dir():
            try:
                return "batches", batch_files(d, name, rsplit)
            except ReaderError:
                continue
    for d in (base / name / rsplit, base / rsplit):
        if d.is_dir():
            try:
                return "images", list_images(d)
            except DatasetError:
                continue
    raise DatasetError(f"{name} split {split!r}: no {rsplit} batch files in {base / name}, {base} or "
                       f"{'/'.join(_RAW_DIRS[name])} below them, and no prepared image folder "
                       f"{base / name / rsplit}")


def load_small_images(name: str, base, split: str, limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """The first ``limit`` images of a split in file order, as (name, (32, 32, 3) uint8) pairs."""
    from shared_data.readers import ReaderError
    from shared_data.readers.arrays import iter_files

    kind, files = small_dataset_source(name, base, split)
    out: list[tuple[str, np.ndarray]] = []
    if kind == "images":
        return [(f.stem, read_image(f)) for f in files[:limit]]
    try:
        for arr in iter_files(files[0].parent, name, _reader_split(name, split)):
            stem = Path(arr.files[0]).name.removesuffix(".npz")
            out += [(f"{stem}_{i:05d}", im) for i, im in enumerate(arr.images[:None if limit is None
                                                                               else limit - len(out)])]
            if limit is not None and len(out) >= limit:
                break
    except ReaderError as e:
        raise DatasetError(str(e)) from None
    return out


def small_image_batches(name: str, base, split: str, batch_size: int, seed: int = 0, max_files: int | None = None):
    """Infinite generator of uint8 batches (B, 32, 32, 3) of whole images (no crops, no flips — as the
    original's tfds pipeline), a fresh permutation of the split per epoch (``shared_data.readers.arrays``;
    the original's ``shuffle(5000)`` buffer is a partial shuffle of the same stream). The split is held in
    memory (CIFAR-10 train 150 MB, ImageNet32 train 3.7 GB; ``max_files`` limits the batch files read)."""
    from shared_data.readers import ReaderError
    from shared_data.readers.arrays import iterate, load

    kind, files = small_dataset_source(name, base, split)
    try:
        if kind == "batches":
            images = load(files[0].parent, name, _reader_split(name, split), max_files=max_files).images
        else:
            ims = [read_image(f) for f in files]
            bad = [f.name for f, im in zip(files, ims) if im.shape != (32, 32, 3)]
            if bad:
                raise DatasetError(f"{name}: expected 32x32 RGB images, {bad[0]} is not")
            images = np.stack(ims)
        yield from iterate(images, batch_size, shuffle=True, seed=seed, repeat=True, drop_remainder=True)
    except ReaderError as e:
        raise DatasetError(str(e)) from None
