"""Sacred ingredient ``dataset_info`` of the lossless experiments (keys of the original: ``dataset_name``,
``dataset_base_path``, ``split``).

The original loaded tfds ``cifar10`` (splits train/test) and ``downsampled_imagenet/32x32`` (train/validation).
Here ``cifar10`` / ``imagenet32`` are read from the distributed batch files under ``dataset_base_path``
(``cifar-10-batches-py/{data_batch_N,test_batch}``, ``Imagenet32_{train,val}_npz/{train_data_batch_N,val_data}.npz``,
directly or below ``{dataset_base_path}/{dataset_name}/``) through shared_data's batch reader, or from the PNG
folders ``{dataset_base_path}/{dataset_name}/{train,test,val}`` written by ``python -m shared_data prepare``
(:func:`rec.data.small_dataset_source`). ``train_photos`` (not in the original) gives random 32×32 crops of
$TRAIN_DIR photos for training and centre crops of the last photos for testing.
"""

from pathlib import Path

from rec.data import SMALL_SPLITS, load_small_images, random_crops, small_image_batches
from sacred import Ingredient

from shared_data.imageio import list_images, read_image
from shared_data.paths import train_dir
from shared_data.transforms import center_crop

dataset_ingredient = Ingredient("dataset_info")


@dataset_ingredient.config
def dataset_config():
    dataset_name = "train_photos"   # cifar10 | imagenet32 | train_photos
    dataset_base_path = ""          # cifar10/imagenet32: folder with the batch files (see the module doc)
    split = "train"                 # cifar10: train | test; imagenet32: train | validation (test = validation)
    crop_size = 32                  # train_photos only


def _base(dataset_name, dataset_base_path):
    if dataset_name in SMALL_SPLITS:
        if not dataset_base_path:
            raise ValueError(f"dataset_info.dataset_name={dataset_name} needs dataset_info.dataset_base_path "
                             f"(the folder holding the {dataset_name} batch files)")
        return Path(dataset_base_path)
    if dataset_name == "train_photos":
        return Path(dataset_base_path) if dataset_base_path else train_dir()
    raise ValueError(f"unknown dataset {dataset_name!r}: use cifar10, imagenet32 or train_photos")


@dataset_ingredient.capture
def train_batches(batch_size, seed, dataset_name, dataset_base_path, split, crop_size, max_images=500,
                  shuffle_buffer_size=5000):
    """Infinite uint8 batches: whole 32×32 images, reshuffled every epoch (cifar10/imagenet32), or random
    crops with flips (train_photos)."""
    base = _base(dataset_name, dataset_base_path)
    if dataset_name in SMALL_SPLITS:
        # a full permutation per epoch replaces the original's shuffle(shuffle_buffer_size) over tfds
        return small_image_batches(dataset_name, base, split, batch_size, seed=seed)
    return random_crops(list_images(base), crop_size, batch_size, seed=seed, max_images=max_images)


@dataset_ingredient.capture
def test_images(num_images, dataset_name, dataset_base_path, split, crop_size):
    """(name, uint8 image) pairs: the first ``num_images`` of the split (cifar10/imagenet32), or the centre
    crop_size² crops of the last $TRAIN_DIR photos (train_photos)."""
    base = _base(dataset_name, dataset_base_path)
    if dataset_name in SMALL_SPLITS:
        return load_small_images(dataset_name, base, split, limit=num_images or None)
    out = []
    for f in list_images(base)[::-1][:num_images or None]:
        img = read_image(f)
        out.append((f"{f.stem}", center_crop(img, (min(crop_size, img.shape[0]), min(crop_size, img.shape[1])))))
    return out
