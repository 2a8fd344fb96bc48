"""Sacred ingredient ``dataset_info`` of the lossless experiments.

The original loaded tfds ``cifar10`` / ``downsampled_imagenet/32x32``. Here a dataset is a folder of 32×32
images ``{dataset_base_path}/{dataset_name}/{split}`` (as prepared by shared_data), or ``train_photos``:
32×32 crops of $TRAIN_DIR photos (random for training, a fixed grid of crops for testing).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _common  # noqa: E402,F401
import numpy as np  # noqa: E402
from rec.data import list_images, random_crops, train_dir  # noqa: E402
from sacred import Ingredient  # noqa: E402

from shared_data.imageio import read_image  # noqa: E402

dataset_ingredient = Ingredient("dataset_info")


@dataset_ingredient.config
def dataset_config():
    dataset_name = "train_photos"   # cifar10 | imagenet32 | train_photos
    dataset_base_path = ""
    split = "train"
    crop_size = 32


def _folder(dataset_name, dataset_base_path, split):
    if dataset_name == "train_photos":
        return Path(dataset_base_path) if dataset_base_path else train_dir()
    if dataset_name in ("cifar10", "imagenet32"):
        if not dataset_base_path:
            raise ValueError(f"dataset_info.dataset_name={dataset_name} needs dataset_info.dataset_base_path "
                             f"(a folder holding {dataset_name}/{split}/*.png)")
        return Path(dataset_base_path) / dataset_name / split
    raise ValueError(f"unknown dataset {dataset_name!r}: use cifar10, imagenet32 or train_photos")


@dataset_ingredient.capture
def train_batches(batch_size, seed, dataset_name, dataset_base_path, split, crop_size, max_images=500):
    return random_crops(list_images(_folder(dataset_name, dataset_base_path, split)), crop_size, batch_size,
                        seed=seed, max_images=max_images)


@dataset_ingredient.capture
def test_images(num_images, dataset_name, dataset_base_path, split, crop_size):
    """(name, uint8 image) pairs; for train_photos, the centre crop_size² crop of the last images."""
    files = list_images(_folder(dataset_name, dataset_base_path, split))
    if dataset_name == "train_photos":
        files = files[::-1]
    out = []
    for f in files[:num_images]:
        img = read_image(f)
        if dataset_name == "train_photos":
            y, x = (img.shape[0] - crop_size) // 2, (img.shape[1] - crop_size) // 2
            img = np.ascontiguousarray(img[max(0, y):max(0, y) + crop_size, max(0, x):max(0, x) + crop_size])
        out.append((f"{f.stem}", img))
    return out
