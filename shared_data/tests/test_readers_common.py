"""Framework-free reader parts: presets, source resolution, header scan, CIFAR / ImageNet32 arrays."""

import subprocess
import sys

import numpy as np
import pytest
from _data_helpers import TRAIN_DIR, needs_train, write_bad_inputs
from _reader_helpers import gradient, write_cifar, write_folder, write_shards

from shared_data.readers import PRESETS, ReaderError, arrays, list_images, preset, scan_images
from shared_data.readers._common import is_records


def test_package_imports_without_frameworks():
    code = ("import sys, shared_data.readers, shared_data.readers.arrays; "
            "bad = [m for m in ('tensorflow', 'torch') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_presets_follow_the_specs():
    assert (PRESETS["cpm"].crop, PRESETS["cpm"].flip, PRESETS["cpm"].rescale) == (160, True, None)
    assert (PRESETS["sga"].crop, PRESETS["sga"].flip, PRESETS["sga"].value_range) == (256, False, (0.0, 1.0))
    assert (PRESETS["hific"].crop, PRESETS["hific"].flip, PRESETS["hific"].rescale) == (256, False, (0.75, 0.95))
    assert PRESETS["hific-jt"].flip is True
    assert (PRESETS["l3c"].crop, PRESETS["l3c"].flip, PRESETS["l3c"].small, PRESETS["l3c"].value_range) == \
        (128, True, "skip", (0.0, 255.0))
    assert all(p.source for p in PRESETS.values())


def test_preset_overrides_and_errors():
    p = preset("l3c", crop=64, flip=False)
    assert (p.crop, p.flip, p.small) == (64, False, "skip")
    assert preset(p) is p
    with pytest.raises(ReaderError, match="unknown preset 'foo'"):
        preset("foo")
    with pytest.raises(ReaderError, match="small="):
        preset("sga", small="pad")
    with pytest.raises(ReaderError, match="rescale="):
        preset("hific", rescale=(0.9, 0.5))


def test_list_images_folder_glob_list(tmp_path):
    write_folder(tmp_path / "a" / "sub", [(8, 8), (8, 8)])
    write_folder(tmp_path / "b", [(8, 8)], fmt="jpg")
    (tmp_path / "a" / "notes.txt").write_text("x")
    assert len(list_images(tmp_path / "a")) == 2                      # recursive, images only
    assert len(list_images(str(tmp_path / "a" / "sub" / "*.png"))) == 2
    assert len(list_images(str(tmp_path / "a" / "sub" / "\\*.png"))) == 2   # the originals' escaped glob
    assert len(list_images(str(tmp_path / "**" / "*.*"))) == 4        # recursive glob, any file
    assert len(list_images([tmp_path / "a", tmp_path / "b"])) == 3
    with pytest.raises(ReaderError, match="no such folder, file or glob"):
        list_images(tmp_path / "missing")
    with pytest.raises(ReaderError, match="matches no files"):
        list_images(str(tmp_path / "*.webp"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReaderError, match="no images"):
        list_images(tmp_path / "empty")


def test_is_records(tmp_path):
    shards = [str(p) for p in write_shards(tmp_path / "r", [(8, 8)] * 4, per_shard=2)]
    imgs = [str(p) for p in write_folder(tmp_path / "i", [(8, 8)])]
    assert is_records(shards) and not is_records(imgs)
    with pytest.raises(ReaderError, match="mixes"):
        is_records(shards + imgs)


def test_scan_images_names_every_bad_file(tmp_path):
    expected = write_bad_inputs(tmp_path / "bad", gradient(40, 60))
    write_folder(tmp_path / "bad", [(20, 200)])
    keep, skipped = scan_images(list_images([str(tmp_path / "bad" / "*")]), min_side=32)
    reasons = {p.split("/")[-1]: r for p, r in skipped}
    assert reasons["empty.jpg"] == "empty-file"
    assert reasons["notes.txt"] == "not-an-image"
    assert reasons["bomb.png"] == "decompression-bomb"
    assert reasons["img000.png"].startswith("too-small (200x20")
    kept = {p.split("/")[-1] for p in keep}
    assert {"ok.jpg", "cmyk.jpg", "gray.png", "alpha.png", "gray16.png", "palette.png"} <= kept
    assert sum(1 for f in expected if f in kept or f in reasons) == len(expected)


# --- arrays ---------------------------------------------------------------------------------------------

def test_cifar_arrays_roundtrip(tmp_path):
    imgs = write_cifar(tmp_path, n_per_batch=7, batches=2)
    a = arrays.load(tmp_path, "cifar10", "train")
    assert a.images.shape == (14, 32, 32, 3) and a.images.dtype == np.uint8
    np.testing.assert_array_equal(a.images, imgs)
    assert [f.rsplit("/", 1)[-1] for f in a.files] == ["data_batch_1", "data_batch_2"]
    assert len(arrays.load(tmp_path, "cifar10", "test")) == 3
    assert sum(len(x) for x in arrays.iter_files(tmp_path, "cifar10")) == 14
    with pytest.raises(ReaderError, match="split 'val'"):
        arrays.load(tmp_path, "cifar10", "val")


def test_imagenet32_npz_numeric_order(tmp_path):
    rng = np.random.default_rng(1)
    want = []
    for b in (1, 2, 10):
        x = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
        np.savez(tmp_path / f"train_data_batch_{b}.npz", data=x.transpose(0, 3, 1, 2).reshape(4, -1),
                 labels=np.arange(4) + 1)
        want.append(x)
    a = arrays.load(tmp_path, "imagenet32", "train")
    np.testing.assert_array_equal(a.images, np.concatenate(want))     # 1, 2, 10 (not 1, 10, 2)
    with pytest.raises(ReaderError, match="no imagenet32 val batch files"):
        arrays.load(tmp_path, "imagenet32", "val")


def test_arrays_bad_files(tmp_path):
    (tmp_path / "data_batch_1").write_bytes(b"garbage")
    with pytest.raises(ReaderError, match="data_batch_1: not a readable batch file"):
        arrays.load(tmp_path, "cifar10")
    with pytest.raises(ReaderError, match="no such folder"):
        arrays.load(tmp_path / "nope", "cifar10")
    with pytest.raises(ReaderError, match="unknown dataset"):
        arrays.load(tmp_path, "mnist")


def test_iterate_epochs_seed_and_labels():
    x = np.arange(10)[:, None, None, None].repeat(2, 1).repeat(2, 2).repeat(3, 3).astype(np.uint8)
    y = np.arange(10)
    b1 = list(arrays.iterate(x, 4, labels=y, seed=3))
    assert [len(b[0]) for b in b1] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in b1])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    assert all((bx[:, 0, 0, 0] == by).all() for bx, by in b1)          # images stay with their labels
    b2 = list(arrays.iterate(x, 4, labels=y, seed=3))
    assert all((a[1] == b[1]).all() for a, b in zip(b1, b2))            # same seed, same order
    it = arrays.iterate(x, 4, seed=3, repeat=True, drop_remainder=True)
    epochs = [np.concatenate([next(it)[:, 0, 0, 0] for _ in range(2)]) for _ in range(2)]
    assert list(epochs[0]) != list(epochs[1])                            # reshuffled per epoch
    assert [len(b) for b in arrays.iterate(x, 4, shuffle=False)] == [4, 4, 2]
    with pytest.raises(ReaderError, match="no full batch"):
        next(arrays.iterate(x, 20, drop_remainder=True))


def test_irec_scale():
    v = arrays.irec_lossless_scale(np.array([0, 255], np.uint8))
    np.testing.assert_allclose(v, [0.5 / 256 - 0.5, 255.5 / 256 - 0.5])
    assert v.dtype == np.float32


@needs_train
def test_scan_real_photos():
    keep, skipped = scan_images(list_images(TRAIN_DIR), min_side=128)
    assert len(keep) >= 300
    assert {r for _, r in skipped} <= {"not-an-image"}   # MANIFEST.tsv / SOURCE.md only


# --- numpy reader ---------------------------------------------------------------------------------------

def test_numpy_reader_presets_and_batches(tmp_path):
    from shared_data.readers.numpy_data import ImageReader
    write_folder(tmp_path, [(140, 150)] * 5 + [(100, 300)])
    with pytest.warns(UserWarning, match="img005.png: too-small"):
        r = ImageReader(tmp_path, "l3c", seed=4)
    assert len(r) == 5
    x = r[0]
    assert x.shape == (128, 128, 3) and x.dtype == np.float32 and 1 < x.max() <= 255
    assert (r[0] == x).all()                                   # (seed, epoch, index) fixes the crop
    r.set_epoch(1)
    assert (r[0] != x).any()
    u = ImageReader(tmp_path, "sga", crop=64, dtype="uint8", channels_first=True, seed=0, check=False)
    assert u[5].shape == (3, 64, 64) and u[5].dtype == np.uint8
    it = u.iterate(4)
    b = [next(it) for _ in range(3)]                          # 6 images: 1 batch per epoch (drop remainder)
    assert all(v.shape == (4, 3, 64, 64) for v in b) and u.epoch == 2
    assert len(list(u.iterate(4, repeat=False, drop_remainder=False))) == 2
    s = ImageReader(tmp_path, "sga", crop=64, seed=0, value_range=(-1.0, 1.0))[0]
    assert s.min() >= -1 and s.max() <= 1 and s.dtype == np.float32


def test_numpy_reader_cache_decodes_once(tmp_path, monkeypatch):
    from shared_data.readers import numpy_data
    write_folder(tmp_path, [(140, 150)] * 3)
    calls = []
    real = numpy_data.read_image
    monkeypatch.setattr(numpy_data, "read_image", lambda f: calls.append(f) or real(f))
    plain = numpy_data.ImageReader(tmp_path, "l3c", seed=1, dtype="uint8")
    cached = numpy_data.ImageReader(tmp_path, "l3c", seed=1, dtype="uint8", cache=True)
    first = [cached[i] for i in range(3)]
    cached.set_epoch(1)
    again = [cached[i] for i in range(3)]
    assert len(calls) == 3                                    # decoded once, cropped anew each epoch
    plain.set_epoch(1)
    assert all((a == plain[i]).all() for i, a in enumerate(again))  # same crops as without the cache
    assert any((a != b).any() for a, b in zip(first, again))
    whole = numpy_data.ImageReader(tmp_path, "l3c", crop=None, dtype="uint8", cache=True)
    w = whole[0]
    w[:] = 0                                                  # a caller's in-place edit ...
    assert whole[0].any()                                     # ... never reaches the cache


def test_numpy_reader_hific_upscales_small(tmp_path):
    from shared_data.readers.numpy_data import ImageReader
    write_folder(tmp_path, [(100, 120)])
    x = ImageReader(tmp_path, "hific", seed=0, dtype="uint8")[0]   # scale raised to 256/100 > 1
    assert x.shape == (256, 256, 3)


def test_bench_command(tmp_path, capsys):
    from shared_data.__main__ import main
    write_folder(tmp_path, [(300, 300)] * 3)
    assert main(["bench", "--dir", str(tmp_path), "--seconds", "0.3", "--framework", "numpy", "--batch", "2",
                 "--presets", "sga", "hific"]) == 0
    out = capsys.readouterr().out
    assert "sga       numpy" in out and "hific     numpy" in out and "images/s" in out
    assert main(["bench", "--dir", str(tmp_path / "nope")]) == 2
    assert main(["bench", "--dir", str(tmp_path), "--presets", "foo", "--framework", "numpy"]) == 2
    assert "unknown preset 'foo'" in capsys.readouterr().err
