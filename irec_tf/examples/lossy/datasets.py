"""Sacred ingredient ``dataset`` of the lossy experiments (the original: clic2019 / kodak image folders)."""

from pathlib import Path

from sacred import Ingredient

from shared_data.imageio import list_images
from shared_data.paths import kodak_dir, train_dir

dataset_ingredient = Ingredient("dataset")


@dataset_ingredient.config
def dataset_config():
    dataset_name = "train_photos"   # clic2019 | kodak | train_photos ($TRAIN_DIR)
    dataset_base_path = ""           # for clic2019: {base}/clic2019/{split}/*.png
    split = "train"
    num_images = 0                   # 0 = all


@dataset_ingredient.capture
def get_files(dataset_name, dataset_base_path, split, num_images):
    if dataset_name == "kodak":
        folder = Path(dataset_base_path) / "kodak" if dataset_base_path else kodak_dir()
    elif dataset_name == "train_photos":
        folder = Path(dataset_base_path) if dataset_base_path else train_dir()
    elif dataset_name == "clic2019":
        if not dataset_base_path:
            raise ValueError("dataset.dataset_name=clic2019 needs dataset.dataset_base_path")
        folder = Path(dataset_base_path) / "clic2019" / split
    else:
        raise ValueError(f"unknown dataset {dataset_name!r}: use clic2019, kodak or train_photos")
    return list_images(folder)[:num_images or None]
