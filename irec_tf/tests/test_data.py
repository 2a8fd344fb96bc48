import numpy as np
import pytest
from rec.data import random_crops

from shared_data.errors import DatasetError
from shared_data.imageio import list_images, write_png


def test_folder_reader_and_crops(tmp_path):
    """The shared listing rule (recursive, case-insensitive suffixes, hidden files skipped) feeds the crops."""
    write_png(tmp_path / "a.png", np.full((20, 50, 3), 7, np.uint8))
    write_png(tmp_path / "sub" / "b.PNG", np.full((40, 40, 3), 9, np.uint8))
    write_png(tmp_path / ".hidden" / "c.png", np.full((40, 40, 3), 9, np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    files = list_images(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.png", "sub/b.PNG"]
    batch = next(random_crops(files, 32, 4, seed=0))
    assert batch.shape == (4, 32, 32, 3) and batch.dtype == np.uint8   # small images are edge-padded
    assert {int(v) for v in np.unique(batch)} <= {7, 9}
    with pytest.raises(DatasetError, match="no training images"):
        next(random_crops([], 32, 4))
    with pytest.raises(DatasetError, match="no such file or folder"):
        list_images(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no images"):
        (tmp_path / "empty").mkdir()
        list_images(tmp_path / "empty")


# --- CIFAR-10 / ImageNet32 batch files (written locally in the distributed formats) -----------------------

def test_cifar10_batches_are_read_pixel_exact(tmp_path):
    from rec.data import load_small_images, small_dataset_source
    from small_data import write_cifar10

    want = write_cifar10(tmp_path / "cifar10")
    kind, files = small_dataset_source("cifar10", tmp_path, "train")   # finds {base}/cifar10/cifar-10-batches-py
    assert kind == "batches" and [f.name for f in files] == ["data_batch_1", "data_batch_2"]
    got = load_small_images("cifar10", tmp_path, "train")
    assert len(got) == 11 and got[6][0] == "data_batch_2_00000"
    np.testing.assert_array_equal(np.stack([im for _, im in got]), want["train"])
    test = load_small_images("cifar10", tmp_path / "cifar10", "test", limit=2)
    np.testing.assert_array_equal(np.stack([im for _, im in test]), want["test"][:2])


def test_imagenet32_npz_and_split_aliases(tmp_path):
    from rec.data import load_small_images
    from small_data import write_imagenet32

    want = write_imagenet32(tmp_path)
    for split in ("validation", "val", "test"):   # the original's test split for ImageNet32 is "validation"
        got = load_small_images("imagenet32", tmp_path, split)
        np.testing.assert_array_equal(np.stack([im for _, im in got]), want["validation"])
    got = load_small_images("imagenet32", tmp_path, "train", limit=7)
    np.testing.assert_array_equal(np.stack([im for _, im in got]), want["train"][:7])


def test_small_batches_shuffle_whole_images_and_cover_the_data(tmp_path):
    from rec.data import small_image_batches
    from small_data import write_cifar10

    want = write_cifar10(tmp_path)
    gen = small_image_batches("cifar10", tmp_path, "train", batch_size=4, seed=0)
    seen = np.concatenate([next(gen) for _ in range(2)])           # one epoch: 11 images, 2 full batches
    assert seen.shape == (8, 32, 32, 3) and seen.dtype == np.uint8
    assert len({im.tobytes() for im in seen}) == 8                   # without replacement within an epoch
    seen = np.concatenate([seen] + [next(gen) for _ in range(20)])
    keys = {im.tobytes() for im in want["train"]}
    assert {im.tobytes() for im in seen} == keys          # every image, unflipped, uncropped
    again = small_image_batches("cifar10", tmp_path, "train", batch_size=4, seed=0)
    np.testing.assert_array_equal(next(again), seen[:4])  # seeded


def test_prepared_png_folders_are_accepted(tmp_path):
    from rec.data import load_small_images, small_dataset_source

    for i in range(3):
        write_png(tmp_path / "imagenet32" / "val" / f"val_data_{i:05d}.png", np.full((32, 32, 3), i, np.uint8))
    kind, files = small_dataset_source("imagenet32", tmp_path, "validation")
    assert kind == "images" and len(files) == 3
    assert [int(im[0, 0, 0]) for _, im in load_small_images("imagenet32", tmp_path, "test")] == [0, 1, 2]


def test_small_dataset_errors_are_clear(tmp_path):
    from rec.data import load_small_images, small_image_batches

    with pytest.raises(DatasetError, match="does not exist"):
        load_small_images("cifar10", tmp_path / "nope", "train")
    with pytest.raises(DatasetError, match="no train batch files"):
        load_small_images("cifar10", tmp_path, "train")
    with pytest.raises(DatasetError, match="no split"):
        load_small_images("cifar10", tmp_path, "validation")
    with pytest.raises(DatasetError, match="unknown"):
        load_small_images("mnist", tmp_path, "train")
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    (d / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="data_batch_1"):
        load_small_images("cifar10", tmp_path, "train")
    with pytest.raises(DatasetError, match="data_batch_1"):
        next(small_image_batches("cifar10", tmp_path, "train", 2))
