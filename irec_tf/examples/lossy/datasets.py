"""Sacred ingredient ``dataset`` of the lossy experiments (the original: clic2019 / kodak image folders)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _common  # noqa: E402,F401
from rec.data import kodak_dir, list_images, train_dir  # noqa: E402
from sacred import Ingredient  # noqa: E402

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
    return list_images(folder, num_images or None)
