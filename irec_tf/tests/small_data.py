"""Write tiny CIFAR-10 ("python version" pickles) and ImageNet32 (npz) batch files for tests."""

import pickle
from pathlib import Path

import numpy as np


def planar(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) uint8 → (N, 3072) rows: the R plane, then G, then B (the distributed layout)."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def random_images(n, seed):
    rs = np.random.RandomState(seed)
    base = np.linspace(0, 255, 32)[None, None, :, None] * np.ones((n, 32, 1, 3))
    return np.clip(base + rs.randn(n, 32, 32, 3) * 20, 0, 255).astype(np.uint8)


def write_cifar10(root: Path, n_train=(6, 5), n_test=4) -> dict:
    """``root/cifar-10-batches-py/{data_batch_1.., test_batch}``; returns {split: images in file order}."""
    d = Path(root) / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    train = []
    for i, n in enumerate(n_train, 1):
        imgs = random_images(n, seed=i)
        train.append(imgs)
        with open(d / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"data": planar(imgs), b"labels": list(range(n)), b"batch_label": b"x"}, f)
    test = random_images(n_test, seed=99)
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": planar(test), b"labels": [0] * n_test}, f)
    return {"train": np.concatenate(train), "test": test}


def write_imagenet32(root: Path, n_train=(5, 4), n_val=3) -> dict:
    """``root/Imagenet32_train_npz/train_data_batch_N.npz`` and ``root/Imagenet32_val_npz/val_data.npz``."""
    tr, va = Path(root) / "Imagenet32_train_npz", Path(root) / "Imagenet32_val_npz"
    tr.mkdir(parents=True, exist_ok=True)
    va.mkdir(parents=True, exist_ok=True)
    train = []
    for i, n in enumerate(n_train, 1):
        imgs = random_images(n, seed=10 + i)
        train.append(imgs)
        np.savez(tr / f"train_data_batch_{i}.npz", data=planar(imgs), labels=np.arange(1, n + 1),
                 mean=np.zeros(3072))
    val = random_images(n_val, seed=77)
    np.savez(va / "val_data.npz", data=planar(val), labels=np.ones(n_val, np.int64))
    return {"train": np.concatenate(train), "validation": val}
