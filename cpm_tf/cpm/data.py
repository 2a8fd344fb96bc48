"""Input pipeline (the original's ``inputpipeline.py`` on tf.data): one random crop per image + random
left-right flip, batched. A dataset is a directory of images, an (escaped) glob, or TFRecords with the
feature ``image/encoded`` (``*.tfrecord`` files, as made by ``fjcommon tf_records mk_img_rec``)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import tensorflow as tf

IMAGENET_TRAIN_IMAGES = 1281167  # hard-coded in the original inputpipeline.py
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG")


class DatasetError(ValueError):
    pass


def resolve(name: str) -> tuple[list[str], bool]:
    """-> (files, is_records). Names ``imgnet_train``/``imgnet_test`` use $RECORDS_ROOT/{train,val}."""
    if name in ("imgnet_train", "imgnet_test"):
        root = os.environ.get("RECORDS_ROOT")
        if not root:
            raise DatasetError(f"dataset {name!r} needs $RECORDS_ROOT (TFRecords of ImageNet, see README)")
        sub = "train" if name == "imgnet_train" else "val"
        files = sorted(glob.glob(os.path.join(root, sub, "*.tfrecord")))
        if not files:
            raise DatasetError(f"no *.tfrecord files in {root}/{sub}")
        return files, True
    p = Path(name)
    if p.is_dir():
        files = sorted(str(f) for f in p.iterdir() if f.suffix in IMAGE_EXTS)
    else:
        files = sorted(glob.glob(name.replace("\\*", "*")))
    if not files:
        raise DatasetError(f"dataset {name!r}: no images found (a directory of images, a glob or a records name)")
    records = all(f.endswith(".tfrecord") for f in files)
    return files, records


def _crop_flip(img, crop):
    img = tf.cast(img, tf.float32)
    h, w = tf.shape(img)[0], tf.shape(img)[1]
    # images smaller than the crop are upscaled so their shorter side equals the crop side
    scale = tf.maximum(tf.cast(crop[0], tf.float32) / tf.cast(h, tf.float32),
                       tf.cast(crop[1], tf.float32) / tf.cast(w, tf.float32))
    img = tf.cond(scale > 1.0, lambda: tf.image.resize(img, tf.cast(tf.math.ceil(tf.cast([h, w], tf.float32) * scale), tf.int32)),
                  lambda: img)
    img = tf.image.random_crop(img, [crop[0], crop[1], 3])
    return tf.image.random_flip_left_right(img)


def make_dataset(name: str, crop, batch_size: int, seed: int = 666, shuffle: bool = True,
                 cache: bool | None = None) -> tuple[tf.data.Dataset, int]:
    """Infinite dataset of float32 (N, crop, crop, 3) batches in 0..255, and the number of images."""
    files, records = resolve(name)
    if records:
        ds = tf.data.TFRecordDataset(files)
        ds = ds.map(lambda r: tf.io.parse_single_example(r, {"image/encoded": tf.io.FixedLenFeature([], tf.string)})["image/encoded"])
        n = IMAGENET_TRAIN_IMAGES if "train" in name else None
    else:
        ds = tf.data.Dataset.from_tensor_slices(files).map(tf.io.read_file)
        n = len(files)
    if cache is None:
        cache = not records and len(files) <= 2000
    ds = ds.map(lambda b: tf.io.decode_image(b, channels=3, expand_animations=False), num_parallel_calls=2)
    if cache:  # keep decoded images in memory (small folders of photos; not for ImageNet records)
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(1000, seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat()
    ds = ds.map(lambda img: _crop_flip(img, crop), num_parallel_calls=2)
    return ds.batch(batch_size, drop_remainder=True).prefetch(2), n
