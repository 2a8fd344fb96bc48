"""R-D plots: PNG + PDF written from measures files and published curves; clear errors."""

import pytest

from shared_eval import plot
from shared_eval.measures_csv import write_measures


def _measures(tmp_path):
    rows = []
    for codec, base in (("jpeg", 0.0), ("webp", 1.0)):
        for q, b, p, m in ((20, 0.3, 27.0, 0.93), (50, 0.6, 30.0, 0.96), (80, 1.2, 33.0, 0.98)):
            for img in ("a.png", "b.png"):
                rows.append({"img_name": img, "bpp": b, "psnr": p + base, "ms-ssim": m, "codec": codec, "quality": q})
    return write_measures(tmp_path / "m.csv", rows)


def test_series_from_measures_means_per_point(tmp_path):
    s = plot.series_from_measures(_measures(tmp_path))
    assert [x.label for x in s] == ["jpeg", "webp"]
    assert s[1].bpp == [0.3, 0.6, 1.2] and s[1].psnr == [28.0, 31.0, 34.0]


def test_cli_writes_png_and_pdf(tmp_path):
    out = tmp_path / "rd.png"
    code = plot.main(["--measures", f"ours={_measures(tmp_path)}", "--paper", "cpm", "--paper", "irec",
                       "--curves", "cvpr_fig1,lossy_mse_actual", "--out", str(out)])
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert out.with_suffix(".pdf").read_bytes()[:4] == b"%PDF"


def test_published_only_and_errors(tmp_path, capsys):
    s = plot.published_series("hific", "kodak")
    assert len(s) == 2 and s[0].bpp == [0.183, 0.351, 0.538]
    assert plot.main(["--paper", "cpm", "--curves", "nope", "--out", str(tmp_path / "x.png")]) == 2
    assert "nope" in capsys.readouterr().err
    assert plot.main(["--out", str(tmp_path / "x.png")]) == 2
    with pytest.raises(plot.PlotError, match="nothing to draw"):
        plot.rd_plot(plot.published_series("l3c", "openimages"), tmp_path / "y.png")


def test_demo_plot_skips_lossless_only(tmp_path, capsys):
    """`demo --codecs l3c` has only lossless rows (PSNR inf): no R-D plot, no crash."""
    from shared_eval.demo import _plot
    rows = [{"codec": "l3c", "img_name": "a", "bpp": 3.1, "psnr": float("inf"), "ms-ssim": 1.0,
             "enc_s": 1.0, "dec_s": 1.0}]
    _plot(rows, tmp_path / "rd.png")
    assert not (tmp_path / "rd.png").exists() and "no R-D plot" in capsys.readouterr().out
    rows.append({"codec": "jpeg", "img_name": "a", "bpp": 0.5, "psnr": 30.0, "ms-ssim": 0.95, "enc_s": 0.1,
                 "dec_s": 0.1})
    _plot(rows, tmp_path / "rd.png")
    assert (tmp_path / "rd.png").stat().st_size > 1000
