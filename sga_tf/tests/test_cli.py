"""The demo contract (python -m sga encode/decode) and the original script CLIs, end to end."""
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, ZOO_BB_MODEL, ZOO_MODEL
from sga.checkpoints import parse_lambda

from shared_data.imageio import read_image, write_png

ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run(capsys, monkeypatch):
    """Run an entry point in-process (a fresh TF import per subprocess costs ~20 s on a busy CPU)."""
    monkeypatch.chdir(ROOT)

    def _run(*args):
        from sga.__main__ import main as sga_main
        from sga.cli import main as cli_main

        capsys.readouterr()
        if args[0] == "-m":
            rc = sga_main(list(args[2:]))
        else:
            rc = cli_main(args[0], args[0][:-3] if args[0].startswith("bb_") else
                          {"sga.py": "sga", "mbt2018.py": "m3"}[args[0]], list(args[1:]))
        out = capsys.readouterr()
        return Result(rc, out.out, out.err)
    return _run


def test_demo_subprocess_error_exit(tmp_path):
    """One real subprocess: the demo contract's exit status and single stderr line."""
    r = subprocess.run([sys.executable, "-m", "sga", "decode", str(tmp_path / "none.lic"), str(tmp_path / "x.png")],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [r.stderr.strip()] and "no such file" in r.stderr


def test_parse_lambda():
    assert parse_lambda("mbt2018-num_filters=192-lmbda=0.0025") == 0.0025
    assert parse_lambda("anything", 0.04) == 0.04
    with pytest.raises(ValueError, match="cannot parse lambda"):
        parse_lambda("mbt2018-num_filters=192")


@pytest.fixture(scope="module")
def small_png(tmp_path_factory):
    from shared_data.imageio import sample_images

    img = next(iter(sample_images().values()))[:100, :150]  # not a multiple of 64: padded and cropped back
    p = tmp_path_factory.mktemp("img") / "in.png"
    write_png(p, img)
    return p, img


def test_demo_encode_decode(small_png, tmp_path, zoo_model, run):
    p, img = small_png
    r = run("-m", "sga", "encode", str(p), str(tmp_path / "a.lic"))
    assert r.returncode == 0, r.stderr
    r = run("-m", "sga", "decode", str(tmp_path / "a.lic"), str(tmp_path / "rec.png"))
    assert r.returncode == 0, r.stderr
    rec = read_image(tmp_path / "rec.png")
    assert rec.shape == img.shape
    psnr = 10 * np.log10(255 ** 2 / np.mean((rec.astype(float) - img) ** 2))
    assert psnr > 18
    # corrupt file: exit 1 with one clear line
    data = (tmp_path / "a.lic").read_bytes()
    (tmp_path / "bad.lic").write_bytes(data[: len(data) // 2])
    r = run("-m", "sga", "decode", str(tmp_path / "bad.lic"), str(tmp_path / "x.png"))
    assert r.returncode == 1 and "error" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run("-m", "sga", "encode", str(tmp_path / "missing.png"), str(tmp_path / "y.lic"))
    assert r.returncode == 1 and "no such file" in r.stderr


def test_sga_script_cli(small_png, tmp_path, zoo_model, run):
    p, _ = small_png
    ck = ZOO_MODEL.parent
    r = run("sga.py", "--num_filters", "32", "--checkpoint_dir", str(ck), "compress", ZOO_MODEL.name, str(p),
            "--results_dir", str(tmp_path), "--its", "20")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "in.sga.lic").is_file()
    assert (tmp_path / f"rd-sga-lmbda=0.01+{ZOO_MODEL.name}-input=in.png.npz").is_file()
    from shared_eval.measures_csv import read_measures

    rows = read_measures(next(tmp_path.glob("measures-sga-*.csv")))
    assert rows[0]["method"] == "sga" and rows[0]["bpp"] == pytest.approx(
        (tmp_path / "in.sga.lic").stat().st_size * 8 / (100 * 150))
    r = run("sga.py", "--num_filters", "64", "--checkpoint_dir", str(ck), "compress", ZOO_MODEL.name, str(p))
    assert r.returncode == 1 and "num_filters" in r.stderr
    r = run("sga.py", "--checkpoint_dir", str(ck), "compress", "no-lambda-here", str(p))
    assert r.returncode == 1 and "lambda" in r.stderr


def test_bits_back_scripts_and_demo(small_png, tmp_path, run):
    """bb_sga.py with the original CLI on the committed bits-back model, then the demo decoder on its file."""
    if not (ZOO_BB_MODEL / "args.json").is_file():
        pytest.fail(f"committed bits-back model {ZOO_BB_MODEL} is missing (it is part of the repository)")
    p, img = small_png
    ck = ZOO_BB_MODEL.parent
    r = run("bb_sga.py", "--num_filters", "32", "--checkpoint_dir", str(ck), "compress", ZOO_BB_MODEL.name, str(p),
            "--results_dir", str(tmp_path), "--its", "8", "--q_its", "5")
    assert r.returncode == 0, r.stderr
    from shared_eval.measures_csv import read_measures

    row = read_measures(next(tmp_path.glob("measures-bb_sga-*.csv")))[0]
    assert row["method"] == "bb_sga" and row["table_id"] == "M2" and row["bits_recovered"] == 1
    size = (tmp_path / "in.bb_sga.lic").stat().st_size
    assert row["bpp_file"] == pytest.approx(size * 8 / (100 * 150))
    assert (tmp_path / f"rd-bb_sga-lmbda=0.01+{ZOO_BB_MODEL.name}-input=in.png.npz").is_file()
    r = run("-m", "sga", "decode", str(tmp_path / "in.bb_sga.lic"), str(tmp_path / "rec.png"), "--model",
            str(ZOO_BB_MODEL))
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    rec = read_image(tmp_path / "rec.png")
    assert 10 * np.log10(255 ** 2 / np.mean((rec.astype(float) - img) ** 2)) == pytest.approx(row["psnr"], abs=1e-3)
    # a bits-back file with the plain model, and a plain method on the bits-back model: one clear line each
    r = run("-m", "sga", "decode", str(tmp_path / "in.bb_sga.lic"), str(tmp_path / "x.png"))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    r = run("sga.py", "--checkpoint_dir", str(ck), "compress", ZOO_BB_MODEL.name, str(p), "--its", "2")
    assert r.returncode == 1 and "bits-back" in r.stderr
    r = run("bb_plain.py", "--checkpoint_dir", str(ZOO_MODEL.parent), "compress", ZOO_MODEL.name, str(p))
    assert r.returncode == 1 and "needs a bits-back model" in r.stderr


def test_info_names_format_and_method(run):
    """``python -m sga info`` (shared_data.cli) reads the header only and names the sga stream format and method."""
    r = run("-m", "sga", "info", str(ROOT / "tests/golden/sga-zoo.m3.lic"), str(ROOT / "tests/golden/sga-zoo.bb_plain.lic"))
    assert r.returncode == 0, r.stderr
    assert "portable format 5, method m3" in r.stdout and "portable bits-back format 6, method bb_plain" in r.stdout
