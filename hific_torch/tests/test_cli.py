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
