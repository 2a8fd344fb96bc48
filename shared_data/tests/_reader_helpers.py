"""Tiny self-written inputs for the reader tests (images with known content, TFRecord shards, batch files)."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from shared_data.tfrecord import encode_example, write_records


def gradient(h: int, w: int, k: int = 0) -> np.ndarray:
    """A uint8 image whose pixel (y, x) encodes its position (y in R, x in G, k in B): crops are traceable."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([y % 256, x % 256, np.full_like(y, k % 256)], axis=-1).astype(np.uint8)


def write_folder(folder: Path, sizes: list[tuple[int, int]], fmt: str = "png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, (h, w) in enumerate(sizes):
        p = folder / f"img{k:03d}.{fmt}"
        Image.fromarray(gradient(h, w, k)).save(p)
        out.append(p)
    return out


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def write_shards(folder: Path, sizes: list[tuple[int, int]], per_shard: int = 3, key: str = "image/encoded") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    recs = [encode_example({key: png_bytes(gradient(h, w, k))}) for k, (h, w) in enumerate(sizes)]
    paths = []
    for s in range(0, len(recs), per_shard):
        p = folder / f"train-{s // per_shard:05d}.tfrecord"
        write_records(p, recs[s:s + per_shard])
        paths.append(p)
    return paths


def write_cifar(folder: Path, n_per_batch: int = 7, batches: int = 2, seed: int = 0) -> np.ndarray:
    """CIFAR-10 "python version" pickles; returns the NHWC images of data_batch_1.., in order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    all_imgs = []
    for b in range(1, batches + 1):
        imgs = rng.integers(0, 256, (n_per_batch, 32, 32, 3), dtype=np.uint8)
        planar = imgs.transpose(0, 3, 1, 2).reshape(n_per_batch, -1)
        with open(folder / f"data_batch_{b}", "wb") as f:
            pickle.dump({b"data": planar, b"labels": list(rng.integers(0, 10, n_per_batch))}, f)
        all_imgs.append(imgs)
    test = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": test.transpose(0, 3, 1, 2).reshape(3, -1), b"labels": [1, 2, 3]}, f)
    return np.concatenate(all_imgs)


def window_of(crop, k=None):
    """(y0, x0, flipped) if ``crop`` is an unscaled window of ``gradient(.., k)``, else None."""
    r, g, b = (crop[..., i].astype(int) for i in range(3))
    if k is not None and not (b == k).all():
        return None
    if not (np.diff(r, axis=0) % 256 == 1).all() or not (r == r[:, :1]).all():
        return None
    dg = np.diff(g, axis=1) % 256
    if (dg == 1).all():
        return int(r[0, 0]), int(g[0, 0]), False
    if (dg == 255).all():
        return int(r[0, 0]), int(g[0, -1]), True
    return None
