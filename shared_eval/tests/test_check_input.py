"""Bad measures.csv input is exit 2 (never a traceback, never reported as a regression), with one line naming
the file, the line and the column."""

import subprocess
import sys
from pathlib import Path

import pytest

from shared_eval.check import EXIT_INPUT, EXIT_OK, EXIT_REGRESSION, main
from shared_eval.measures_csv import MeasuresError, read_measures, write_measures

ROOT = Path(__file__).resolve().parents[2]
HEAD = "img_name,bpp,ms-ssim,psnr,enc_s,dec_s\n"
GOOD = ["kodim01.png,0.5,0.97,30.0,1.0,1.0", "kodim02.png,0.5,0.97,30.0,1.0,1.0",
        "kodim03.png,0.5,0.97,30.0,1.0,1.0"]


@pytest.fixture
def ref(tmp_path):
    p = tmp_path / "cpm-mini.csv"
    p.write_text(HEAD + "\n".join(GOOD) + "\n")
    return p


def _check(tmp_path, ref, lines, capsys, header=HEAD):
    m = tmp_path / "measures.csv"
    m.write_text(header + "\n".join(lines) + "\n")
    code = main(["--paper", "cpm", "--scale", "mini", "--measures", str(m), "--reference", str(ref)])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err, m


def test_the_good_file_passes(tmp_path, ref, capsys):
    code, _, _ = _check(tmp_path, ref, GOOD, capsys)
    assert code == EXIT_OK


@pytest.mark.parametrize("bad, what", [
    ("kodim02.png,0.5,0.97,30.0,1.0", "5 cells, the header has 6 (no cell for column 'dec_s'"),  # too few
    ("kodim02.png,0.5,0.97,30.0,1.0,1.0,7", "7 cells, the header has 6 (extra cell '7' after column 'dec_s'"),
    ("kodim02.png,0.5,0.97,nan,1.0,1.0", "column 'psnr': NaN"),
    ("kodim02.png,inf,0.97,30.0,1.0,1.0", "column 'bpp': 'inf' is not finite"),
    ("kodim02.png,0.5,0.97,-inf,1.0,1.0", "column 'psnr': '-inf' is not finite"),
    ("kodim02.png,0.5,0.97,thirty,1.0,1.0", "column 'psnr': 'thirty' is not a number"),
    ("kodim02.png,0.5,n/a,30.0,1.0,1.0", "column 'ms-ssim': 'n/a' is not a number"),
])
def test_bad_cells_are_exit_2_with_one_line(tmp_path, ref, capsys, bad, what):
    code, err, m = _check(tmp_path, ref, [GOOD[0], bad, GOOD[2]], capsys)
    assert code == EXIT_INPUT
    assert len(err) == 1, err
    assert str(m) in err[0] and "line 3" in err[0] and what in err[0], err[0]


def test_missing_quality_column_is_exit_2(tmp_path, ref, capsys):
    lines = [",".join(g.split(",")[:3] + g.split(",")[4:]) for g in GOOD]   # psnr column dropped
    code, err, m = _check(tmp_path, ref, lines, capsys, header="img_name,bpp,ms-ssim,enc_s,dec_s\n")
    assert code == EXIT_INPUT and len(err) == 1
    assert str(m) in err[0] and "no column 'psnr'" in err[0]


def test_missing_group_column_is_exit_2(tmp_path, capsys):
    ref = tmp_path / "r.csv"
    write_measures(ref, [{"img_name": "a", "bpp": 0.5, "psnr": 30.0, "lambda": 0.01}])
    m = write_measures(tmp_path / "m.csv", [{"img_name": "a", "bpp": 0.5, "psnr": 30.0}])
    assert main(["--paper", "cpm", "--scale", "mini", "--measures", str(m), "--reference", str(ref)]) == EXIT_INPUT
    assert "no column 'lambda'" in capsys.readouterr().err


def test_full_scale_missing_metric_column_is_exit_2(tmp_path, capsys):
    m = write_measures(tmp_path / "m.csv", [{"img_name": "a", "bpp": 0.5}])
    m.write_text("img_name,bpp\na,0.5\n")
    assert main(["--paper", "cpm", "--scale", "full", "--measures", str(m)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert str(m) in err and "no column 'ms-ssim' (needed by [cpm.full])" in err
    # iREC: a lossy run has no bpsp, which only [irec.full_lossless] needs: not an input error
    p = tmp_path / "irec.csv"
    p.write_text("img_name,bpp,psnr\na,0.5,30.0\n")
    assert main(["--paper", "irec", "--scale", "full", "--measures", str(p)]) != EXIT_INPUT


def test_lossless_inf_psnr_still_reads_and_compares(tmp_path, capsys):
    ref = tmp_path / "l3c-zoo.csv"
    ref.write_text(HEAD + "a,21.2,1,inf,3.9,4.4\nb,21.4,1,inf,4.3,4.4\n")
    assert read_measures(ref)[0]["psnr"] == float("inf")
    assert main(["--paper", "l3c", "--scale", "zoo", "--measures", str(ref), "--reference", str(ref)]) == EXIT_OK
    worse = tmp_path / "w.csv"
    worse.write_text(HEAD + "a,21.2,1,50.0,3.9,4.4\nb,21.4,1,inf,4.3,4.4\n")   # no longer lossless
    assert main(["--paper", "l3c", "--scale", "zoo", "--measures", str(worse), "--reference", str(ref)]) \
        == EXIT_REGRESSION


def test_bad_reference_is_exit_2_too(tmp_path, ref, capsys):
    ref.write_text(HEAD + GOOD[0] + ",extra\n")
    code, err, _ = _check(tmp_path, ref, GOOD, capsys)
    assert code == EXIT_INPUT and "mini reference" in err[0] and "line 2" in err[0]


def test_read_measures_names_duplicate_and_empty(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("img_name,bpp,bpp\na,1,2\n")
    with pytest.raises(MeasuresError, match="duplicated column"):
        read_measures(p)
    p.write_text("img_name,bpp\n,1\n")
    with pytest.raises(MeasuresError, match="line 2.*empty image name"):
        read_measures(p)


def test_cli_ragged_row_has_no_traceback(tmp_path, ref):
    m = tmp_path / "m.csv"
    m.write_text(HEAD + GOOD[0] + "\nkodim02.png,0.5\n")
    out = subprocess.run([sys.executable, "-m", "shared_eval.check", "--paper", "cpm", "--scale", "mini",
                          "--measures", str(m), "--reference", str(ref)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == EXIT_INPUT, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert f"{m}: line 3: 2 cells, the header has 6" in out.stderr


def test_update_reference_refuses_bad_input_and_accepts_a_bom(tmp_path, capsys):
    m = tmp_path / "m.csv"
    m.write_text(HEAD + GOOD[0] + "\nkodim02.png,0.5,0.97,nan,1.0,1.0\n")
    ref = tmp_path / "ref.csv"
    assert main(["--paper", "cpm", "--scale", "mini", "--measures", str(m), "--reference", str(ref),
                 "--update-reference"]) == EXIT_INPUT and not ref.exists()
    assert "line 3" in capsys.readouterr().err
    m.write_bytes(b"\xef\xbb\xbf" + (HEAD + "\n".join(GOOD) + "\n").encode())   # saved by a spreadsheet
    assert read_measures(m)[0]["img_name"] == "kodim01.png"
