"""The CPM zoo (issue 19): the recipe driver zoo_train.py, its input pipeline and resume, the committed zoo
models against their regression references, and tools/device/train_zoo.sh (slow: a 1-minute CPU run)."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
REPO = ROOT.parent

import zoo_train  # noqa: E402

COMMITTED = [n for n in ("cpu_low", "cpu_med") if (ROOT / "zoo" / n / "weights.npz").is_file()]


def _photos(d: Path, n=3, seed=0):
    from shared_data.imageio import write_png
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        h, w = (24, 40) if i == 0 else (48 + 8 * i, 56)  # the first one is smaller than a 32 px crop
        base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
        write_png(d / f"{i:02d}.png", np.kron(base, np.ones((8, 8, 1), np.uint8))[:h, :w])
    return d


def test_decoded_dataset_crops_flips_and_is_deterministic(tmp_path):
    from cpm.data import make_dataset

    from shared_data.errors import DatasetError
    d = _photos(tmp_path / "p")
    ds, n = make_dataset(str(d), (32, 32), 2, seed=5, cache="decoded")
    assert n == 3
    a = [b.numpy() for b, _ in zip(ds, range(6))]
    b = [b.numpy() for b, _ in zip(make_dataset(str(d), (32, 32), 2, seed=5, cache="decoded")[0], range(6))]
    c = [b.numpy() for b, _ in zip(make_dataset(str(d), (32, 32), 2, seed=6, cache="decoded")[0], range(6))]
    assert all(x.shape == (2, 32, 32, 3) and x.dtype == np.float32 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert min(x.min() for x in a) >= 0 and max(x.max() for x in a) <= 255
    with pytest.raises(DatasetError, match="no images"):
        make_dataset(str(tmp_path / "nothing*.png"), (32, 32), 2, cache="decoded")


def test_train_log_keeps_last_row_per_step_and_skips_torn_lines(tmp_path):
    from cpm.train_loop import _append_csv, read_train_log
    p = tmp_path / "train_log.csv"
    _append_csv(p, 25, 1.0, {"total": 3.0, "bpp": 0.5})
    _append_csv(p, 50, 2.0, {"total": 2.0, "bpp": 0.4})
    _append_csv(p, 50, 0.5, {"total": 1.5, "bpp": 0.3})  # a resumed run logs step 50 again
    with open(p, "a") as f:
        f.write("75,3.0,1.2")  # torn by a SIGKILL
    rows = read_train_log(p)
    assert [r["step"] for r in rows] == [25, 50]
    assert rows[1]["total"] == 1.5 and np.isnan(rows[0]["ms_ssim"])


def test_zoo_train_trains_resumes_and_refuses_unknown_models(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRAIN_DIR", str(_photos(tmp_path / "photos")))
    out = tmp_path / "runs"
    d1 = zoo_train.train_one("tiny", out, threads=1, steps=2, minutes=None, quiet=True)
    d2 = zoo_train.train_one("tiny", out, threads=1, steps=4, minutes=None, quiet=True)
    assert d1 == d2  # continued in the same log dir
    runs = [json.loads(ln) for ln in (out / "tiny" / "runs.jsonl").read_text().splitlines()]
    assert [r["steps"] for r in runs] == [2, 4] and runs[1]["resumed_from"] == str(d1)
    assert json.loads((d2 / "train_info.json").read_text())["steps"] == 4
    assert (d2 / "train_log.csv").is_file() and list((d2 / "train").glob("events.out.tfevents*"))
    assert zoo_train.main(["--models", "nope"]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_colour_measures_see_a_grey_image():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    luma = img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    grey = np.repeat(np.round(luma)[..., None], 3, axis=2).astype(np.uint8)
    same, gm = zoo_train.colour_measures(img, img), zoo_train.colour_measures(img, grey)
    assert same["delta_e00"] == 0 and same["psnr_cb"] == float("inf")
    assert gm["delta_e00"] > 5 and gm["chroma"] < 1 < gm["chroma_orig"] and gm["psnr_y"] > 40 > gm["psnr_cb"]


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_zoo_model_has_not_regressed(name, kodak_dir, tmp_path):
    """The committed zoo model on the Kodak check crops vs ci/references/cpm-zoo-<name>.csv ([cpm.zoo]
    tolerances of shared_eval.check); real files, decoded symbols checked by evaluate_image."""
    from shared_eval.check import run_check
    from shared_eval.measures_csv import write_measures
    ref = REPO / "ci" / "references" / f"cpm-zoo-{name}.csv"
    assert ref.is_file(), f"{ref} missing: make zoo-cpm CPM_ZOO_ARGS=--no_train writes it"
    rows = zoo_train.check_crops_rows(ROOT / "zoo" / name, name)
    write_measures(tmp_path / "measures.csv", rows)
    res = run_check("cpm", "zoo", tmp_path / "measures.csv", reference=ref)
    assert res.passed, res.table() + "\n" + "\n".join(res.notes)
    s = json.loads((ROOT / "zoo" / name / "summary.json").read_text())
    assert s["n_images"] == 24 and s["bpp"] < s["bpp_factorized"]


def _kodak_photos(d: Path, kodak_dir: Path) -> Path:
    """Natural training photos (96 px Kodak crops): the blocky random images above can give MS-SSIM's
    contrast-structure terms negative values at coarse scales, i.e. a NaN loss (as in the original)."""
    from shared_data.imageio import read_image, write_png
    d.mkdir(parents=True, exist_ok=True)
    for i in (2, 3, 5):
        write_png(d / f"k{i}.png", read_image(kodak_dir / f"kodim{i:02d}.png")[100:196, 200:296])
    return d


@pytest.mark.slow
def test_train_zoo_sh_cpu_one_minute_tiny(tmp_path, kodak_dir):
    """tools/device/train_zoo.sh on the CPU: --minutes 1 with the tiny config, 1 Kodak image."""
    env = dict(os.environ, OUT=str(tmp_path / "out"), N_IMAGES="1", KODAK_DIR=str(kodak_dir),
               TRAIN_DIR=str(_kodak_photos(tmp_path / "photos", kodak_dir)))
    r = subprocess.run(["bash", str(REPO / "tools/device/train_zoo.sh"), "cpm", "--minutes", "1", "--models", "tiny"],
                       env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    z = tmp_path / "out" / "zoo" / "tiny"
    for f in ("config.json", "weights.npz", "probclass_int.npz", "measures.csv", "summary.json", "loss.png"):
        assert (z / f).is_file(), f
    assert json.loads((z / "summary.json").read_text())["n_images"] == 1
    bad = subprocess.run(["bash", str(REPO / "tools/device/train_zoo.sh"), "nopaper"], env=env, capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "unknown paper 'nopaper'" in bad.stderr
