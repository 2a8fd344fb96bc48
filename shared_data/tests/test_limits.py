"""shared_data.limits: the pixel-limit rule every codec CLI wires (issue 17, bounded memory)."""

import argparse

import pytest

from shared_data import limits
from shared_data.imageio import ImageReadError


def test_constant_png_header_size_and_refusal(tmp_path):
    p = limits.write_constant_png(tmp_path / "big.png", 5000, 4000, value=7)
    assert limits.image_size(p) == (5000, 4000)
    with pytest.raises(limits.PixelLimitError) as e:
        limits.precheck("encode", p, 19_999_999, "test")
    msg = str(e.value)
    assert str(p) in msg and "4000x5000 = 20,000,000 pixels" in msg and "19,999,999" in msg
    assert limits.FLAG in msg and "the test encoder" in msg and "\n" not in msg
    limits.precheck("encode", p, 20_000_000, "test")  # at the limit: admitted
    limits.precheck("encode", p, 0, "test")  # 0: no limit


def test_decoder_precheck_reads_the_container_header(tmp_path):
    p = limits.forged_container(tmp_path / "f.lic", "test", 12000, 12000)
    with pytest.raises(limits.PixelLimitError, match="the test decoder's limit of 16,777,216"):
        limits.precheck("decode", p, limits.DEFAULT_MAX_PIXELS, "test")
    (tmp_path / "junk.lic").write_bytes(b"junk")
    limits.precheck("decode", tmp_path / "junk.lic", 1, "test")  # unreadable: left to the codec's own error


def test_defaults_and_argparse(monkeypatch):
    assert limits.default_max_pixels("cpm", "encode") == limits.default_max_pixels("l3c", "decode") == 1 << 24
    monkeypatch.setitem(limits.DEFAULTS, ("cpm", "encode"), 1 << 23)   # a per-codec default, where one is needed
    assert limits.default_max_pixels("cpm", "encode") == 1 << 23 and limits.default_max_pixels("cpm", "decode") == 1 << 24
    p = argparse.ArgumentParser()
    limits.add_max_pixels_argument(p, "cpm", "encode")
    assert p.parse_args([]).max_pixels == 1 << 23 and p.parse_args(["--max-pixels", "0"]).max_pixels == 0


def test_affine_memory_estimate():
    base, per_px = limits.RSS_AFFINE[("cpm", "encode")]
    assert limits.estimated_peak_bytes("cpm", "encode", 1000) == int(base + per_px * 1000)
    assert limits.estimated_peak_bytes("l3c", "encode", limits.PIXELS_4K) == int(limits.RSS_4K[("l3c", "encode")])
    assert limits.estimated_peak_bytes("nope", "encode", 10) is None
    assert "bytes per pixel" in limits.estimate_basis("cpm", "decode") and "scaled" in limits.estimate_basis("sga", "encode")


def test_image_size_errors(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        limits.image_size(tmp_path / "missing.png")
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(ImageReadError, match="not an image"):
        limits.image_size(tmp_path / "x.png")


def test_memory_budget_refuses_with_one_line(tmp_path, monkeypatch):
    from shared_data.errors import MemoryLimitError
    p = limits.write_constant_png(tmp_path / "m.png", 4000, 3000)
    monkeypatch.setenv(limits.MEMORY_VAR, "1G")
    with pytest.raises(MemoryLimitError, match=r"m.png: 3000x4000 would need about 2\.0 GiB to encode with sga "
                                               r"\(its 4K peak, 1\.36 GiB, scaled by the pixel count\)"):
        limits.precheck("encode", p, 0, "sga")
    limits.precheck("encode", p, 0, "cpm")   # tiled: 0.66 GiB + 20.4 bytes per pixel = 0.9 GiB
    monkeypatch.setenv(limits.MEMORY_VAR, "512M")
    with pytest.raises(MemoryLimitError, match=r"m.png: 3000x4000 would need about 0\.9 GiB to encode with cpm "
                                               r"\(0\.66 GiB \+ 20\.4 bytes per pixel, measured on tiled runs\)"):
        limits.precheck("encode", p, 0, "cpm")
    limits.precheck("encode", p, 0, "l3c-unmeasured")  # no estimate: no memory check
    monkeypatch.setenv(limits.MEMORY_VAR, "8G")
    limits.precheck("encode", p, 0, "cpm")
    monkeypatch.setenv(limits.MEMORY_VAR, "lots")
    with pytest.raises(limits.PixelLimitError, match="LIC_MAX_MEMORY='lots' is not a memory size"):
        limits.precheck("encode", p, 0, "cpm")
    monkeypatch.delenv(limits.MEMORY_VAR)
    budget, where = limits.memory_budget()
    assert budget is None or (budget > 0 and "available" in where)
