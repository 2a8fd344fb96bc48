"""The SGA zoo (``zoo.py``, ``zoo/ms``; issue 19): the committed models against their regression reference
(M3, real files, ``ci/references/sga-zoo-ms.csv``), the recipe's pieces (in-memory crops, lr schedule, the
summary's BD-rates), and (slow) a tiny training that is SIGKILLed and resumed."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zoo  # noqa: E402 - a root script: conftest puts ROOT on sys.path
from conftest import KODAK_DIR, ROOT


def _models():
    return [zoo.ZOO_DIR / zoo.run_name_of(lm, zoo.RECIPE) for lm in zoo.RECIPE["lambdas"]]


def test_recipe_models_committed_and_small():
    for d in _models():
        assert (d / "args.json").is_file(), f"{d}: zoo model missing"
        assert (d / "integer.npz").is_file(), f"{d}: not integerized (python -m sga integerize)"
        args = json.loads((d / "args.json").read_text())
        assert args["gdn"] == "original" and args["num_filters"] == zoo.RECIPE["num_filters"]
    total = sum(f.stat().st_size for f in (ROOT / "zoo").rglob("*") if f.is_file())
    assert total <= 30e6, f"sga_tf/zoo is {total / 1e6:.1f} MB (limit 30 MB)"


def test_zoo_regression_reference(tmp_path):
    """Each zoo model on the 256x256 centre crops, M3, real files: bpp within 1 %, PSNR within 0.05 dB."""
    from sga.checkpoints import load_model
    from sga.evaluate import run_method
    from sga.inference import METHODS

    from shared_data.imageio import read_image
    from shared_data.transforms import center_crop

    if not zoo.REFERENCE.is_file():
        pytest.fail(f"{zoo.REFERENCE} missing (python zoo.py evaluate writes it)")
    ref = {(r["model"], r["img_name"]): r for r in csv.DictReader(zoo.REFERENCE.open())}
    crops = [(f"{Path(n).stem}_c256", center_crop(read_image(KODAK_DIR / n), 256)) for n in zoo.REF_CROPS]
    for d in _models():
        model, args = load_model(d)
        rows = run_method(model, args["lmbda"], METHODS["m3"], None, tmp_path / d.name, progress=False,
                          write_npz=False, images=crops)
        for r in rows:
            want = ref[(d.name, r["img_name"])]
            assert r["bpp"] == pytest.approx(float(want["bpp"]), rel=0.01), (d.name, r["img_name"])
            assert r["psnr"] == pytest.approx(float(want["psnr"]), abs=0.05), (d.name, r["img_name"])


def test_memory_crops_preset(tmp_path, capsys):
    from shared_data.imageio import write_png

    rng = np.random.default_rng(0)
    write_png(tmp_path / "a.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    write_png(tmp_path / "b.png", rng.integers(0, 256, (20, 60, 3), dtype=np.uint8))  # smaller than the crop
    data = zoo.MemoryCrops(str(tmp_path))
    x = next(iter(data.dataset(3, 32, seed=1))).numpy()
    assert x.shape == (3, 32, 32, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert "b.png" in capsys.readouterr().err
    img = data.images[0].astype(np.float32) / 255  # every crop is a window of the one usable image
    for c in x:
        assert any(np.array_equal(c, img[r:r + 32, q:q + 32]) for r in range(9) for q in range(19))
    with pytest.raises(FileNotFoundError, match="at least 64x64"):
        data.dataset(2, 64, seed=1)


def test_lr_schedule():
    rec = dict(zoo.RECIPE, lr=1e-3, lr_final=1e-4, lr_decay_at=0.8)
    assert zoo.lr_at(0, rec, 100) == 1e-3 and zoo.lr_at(79, rec, 100) == 1e-3 and zoo.lr_at(80, rec, 100) == 1e-4


def test_summary_bd_rates():
    """M3 better than JPEG by construction (same PSNR at 80 % of the rate) -> BD-rate ≈ −20 %; M1 rows lower
    the R-D loss -> reported as such."""
    jb, jp = zoo.jpeg_curve(ROOT.parent / "ci" / "baselines" / "kodak" / "jpeg" / "measures.csv")
    rows = []
    for lm, (b, p) in zip((0.003, 0.012, 0.045), list(zip(jb, jp))[1:4]):
        for i in range(24):
            rows.append(dict(img_name=f"k{i}", lambda_=lm, method="m3", bpp=0.8 * b, psnr=p, rd_loss_real=2.0))
        rows.append(dict(img_name="k0", lambda_=lm, method="sga", bpp=0.75 * b, psnr=p + 0.1, rd_loss_real=1.9))
    for r in rows:
        r["lambda"] = r.pop("lambda_")
    s = zoo.summarize(rows, ROOT.parent / "ci" / "baselines" / "kodak" / "jpeg" / "measures.csv")
    assert s["bd_rate_m3_vs_jpeg_psnr"] == pytest.approx(-20.0, abs=0.5)
    assert all(p["m1_lowers_rd_loss"] for p in s["m1_vs_m3"]) and s["bd_rate_m1_vs_m3_psnr"] < 0


@pytest.mark.slow
def test_train_sigkill_resume(tmp_path):
    """A tiny zoo run SIGKILLed mid-training resumes from its last complete checkpoint and finishes."""
    from shared_data.imageio import write_png

    rng = np.random.default_rng(0)
    for i in range(3):
        write_png(tmp_path / f"{i}.png", rng.integers(0, 256, (80, 80, 3), dtype=np.uint8))
    recipe = json.dumps({"num_filters": 8, "steps": 40, "batchsize": 2, "patchsize": 64, "lambdas": [0.01]})
    cmd = [sys.executable, str(ROOT / "zoo.py"), "--work", str(tmp_path / "w"), "--train_glob", str(tmp_path),
           "--recipe", recipe, "train-one", "--lmbda", "0.01", "--last_step", "40", "--save_secs", "0",
           "--no_progress"]
    run_dir = tmp_path / "w" / "mbt2018-num_filters=8-lmbda=0.01"
    p = subprocess.Popen(cmd, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    t0 = time.time()
    while not list(run_dir.glob("ckpt-*.index")) and time.time() - t0 < 400:
        time.sleep(0.5)
    time.sleep(1.0)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert list(run_dir.glob("ckpt-*.index")), "no checkpoint written before the kill"
    assert subprocess.run(cmd, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")).returncode == 0
    rec = (run_dir / "record.txt").read_text()
    assert "stop step 40" in rec and rec.count("start step") == 2
    assert int(rec.splitlines()[-2].split()[2]) > 0, rec  # the second start resumed from a saved step


def test_warm_start_continues_an_exported_model(tmp_path):
    """``--warm_start``: a run with no checkpoint under --work (a fresh clone) starts from the exported model in
    --zoo — its weights and step — and continues to the recipe's step; the export round-trips."""
    from sga.checkpoints import load_model

    from shared_data.imageio import write_png

    rng = np.random.default_rng(0)
    for i in range(3):
        write_png(tmp_path / f"{i}.png", rng.integers(0, 256, (80, 80, 3), dtype=np.uint8))
    recipe = {**zoo.RECIPE, "num_filters": 8, "steps": 3, "batchsize": 2, "patchsize": 64, "lambdas": (0.01,)}
    name = zoo.run_name_of(0.01, recipe)
    assert zoo.train_one(0.01, recipe, tmp_path / "w1", str(tmp_path), 3, progress=False) == 3

    class A:
        work, zoo = str(tmp_path / "w1"), str(tmp_path / "zoo")
    zoo.cmd_export(A, recipe)
    exported, _ = load_model(tmp_path / "zoo" / name, integer=False)
    with pytest.raises(FileNotFoundError, match="no exported model"):
        zoo.train_one(0.01, recipe, tmp_path / "w2", str(tmp_path), 5, progress=False, warm_start=tmp_path / "nope")
    # the exported step is restored (nothing left to train to step 3), then training continues to step 5
    assert zoo.train_one(0.01, recipe, tmp_path / "w2", str(tmp_path), 3, progress=False,
                         warm_start=tmp_path / "zoo") == 3
    assert zoo.train_one(0.01, recipe, tmp_path / "w3", str(tmp_path), 5, progress=False,
                         warm_start=tmp_path / "zoo") == 5
    rec = (tmp_path / "w3" / name / "record.txt").read_text()
    assert "warm start from" in rec and "at step 3" in rec and "stop step 5" in rec
    # the same command again resumes its own checkpoint (with its Adam state; no second warm start, no ramp)
    assert zoo.train_one(0.01, recipe, tmp_path / "w3", str(tmp_path), 6, progress=False,
                         warm_start=tmp_path / "zoo") == 6
    assert (tmp_path / "w3" / name / "record.txt").read_text().count("warm start from") == 1
    assert exported.trainable_variables and (tmp_path / "w3" / name / "loss.csv").is_file()
