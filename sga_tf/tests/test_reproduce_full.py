"""The SCALE=full driver end to end without a GPU: λ sweep training of both models (1 step) on a tiny folder,
then every selected method on a tiny 'Kodak' folder, real files, measures + summary."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from shared_data.imageio import write_png
from shared_eval.measures_csv import read_measures


@pytest.mark.slow  # ~2 min: two trainings and four compiled inference loops are traced
def test_full_driver_tiny(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "train").mkdir()
    (tmp_path / "kodak").mkdir()
    for i in range(3):
        write_png(tmp_path / "train" / f"t{i}.png", rng.integers(0, 256, (48, 56, 3), dtype=np.uint8))
    for i in range(2):  # one portrait: rotated to landscape as in the original's Kodak batches
        shape = (64, 48, 3) if i else (48, 64, 3)
        write_png(tmp_path / "kodak" / f"kodim0{i + 1}.png", rng.integers(0, 256, shape, dtype=np.uint8))
    env = dict(os.environ, KODAK_DIR=str(tmp_path / "kodak"))
    cmd = [sys.executable, "reproduce.py", "--scale", "full", "--out", str(tmp_path / "out"), "--checkpoint_dir",
           str(tmp_path / "ck"), "--lambdas", "0.02", "--num_filters", "4", "--last_step", "1", "--batchsize", "2",
           "--patchsize", "32", "--train_dir", str(tmp_path / "train"), "--its", "2", "--q_its", "2",
           "--methods", "m3,sga,bb_sga,bb_plain"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    for kind in ("mbt2018", "mbt2018_bb"):  # the original run names, trained by the driver
        run = tmp_path / "ck" / f"{kind}-num_filters=4-lmbda=0.02"
        assert json.loads((run / "args.json").read_text())["model"] == kind
        assert "end step 1" in (run / "record.txt").read_text()
    rows = read_measures(tmp_path / "out" / "measures.csv")
    got = {(row["run"].split("-")[0], row["method"]) for row in rows}
    assert got == {("mbt2018", "m3"), ("mbt2018", "sga"), ("mbt2018_bb", "bb_sga"), ("mbt2018_bb", "bb_plain")}
    assert len(rows) == 8 and all(row["height"] == 48 and row["width"] == 64 for row in rows)
    for row in rows:
        if row["method"].startswith("bb_"):
            assert row["bits_recovered"] == 1 and row["bpp_file"] > 0
        else:  # a real file per image
            f = tmp_path / "out" / "files" / row["run"] / f"{row['img_name'][:-4]}.{row['method']}.lic"
            assert row["bpp"] * 48 * 64 == pytest.approx(f.stat().st_size * 8, rel=1e-6)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary["by_lambda"]["0.02"]) == {"M3 m3", "M1 sga", "M2 bb_sga", "A6 bb_plain"}
