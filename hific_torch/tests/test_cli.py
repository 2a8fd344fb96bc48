"""``python -m hific encode/decode`` (the demo contract) on the committed zoo model and a seeded model."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hific.checkpoints import save_checkpoint
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args, subprocess_=False):
    """The CLI in-process (fast); ``subprocess_=True`` runs the real ``python -m hific``."""
    if subprocess_:
        return subprocess.run([sys.executable, "-m", "hific", *map(str, args)], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
    import contextlib
    import io

    from hific.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return Result(rc, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, mini_model):
    p = tmp_path_factory.mktemp("ck") / "m.pt"
    save_checkpoint(p, mini_model)
    return p


def test_encode_decode_grayscale_alpha_and_errors(tmp_path, ckpt):
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(np.full((33, 20), 90, np.uint8), "L").save(tmp_path / "g.png")
    for name in ("a", "g"):
        r = run("encode", tmp_path / f"{name}.png", tmp_path / f"{name}.lic", "--model", ckpt)
        assert r.returncode == 0, r.stderr
        r = run("decode", tmp_path / f"{name}.lic", tmp_path / f"{name}_rec.png", "--model", ckpt)
        assert r.returncode == 0, r.stderr
        src = Image.open(tmp_path / f"{name}.png")
        rec = Image.open(tmp_path / f"{name}_rec.png")
        assert rec.mode == "RGB" and rec.size == src.size
    # errors: one line on stderr, non-zero exit
    (tmp_path / "junk.lic").write_bytes(b"LIC\x89garbage")
    for args in (("encode", tmp_path / "missing.png", tmp_path / "x.lic"),
                 ("decode", tmp_path / "junk.lic", tmp_path / "x.png"),
                 ("decode", tmp_path / "a.png", tmp_path / "x.png"),
                 ("encode", tmp_path / "a.png", tmp_path / "x.lic", "--model", tmp_path / "nomodel.pt")):
        extra = () if "--model" in args else ("--model", ckpt)
        r = run(*args, *extra)
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "error" in lines[0], r.stderr


def test_zoo_model_is_the_default(tmp_path, zoo_ckpt):
    assert zoo_ckpt.stat().st_size <= 7 * 1024 * 1024  # integerized: float weights + int32 block
    img = (np.indices((48, 80)).sum(0)[..., None] * np.ones(3) % 256).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "i.png")
    r = run("encode", tmp_path / "i.png", tmp_path / "i.lic", subprocess_=True)
    assert r.returncode == 0, r.stderr
    r = run("decode", tmp_path / "i.lic", tmp_path / "o.png")
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "o.png").size == (80, 48)


def test_folder_run_info_and_float_flag(tmp_path, portable_model):
    """The shared CLI's folder mode (tree mirrored, one summary line), ``info`` with hific's layout details, and
    ``--float`` (layout 2 from an integerized model, decodable by the same model)."""
    from hific.checkpoints import save_checkpoint as save

    from shared_data import container as ctr
    ck = tmp_path / "p.pt"
    save(ck, portable_model)
    (tmp_path / "in" / "sub").mkdir(parents=True)
    Image.fromarray(np.full((24, 40, 3), 120, np.uint8)).save(tmp_path / "in" / "a.png")
    Image.fromarray(np.full((30, 20, 3), 60, np.uint8)).save(tmp_path / "in" / "sub" / "b.png")
    r = run("encode", tmp_path / "in", tmp_path / "enc", "--model", ck)
    assert r.returncode == 0 and "encoded 2 of 2" in r.stdout, r.stderr
    r = run("decode", tmp_path / "enc", tmp_path / "dec", "--model", ck)
    assert r.returncode == 0 and Image.open(tmp_path / "dec" / "sub" / "b.png").size == (20, 30), r.stderr
    r = run("info", tmp_path / "enc" / "a.png.lic")
    assert r.returncode == 0 and "portable integer path (layout 3)" in r.stdout, r.stdout
    r = run("encode", tmp_path / "in" / "a.png", tmp_path / "f.lic", "--model", ck, "--float")
    assert r.returncode == 0, r.stderr
    assert ctr.unpack_ints(ctr.read(tmp_path / "f.lic").sections[0])[0] == 2
    assert run("decode", tmp_path / "f.lic", tmp_path / "f.png", "--model", ck).returncode == 0


def test_compress_py_pixel_limit_up_front_and_measures(tmp_path, ckpt, capsys):
    """compress.py (the port's evaluation script): the encoder's pixel limit from each image's header, before the
    checkpoint is even opened (a missing checkpoint is not what it reports); then real files through the codec."""
    import compress

    d = tmp_path / "imgs"
    d.mkdir()
    for i, (h, w) in enumerate(((40, 56), (33, 20))):
        Image.fromarray(np.full((h, w, 3), 50 * i + 30, np.uint8)).save(d / f"{i}.png")
    rc = compress.main(["-i", str(d), "-ckpt", str(tmp_path / "absent.pt"), "-o", str(tmp_path / "o"),
                        "--lpips", "off", "--max-pixels", "1000"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "0.png" in err[0] and "--max-pixels" in err[0], err
    assert not (tmp_path / "o").exists()
    rc = compress.main(["-i", str(d), "-ckpt", str(ckpt), "-o", str(tmp_path / "o"), "--lpips", "off", "--save"])
    assert rc == 0, capsys.readouterr().err
    from shared_eval.measures_csv import read_measures
    rows = read_measures(tmp_path / "o" / "measures.csv")
    assert [r["img_name"] for r in rows] == ["0.png", "1.png"]
    assert rows[0]["bpp"] == pytest.approx(8 * (tmp_path / "o" / "0.lic").stat().st_size / (40 * 56), rel=1e-6)
