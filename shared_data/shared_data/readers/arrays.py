"""CIFAR-10 and downsampled ImageNet (32×32 / 64×64) batch files as ``uint8`` NHWC arrays (framework-free).

The formats are the distributed ones (see :mod:`shared_data.recipes.small`): CIFAR-10 "python version"
pickles ``data_batch_1..5`` / ``test_batch``; downsampled ImageNet ``train_data_batch_1..10`` / ``val_data``
as ``.npz`` or the older pickles. What iREC's lossless models train on (tfds ``cifar10`` and
``downsampled_imagenet/32x32``; irec.md "Data")::

    from shared_data.readers import arrays
    train = arrays.load("/data/cifar-10-batches-py", "cifar10", split="train")   # Arrays(images, labels)
    train.images.shape                      # (50000, 32, 32, 3) uint8
    for x in arrays.iterate(train.images, batch_size=8, seed=0, repeat=True): ...   # (8, 32, 32, 3) uint8
    x01 = arrays.irec_lossless_scale(x)     # (x + 0.5) / 256 - 0.5, float32 in (-0.5, 0.5)

``tf.data.Dataset.from_tensor_slices(train.images)`` or ``torch.from_numpy`` take the arrays as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..recipes.small import _PATTERNS, _SIDE, read_batch
from ._common import ReaderError

DATASETS = tuple(_SIDE)   # "cifar10", "imagenet32", "imagenet64"


@dataclass
class Arrays:
    images: np.ndarray     # (N, S, S, 3) uint8
    labels: np.ndarray     # (N,) int64 (CIFAR 0..9; downsampled ImageNet 1..1000 as distributed)
    files: list[str]       # the batch files read, in order

    def __len__(self) -> int:
        return len(self.images)


def batch_files(root: str | os.PathLike, dataset: str, split: str = "train") -> list[Path]:
    """The batch files of ``split`` (``train``, ``test`` for CIFAR-10, ``val`` for ImageNet32/64) in
    ``root``, in numeric order (``data_batch_2`` before ``data_batch_10``)."""
    if dataset not in _SIDE:
        raise ReaderError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    root = Path(root)
    if not root.is_dir():
        raise ReaderError(f"{root}: no such folder (expected the folder holding the {dataset} batch files)")
    splits = {s for _, s in _PATTERNS[dataset]}
    if split not in splits:
        raise ReaderError(f"split {split!r}: {dataset} has {', '.join(sorted(splits))}")

    def key(p: Path):
        digits = "".join(c if c.isdigit() else " " for c in p.name).split()
        return (int(digits[-1]) if digits else -1, p.name)

    files = sorted((p for p in root.iterdir() for pat, s in _PATTERNS[dataset] if s == split and pat.match(p.name)),
                   key=key)
    if not files:
        raise ReaderError(f"{root}: no {dataset} {split} batch files "
                          f"({', '.join(pat.pattern for pat, s in _PATTERNS[dataset] if s == split)})")
    return files


def load(root: str | os.PathLike, dataset: str, split: str = "train", max_files: int | None = None) -> Arrays:
    """All images of a split as one ``uint8 (N, S, S, 3)`` array (CIFAR-10 train: 150 MB; ImageNet32
    train: 3.7 GB — pass ``max_files`` or use :func:`iter_files` to stay smaller)."""
    files = batch_files(root, dataset, split)[:max_files]
    ims, labs = [], []
    for f in files:
        try:
            x, y = read_batch(f, _SIDE[dataset])
        except ValueError as e:
            raise ReaderError(str(e)) from None
        ims.append(x)
        labs.append(y)
    return Arrays(np.concatenate(ims), np.concatenate(labs), [str(f) for f in files])


def iter_files(root: str | os.PathLike, dataset: str, split: str = "train"):
    """Yield ``Arrays`` one batch file at a time (bounded memory for ImageNet32/64)."""
    for f in batch_files(root, dataset, split):
        try:
            x, y = read_batch(f, _SIDE[dataset])
        except ValueError as e:
            raise ReaderError(str(e)) from None
        yield Arrays(x, y, [str(f)])


def iterate(images: np.ndarray, batch_size: int, *, labels: np.ndarray | None = None, shuffle: bool = True,
            seed: int | None = None, repeat: bool = False, drop_remainder: bool = False):
    """Batches of ``images`` (and ``labels`` if given: yields ``(x, y)``). ``shuffle``: a fresh permutation
    per epoch from ``default_rng([seed, epoch])`` (the original's 5,000-element shuffle buffer over tfds is
    a partial shuffle; a full permutation is the uniform limit)."""
    n = len(images)
    if batch_size <= 0:
        raise ReaderError(f"batch_size={batch_size}: must be positive")
    if labels is not None and len(labels) != n:
        raise ReaderError(f"{n} images but {len(labels)} labels")
    if n == 0 or (drop_remainder and n < batch_size):
        raise ReaderError(f"{n} images give no {'full ' if drop_remainder else ''}batch of {batch_size}")
    seed_ = np.random.SeedSequence().entropy if seed is None else seed
    epoch = 0
    while True:
        order = np.random.default_rng([seed_, epoch]).permutation(n) if shuffle else np.arange(n)
        stop = n - n % batch_size if drop_remainder else n
        for s in range(0, stop, batch_size):
            idx = order[s:s + batch_size]
            yield (images[idx], labels[idx]) if labels is not None else images[idx]
        epoch += 1
        if not repeat:
            return


def irec_lossless_scale(x: np.ndarray) -> np.ndarray:
    """iREC's input scaling (irec.md "Data", ``examples/lossless/datasets.py``): (pixel + 0.5) / 256
    clipped to [0, 1], minus 0.5 → float32 in (−0.5, 0.5)."""
    return (np.clip((np.asarray(x, np.float32) + 0.5) / 256.0, 0.0, 1.0) - 0.5).astype(np.float32)
