"""reproduce.py end to end at a tiny size (slow: every method traces its own compiled loop)."""
import json
import subprocess
import sys

import pytest
from conftest import KODAK_DIR, ROOT, ZOO_MODEL

from shared_eval.measures_csv import read_measures


@pytest.mark.slow
def test_reproduce_mini_tiny(tmp_path):
    if not KODAK_DIR.is_dir():
        pytest.skip(f"Kodak not found at {KODAK_DIR} (set KODAK_DIR)")
    if not (ZOO_MODEL / "args.json").is_file():
        pytest.fail(f"committed model {ZOO_MODEL} is missing (it is part of the repository)")
    r = subprocess.run([sys.executable, "reproduce.py", "--scale", "mini", "--out", str(tmp_path), "--its", "60",
                        "--crop", "64"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = read_measures(tmp_path / "measures.csv")
    methods = {row["method"] for row in rows}
    assert methods == {"m3", "sga", "map", "ste", "unoise", "danneal", "bb_sga", "bb_no_sga", "bb_plain"}
    for row in rows:  # every bpp is a real file's size (bits-back: the image's net share of a real chain file)
        if row["method"].startswith("bb_"):
            chain = [r for r in rows if r["run"] == row["run"] and r["method"] == row["method"]]
            f = tmp_path / "files" / row["run"] / f"{chain[0]['img_name'][:-4]}.{row['method']}.lic"
            assert row["bpp_file"] * len(chain) == pytest.approx(
                f.stat().st_size * 8 / (row["height"] * row["width"]), rel=1e-6)
            # Σ net shares = file − the public side-information bits the first image borrowed
            assert row["bits_recovered"] == 1 and sum(r["bpp"] for r in chain) < row["bpp_file"] * len(chain)
            continue
        f = tmp_path / "files" / row["run"] / f"{row['img_name'][:-4]}.{row['method']}.lic"
        assert row["bpp"] == pytest.approx(f.stat().st_size * 8 / (row["height"] * row["width"]), rel=1e-6)
    summary = json.loads((tmp_path / "summary.json").read_text())
    per = summary["per_run"][ZOO_MODEL.name]
    assert per["sga"]["rd_loss_estimated"] < per["m3"]["rd_loss_estimated"]
