"""shared_eval.check: pass/fail/exit codes on synthetic runs built from the published references."""

import subprocess
import sys
from pathlib import Path

import pytest

from shared_eval.check import (
    EXIT_INPUT,
    EXIT_NO_MINI_REFERENCE,
    EXIT_NOTHING_COMPARED,
    EXIT_OK,
    EXIT_REGRESSION,
    main,
    run_check,
)
from shared_eval.measures_csv import write_measures
from shared_eval.references import curves, load_reference, reference_path

IMGS = [f"kodim{i:02d}.png" for i in range(1, 4)]


def _run(tmp_path, points, name="m.csv", extra=None):
    """points: [(group value or None, bpp, msssim, psnr)] -> measures.csv with 3 images per point."""
    rows = []
    for g, b, m, p in points:
        for i, img in enumerate(IMGS):
            r = {"img_name": img, "bpp": b + (i - 1) * 0.001, "ms-ssim": m, "psnr": p}
            if g is not None:
                r["lambda" if isinstance(g, float) else "config"] = g
            r.update(extra or {})
            rows.append(r)
    return write_measures(tmp_path / name, rows)


def _sga_curve(name):
    return curves(load_reference(reference_path("sga")), "kodak", metric="psnr")[name]


def test_published_curve_itself_passes_and_worse_fails(tmp_path):
    pts = _sga_curve("M1_sga")
    good = _run(tmp_path, [(p["lambda"], p["bpp"], None, p["psnr"]) for p in pts], "good.csv")
    res = run_check("sga", "full", good)
    assert res.exit_code == EXIT_OK, res.table()
    bd = [ln for ln in res.lines if ln.label.startswith("BD-rate")]
    assert bd and bd[0].gap in ("+0.0%", "-0.0%")
    # 20 % more bits at the same PSNR: every point and the BD-rate must fail
    bad = _run(tmp_path, [(p["lambda"], p["bpp"] * 1.2, None, p["psnr"]) for p in pts], "bad.csv")
    res = run_check("sga", "full", bad)
    assert res.exit_code == EXIT_REGRESSION
    assert sum(ln.verdict == "FAIL" for ln in res.lines) >= 6


def test_base_model_fails_against_sga_but_passes_against_its_own_curve(tmp_path):
    base = _sga_curve("M3_base")
    pts = [(p["lambda"], p["bpp"], None, p["psnr"]) for p in base]
    assert run_check("sga", "full", _run(tmp_path, pts, "a.csv")).exit_code == EXIT_REGRESSION
    ok = _run(tmp_path, pts, "b.csv", extra={"method": "base"})
    assert run_check("sga", "full", ok).exit_code == EXIT_OK


def test_named_points_hific(tmp_path):
    good = _run(tmp_path, [("Lo", 0.18, 0.937, 27.6), ("Mi", 0.35, 0.964, 29.7), ("Hi", 0.53, 0.978, 31.7)])
    res = run_check("hific", "full", good)
    assert res.exit_code == EXIT_OK, res.table()
    worse = _run(tmp_path, [("Lo", 0.183, 0.937, 26.5)], "w.csv")  # 1 dB below Kodak Lo
    assert run_check("hific", "full", worse).exit_code == EXIT_REGRESSION


def test_out_of_range_is_not_a_pass(tmp_path):
    m = _run(tmp_path, [(None, 3.0, 0.9999, 50.0)])  # far above the Fig. 1 curve's MS-SSIM range
    res = run_check("cpm", "full", m)
    assert res.exit_code == EXIT_NOTHING_COMPARED
    assert all(ln.verdict == "SKIP" for ln in res.lines)


def test_lossless_l3c(tmp_path):
    rows = [{"img_name": i, "bpp": 3 * 2.58, "bpsp": 2.58} for i in IMGS]
    p = write_measures(tmp_path / "l.csv", rows)
    assert run_check("l3c", "full", p, dataset="openimages").exit_code == EXIT_OK
    rows = [{"img_name": i, "bpp": 3 * 2.9, "bpsp": 2.9} for i in IMGS]
    p = write_measures(tmp_path / "l2.csv", rows)
    assert run_check("l3c", "full", p).exit_code == EXIT_REGRESSION


def test_mini_missing_reference_distinct_exit(tmp_path, capsys):
    m = _run(tmp_path, [(None, 0.5, 0.97, 30.0)])
    code = main(["--paper", "cpm", "--scale", "mini", "--measures", str(m),
                 "--reference", str(tmp_path / "nope-mini.csv")])
    assert code == EXIT_NO_MINI_REFERENCE != EXIT_OK
    assert "no mini reference" in capsys.readouterr().err


def test_mini_roundtrip_and_regression(tmp_path):
    ref = tmp_path / "cpm-mini.csv"
    m = _run(tmp_path, [(0.01, 0.5, 0.97, 30.0), (0.02, 0.8, 0.98, 32.0)])
    assert main(["--paper", "cpm", "--scale", "mini", "--measures", str(m), "--reference", str(ref),
                 "--update-reference"]) == EXIT_OK
    assert run_check("cpm", "mini", m, reference=ref).exit_code == EXIT_OK
    worse = _run(tmp_path, [(0.01, 0.52, 0.97, 30.0), (0.02, 0.8, 0.98, 32.0)], "w.csv")  # +4 % rate
    res = run_check("cpm", "zoo", worse, reference=ref)   # the fixed checkpoint: strict [defaults.zoo]
    assert res.exit_code == EXIT_REGRESSION
    assert run_check("cpm", "zoo", worse, reference=ref,
                     overrides={"max_rate_increase_pct": 5.0}).exit_code == EXIT_OK
    # a retrained mini reproduction gets [cpm.mini]'s room (5 %), a zoo check never does
    assert run_check("cpm", "mini", worse, reference=ref).exit_code == EXIT_OK
    assert run_check("cpm", "mini", worse, reference=ref,
                     overrides={"max_rate_increase_pct": 1.0}).exit_code == EXIT_REGRESSION
    blurred = _run(tmp_path, [(0.01, 0.5, 0.96, 29.0), (0.02, 0.8, 0.98, 32.0)], "b.csv")
    assert run_check("cpm", "mini", blurred, reference=ref).exit_code == EXIT_REGRESSION
    zref = tmp_path / "z.csv"
    assert main(["--paper", "cpm", "--scale", "zoo", "--measures", str(m), "--reference", str(zref),
                 "--update-reference"]) == EXIT_OK and zref.read_bytes() == m.read_bytes()
    from shared_eval.references import reference_path
    assert reference_path("cpm", "zoo").name == "cpm-zoo.csv"
    fewer = _run(tmp_path, [(0.01, 0.5, 0.97, 30.0)], "f.csv")  # a whole operating point missing
    assert run_check("cpm", "mini", fewer, reference=ref).exit_code == EXIT_REGRESSION


def test_bad_input_exit_2(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["--paper", "cpm", "--scale", "full", "--measures", str(bad)]) == EXIT_INPUT
    assert main(["--paper", "cpm", "--scale", "full", "--measures", str(tmp_path / "missing.csv")]) == EXIT_INPUT
    m = _run(tmp_path, [(None, 0.5, 0.97, 30.0)])
    assert main(["--paper", "cpm", "--scale", "full", "--measures", str(m), "--tolerance", "oops"]) == EXIT_INPUT


def test_cli_as_make_calls_it(tmp_path):
    """`make reproduce-<p>` runs exactly this command line from the repository root."""
    root = Path(__file__).resolve().parents[2]
    pts = _sga_curve("M1_sga")
    m = _run(tmp_path, [(p["lambda"], p["bpp"], None, p["psnr"]) for p in pts])
    out = subprocess.run([sys.executable, "-m", "shared_eval.check", "--paper", "sga", "--scale", "full",
                          "--measures", str(m)], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "PASS" in out.stdout and "BD-rate vs M1_sga" in out.stdout


@pytest.mark.parametrize("paper", ["cpm", "sga", "l3c", "hific", "irec"])
def test_every_paper_has_full_tolerances_with_comments(paper):
    from shared_eval.check import default_tolerances_path, load_tolerances
    secs = load_tolerances(default_tolerances_path(), paper, "full")
    assert secs and all("curve" in s and "max_rate_gap_pct" in s for _, s in secs)
    text = default_tolerances_path().read_text()
    for line in text.splitlines():
        if line.strip().startswith("max_"):
            assert "#" in line, f"tolerance without a comment: {line}"


def test_mini_lossless_rows_with_infinite_psnr(tmp_path):
    rows = [{"img_name": i, "bpp": 9.0, "bpsp": 3.0, "psnr": float("inf"), "ms-ssim": 1.0} for i in IMGS]
    ref = write_measures(tmp_path / "l3c-mini.csv", rows)
    assert run_check("l3c", "mini", ref, reference=ref).exit_code == EXIT_OK
    worse = write_measures(tmp_path / "w.csv", [dict(r, bpp=9.3, bpsp=3.1) for r in rows])
    assert run_check("l3c", "mini", worse, reference=ref).exit_code == EXIT_REGRESSION
