"""The committed zoo/mini model: loads, round-trips through the CLIs, matches its committed measures."""
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, smooth_image
from l3c.model_io import DEFAULT_MODEL, load_model

from shared_data.imageio import read_image, write_png
from shared_data.paths import kodak_dir

KODAK = kodak_dir()  # the committed zoo/mini must be there (a missing model FAILS these tests); Kodak may be absent


def test_zoo_size_and_notes():
    assert (DEFAULT_MODEL / "config_ms.cf").is_file(), f"the committed model {DEFAULT_MODEL} is missing"
    size = sum(p.stat().st_size for p in DEFAULT_MODEL.rglob("*") if p.is_file())
    assert size <= 5 * 2 ** 20
    assert (DEFAULT_MODEL / "TRAINING.md").exists() and (DEFAULT_MODEL / "measures.csv").exists()


def test_cli_roundtrip(tmp_path):
    """The demo contract: python -m l3c encode/decode with the default model."""
    img = smooth_image(21, 30, seed=7)
    write_png(tmp_path / "in.png", img)
    py = sys.executable
    r = subprocess.run([py, "-m", "l3c", "encode", str(tmp_path / "in.png"), str(tmp_path / "x.lic")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([py, "-m", "l3c", "decode", str(tmp_path / "x.lic"), str(tmp_path / "out.png")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(read_image(tmp_path / "out.png"), img)
    r = subprocess.run([py, "-m", "l3c", "info", str(tmp_path / "x.lic")], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)  # the shared CLI's info command + l3c's details (no model load)
    assert r.returncode == 0 and "codec l3c" in r.stdout and "l3c stream format 4 (portable)" in r.stdout, r.stderr
    # errors: one line on stderr, non-zero exit
    (tmp_path / "bad.lic").write_bytes((tmp_path / "x.lic").read_bytes()[:-3])
    r = subprocess.run([py, "-m", "l3c", "decode", str(tmp_path / "bad.lic"), str(tmp_path / "o.png")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "truncated" in r.stderr


@pytest.mark.skipif(not KODAK.is_dir(), reason=f"Kodak not found at {KODAK} (set KODAK_DIR)")
def test_kodak_crop_rate_regression():
    """The committed model's file size on a fixed Kodak crop is pinned (zoo/mini/regression.json, +-1% for
    BLAS/thread noise); the file costs >= the model's bits (information bound) with a small overhead."""
    import json

    from l3c.coding import encode_array

    ref = json.loads((DEFAULT_MODEL / "regression.json").read_text())
    net, fp, _ = load_model()
    assert fp.hex() == ref["fingerprint"]
    y0, y1, x0, x1 = ref["crop"]
    img = read_image(KODAK / ref["image"])[y0:y1, x0:x1]
    res = encode_array(net, img, fp)
    payload = 8 * sum(len(s) for s in res.container.sections[1:-1])  # streams (not the header, arith record)
    assert payload >= res.stats.est_bits * 0.999
    assert payload <= res.stats.est_bits * 1.005 + 32 * 19  # <= 0.5% + one 32-bit word per stream
    total = len(__import__("shared_data.container", fromlist=["pack"]).pack(res.container))
    assert abs(total / ref["bytes"] - 1) <= 0.01, (total, ref["bytes"])
    # the portable integer path (format 4, the default) costs <= 0.5 % bits over the float path (format 3)
    from l3c.coding import read_header

    assert read_header(res.container)["format"] == 4
    flt = encode_array(net, img, fp, fmt=3)
    assert res.stats.est_bits <= flt.stats.est_bits * 1.005, (res.stats.est_bits, flt.stats.est_bits)


def _test_cli():
    import importlib.util

    spec = importlib.util.spec_from_file_location("l3c_test_cli", ROOT / "test.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def test_test_py_crop_cache_compare(tmp_path, capsys):
    """test.py --crop N evaluates the center N x N crops (real files with --write_to_files), prints real vs
    theory with --compare_theory, writes --time_report, and caches theoretical results (-f recomputes)."""
    main = _test_cli()
    imgs = tmp_path / "imgs"
    write_png(imgs / "a.png", smooth_image(40, 52, seed=3))
    write_png(imgs / "b.png", smooth_image(20, 44, seed=4))  # height below the crop: kept whole
    out, rep = tmp_path / "out", tmp_path / "times.txt"
    (tmp_path / "logs").mkdir()
    os.symlink(DEFAULT_MODEL, tmp_path / "logs" / "mini")
    args = [str(tmp_path / "logs"), "mini", str(imgs), "--crop", "24"]
    assert main(args + ["--write_to_files", str(out), "--compare_theory", "--time_report", str(rep)]) == 0
    o = capsys.readouterr().out
    assert "real=" in o and "a_c24.png: real" in o
    assert sorted(p.name for p in out.glob("*.lic")) == ["a_c24.lic", "b_c24.lic"]
    assert len(rep.read_text().splitlines()) == 2
    from shared_eval.measures_csv import read_measures

    rows = read_measures(out / "measures.csv")
    assert {(r["img_name"], int(float(r["height"])), int(float(r["width"]))) for r in rows} == {
        ("a_c24.png", 24, 24), ("b_c24.png", 20, 24)}
    assert main(args) == 0
    o1 = capsys.readouterr().out
    assert main(args) == 0
    o2 = capsys.readouterr().out
    assert "cached in" in o2 and "cached in" not in o1
    assert (tmp_path / "logs_test" / "mini" / "cache.json").is_file()
    res = [ln for ln in o1.splitlines() if "bpsp=" in ln]
    assert res and res == [ln for ln in o2.splitlines() if "bpsp=" in ln]
    assert main(args + ["-f"]) == 0 and "cached in" not in capsys.readouterr().out
    with pytest.raises(ValueError, match="--crop 0"):
        main(args + ["--crop", "0"])
