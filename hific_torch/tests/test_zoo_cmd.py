"""zoo.py (issue 19): the tiny recipe trains, survives SIGKILL (a rerun continues the step counter), exports a
model the codec interface loads and round-trips with a real file; a bad recipe name is a one-line error.
Slow: the whole ``zoo.py all tiny`` (evaluation, JPEG at matched bpp, proxies, reference) and
``tools/device/train_zoo.sh hific --minutes 1 --models tiny``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from shared_data.killtest import run, run_until_then_kill

from .conftest import kodak_files

ROOT = Path(__file__).resolve().parents[1]
REPO = ROOT.parent
ZOO = [sys.executable, str(ROOT / "zoo.py")]


def _photos(d: Path) -> Path:
    """A few natural 96² training photos (Kodak crops when present, else smooth random images)."""
    from shared_data.imageio import read_image, write_png

    d.mkdir(parents=True, exist_ok=True)
    kod = {f.name: f for f in kodak_files()}
    rng = np.random.default_rng(0)
    for i in (2, 3, 5):
        f = kod.get(f"kodim{i:02d}.png")
        if f is not None:
            img = read_image(f)[100:196, 200:296]
        else:
            img = np.kron(rng.integers(0, 255, (12, 12, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        write_png(d / f"k{i}.png", img)
    return d


def _step(p: Path) -> int:
    return int(torch.load(p, map_location="cpu", weights_only=True)["step"])


def test_bad_recipe_is_one_line_error():
    r = subprocess.run([*ZOO, "train", "nosuch"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "unknown recipe 'nosuch'" in r.stderr and "tiny" in r.stderr
    r = subprocess.run([*ZOO, "train", "tiny", "--steps", "3"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "S1,S2" in r.stderr
    r = subprocess.run([*ZOO, "train", "tiny"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "open-ended: give --minutes" in r.stderr and r.stderr.count("\n") == 1


def test_tiny_sigkill_resume_export_roundtrip(tmp_path, capsys):
    from shared_data.codec import compress, decompress, load_codec
    from shared_data.imageio import read_image

    photos = _photos(tmp_path / "photos")
    out = tmp_path / "runs"
    base = [*ZOO, "train", "tiny", "--out", str(out), "--train_dir", str(photos), "--no_progress"]
    last = out / "tiny" / "stage1" / "checkpoints" / "last.pt"

    def ready():
        try:
            return _step(last) >= 2
        except (FileNotFoundError, EOFError, RuntimeError):
            return False

    run_until_then_kill([*base, "--steps", "100000,2"], ROOT, ready, timeout=300)
    at = _step(last)
    assert at >= 2 and not (last.parent / "final.pt").exists()
    sys.path.insert(0, str(ROOT))
    import zoo

    args = ["train", "tiny", "--out", str(out), "--train_dir", str(photos), "--no_progress", "--steps", f"{at + 2},2"]
    assert zoo.main(args) == 0  # the same command again (in this process: one torch start less)
    assert f"resume {last} at step {at}" in capsys.readouterr().out
    cfg = json.loads((last.parent.parent / "config.json").read_text())
    assert cfg["resume"] == str(last)  # the loop's own resume path, in the same run folder
    assert _step(last.parent / "final.pt") == at + 2
    assert _step(out / "tiny" / "gan" / "checkpoints" / "final.pt") == 2
    gan_cfg = json.loads((out / "tiny" / "gan" / "config.json").read_text())
    assert gan_cfg["warmstart"] == str(last.parent / "final.pt")
    assert zoo.main(args) == 0 and capsys.readouterr().out.count("complete") == 2  # nothing left to train

    dest = tmp_path / "zoo" / "tiny"
    assert zoo.main(["export", "tiny", "--out", str(out), "--dest", str(dest)]) == 0
    assert (dest / "loss.png").is_file() and json.loads((dest / "curve.json").read_text())
    sd = torch.load(dest / "hific_tiny.pt", map_location="cpu", weights_only=True)
    assert sd["step"] == 2 and sd["model_type"] == "compression_gan" and "discriminator" not in sd
    codec = load_codec(str(dest))  # the folder: hific_tiny.pt (the GAN model), integerized
    assert codec.model.is_portable()
    img = read_image(photos / "k2.png")[:40, :56]
    (tmp_path / "x.lic").write_bytes(compress(codec, img))
    rec = decompress(codec, (tmp_path / "x.lic").read_bytes())
    assert rec.shape == img.shape and rec.dtype == np.uint8
    again = decompress(load_codec(str(dest / "hific_tiny.pt")), (tmp_path / "x.lic").read_bytes())
    assert np.array_equal(again, rec)


def test_proxies():
    """The weight-free proxies: a blur lowers the gradient ratio and raises the wavelet Fréchet distance."""
    sys.path.insert(0, str(ROOT))
    import zoo
    from scipy.ndimage import uniform_filter

    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (128, 128, 3), dtype=np.uint8) for _ in range(3)]
    blur = [uniform_filter(x.astype(float), (3, 3, 1)).round().astype(np.uint8) for x in imgs]
    assert zoo.gradient_magnitude(blur[0]) < 0.6 * zoo.gradient_magnitude(imgs[0])
    assert zoo.wavelet_features(imgs[0]).shape == (16, 9)
    assert zoo.wavelet_frechet(imgs, imgs) == pytest.approx(0, abs=1e-6)
    assert zoo.wavelet_frechet(imgs, blur) > 1.0
    assert zoo.wavelet_frechet(imgs[:1], blur[:1]) is None  # 16 blocks < 4 x 9 dims: not reported


@pytest.mark.slow
@pytest.mark.skipif(not kodak_files(), reason="Kodak images not found (set KODAK_DIR)")
def test_all_tiny_evaluates(tmp_path):
    photos = _photos(tmp_path / "photos")
    dest, ref = tmp_path / "zoo" / "tiny", tmp_path / "ref.csv"
    run([*ZOO, "all", "tiny", "--out", str(tmp_path / "runs"), "--train_dir", str(photos), "--dest", str(dest),
         "--steps", "3,2", "--n_images", "2", "--crop", "128", "--reference", str(ref), "--no_progress"], ROOT, timeout=900)
    s = json.loads((dest / "summary.json").read_text())
    assert s["n_images"] == 2 and s["stage1"]["steps"] == 3 and s["gan"]["steps"] == 2
    assert s["stage1"]["jpeg_matched"]["bpp"] > 0 and "proxy" in s["proxies"]["grad_ratio"]
    from shared_eval.measures_csv import read_measures

    rows = read_measures(dest / "measures.csv")
    assert {r["model"] for r in rows} == {"stage1", "gan", "jpeg@stage1", "jpeg@gan"} and len(rows) == 8
    refrows = read_measures(ref)
    assert sorted((r["model"], r["img_name"]) for r in refrows) == [
        ("gan", "kodim01_c256"), ("gan", "kodim15_c256"), ("stage1", "kodim01_c256"), ("stage1", "kodim15_c256")]


@pytest.mark.slow
@pytest.mark.skipif(not kodak_files(), reason="Kodak images not found (set KODAK_DIR)")
def test_train_zoo_sh_cpu_one_minute_tiny(tmp_path):
    """tools/device/train_zoo.sh hific on the CPU: --minutes 1 with the tiny recipe, 1 Kodak image."""
    kod = kodak_files()[0].parent
    env = dict(os.environ, OUT=str(tmp_path / "out"), N_IMAGES="1", KODAK_DIR=str(kod),
               TRAIN_DIR=str(_photos(tmp_path / "photos")))
    r = subprocess.run(["bash", str(REPO / "tools/device/train_zoo.sh"), "hific", "--minutes", "1", "--models",
                        "tiny"], env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    z = tmp_path / "out" / "zoo" / "tiny"
    for f in ("hific_tiny.pt", "hific_tiny_stage1.pt", "measures.csv", "summary.json", "loss.png", "reference.csv"):
        assert (z / f).is_file(), f
    s = json.loads((z / "summary.json").read_text())
    assert s["n_images"] == 1 and s["stage1"]["steps"] >= 1 and s["gan"]["steps"] >= 1
    for stage in ("stage1", "gan"):  # open-ended stages end with their share of the minute
        assert (tmp_path / "out" / "runs" / "tiny" / stage / "DONE").is_file()
    bad = subprocess.run(["bash", str(REPO / "tools/device/train_zoo.sh"), "hific", "--models", "x"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "hific" in bad.stderr


def test_speed_cases_float32_and_bf16(tmp_path):
    """``zoo.py speed`` times the recipe's training step per case and writes the rows; an unknown case is a
    one-line error."""
    photos = _photos(tmp_path / "photos")
    out = tmp_path / "speed.json"
    r = subprocess.run([*ZOO, "speed", "tiny", "--steps", "1", "--cases", "base,bf16,gan_bf16", "--train_dir",
                        str(photos), "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert [x["case"] for x in rows] == ["base", "bf16", "gan_bf16"] and rows[1]["bf16"] and rows[2]["gan"]
    assert all(x["s_per_step"] > 0 and np.isfinite(x["loss_mean"]) for x in rows)
    r = subprocess.run([*ZOO, "speed", "tiny", "--cases", "fp8", "--train_dir", str(photos)], capture_output=True,
                       text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 2 and "unknown speed case 'fp8'" in r.stderr and r.stderr.count("\n") == 1
