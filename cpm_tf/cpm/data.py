"""Input pipeline (the original's ``inputpipeline.py``) on the shared reader ``shared_data.readers.tf_data``
with the ``cpm`` preset: one random crop per image + random left-right flip, images smaller than the crop
upscaled to cover it, float32 0..255, batched. A dataset is ``imgnet_train``/``imgnet_test`` (TFRecords
``$RECORDS_ROOT/{train,val}/*.tfrecord`` with the feature ``image/encoded``, as written by
``python -m shared_data prepare imagenet-cpm`` or ``fjcommon tf_records mk_img_rec``), a directory of
images, or an (escaped) glob."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import tensorflow as tf

from shared_data.errors import DatasetError
from shared_data.imageio import list_images
from shared_data.readers import ReaderError, tf_data

IMAGENET_TRAIN_IMAGES = 1281167  # hard-coded in the original inputpipeline.py


def resolve(name: str) -> tuple[list[str], bool]:
    """-> (files, is_records). Names ``imgnet_train``/``imgnet_test`` use $RECORDS_ROOT/{train,val}; a glob
    (``\\*`` escaped as in the original's flags) of ``.tfrecord`` files is records; anything else is listed by
    :func:`shared_data.imageio.list_images` (the project's one listing rule)."""
    if name in ("imgnet_train", "imgnet_test"):
        root = os.environ.get("RECORDS_ROOT")
        if not root:
            raise DatasetError(f"dataset {name!r} needs $RECORDS_ROOT (TFRecords of ImageNet, see README)")
        sub = "train" if name == "imgnet_train" else "val"
        files = sorted(glob.glob(os.path.join(root, sub, "*.tfrecord")))
        if not files:
            raise DatasetError(f"no *.tfrecord files in {root}/{sub}")
        return files, True
    if not Path(name).is_dir():
        name = name.replace("\\*", "*")
        records = sorted(glob.glob(name))
        if records and all(f.endswith(".tfrecord") for f in records):
            return records, True
    try:
        return [str(f) for f in list_images(name)], False
    except DatasetError as e:
        raise DatasetError(f"dataset {name!r}: no images found ({e}; a directory of images, a glob or a records "
                           "name)") from None


def decoded_dataset(files: list[str], crop: int, batch_size: int, seed: int = 666) -> tf.data.Dataset:
    """The ``cpm`` preset's crops from images decoded **once** and kept in memory (uint8): per epoch a
    shuffled file order, one random square crop per image, a random left-right flip; images smaller than
    the crop are upscaled once (bilinear) so the shorter side is the crop, as the preset does. The zoo
    recipe's input pipeline (issue 19): the reader re-decodes every PNG each step, which cost ~10 % of a
    training step on this CPU. Deterministic given ``seed`` (a NumPy generator drives the draws)."""
    import numpy as np

    from shared_data.imageio import ImageReadError, read_image
    imgs = []
    for f in files:
        try:
            img = read_image(f)
        except (ImageReadError, OSError) as e:
            raise DatasetError(f"{f}: cannot read the image ({e})") from None
        if min(img.shape[:2]) < crop:
            s = crop / min(img.shape[:2])
            size = [int(np.ceil(img.shape[0] * s)), int(np.ceil(img.shape[1] * s))]
            img = tf.cast(tf.clip_by_value(tf.round(tf.image.resize(img, size, method="bilinear")), 0, 255),
                          tf.uint8).numpy()
        imgs.append(img)
    if len(imgs) < 1:
        raise DatasetError("no images to crop")

    def gen():
        rng = np.random.default_rng(seed)
        order, pos = rng.permutation(len(imgs)), 0
        while True:
            out = np.empty((batch_size, crop, crop, 3), np.float32)
            for b in range(batch_size):
                if pos == len(order):
                    order, pos = rng.permutation(len(imgs)), 0
                img = imgs[order[pos]]
                pos += 1
                y = int(rng.integers(0, img.shape[0] - crop + 1))
                x = int(rng.integers(0, img.shape[1] - crop + 1))
                c = img[y:y + crop, x:x + crop]
                out[b] = c[:, ::-1] if rng.random() < 0.5 else c
            yield out

    spec = tf.TensorSpec((batch_size, crop, crop, 3), tf.float32)
    return tf.data.Dataset.from_generator(gen, output_signature=spec).prefetch(2)


def make_dataset(name: str, crop, batch_size: int, seed: int = 666, shuffle: bool = True,
                 cache: bool | str | None = None) -> tuple[tf.data.Dataset, int | None]:
    """Infinite dataset of float32 (N, crop, crop, 3) batches in 0..255, and the number of images
    (the original's hard-coded ImageNet size for ``imgnet_train``, None for other records).
    ``cache="decoded"``: an image folder decoded once into memory (:func:`decoded_dataset`, the zoo recipe);
    ``True``: the encoded bytes kept (the default for folders of ≤ 2,000 images)."""
    crop = tuple(int(c) for c in crop)
    if len(crop) != 2 or crop[0] != crop[1]:
        raise DatasetError(f"crop_size {crop}: only square crops are supported (the released configs use 160x160)")
    files, records = resolve(name)
    if cache == "decoded":
        if records:
            raise DatasetError(f"dataset {name!r}: cache='decoded' needs a folder of images, not TFRecords")
        return decoded_dataset(files, crop[0], batch_size, seed), len(files)
    if cache is None:  # keep the encoded bytes of small image folders in memory (not ImageNet records)
        cache = not records and len(files) <= 2000
    try:
        ds = tf_data.dataset(files, preset="cpm", crop=crop[0], batch_size=batch_size, seed=seed, shuffle=shuffle,
                             cache=cache, num_parallel_calls=2)
    except ReaderError as e:
        raise DatasetError(f"dataset {name!r}: {e}") from None
    n = (IMAGENET_TRAIN_IMAGES if "train" in name else None) if records else len(files)
    return ds, n
