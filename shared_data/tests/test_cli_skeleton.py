"""shared_data.cli (the one CLI skeleton) and shared_data.codec's helpers, driven with a toy lossless codec."""

from pathlib import Path

import numpy as np
import pytest

from shared_data import cli, golden, threads
from shared_data import codec as codec_api
from shared_data.codec_tests import ToyLosslessCodec
from shared_data.errors import ContainerError, ImageError, LicError
from shared_data.imageio import read_image, write_png


class Raw(ToyLosslessCodec):
    """The shared toy codec (stores the pixels; checks the fingerprint) under this test's fingerprint."""
    fingerprint = b"rawraw01"


def run(argv, capsys):
    rc = cli.main(argv, codec_id="test", load=lambda args: Raw())
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def img():
    return np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)


def test_protocol_and_bytes_helpers(img):
    c = Raw()
    assert isinstance(c, codec_api.Codec)
    data = codec_api.compress(c, img)
    np.testing.assert_array_equal(codec_api.decompress(c, data), img)
    with pytest.raises(ImageError):
        codec_api.compress(c, img.astype(np.float32))
    with pytest.raises(ContainerError, match="x.lic: "):
        codec_api.decompress(c, data[:-3], path="x.lic")


def test_encode_decode_info_one_file(tmp_path, img, capsys):
    write_png(tmp_path / "a.png", img)
    rc, out, _ = run(["encode", str(tmp_path / "a.png"), str(tmp_path / "a.lic")], capsys)
    assert rc == 0 and "bpsp" in out and "9x7" in out
    rc, out, _ = run(["decode", str(tmp_path / "a.lic"), str(tmp_path / "b.png")], capsys)
    assert rc == 0
    np.testing.assert_array_equal(read_image(tmp_path / "b.png"), img)
    rc, out, _ = run(["info", str(tmp_path / "a.lic")], capsys)
    assert rc == 0 and "codec test" in out and b"rawraw01".hex() in out


def test_folder_runs_mirror_the_tree(tmp_path, img, capsys):
    (tmp_path / "in/sub").mkdir(parents=True)
    write_png(tmp_path / "in/a.png", img)
    write_png(tmp_path / "in/sub/b.png", img[:4])
    (tmp_path / "in/.hidden.png").write_bytes(b"x")
    rc, out, _ = run(["encode", str(tmp_path / "in"), str(tmp_path / "enc")], capsys)
    assert rc == 0 and "encoded 2 of 2" in out
    assert sorted(p.relative_to(tmp_path / "enc").as_posix() for p in (tmp_path / "enc").rglob("*.lic")) == \
        ["a.png.lic", "sub/b.png.lic"]
    rc, out, _ = run(["decode", str(tmp_path / "enc"), str(tmp_path / "dec")], capsys)
    assert rc == 0
    np.testing.assert_array_equal(read_image(tmp_path / "dec/sub/b.png"), img[:4])


def test_errors_are_one_line_and_a_folder_run_goes_on(tmp_path, img, capsys):
    rc, _, err = run(["decode", str(tmp_path / "none.lic"), str(tmp_path / "o.png")], capsys)
    assert rc == 1 and err.startswith("error: ") and "none.lic" in err and err.count("\n") == 1
    (tmp_path / "in").mkdir()
    write_png(tmp_path / "in/a.png", img)
    (tmp_path / "in/b.png").write_bytes(b"not a png")
    rc, out, err = run(["encode", str(tmp_path / "in"), str(tmp_path / "enc")], capsys)
    assert rc == 1 and "b.png" in err and "encoded 1 of 2" in out
    bad = tmp_path / "bad.lic"
    bad.write_bytes((tmp_path / "enc/a.png.lic").read_bytes()[:-1])
    rc, _, err = run(["decode", str(bad), str(tmp_path / "o.png")], capsys)
    assert rc == 1 and "bad.lic" in err and not (tmp_path / "o.png").exists()


def test_pixel_limit_is_checked_before_the_model_loads(tmp_path, img, capsys):
    write_png(tmp_path / "a.png", img)

    def load(args):
        raise AssertionError("model loaded before the pixel check")
    rc = cli.main(["encode", str(tmp_path / "a.png"), str(tmp_path / "a.lic"), "--max-pixels", "10"],
                  codec_id="test", load=load)
    assert rc == 1 and "--max-pixels" in capsys.readouterr().err


def test_thread_policy(monkeypatch):
    monkeypatch.setenv("LIC_THREADS", "3")
    assert threads.count() == 3 and threads.count(1) == 1
    monkeypatch.setenv("LIC_THREADS", "x")
    with pytest.raises(ValueError):
        threads.count()
    monkeypatch.delenv("LIC_THREADS")
    assert threads.count(encoded=5) == 5 and 1 <= threads.count() <= 2


def test_golden_convention(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_UPDATE_GOLDEN", raising=False)
    monkeypatch.delenv("LIC_UPDATE_GOLDEN", raising=False)
    p = tmp_path / "g.lic"
    with pytest.raises(AssertionError, match="missing"):
        golden.check(p, b"abc", "test")
    monkeypatch.setenv("TEST_UPDATE_GOLDEN", "1")
    golden.check(p, b"abc", "test")
    monkeypatch.delenv("TEST_UPDATE_GOLDEN")
    golden.check(p, b"abc", "test")
    with pytest.raises(AssertionError, match="changed"):
        golden.check(p, b"abd", "test")


def test_load_codec_names_what_is_missing(tmp_path):
    with pytest.raises(LicError, match="unknown codec 'nope'"):
        codec_api.load_codec(None, codec="nope")
    absent = [c for c in codec_api.PACKAGES if c not in codec_api.installed()]
    if not absent:
        pytest.skip("every codec package is importable in this environment")
    with pytest.raises(LicError, match=f"{absent[0]}.*not installed in this environment"):
        codec_api.load_codec(None, codec=absent[0])


def test_report_lists_every_file(tmp_path, img, capsys):
    import json
    (tmp_path / "in").mkdir()
    write_png(tmp_path / "in/a.png", img)
    (tmp_path / "in/b.png").write_bytes(b"junk")
    rc, _, _ = run(["encode", str(tmp_path / "in"), str(tmp_path / "enc"), "--report", str(tmp_path / "r.jsonl")],
                   capsys)
    rows = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert rc == 1 and [Path(r["input"]).name for r in rows] == ["a.png", "b.png"]
    assert rows[0]["bytes"] == (tmp_path / "enc/a.png.lic").stat().st_size and "error" in rows[1]


def test_thread_policy_does_not_change_the_arithmetic_record(monkeypatch):
    from shared_data import arith
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_USER_ENV", None)
    before = arith.describe()
    threads.limit(1)
    import os
    assert os.environ["OMP_NUM_THREADS"] == "1" and arith.describe() == before
