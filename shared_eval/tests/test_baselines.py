"""Classical baselines: real round trips, monotone rates, matched-bpp search, CLI outputs, clear errors."""

import json

import numpy as np
import pytest

from shared_data.imageio import sample_images, write_png
from shared_eval import baselines as bl
from shared_eval.measures_csv import read_measures
from shared_eval.metrics import bpp, psnr

LOSSY = ["jpeg", "webp", "jpeg2000", "avif", "jpegxl"]
LOSSLESS = ["png", "webp-lossless", "jpegxl-lossless", "jpeg2000-lossless"]


@pytest.fixture(scope="module")
def img():
    a = sample_images(("astronaut",))["astronaut"]
    return np.ascontiguousarray(a[100:292, 150:342])  # 192x192: enough for 5-scale MS-SSIM, fast to code


def _needs(codec):
    if bl.CODECS[codec].library.startswith("imagecodecs") and bl.imagecodecs is None:
        pytest.skip("imagecodecs not installed")


@pytest.mark.parametrize("codec", LOSSY)
def test_lossy_round_trip_rate_grows_with_quality(img, codec):
    _needs(codec)
    c = bl.CODECS[codec]
    lo, hi = c.default_qualities[1], c.default_qualities[-2]
    small, big = bl.encode(img, codec, lo), bl.encode(img, codec, hi)
    assert len(small) < len(big)
    rec_small, rec_big = bl.decode(small, codec), bl.decode(big, codec)
    assert rec_small.shape == img.shape and rec_small.dtype == np.uint8
    assert 18 < psnr(img, rec_small) < psnr(img, rec_big)


@pytest.mark.parametrize("codec", LOSSLESS)
def test_lossless_is_exact(img, codec):
    _needs(codec)
    data = bl.encode(img, codec, bl.CODECS[codec].default_qualities[0])
    assert np.array_equal(bl.decode(data, codec), img)
    assert 0 < bpp(len(data), *img.shape[:2]) < 24


@pytest.mark.parametrize("codec", ["jpeg", "webp", "avif", "jpegxl", "jpeg2000"])
def test_encode_at_bpp_hits_target_from_below(img, codec):
    _needs(codec)
    h, w = img.shape[:2]
    target = 0.8
    data, rec, q = bl.encode_at_bpp(img, codec, target)
    got = bpp(len(data), h, w)
    assert got <= target
    assert np.array_equal(rec, bl.decode(data, codec))
    c = bl.CODECS[codec]
    if c.integer_q and q < c.q_range[1]:  # the next quality up would exceed the budget
        assert bpp(len(bl.encode(img, codec, q + 1)), h, w) > target
    else:
        assert got > 0.95 * target
    data_c, _, q_c = bl.encode_at_bpp(img, codec, target, mode="closest")
    assert abs(bpp(len(data_c), h, w) - target) <= abs(got - target)


def test_cli_writes_measures_and_settings(tmp_path, img):
    d = tmp_path / "imgs"
    write_png(d / "a.png", img)
    write_png(d / "b.png", img[:, ::-1])
    out = tmp_path / "out"
    assert bl.main(["--images", str(d), "--codecs", "jpeg,png", "--qualities", "20,80", "--out", str(out)]) == 0
    rows = read_measures(out / "jpeg" / "measures.csv")
    assert len(rows) == 4 and {r["quality"] for r in rows} == {20, 80}
    assert all(r["codec"] == "jpeg" and r["ms-ssim"] > 0.5 and r["enc_s"] >= 0 for r in rows)
    meta = json.loads((out / "jpeg" / "settings.json").read_text())
    assert meta["versions"]["Pillow"] and meta["settings"]["subsampling"] == "4:2:0"
    png = read_measures(out / "png" / "measures.csv")
    assert all(abs(r["bpsp"] * 3 - r["bpp"]) < 1e-6 for r in png)
    assert bl.main(["--images", str(d), "--codecs", "webp", "--target-bpp", "0.5", "--out", str(out)]) == 0
    rows = read_measures(out / "webp" / "measures.csv")
    assert all(r["bpp"] <= 0.5 and r["target_bpp"] == 0.5 for r in rows)


def test_errors_are_clear(tmp_path, img, capsys):
    with pytest.raises(bl.BaselineError, match="unknown codec"):
        bl.encode(img, "flif", 1)
    with pytest.raises(bl.BaselineError, match="outside"):
        bl.encode(img, "jpeg", 300)
    with pytest.raises(bl.BaselineError, match="cannot decode"):
        bl.decode(b"\xff\xd8 not a jpeg", "jpeg")
    with pytest.raises(bl.BaselineError, match="lossless"):
        bl.encode_at_bpp(img, "png", 1.0)
    (tmp_path / "bad.png").write_bytes(b"garbage")
    assert bl.main(["--images", str(tmp_path), "--codecs", "jpeg", "--out", str(tmp_path / "o")]) == 2
    assert "bad.png" in capsys.readouterr().err
    assert bl.main(["--images", str(tmp_path / "none"), "--codecs", "jpeg", "--out", str(tmp_path / "o")]) == 2
