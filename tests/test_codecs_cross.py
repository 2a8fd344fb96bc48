"""The container across codecs, through each sub-project's real CLI in its own environment: a file written by
one codec is refused by every other with a clear message, corrupt and truncated files are refused, and the
demo driver produces its table from real files. Codecs without a committed checkpoint are skipped by name."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from shared_data.imageio import read_image, sample_images, write_png
from shared_eval import demo

AVAILABLE = [c for c in demo.CODECS if demo.availability(c) is None]
ALL = {c.name: c for c in demo.CODECS}


def _cli(codec, *args, check=True):
    folder = demo.REPO / codec.folder
    proc = subprocess.run([str(folder / ".venv/bin/python"), "-m", codec.package, *map(str, args)], cwd=folder,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{codec.name} {args[0]} failed: {proc.stderr[-2000:]}")
    return proc


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """One small real photo crop (odd size) encoded by every available codec."""
    d = tmp_path_factory.mktemp("cross")
    img = sample_images(("coffee",))["coffee"][100:171, 200:297]  # 71 x 97
    src = d / "coffee.png"
    write_png(src, img)
    files = {}
    for c in AVAILABLE:
        out = d / f"{c.name}.lic"
        _cli(c, "encode", src, out)
        files[c.name] = out
    return src, img, files


def _params():
    out = []
    for c in demo.CODECS:
        why = demo.availability(c)
        out.append(pytest.param(c.name, marks=pytest.mark.skipif(why is not None, reason=f"{c.name}: {why}")))
    return out


@pytest.mark.parametrize("name", _params())
def test_round_trip_and_foreign_files_refused(name, encoded, tmp_path):
    src, img, files = encoded
    codec = ALL[name]
    rec = tmp_path / "rec.png"
    _cli(codec, "decode", files[name], rec)
    out = read_image(rec)
    assert out.shape == img.shape
    if codec.lossless:
        np.testing.assert_array_equal(out, img)
    # a file written by another codec (or a forged codec id when only one codec is available)
    others = [o for o in files if o != name]
    if others:
        foreign = files[others[0]]
    else:
        data = bytearray(files[name].read_bytes())
        data[5] = 255  # codec id "test"
        import zlib

        data[-4:] = (zlib.crc32(bytes(data[:-4])) & 0xFFFFFFFF).to_bytes(4, "little")
        foreign = tmp_path / "foreign.lic"
        foreign.write_bytes(bytes(data))
    r = _cli(codec, "decode", foreign, tmp_path / "x.png", check=False)
    assert r.returncode != 0 and "codec mismatch" in r.stderr, r.stderr[-1000:]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.png").exists()
    # corrupt and truncated files
    data = files[name].read_bytes()
    for bad, what in [(data[: len(data) // 2], "truncated"), (data[:30] + bytes([data[30] ^ 0x40]) + data[31:], "CRC")]:
        p = tmp_path / "bad.lic"
        p.write_bytes(bad)
        r = _cli(codec, "decode", p, tmp_path / "y.png", check=False)
        assert r.returncode != 0 and what.lower() in r.stderr.lower(), r.stderr[-1000:]
        assert "Traceback" not in r.stderr
        assert not (tmp_path / "y.png").exists()


def test_demo_table_from_real_files(tmp_path):
    img = sample_images(("astronaut",))["astronaut"][:192, :256]
    src = tmp_path / "astro.png"
    write_png(src, img)
    rc = demo.main(["--images", str(src), "--out", str(tmp_path / "demo")])
    assert rc == 0
    from shared_eval.measures import read_measures

    rows = read_measures(tmp_path / "demo" / "measures.csv")
    codecs = {r["codec"].split(" ")[0] for r in rows}
    assert {c.name for c in AVAILABLE} | {"jpeg", "webp"} == codecs
    for r in rows:
        if r["codec"] in {c.name for c in AVAILABLE}:
            f = tmp_path / "demo" / r["codec"] / "astro.lic"
            assert r["bpp"] == pytest.approx(8 * f.stat().st_size / (192 * 256), rel=1e-6)
    assert (tmp_path / "demo" / "rd.png").stat().st_size > 1000
