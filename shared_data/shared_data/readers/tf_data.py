"""``tf.data`` pipelines over image folders / globs and TFRecord shards, with the papers' crops (TensorFlow).

::

    from shared_data.readers import tf_data
    ds = tf_data.dataset("/data/imagenet256/records/train", preset="cpm", batch_size=30, seed=666)
    for x in ds.take(10): ...          # float32 (30, 160, 160, 3) in 0..255, cropped + flipped

A source is a folder (recursive), a glob, one file or a list of these. Files ending in ``.tfrecord`` /
``.tfrecords`` are read as TFRecord shards of ``tf.train.Example`` with the encoded image under
``feature_key`` (default ``image/encoded``: what CPM's ``train.py`` reads and ``prepare imagenet-cpm``
writes); any other file is read and decoded as an image (PNG, JPEG, BMP, GIF; 3 channels, 16-bit scaled).

Per element: decode → (``small="upscale"``: bilinear resize so the shorter side is the crop) → (``rescale``:
HiFiC's random downscale) → random crop (or the centre crop, ``center=True``) → random left-right flip →
``dtype``. All randomness is *stateless*, keyed by ``(seed, element index)``, and every stage keeps order,
so a given ``seed`` yields the same stream whatever the parallelism (``seed=None`` draws a fresh one).

Bad inputs: folder/glob sources are scanned first (file headers only) and unusable files are skipped with a
warning that names them (:func:`shared_data.readers.scan_images`); an image whose pixel data turns out
corrupt while decoding is dropped with TensorFlow's logged warning (``on_error="skip"``, the default) or
stops the iteration (``on_error="raise"``).
"""

from __future__ import annotations

import random
import sys

import tensorflow as tf

from ._common import ReaderError, is_records, list_images, report_skipped, scan_images
from ._common import preset as _preset

AUTOTUNE = tf.data.AUTOTUNE


def _float_range(img, value_range):
    lo, hi = value_range
    img = tf.cast(img, tf.float32)
    if (lo, hi) == (0.0, 255.0):
        return img
    return img * ((hi - lo) / 255.0) + lo


def _to_uint8(img):
    if img.dtype == tf.uint8:
        return img
    return tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8)


def make_transform(p, center: bool = False, dtype: str = "float32"):
    """``fn(image uint8 (H, W, 3), seed int64 [2]) -> image`` applying preset ``p`` with stateless ops."""
    crop = p.crop

    def fn(img, seed):
        seeds = tf.random.experimental.stateless_split(seed, num=3)
        img.set_shape([None, None, 3])
        if crop is not None:
            hw = tf.cast(tf.shape(img)[:2], tf.float32)
            c = tf.constant(float(crop))
            if p.rescale is not None:
                u = tf.random.stateless_uniform([], seeds[0], p.rescale[0], p.rescale[1])
                scale = tf.maximum(u, c / tf.reduce_min(hw))
            elif p.small == "upscale":
                scale = tf.maximum(1.0, c / tf.reduce_min(hw))
            else:
                scale = None
            if scale is not None:
                size = tf.cast(tf.math.ceil(hw * scale), tf.int32)
                img = tf.cond(tf.reduce_all(size == tf.shape(img)[:2]),
                              lambda: tf.cast(img, tf.float32),
                              lambda: tf.image.resize(img, size, method="bilinear"))
            if center:
                h, w = tf.shape(img)[0], tf.shape(img)[1]
                tf.debugging.assert_greater_equal(tf.minimum(h, w), crop, message=f"image smaller than the crop {crop}")
                img = img[(h - crop) // 2:(h - crop) // 2 + crop, (w - crop) // 2:(w - crop) // 2 + crop]
            else:
                img = tf.image.stateless_random_crop(img, [crop, crop, 3], seed=seeds[1])
        if p.flip and not center:
            img = tf.image.stateless_random_flip_left_right(img, seed=seeds[2])
        if dtype == "uint8":
            return _to_uint8(img)
        return _float_range(img, p.value_range)

    return fn


def dataset(source, preset="cpm", *, batch_size: int | None = None, crop: int | None = None,
            flip: bool | None = None, rescale: tuple[float, float] | None = None, small: str | None = None,
            value_range: tuple[float, float] | None = None, dtype: str = "float32", center: bool = False,
            shuffle: bool = True, shuffle_buffer: int = 1000, repeat: bool = True, seed: int | None = None,
            drop_remainder: bool = True, cache: bool = False, check: bool = True,
            feature_key: str = "image/encoded", on_error: str = "skip",
            num_parallel_calls: int = AUTOTUNE, prefetch: int = AUTOTUNE) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of crops (``batch_size=None``) or batches ``(B, crop, crop, 3)``.

    ``preset``: a name in :data:`shared_data.readers.PRESETS` (``cpm``, ``sga``, ``hific``, ``hific-jt``,
    ``l3c``, ``irec``) or a :class:`~shared_data.readers.Preset`; ``crop``/``flip``/``rescale``/``small``/
    ``value_range`` override it. ``dtype``: ``"uint8"`` or ``"float32"`` (0..255 mapped onto
    ``value_range``). ``shuffle``: file order reshuffled every epoch, plus a ``shuffle_buffer`` of decoded
    elements for TFRecords (a folder's file list is shuffled whole). ``cache``: keep the encoded bytes in
    memory (small folders). ``check``: scan folder/glob sources' headers first (see the module docstring).
    """
    if dtype not in ("uint8", "float32"):
        raise ReaderError(f"dtype={dtype!r}: expected 'uint8' or 'float32'")
    if on_error not in ("skip", "raise"):
        raise ReaderError(f"on_error={on_error!r}: expected 'skip' or 'raise'")
    p = _preset(preset, crop=crop, flip=flip, rescale=rescale, small=small, value_range=value_range)
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    files = list_images(source)
    records = is_records(files)
    if not records and check:
        min_side = p.crop if (p.crop is not None and p.small == "skip" and p.rescale is None) else None
        files, skipped = scan_images(files, min_side)
        report_skipped(skipped, f"tf_data.dataset({source!r})")
        if not files:
            raise ReaderError(f"{source}: no usable images (all {len(skipped)} skipped: {skipped[0][1]}, ...)")

    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if records:
        feats = {feature_key: tf.io.FixedLenFeature([], tf.string)}
        ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)), block_length=1,
                           num_parallel_calls=min(4, len(files)), deterministic=True)
        ds = ds.map(lambda r: tf.io.parse_single_example(r, feats)[feature_key], num_parallel_calls=num_parallel_calls,
                    deterministic=True)
        if cache:
            ds = ds.cache()
        if repeat:
            ds = ds.repeat()
        if shuffle:
            ds = ds.shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True)
    else:
        ds = ds.map(tf.io.read_file, num_parallel_calls=num_parallel_calls, deterministic=True)
        if cache:
            ds = ds.cache()
        if repeat:
            ds = ds.repeat()

    def decode(b):
        return tf.io.decode_image(b, channels=3, dtype=tf.uint8, expand_animations=False)

    transform = make_transform(p, center=center, dtype=dtype)
    ds = ds.enumerate()
    ds = ds.map(lambda i, b: (i, decode(b)), num_parallel_calls=num_parallel_calls, deterministic=True)
    if p.crop is not None and p.rescale is None and p.small != "upscale":
        crop_ = p.crop

        def big_enough(i, img):
            ok = tf.reduce_min(tf.shape(img)[:2]) >= crop_
            if p.small == "error":
                tf.debugging.assert_equal(ok, True, message=f"an image is smaller than the crop {crop_} (small='error')")
                return ok
            return tf.cond(ok, lambda: ok, lambda: _report_small(img, crop_))

        ds = ds.filter(big_enough)
    seed_t = tf.constant(seed, tf.int64)
    ds = ds.map(lambda i, img: transform(img, tf.stack([seed_t, i])), num_parallel_calls=num_parallel_calls,
                deterministic=True)
    if on_error == "skip":
        ds = ds.ignore_errors(log_warning=True)
    if batch_size:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=num_parallel_calls,
                      deterministic=True)
    return ds.prefetch(prefetch) if prefetch else ds


def _report_small(img, crop):
    tf.print("shared_data.readers.tf_data: skipped an image of", tf.shape(img)[:2], "smaller than the crop", crop,
             output_stream=sys.stderr)
    return tf.constant(False)


def array_dataset(images, *, batch_size: int | None = None, shuffle: bool = True, shuffle_buffer: int = 5000,
                  repeat: bool = True, seed: int | None = None, drop_remainder: bool = True,
                  prefetch: int = AUTOTUNE) -> tf.data.Dataset:
    """``tf.data`` over whole uint8 NHWC images, e.g. ``readers.arrays.load(...).images`` (CIFAR-10 /
    ImageNet32): shuffle buffer (iREC's lossless training: 5,000, irec.md "Optimizer"), repeat, batch. Values
    stay uint8; scale them in the model (``arrays.irec_lossless_scale`` is the numpy version)."""
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    if getattr(images, "ndim", 4) != 4 or images.shape[-1] != 3:
        raise ReaderError(f"expected uint8 images (N, H, W, 3), got shape {getattr(images, 'shape', None)}")
    ds = tf.data.Dataset.from_tensor_slices(images)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if batch_size:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(prefetch) if prefetch else ds
