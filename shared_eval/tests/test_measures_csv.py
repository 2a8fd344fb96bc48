import pytest

from shared_eval.measures_csv import MeasuresError, read_measures, summarize, write_measures, write_summary


def test_round_trip_and_summary(tmp_path):
    rows = [
        {"img_name": "kodim01", "bpp": 0.5, "ms-ssim": 0.97, "psnr": 30.25, "enc_s": 1.5, "dec_s": 2.0,
         "bpsp": 0.16},
        {"img_name": "kodim02", "bpp": 0.25, "ms-ssim": None, "psnr": 28.75, "enc_s": 0.5, "dec_s": 1.0,
         "bpsp": 0.08},
    ]
    p = write_measures(tmp_path / "m" / "measures.csv", rows)
    assert p.read_text().splitlines()[0] == "img_name,bpp,ms-ssim,psnr,enc_s,dec_s,bpsp"
    back = read_measures(p)
    assert back[1]["ms-ssim"] is None and back[0]["bpp"] == 0.5 and back[1]["img_name"] == "kodim02"
    s = summarize(back)
    assert s["n_images"] == 2 and s["bpp"] == pytest.approx(0.375) and s["psnr"] == pytest.approx(29.5)
    assert s["ms-ssim"] == pytest.approx(0.97)  # mean over images that have it
    write_summary(tmp_path / "summary.json", s)
    assert '"n_images": 2' in (tmp_path / "summary.json").read_text()


def test_bad_files(tmp_path):
    with pytest.raises(MeasuresError, match="no such"):
        read_measures(tmp_path / "x.csv")
    (tmp_path / "y.csv").write_text("a,b\n1,2\n")
    with pytest.raises(MeasuresError, match="no img_name"):
        read_measures(tmp_path / "y.csv")
    with pytest.raises(MeasuresError, match="without img_name"):
        write_measures(tmp_path / "z.csv", [{"bpp": 1}])
