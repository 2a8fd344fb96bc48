"""shared_eval.report: BD-rates vs baselines and vs the published curve, in one markdown table."""

import pytest

from shared_eval.bdrate import BDError, rate_gap_at_quality
from shared_eval.measures_csv import write_measures
from shared_eval.references import curves, load_reference, reference_path
from shared_eval.report import build_report, main


def test_rate_gap_at_quality():
    r, q = [0.2, 0.4, 0.8], [28.0, 31.0, 34.0]
    assert rate_gap_at_quality(r, q, 0.44, 31.0) == pytest.approx(10.0)
    with pytest.raises(BDError, match="outside"):
        rate_gap_at_quality(r, q, 0.5, 40.0)


def test_report_against_paper_and_baseline(tmp_path):
    pts = curves(load_reference(reference_path("irec")), "kodak", metric="psnr")["lossy_mse_actual"]
    run = tmp_path / "runs" / "irec" / "full"
    rows = [{"img_name": f"k{i}", "bpp": p["bpp"] * 1.1, "psnr": p["psnr"], "ms-ssim": p["msssim"],
             "lambda": p["lambda"]} for p in pts for i in range(2)]
    write_measures(run / "measures.csv", rows)
    # a "baseline" that is the published curve itself at half the rate: the run is +120 % vs it
    base = [{"img_name": "k0", "bpp": p["bpp"] * 0.5, "psnr": p["psnr"], "ms-ssim": p["msssim"], "codec": "jpeg",
             "quality": j} for j, p in enumerate(pts)]
    write_measures(tmp_path / "bl" / "jpeg" / "measures.csv", base)
    text = build_report(tmp_path / "runs", tmp_path / "bl")
    line = next(ln for ln in text.splitlines() if ln.startswith("| irec/full"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == "5"
    assert cells[-2] == "+120.0% / +120.0%"  # vs jpeg
    assert cells[-1] == "+10.0% / +10.0%"  # vs the published lossy_mse_actual curve
    out = tmp_path / "r.md"
    assert main([str(tmp_path / "runs"), "--baselines", str(tmp_path / "bl"), "--out", str(out)]) == 0
    assert out.read_text() == text
    assert main([str(tmp_path / "nothing")]) == 2


def test_committed_kodak_baselines_are_sane():
    """The committed anchors: 24 Kodak images per quality, and the known codec ordering on PSNR (AVIF < WebP <
    JPEG, JPEG 2000 < JPEG: a JPEG 2000 without its colour transform would fail this)."""
    from shared_eval.bdrate import bd_rate
    from shared_eval.measures_csv import read_measures
    from shared_eval.plot import series_from_measures
    from shared_eval.references import repo_root

    root = repo_root() / "ci" / "baselines" / "kodak"
    s = {}
    for c in ("jpeg", "webp", "avif", "jpegxl", "jpeg2000"):
        rows = read_measures(root / c / "measures.csv")
        assert len({r["img_name"] for r in rows}) == 24 and len(rows) == 24 * (9 if c == "jpeg2000" else 6)
        s[c] = series_from_measures(root / c / "measures.csv", c)[0]
    webp_vs_jpeg = bd_rate(s["jpeg"].bpp, s["jpeg"].psnr, s["webp"].bpp, s["webp"].psnr, "pchip")
    avif_vs_webp = bd_rate(s["webp"].bpp, s["webp"].psnr, s["avif"].bpp, s["avif"].psnr, "pchip")
    j2k_vs_jpeg = bd_rate(s["jpeg"].bpp, s["jpeg"].psnr, s["jpeg2000"].bpp, s["jpeg2000"].psnr, "pchip")
    assert webp_vs_jpeg < -10 and avif_vs_webp < -10 and j2k_vs_jpeg < -10


def test_committed_lossless_baselines_match_the_irec_table():
    """Our lossless WebP on Kodak reproduces the iREC README's WebP number (3.20 bpd) within 1 %."""
    from shared_eval.measures_csv import read_measures, summarize
    from shared_eval.references import repo_root

    root = repo_root() / "ci" / "baselines" / "kodak"
    pub = {r["method"]: r["bpd"] for r in load_reference(reference_path("irec"))
           if r["dataset"] == "kodak" and r["curve"].startswith("lossless")}
    webp = summarize(read_measures(root / "webp-lossless" / "measures.csv"))
    assert webp["n_images"] == 24
    assert abs(webp["bpsp"] / pub["WebP"] - 1) < 0.01
    png = summarize(read_measures(root / "png" / "measures.csv"))["bpsp"]
    jxl = summarize(read_measures(root / "jpegxl-lossless" / "measures.csv"))["bpsp"]
    assert jxl < webp["bpsp"] < png
