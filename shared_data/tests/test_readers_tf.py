"""tf.data reader (runs where TensorFlow is installed, e.g. cpm_tf/.venv; skipped in the tools env)::

    cd /work/main && cpm_tf/.venv/bin/python -m pytest -q shared_data/tests/test_readers_tf.py
"""

import warnings

import numpy as np
import pytest
from _data_helpers import TRAIN_DIR, needs_train
from _reader_helpers import gradient, png_bytes, window_of, write_folder, write_shards
from PIL import Image

tf = pytest.importorskip("tensorflow")
tf_data = pytest.importorskip("shared_data.readers.tf_data")

from shared_data.readers import PRESETS, ReaderError  # noqa: E402


def crops(ds, n=None):
    return [x.numpy() for x in (ds.take(n) if n else ds)]


def test_folder_sga_uint8_windows(tmp_path):
    write_folder(tmp_path, [(40, 50), (44, 60), (33, 33)])
    ds = tf_data.dataset(tmp_path, "sga", crop=32, dtype="uint8", seed=5, repeat=False)
    out = crops(ds)
    assert len(out) == 3 and all(x.shape == (32, 32, 3) and x.dtype == np.uint8 for x in out)
    ws = [window_of(x) for x in out]
    assert all(w is not None and not w[2] for w in ws)              # plain crops, never flipped (SGA)
    assert sorted(int(x[0, 0, 2]) for x in out) == [0, 1, 2]        # every image once per epoch


def test_flip_and_determinism(tmp_path):
    write_folder(tmp_path, [(40, 40)] * 4)
    kw = dict(crop=16, dtype="uint8", seed=11)
    a = crops(tf_data.dataset(tmp_path, "cpm", **kw), 40)
    b = crops(tf_data.dataset(tmp_path, "cpm", num_parallel_calls=1, **kw), 40)
    c = crops(tf_data.dataset(tmp_path, "cpm", crop=16, dtype="uint8", seed=12), 40)
    assert all((x == y).all() for x, y in zip(a, b))                # same seed: same stream, any parallelism
    assert any((x != y).any() for x, y in zip(a, c))
    flips = [window_of(x)[2] for x in a]
    assert 5 < sum(flips) < 35                                      # CPM flips about half
    assert len({window_of(x)[:2] for x in a}) > 10                  # crops move


def test_float_ranges(tmp_path):
    write_folder(tmp_path, [(300, 300)])
    x = crops(tf_data.dataset(tmp_path, "sga", seed=0), 1)[0]
    assert x.dtype == np.float32 and x.shape == (256, 256, 3) and 0.0 <= x.min() and x.max() <= 1.0
    assert np.allclose(x[..., 0] * 255, np.round(x[..., 0] * 255), atol=1e-4)
    y = crops(tf_data.dataset(tmp_path, "cpm", seed=0), 1)[0]
    assert y.shape == (160, 160, 3) and y.max() > 1.0 and y.max() <= 255.0
    z = crops(tf_data.dataset(tmp_path, "sga", value_range=(-1.0, 1.0), seed=0), 1)[0]
    assert z.min() >= -1.0 and z.min() < -0.5


def test_tfrecords_image_encoded(tmp_path):
    sizes = [(30, 40)] * 7
    write_shards(tmp_path, sizes, per_shard=3)
    out = crops(tf_data.dataset(tmp_path, "sga", crop=24, dtype="uint8", seed=1, repeat=False))
    assert sorted(int(x[0, 0, 2]) for x in out) == list(range(7))
    assert all(window_of(x) is not None for x in out)
    bat = crops(tf_data.dataset(tmp_path, "l3c", crop=24, batch_size=4, seed=1), 3)
    assert all(b.shape == (4, 24, 24, 3) and b.dtype == np.float32 for b in bat)
    with pytest.raises(ReaderError, match="mixes"):
        (tmp_path / "x.png").write_bytes(png_bytes(gradient(30, 30)))
        tf_data.dataset(tmp_path, "sga")


def test_small_images(tmp_path):
    write_folder(tmp_path / "f", [(20, 100), (40, 40)])
    with pytest.warns(UserWarning, match=r"skipped 1 file\(s\): .*img000.png: too-small"):
        out = crops(tf_data.dataset(tmp_path / "f", "l3c", crop=32, dtype="uint8", seed=0, repeat=False))
    assert [int(x[0, 0, 2]) for x in out] == [1]
    # records cannot be scanned: the small image is filtered in the pipeline
    write_shards(tmp_path / "r", [(20, 100), (40, 40)], per_shard=2)
    out = crops(tf_data.dataset(tmp_path / "r", "l3c", crop=32, dtype="uint8", seed=0, repeat=False))
    assert [int(x[0, 0, 2]) for x in out] == [1]
    # CPM upscales (shorter side -> crop): a 20x100 image gives a full crop
    out = crops(tf_data.dataset(tmp_path / "r", "cpm", crop=32, dtype="uint8", seed=0, repeat=False))
    assert len(out) == 2 and all(x.shape == (32, 32, 3) for x in out)


def test_hific_rescale_scale_range(tmp_path):
    y = np.arange(300)[:, None].repeat(320, 1)
    img = np.stack([np.round(y * 0.8), np.zeros_like(y), np.zeros_like(y)], -1).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "ramp.png")
    out = crops(tf_data.dataset(tmp_path, "hific", seed=3), 30)
    slopes = []
    for x in out:
        assert x.shape == (256, 256, 3)
        rows = x[..., 0].mean(axis=1) * 255
        slopes.append(np.polyfit(np.arange(256), rows, 1)[0])
    scales = 0.8 / np.array(slopes)     # the ramp's slope shrinks by the scale factor
    assert scales.min() > 0.85 - 0.01 and scales.max() < 0.95 + 0.01   # raised to 256/300 = 0.853 at least
    assert scales.max() - scales.min() > 0.03                          # it is random


def test_center_crop(tmp_path):
    write_folder(tmp_path, [(40, 50)])
    x = crops(tf_data.dataset(tmp_path, "l3c", crop=20, center=True, dtype="uint8", seed=0), 1)[0]
    assert window_of(x, 0) == (10, 15, False)


def test_corrupt_pixels_skipped_or_raised(tmp_path):
    write_folder(tmp_path, [(40, 40), (40, 40)])
    good = (tmp_path / "img000.png").read_bytes()
    (tmp_path / "img000.png").write_bytes(good[: len(good) // 2])   # header fine, pixel data cut
    out = crops(tf_data.dataset(tmp_path, "sga", crop=32, dtype="uint8", seed=0, repeat=False))
    assert [int(x[0, 0, 2]) for x in out] == [1]
    with pytest.raises(tf.errors.InvalidArgumentError):
        crops(tf_data.dataset(tmp_path, "sga", crop=32, dtype="uint8", seed=0, repeat=False, on_error="raise"))


def test_bad_arguments(tmp_path):
    with pytest.raises(ReaderError, match="no such folder"):
        tf_data.dataset(tmp_path / "nope")
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.png").write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ReaderError, match="no usable images"):
            tf_data.dataset(str(tmp_path / "*"), "sga")
    with pytest.raises(ReaderError, match="dtype"):
        tf_data.dataset(tmp_path, dtype="float16")


@needs_train
def test_real_photos_every_preset():
    for name in ("cpm", "sga", "hific", "l3c", "irec"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # MANIFEST.tsv / SOURCE.md are not images
            ds = tf_data.dataset(TRAIN_DIR, name, batch_size=2, seed=0)
        b = crops(ds, 1)[0]
        c = PRESETS[name].crop
        assert b.shape == (2, c, c, 3) and np.isfinite(b).all() and b.std() > 0


def test_awkward_modes_decode_bad_files_named(tmp_path):
    from _data_helpers import write_bad_inputs
    write_bad_inputs(tmp_path, gradient(60, 80))
    with pytest.warns(UserWarning, match=r"skipped 3 file\(s\):.*bomb.png: decompression-bomb.*empty.jpg: empty-file"):
        ds = tf_data.dataset(tmp_path, "sga", crop=32, dtype="uint8", seed=0, repeat=False, shuffle=False)
    out = crops(ds)
    # ok, CMYK, gray, palette, 16-bit gray, RGBA, EXIF-rotated: all decoded to 3 channels
    assert len(out) == 7 and all(x.shape == (32, 32, 3) for x in out)


def test_reads_what_prepare_imagenet_cpm_writes(tmp_path):
    from _data_helpers import jpeg, photo

    from shared_data.__main__ import main
    src = tmp_path / "src" / "n01"
    src.mkdir(parents=True)
    for n in ("astronaut", "coffee", "chelsea"):
        (src / f"{n}.JPEG").write_bytes(jpeg(photo(n)))
    out = tmp_path / "out"
    assert main(["prepare", "imagenet-cpm", "--src", str(tmp_path / "src"), "--out", str(out), "--workers", "0",
                 "--no-progress"]) == 0
    shards = sorted((out / "records").rglob("*.tfrecord"))
    assert shards
    recs = crops(tf_data.dataset(shards[0].parent, "cpm", seed=0, repeat=False))
    assert len(recs) == 3 and all(x.shape == (160, 160, 3) and x.dtype == np.float32 for x in recs)
    imgs = crops(tf_data.dataset(out / "images", "cpm", seed=0, repeat=False))   # the same images as a folder
    assert len(imgs) == 3


def test_array_dataset_cifar(tmp_path):
    from _reader_helpers import write_cifar

    from shared_data.readers import arrays
    imgs = write_cifar(tmp_path, n_per_batch=5, batches=2)
    a = arrays.load(tmp_path, "cifar10")
    b = crops(tf_data.array_dataset(a.images, batch_size=4, seed=2, repeat=False, drop_remainder=False))
    assert [len(x) for x in b] == [4, 4, 2] and b[0].dtype == np.uint8
    got = np.concatenate(b)
    assert sorted(map(bytes, got)) == sorted(map(bytes, imgs))            # a permutation of all images
    again = np.concatenate(crops(tf_data.array_dataset(a.images, batch_size=4, seed=2, repeat=False,
                                                       drop_remainder=False)))
    assert (got == again).all()
    with pytest.raises(ReaderError, match="expected uint8 images"):
        tf_data.array_dataset(a.images[..., 0])
