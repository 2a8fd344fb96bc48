"""Each recipe's rule pinned on small real images (Kodak, scikit-image sample photos)."""

import io
import math
import pickle
import random
import shutil
import subprocess

import numpy as np
import pytest
from _data_helpers import jpeg, kodak, needs_kodak, photo, write_bad_inputs
from PIL import Image

from shared_data.__main__ import main, stats_text
from shared_data.pipeline import Manifest, task_seed
from shared_data.recipes.imagenet_cpm import estimate_jpeg_quality, fjcommon_order, imagemagick_fill_size
from shared_data.recipes.small import read_batch
from shared_data.tfrecord import decode_example, read_records
from shared_data.transforms import ImageFolder, hific_rescale_crop, random_crop

# Output sizes of `convert IN -resize "256x256^" OUT`, measured with ImageMagick 6.9.11-60 Q16.
IM_FILL_256 = {(500, 375): (341, 256), (333, 500): (256, 384), (255, 257): (256, 258), (100, 100): (256, 256),
               (257, 300): (256, 299), (511, 383): (342, 256), (640, 427): (384, 256)}


def _prepare(*args):
    assert main(["prepare", *map(str, args), "--no-progress"]) == 0


def _outputs(out):
    return {o["path"]: (out / o["path"]).read_bytes()
            for r in Manifest(out).records.values() if r["status"] == "done" for o in r["outputs"]}


# --- ImageNet for CPM -------------------------------------------------------------------------------------

def test_imagemagick_fill_geometry():
    for (w, h), want in IM_FILL_256.items():
        assert imagemagick_fill_size(w, h) == want


def _real_imagemagick():
    exe = shutil.which("convert")
    if not exe:
        return None
    try:
        v = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return exe if v.startswith("Version: ImageMagick") else None


@pytest.mark.skipif(_real_imagemagick() is None, reason="ImageMagick `convert` not installed")
def test_imagemagick_fill_geometry_against_real_convert(tmp_path):
    exe = _real_imagemagick()
    rng = random.Random(0)
    for _ in range(3):
        w, h = rng.randint(20, 600), rng.randint(20, 600)
        Image.new("RGB", (w, h), (10, 20, 30)).save(tmp_path / "a.png")
        subprocess.run([exe, str(tmp_path / "a.png"), "-resize", "256x256^", str(tmp_path / "b.png")], check=True)
        assert Image.open(tmp_path / "b.png").size == imagemagick_fill_size(w, h), (w, h)


@pytest.mark.skipif(_real_imagemagick() is None, reason="ImageMagick not installed")
def test_jpeg_quality_estimate_matches_imagemagick_for_ijg_tables(tmp_path):
    identify = shutil.which("identify")
    for q in (37, 83, 97):
        (tmp_path / "a.jpg").write_bytes(jpeg(photo("coffee"), q))
        im_q = subprocess.run([identify, "-format", "%Q", str(tmp_path / "a.jpg")], capture_output=True,
                              text=True, check=True).stdout.strip()
        assert int(im_q) == estimate_jpeg_quality(Image.open(tmp_path / "a.jpg").quantization) == q


def test_jpeg_quality_estimate_matches_encoder():
    img = photo("coffee")
    for q in (30, 50, 75, 85, 92, 95):
        assert estimate_jpeg_quality(Image.open(io.BytesIO(jpeg(img, q))).quantization) == q


@needs_kodak
def test_imagenet_cpm_folder_and_records(tmp_path):
    src = tmp_path / "src" / "n01440764"
    src.mkdir(parents=True)
    for i in (1, 4, 7, 12, 20):
        (src / f"n01440764_{i}.JPEG").write_bytes(jpeg(kodak(i), 85))
    (src / "small.JPEG").write_bytes(jpeg(photo()[:150, :200], 75))  # gets upscaled, like ImageMagick's ^
    out = tmp_path / "out"
    _prepare("imagenet-cpm", "--src", tmp_path / "src", "--out", out, "--shard-size", 2, "--workers", 0)
    man = Manifest(out)
    images = {k: r for k, r in man.records.items() if r["kind"] == "image"}
    assert len(images) == 6 and all(r["status"] == "done" for r in images.values())
    for key, r in images.items():
        o = r["outputs"][0]
        im = Image.open(out / o["path"])
        assert im.format == "JPEG" and min(im.size) == 256
        assert estimate_jpeg_quality(im.quantization) == (75 if "small" in key else 85)
    assert "upscaled" in images["n01440764/small.JPEG"]["notes"]
    assert Image.open(out / "images/train/n01440764/n01440764_4.JPEG").size == (256, 384)  # portrait
    shards = sorted((out / "records/train").glob("train-*.tfrecord"))
    assert [p.name for p in shards] == ["train-00000.tfrecord", "train-00001.tfrecord", "train-00002.tfrecord"]
    examples = [decode_example(r) for p in shards for r in read_records(p)]
    order = fjcommon_order(list(images))
    assert [e["image/encoded"][0] for e in examples] == [
        (out / images[k]["outputs"][0]["path"]).read_bytes() for k in order]
    assert main(["verify", str(out)]) == 0


def test_fjcommon_order_is_sorted_then_shuffled_twice_with_seed_6():
    keys = [f"k{i:03d}" for i in range(50)]
    ref = sorted(keys)
    random.Random(6).shuffle(ref)
    random.Random(6).shuffle(ref)
    assert fjcommon_order(list(reversed(keys))) == ref != sorted(keys)


# --- Open Images for L3C ----------------------------------------------------------------------------------

def _big(n):
    """A Kodak image upscaled to 1024 px wide (shorter side 683 >= 640), like an Open Images photo."""
    img = Image.fromarray(kodak(n))
    return img.resize((1024, round(1024 * img.height / img.width)), Image.LANCZOS)


@needs_kodak
def test_openimages_v3_rule(tmp_path):
    # The rule at --resolution 256 on native Kodak (shorter side 512 >= 256/0.8 = 320) keeps the test fast;
    # the default 512 is pinned below on an upscaled image.
    src = tmp_path / "src"
    src.mkdir()
    for n in (1, 3, 4):
        Image.fromarray(kodak(n)).save(src / f"k{n}.jpg", quality=95)
    Image.fromarray(kodak(5)[:300, :450]).save(src / "small.png")                 # shorter side 300 < 320
    Image.fromarray(kodak(8)).convert("CMYK").save(src / "cmyk.jpg", quality=95)   # not RGB
    bright = (kodak(2).astype(int) // 4 + 215).astype(np.uint8)
    Image.fromarray(bright).save(src / "bright.jpg")                               # mean V > 0.8
    red = np.zeros((400, 500, 3), np.uint8)
    red[..., 0] = np.maximum(kodak(9)[:400, :500, 0], 60)
    Image.fromarray(red).save(src / "red.png")                                     # mean S = 1 > 0.9
    out = tmp_path / "a"
    _prepare("openimages-l3c", "--src", src, "--out", out, "--workers", 0, "--seed", 7, "--resolution", 256)
    recs = Manifest(out).records
    assert {k: (r["status"], r["reason"]) for k, r in recs.items()} == {
        "k1.jpg": ("done", ""), "k3.jpg": ("done", ""), "k4.jpg": ("done", ""),
        "small.png": ("skipped", "too-small"), "cmyk.jpg": ("skipped", "not-rgb"),
        "bright.jpg": ("skipped", "brightness>0.8"), "red.png": ("skipped", "saturation>0.9")}
    for n in (1, 3, 4):
        w, h = Image.open(src / f"k{n}.jpg").size
        s = random.Random(task_seed(7, f"k{n}.jpg")).uniform(256 / min(w, h), 0.8)
        im = Image.open(out / f"k{n}.png")
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (round(w * s), round(h * s))
        assert 256 <= min(im.size) <= 0.8 * min(w, h) + 0.5
    # same seed -> byte-identical; another seed -> other sizes
    out2, out3 = tmp_path / "b", tmp_path / "c"
    _prepare("openimages-l3c", "--src", src, "--out", out2, "--workers", 0, "--seed", 7, "--resolution", 256)
    _prepare("openimages-l3c", "--src", src, "--out", out3, "--workers", 0, "--seed", 8, "--resolution", 256)
    assert _outputs(out) == _outputs(out2)
    assert _outputs(out) != _outputs(out3)
    text = stats_text(out)
    assert "skipped  too-small" in text and "done     -" in text and "3 images" in text


@needs_kodak
def test_openimages_v3_default_512(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _big(1).save(src / "big.jpg", quality=95)                 # 1024 x 683: kept
    Image.fromarray(kodak(5)).save(src / "kodak.png")         # shorter side 512 < 640: discarded
    out = tmp_path / "o"
    _prepare("openimages-l3c", "--src", src, "--out", out, "--workers", 0)
    recs = Manifest(out).records
    assert recs["kodak.png"]["reason"] == "too-small"
    s = random.Random(task_seed(123, "big.jpg")).uniform(512 / 683, 0.8)
    assert Image.open(out / "big.png").size == (round(1024 * s), round(683 * s))


@needs_kodak
def test_openimages_v1_rule_and_clic_frllic(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _big(1).save(src / "big1.jpg", quality=95)
    _big(4).save(src / "big4.jpg", quality=95)
    Image.fromarray(kodak(6)).save(src / "k6.png")       # 768 / 768 = 1 > 0.95: discarded
    out = tmp_path / "v1"
    _prepare("openimages-l3c", "--rule", "v1", "--src", src, "--out", out, "--workers", 0)
    im = Image.open(out / "big1.jpg")
    assert im.size == (768, 512) and estimate_jpeg_quality(im.quantization) == 95
    assert Image.open(out / "big4.jpg").size == (512, 768)
    assert Manifest(out).records["k6.png"]["reason"] == "too-small"
    fr = tmp_path / "frllic"
    _prepare("clic-frllic", "--src", src, "--out", fr, "--workers", 0)
    assert Image.open(fr / "big1.png").size == (768, 512)
    # randX_Y: one draw per image, within the range
    rnd = tmp_path / "rnd"
    _prepare("openimages-l3c", "--rule", "v1", "--resolution", "rand600_700", "--src", src, "--out", rnd, "--workers", 0)
    for k in ("big1.jpg", "big4.jpg"):
        assert 600 <= max(Image.open(rnd / k).size) <= 700


@needs_kodak
def test_fixed_image_and_subset(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for n in range(1, 7):
        Image.fromarray(kodak(n)).save(src / f"b{n}.jpg")
    Image.fromarray(kodak(10)).convert("L").save(tmp_path / "fixed.png")
    out = tmp_path / "o"
    _prepare("openimages-l3c", "--src", src, "--out", out, "--workers", 0, "--max-images", 3, "--resolution", 256,
             "--fixed-image", tmp_path / "fixed.png")
    recs = Manifest(out).records
    assert len(recs) == 4 and Image.open(out / "fixedimg.png").mode == "RGB"
    assert sorted(k for k in recs if k != "fixedimg") == sorted(random.Random(123).sample(
        [f"b{n}.jpg" for n in range(1, 7)], 3))


# --- bad inputs -------------------------------------------------------------------------------------------

def test_bad_inputs_get_a_rule_and_a_reason(tmp_path):
    exp = write_bad_inputs(tmp_path / "src", photo()[:300, :400])
    out = tmp_path / "out"
    assert main(["prepare", "imagenet-cpm", "--src", str(tmp_path / "src"), "--out", str(out), "--workers", "0",
                 "--no-progress", "--no-records"]) == 0
    recs = Manifest(out).records
    (tmp_path / "src" / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    assert main(["prepare", "imagenet-cpm", "--src", str(tmp_path / "src"), "--out", str(out), "--workers", "0",
                 "--no-progress", "--no-records"]) == 0
    recs = Manifest(out).records
    assert recs.pop("dangling.jpg")["reason"] == "unreadable"
    assert set(recs) == set(exp)
    for name, (status, why) in exp.items():
        r = recs[name]
        assert r["status"] == status, name
        assert (r["reason"] == why) if status == "skipped" else (why in r["notes"] if why else True), (name, r)
    assert Image.open(out / "images/train/exif_rotated.jpg").size == (256, 341)  # rotated upright first
    assert Image.open(out / "images/train/gray16.jpg").mode == "RGB"
    text = stats_text(out)
    for reason in ("corrupt", "empty-file", "not-an-image", "decompression-bomb"):
        assert f"skipped  {reason}" in text


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["prepare", "clic", "--src", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
                 "--split", "professional_valid"]) == 2
    assert "no such folder" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert main(["prepare", "clic", "--src", str(tmp_path), "--out", str(tmp_path / "o"), "--split", "bogus"]) == 2
    assert "--split 'bogus'" in capsys.readouterr().err
    assert main(["stats", str(tmp_path)]) == 2
    assert "no manifest.jsonl" in capsys.readouterr().err


# --- CLIC -------------------------------------------------------------------------------------------------

def test_clic_copies_unprocessed(tmp_path):
    src = tmp_path / "valid"
    (src / "__MACOSX").mkdir(parents=True)
    (src / "__MACOSX" / "._a.png").write_bytes(b"junk")
    Image.fromarray(photo("astronaut")).save(src / "a.png")
    Image.fromarray(photo("coffee")).save(src / "b.png")
    (src / "c.png").write_bytes(b"")
    out = tmp_path / "out"
    _prepare("clic", "--src", src, "--out", out, "--split", "professional_valid_2020", "--workers", 0)
    for n in ("a.png", "b.png"):
        assert (out / "professional_valid_2020" / n).read_bytes() == (src / n).read_bytes()
    recs = Manifest(out).records
    assert set(recs) == {"a.png", "b.png", "c.png", "__MACOSX/"} and recs["c.png"]["reason"] == "empty-file"
    assert recs["__MACOSX/"]["reason"] == "os-metadata" and not (out / "professional_valid_2020/__MACOSX").exists()


# --- fixed crops (CPM testset) ---------------------------------------------------------------------------

def test_crops(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for n in ("astronaut", "coffee", "chelsea", "rocket"):
        Image.fromarray(photo(n)).save(src / f"{n}.jpg")
    Image.fromarray(photo("coffee")[:100, :300]).save(src / "tiny.png")
    out = tmp_path / "o"
    _prepare("crops", "--src", src, "--out", out, "--count", 4, "--size", 128, "--seed", 1, "--workers", 0)
    recs = Manifest(out).records
    chosen = sorted(random.Random(1).sample(sorted(p.name for p in src.iterdir()), 4))
    assert sorted(recs) == chosen and "tiny.png" in recs
    for k, r in recs.items():
        if r["status"] == "skipped":
            assert k == "tiny.png" and r["reason"] == "too-small"
            continue
        o = r["outputs"][0]
        full = np.asarray(Image.open(src / k).convert("RGB"))
        crop = np.asarray(Image.open(out / o["path"]))
        assert crop.shape == (128, 128, 3)
        assert np.array_equal(crop, full[o["y"]:o["y"] + 128, o["x"]:o["x"] + 128])


# --- CIFAR-10 / ImageNet32/64 -----------------------------------------------------------------------------

def _crops(side, n):
    img = photo("astronaut")
    rng = np.random.default_rng(0)
    return np.stack([random_crop(img, side, rng) for _ in range(n)])


def _planar(x):
    return x.transpose(0, 3, 1, 2).reshape(len(x), -1)


def test_cifar10_and_imagenet_batches(tmp_path):
    c = _crops(32, 7)
    cif = tmp_path / "cifar-10-batches-py"
    cif.mkdir()
    with open(cif / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _planar(c[:5]), b"labels": [3, 1, 4, 1, 5], b"batch_label": b"x"}, f)
    with open(cif / "test_batch", "wb") as f:
        pickle.dump({b"data": _planar(c[5:]), b"labels": [9, 2]}, f)
    (cif / "readme.html").write_text("ignored")
    imgs, labels = read_batch(cif / "data_batch_1", 32)
    assert np.array_equal(imgs, c[:5]) and labels.tolist() == [3, 1, 4, 1, 5]
    out = tmp_path / "cifar"
    _prepare("cifar10", "--src", cif, "--out", out, "--workers", 0)
    assert np.array_equal(np.asarray(Image.open(out / "test/test_batch_00001.png")), c[6])
    assert len(list((out / "train").glob("*.png"))) == 5

    c64 = _crops(64, 3)
    inet = tmp_path / "Imagenet64"
    inet.mkdir()
    np.savez(inet / "train_data_batch_1.npz", data=_planar(c64), labels=np.array([1, 1000, 7]),
             mean=np.zeros(3 * 64 * 64))
    with open(inet / "val_data", "wb") as f:
        pickle.dump({"data": _planar(c64[:1]), "labels": [5]}, f)
    out = tmp_path / "in64"
    _prepare("imagenet64", "--src", inet, "--out", out, "--workers", 0)
    assert np.array_equal(np.asarray(Image.open(out / "train/train_data_batch_1_00002.png")), c64[2])
    assert np.array_equal(np.asarray(Image.open(out / "val/val_data_00000.png")), c64[0])
    with pytest.raises(ValueError, match="rows of 3x32x32"):
        read_batch(inet / "train_data_batch_1.npz", 32)


# --- loader-time transforms -------------------------------------------------------------------------------

def test_hific_rescale_crop():
    img = photo("astronaut")  # 512 x 512
    rng = np.random.default_rng(3)
    s = rng.uniform(0.75, 0.95)
    h = math.ceil(s * 512)
    ref = np.asarray(Image.fromarray(img).resize((h, h), Image.BILINEAR))
    y, x = int(rng.integers(0, h - 255)), int(rng.integers(0, h - 255))
    out = hific_rescale_crop(img, np.random.default_rng(3))
    assert out.shape == (256, 256, 3) and 384 <= h <= 487
    assert np.array_equal(out, ref[y:y + 256, x:x + 256])  # a window of the image rescaled by s
    small = photo("astronaut")[:260, :300]  # scale raised so the shorter side stays >= 256
    assert hific_rescale_crop(small, 0).shape == (256, 256, 3)


def test_image_folder(tmp_path):
    for n in ("astronaut", "coffee", "chelsea"):
        Image.fromarray(photo(n)).save(tmp_path / f"{n}.png")
    ds = ImageFolder(tmp_path, transform=lambda im, r: random_crop(im, 128, r), min_size=400)
    assert len(ds) == 2  # chelsea is 300 px high
    assert ds[0].shape == (128, 128, 3)
    out = tmp_path / "clic"
    _prepare("clic", "--src", tmp_path, "--out", out, "--split", "mobile_valid", "--workers", 0)
    ds2 = ImageFolder.from_manifest(out, min_size=400)
    assert [p.name for p in ds2.paths] == [p.name for p in ds.paths] and ds2[1].shape == (400, 600, 3)
