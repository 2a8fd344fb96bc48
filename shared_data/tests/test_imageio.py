"""Image reading for every mode a user may hand a codec, atomic PNG writes, padding."""

import io

import numpy as np
import pytest
from PIL import Image

from shared_data import imageio
from shared_data.imageio import ImageReadError, crop_to_original, pad_to_multiple, read_image, write_png

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (9, 14, 3), dtype=np.uint8)


def _save(tmp_path, img: Image.Image, name: str, **kw):
    p = tmp_path / name
    img.save(p, **kw)
    return p


def test_rgb_png_round_trip(tmp_path):
    p = tmp_path / "a.png"
    write_png(p, RGB)
    out = read_image(p)
    assert out.dtype == np.uint8 and out.shape == (9, 14, 3)
    np.testing.assert_array_equal(out, RGB)


def test_grayscale_becomes_rgb(tmp_path):
    g = RGB[..., 0]
    out = read_image(_save(tmp_path, Image.fromarray(g, "L"), "g.png"))
    np.testing.assert_array_equal(out, np.repeat(g[..., None], 3, axis=2))


def test_alpha_dropped(tmp_path):
    rgba = np.concatenate([RGB, np.full((9, 14, 1), 7, np.uint8)], axis=2)
    out = read_image(_save(tmp_path, Image.fromarray(rgba, "RGBA"), "a.png"))
    np.testing.assert_array_equal(out, RGB)


def test_palette_and_bilevel(tmp_path):
    p = Image.fromarray(RGB).convert("P")
    out = read_image(_save(tmp_path, p, "p.png"))
    np.testing.assert_array_equal(out, np.asarray(p.convert("RGB")))
    b = Image.fromarray((RGB[..., 0] > 127).astype(np.uint8) * 255, "L").convert("1")
    out = read_image(_save(tmp_path, b, "b.png"))
    assert set(np.unique(out)) <= {0, 255}


def test_16bit_scaled(tmp_path):
    v = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    p = _save(tmp_path, Image.fromarray(v), "s.png")
    out = read_image(p)
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])


def test_exif_orientation_applied(tmp_path):
    img = Image.fromarray(RGB)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    p = tmp_path / "o.jpg"
    img.save(p, exif=exif, quality=100)
    out = read_image(p)
    assert out.shape == (14, 9, 3)


def test_cmyk_jpeg(tmp_path):
    out = read_image(_save(tmp_path, Image.fromarray(RGB).convert("CMYK"), "c.jpg"))
    assert out.shape == (9, 14, 3)


@pytest.mark.parametrize("content, message", [
    (b"", "not an image"),
    (b"hello world, not a picture", "not an image"),
])
def test_not_an_image(tmp_path, content, message):
    p = tmp_path / "x.png"
    p.write_bytes(content)
    with pytest.raises(ImageReadError, match=message):
        read_image(p)


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(buf, format="PNG")
    p = tmp_path / "t.png"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageReadError, match="corrupt or truncated"):
        read_image(p)


def test_missing_and_directory(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="directory"):
        read_image(tmp_path)


def test_decompression_bomb(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(p)
    monkeypatch.setattr(imageio, "MAX_PIXELS", 10_000)
    with pytest.raises(ImageReadError, match="decompression bomb"):
        read_image(p)


def test_write_png_is_atomic_and_validates(tmp_path):
    p = tmp_path / "keep.png"
    write_png(p, RGB)
    before = p.read_bytes()
    with pytest.raises(ValueError, match="uint8 array"):
        write_png(p, RGB.astype(np.float32))
    assert p.read_bytes() == before  # a failed write leaves the user's file alone
    assert sorted(f.name for f in tmp_path.iterdir()) == ["keep.png"]


@pytest.mark.parametrize("h, w", [(1, 1), (7, 13), (64, 64), (65, 3)])
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("split", ["center", "end"])
def test_pad_crop(h, w, mode, split):
    img = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    padded, info = pad_to_multiple(img, 8, mode=mode, split=split)
    assert padded.shape[0] % 8 == 0 and padded.shape[1] % 8 == 0
    assert padded.shape[0] - h < 8 and padded.shape[1] - w < 8
    np.testing.assert_array_equal(crop_to_original(padded, info), img)
    if split == "center":
        assert info.top == (padded.shape[0] - h) // 2


def test_sample_images_ship_with_scikit_image():
    ims = imageio.sample_images(("astronaut", "chelsea"))
    assert ims["astronaut"].shape == (512, 512, 3) and ims["chelsea"].dtype == np.uint8


def test_written_files_get_the_umask_mode(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        write_png(tmp_path / "m.png", RGB)
    finally:
        os.umask(old)
    assert (tmp_path / "m.png").stat().st_mode & 0o777 == 0o644
