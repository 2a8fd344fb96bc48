"""The demo CLI (python -m rec encode/decode/info over shared_data.cli), clear errors, and a regression check of
the committed zoo (a missing committed model or measures file fails; only missing Kodak images skip)."""

import csv
import subprocess
import sys

import numpy as np
import pytest
from conftest import KODAK_DIR, ROOT  # noqa: E402

from shared_data.imageio import read_image, write_png

ZOO = ROOT / "zoo" / "mini"
ZOO_LOSSLESS = ROOT / "zoo" / "mini-lossless"


def _run(*args):
    return subprocess.run([sys.executable, "-m", "rec", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_cli_encode_decode_default_model(tmp_path):
    rs = np.random.RandomState(0)
    img = np.clip(rs.randn(40, 90, 3) * 30 + 128, 0, 255).astype(np.uint8)
    write_png(tmp_path / "in.png", img)
    r = _run("encode", str(tmp_path / "in.png"), str(tmp_path / "a.lic"))
    assert r.returncode == 0, r.stderr
    r = _run("decode", str(tmp_path / "a.lic"), str(tmp_path / "out.png"))
    assert r.returncode == 0, r.stderr
    out = read_image(tmp_path / "out.png")
    assert out.shape == img.shape
    # a folder (the shared CLI: sub-folders kept, one model load): the same bytes as one file at a time
    write_png(tmp_path / "dir" / "sub" / "in.png", img)
    write_png(tmp_path / "dir" / "b.png", img[:33, :20])
    r = _run("encode", str(tmp_path / "dir"), str(tmp_path / "lics"))
    assert r.returncode == 0 and "encoded 2 of 2 files" in r.stdout, r.stderr
    assert (tmp_path / "lics" / "sub" / "in.png.lic").read_bytes() == (tmp_path / "a.lic").read_bytes()
    assert (tmp_path / "lics" / "b.png.lic").is_file()
    r = _run("info", str(tmp_path / "a.lic"))
    assert r.returncode == 0 and "codec irec" in r.stdout and "portable format 3, lossy" in r.stdout, r.stderr
    # errors: one clear line, non-zero exit
    (tmp_path / "bad.lic").write_bytes(b"LIC\x89garbage")
    r = _run("decode", str(tmp_path / "bad.lic"), str(tmp_path / "x.png"))
    assert r.returncode == 1 and r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    r = _run("encode", str(tmp_path / "missing.png"), str(tmp_path / "x.lic"))
    assert r.returncode == 1 and "no such file" in r.stderr
    r = _run("encode", str(tmp_path / "in.png"), str(tmp_path / "x.lic"), "--model", str(tmp_path))
    assert r.returncode == 1 and "config.json" in r.stderr
    r = _run("encode", str(tmp_path / "in.png"), str(tmp_path / "x.lic"), "--n_beams", "0")
    assert r.returncode == 1 and "n_beams" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "x.lic").exists()


def _first_row(path):
    with open(path) as f:
        return next(csv.DictReader(f))


@pytest.mark.skipif(not KODAK_DIR.is_dir(), reason=f"Kodak not found at {KODAK_DIR} (set KODAK_DIR)")
def test_zoo_mini_regression(tmp_path):
    """Re-code the first committed Kodak crop: real bpp and PSNR match the committed measures."""
    from rec.codec import compress, decompress, load_model

    from shared_data.transforms import center_crop
    from shared_eval.metrics import psnr

    row = _first_row(ZOO / "measures.csv")
    img = center_crop(read_image(KODAK_DIR / f"{row['img_name']}.png"), 256)
    lm = load_model(ZOO)
    r = compress(lm, img, tmp_path / "a.lic", n_beams=10, extra_samples=1.0, kl_per_partition=3.0)
    dec = decompress(lm, tmp_path / "a.lic")
    np.testing.assert_array_equal(dec, r.reconstruction)
    assert r.bpp == pytest.approx(float(row["bpp"]), rel=0.03)
    assert psnr(img, dec) == pytest.approx(float(row["psnr"]), abs=0.3)
    # the iREC property: real code length ≈ KL + per-partition overhead (here: < 10% + 100 bytes)
    assert r.num_bytes * 8 <= 1.10 * r.kl_nats / np.log(2) + 800


def test_zoo_mini_lossless_bit_exact(tmp_path):
    from rec.codec import compress, decompress, load_model

    rs = np.random.RandomState(2)
    img = np.clip(np.cumsum(rs.randn(32, 32, 3) * 8, axis=1) + 128, 0, 255).astype(np.uint8)
    lm = load_model(ZOO_LOSSLESS)
    r = compress(lm, img, tmp_path / "l.lic", n_beams=20, extra_samples=1.2)
    np.testing.assert_array_equal(decompress(lm, tmp_path / "l.lic"), img)
    assert r.num_bytes == (tmp_path / "l.lic").stat().st_size
