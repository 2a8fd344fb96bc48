"""zoo.py (issue 19): the tiny recipe trains, survives SIGKILL (a rerun continues the iteration counter),
exports a model the codec interface loads and round-trips with a real file; a bad recipe name is a one-line
error. Slow: the whole ``zoo.py all tiny`` (evaluation, actual vs ideal, JPEG at matched bpp, reference) and
``tools/device/train_zoo.sh irec --minutes 1 --models tiny``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import KODAK_DIR, REPO, ROOT

from shared_data.killtest import run, run_until_then_kill

ZOO = [sys.executable, str(ROOT / "zoo.py")]
HAVE_KODAK = (KODAK_DIR / "kodim01.png").is_file()


def _photos(d: Path) -> Path:
    """A few natural 96² training photos (Kodak crops when present, else smooth random images)."""
    from shared_data.imageio import read_image, write_png

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in (2, 3, 5):
        f = KODAK_DIR / f"kodim{i:02d}.png"
        if f.is_file():
            img = read_image(f)[100:196, 200:296]
        else:
            img = np.kron(rng.integers(0, 255, (12, 12, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        write_png(d / f"k{i}.png", img)
    return d


def test_bad_recipe_is_one_line_error():
    r = subprocess.run([*ZOO, "train", "nosuch"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "unknown recipe 'nosuch'" in r.stderr and "tiny" in r.stderr
    r = subprocess.run([*ZOO, "train", "tiny", "--iters", "3"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "has 2 phases, got 1" in r.stderr and r.stderr.count("\n") == 1
    r = subprocess.run([*ZOO, "train", "tiny"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "open-ended: give --minutes" in r.stderr and r.stderr.count("\n") == 1


def test_tiny_sigkill_resume_export_roundtrip(tmp_path, capsys, monkeypatch):
    sys.path.insert(0, str(ROOT))
    import zoo

    photos = _photos(tmp_path / "photos")
    out = tmp_path / "runs"
    monkeypatch.setenv("IREC_SACRED_DIR", str(tmp_path / "sacred"))
    base = ["train", "tiny", "--out", str(out), "--train_dir", str(photos)]
    p1 = zoo.phase_dir(out, "tiny", 0)
    run_until_then_kill([*ZOO, *base, "--iters", "100000,2"], ROOT, lambda: zoo.saved_step(p1) >= 2, timeout=400)
    at = zoo.saved_step(p1)
    assert at >= 2 and not zoo.phase_done(p1, at + 2)
    # the same command again (in this process: one TensorFlow start less) continues the iteration counter
    assert zoo.main([*base, "--iters", f"{at + 2},2", "--in_process"]) == 0
    text = capsys.readouterr().out
    assert f"phase 1: resume at iteration {at}" in text and "phase 2: fresh from" in text
    assert zoo.saved_step(p1) == at + 2 and zoo.saved_step(zoo.phase_dir(out, "tiny", 1)) == 2
    assert zoo.main([*base, "--iters", f"{at + 2},2", "--in_process"]) == 0
    assert capsys.readouterr().out.count("complete") == 2  # nothing left to train

    from rec.codec import load_model

    from shared_data.codec import compress, decompress, load_codec
    from shared_data.imageio import read_image

    dest = tmp_path / "zoo" / "tiny"
    assert zoo.main(["export", "tiny", "--out", str(out), "--dest", str(dest)]) == 0
    cfg = json.loads((dest / "config.json").read_text())
    assert cfg["level_1_filters"] == 8 and cfg["layer_flavour"] == "original" and "integerized" in cfg
    assert (dest / "loss.png").is_file() and json.loads((dest / "curve.json").read_text())
    lm = load_model(dest)
    assert lm.portable
    img = read_image(photos / "k2.png")[:64, :64]
    codec = load_codec(str(dest))
    (tmp_path / "x.lic").write_bytes(compress(codec, img))
    rec = decompress(load_codec(str(dest)), (tmp_path / "x.lic").read_bytes())
    assert rec.shape == img.shape and rec.dtype == np.uint8


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_KODAK, reason="Kodak images not found (set KODAK_DIR)")
def test_all_tiny_evaluates(tmp_path):
    photos = _photos(tmp_path / "photos")
    dest, ref = tmp_path / "zoo" / "tiny", tmp_path / "ref.csv"
    run([*ZOO, "all", "tiny", "--out", str(tmp_path / "runs"), "--train_dir", str(photos), "--dest", str(dest),
         "--iters", "3,2", "--n_images", "2", "--crop", "64", "--reference", str(ref)], ROOT, timeout=1500,
        env={"IREC_SACRED_DIR": str(tmp_path / "sacred")})
    s = json.loads((dest / "summary.json").read_text())
    assert s["n_images"] == 2 and s["actual_vs_ideal"]["actual_bpp"] > s["actual_vs_ideal"]["ideal_kl_bpp"] > 0
    assert s["jpeg_matched"]["bpp"] > 0
    from shared_eval.measures_csv import read_measures

    rows = read_measures(dest / "measures.csv")
    assert sorted(r["model"] for r in rows) == ["irec tiny"] * 2 + ["jpeg"] * 2
    assert sorted(r["img_name"] for r in read_measures(ref)) == ["kodim01_c256", "kodim15_c256"]


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_KODAK, reason="Kodak images not found (set KODAK_DIR)")
def test_train_zoo_sh_cpu_one_minute_tiny(tmp_path):
    """tools/device/train_zoo.sh irec on the CPU: --minutes 1 with the tiny recipe, 1 Kodak image."""
    env = dict(os.environ, OUT=str(tmp_path / "out"), N_IMAGES="1", KODAK_DIR=str(KODAK_DIR),
               TRAIN_DIR=str(_photos(tmp_path / "photos")))
    r = subprocess.run(["bash", str(REPO / "tools/device/train_zoo.sh"), "irec", "--minutes", "1", "--models",
                        "tiny"], env=env, capture_output=True, text=True, timeout=2400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    z = tmp_path / "out" / "zoo" / "tiny"
    for f in ("config.json", "weights.npz", "measures.csv", "summary.json", "loss.png", "reference.csv"):
        assert (z / f).is_file(), f
    assert json.loads((z / "summary.json").read_text())["n_images"] == 1
    for ph in ("phase1", "phase2"):  # open-ended phases end with their share of the minute
        assert (tmp_path / "out" / "runs" / "tiny" / ph / "DONE").is_file()
    bad = subprocess.run(["bash", str(REPO / "tools/device/train_zoo.sh"), "irec", "--models", "x"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "irec" in bad.stderr


def test_speed_cases_float32_and_mixed_bfloat16(tmp_path):
    """``zoo.py speed``: each case in a fresh TF process (threads, precision policy); under ``mixed_bfloat16``
    the model trains (bf16 convolutions, float32 samples and KLs: ``lossy._f32``) with a finite loss."""
    photos = _photos(tmp_path / "photos")
    out = tmp_path / "speed.json"
    r = subprocess.run([*ZOO, "speed", "tiny", "--steps", "1", "--cases", "base,mixed_bfloat16", "--train_dir",
                        str(photos), "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert [x["case"] for x in rows] == ["base", "mixed_bfloat16"], rows
    assert all("error" not in x and x["s_per_step"] > 0 and np.isfinite(x["loss_mean"]) for x in rows), rows
