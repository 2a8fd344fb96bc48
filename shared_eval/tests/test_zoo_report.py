"""shared_eval.zoo: the Kodak table and R-D plot of the committed zoo, from the committed measures files."""

import shutil

import pytest

from shared_eval import zoo
from shared_eval.measures_csv import read_measures


def test_table_is_the_means_of_the_committed_files(tmp_path, capsys):
    assert zoo.main(["--out", str(tmp_path)]) == 0
    md = (tmp_path / "zoo-kodak.md").read_text()
    assert (tmp_path / "zoo-kodak.png").stat().st_size > 10_000
    rows = read_measures(zoo.REPO / "cpm_tf/zoo/cpu_low/measures.csv")
    bpp = sum(r["bpp"] for r in rows) / len(rows)
    line = next(ln for ln in md.splitlines() if ln.startswith("| cpm | cpu_low |"))
    assert f"| {len(rows)} | {bpp:.3f} |" in line
    sga = [ln for ln in md.splitlines() if ln.startswith("| sga |")]
    assert len(sga) == len({r["lambda"] for r in read_measures(zoo.REPO / "sga_tf/zoo/ms/measures.csv")})
    assert "| l3c | l3c_cpu | 24 |" in md


def test_interpolation_and_outside_the_curve():
    curve = [dict(bpp=0.2, psnr=26.0), dict(bpp=0.4, psnr=28.0)]
    assert zoo.interpolate(curve, 0.3, "psnr") == pytest.approx(27.0)
    assert zoo.interpolate(curve, 0.1, "psnr") is None


def test_a_missing_measures_file_is_one_line(tmp_path, capsys):
    repo = tmp_path / "repo"
    shutil.copytree(zoo.REPO / "ci" / "baselines" / "kodak" / "jpeg", repo / "ci" / "baselines" / "kodak" / "jpeg")
    assert zoo.main(["--repo", str(repo), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cpm_tf/zoo/cpu_low/measures.csv: missing (run make zoo-cpm)" in err
    assert not (tmp_path / "out" / "zoo-kodak.md").exists()
