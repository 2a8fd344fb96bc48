"""shared_eval.evaluate: any codec on a dataset through the codec interface, in-process and on Dask."""

import pytest

from shared_data.codec_tests import image
from shared_data.imageio import write_png
from shared_eval import evaluate
from shared_eval.measures_csv import read_measures

TOY = "factory:shared_data.codec_tests:toy_factory"


@pytest.fixture
def images(tmp_path):
    d = tmp_path / "imgs"
    for i in range(4):
        write_png(d / f"im{i}.png", image(24 + 8 * i, 32, seed=i))
    return d


def test_rows_from_real_files_and_resume(images, tmp_path):
    out = tmp_path / "m.csv"
    rc = evaluate.main(["--codec", TOY, str(images), "--out", str(out), "--keep-files", str(tmp_path / "lic"),
                        "--estimate", "--no-progress"])
    assert rc == 0
    rows = read_measures(out)
    assert [r["img_name"] for r in rows] == ["im0", "im1", "im2", "im3"]
    for r, h in zip(rows, (24, 32, 40, 48)):
        size = (tmp_path / "lic" / f"{r['img_name']}.lic").stat().st_size
        assert r["bpp"] == pytest.approx(8 * size / (h * 32)) and r["bpsp"] == pytest.approx(r["bpp"] / 3)
        assert r["bpp_estimated"] == pytest.approx(24.0)
    res = evaluate.evaluate(TOY, images, out, keep=str(tmp_path / "lic"), estimate=True, progress=False)
    assert res.resumed == 4 and res.computed == 0


def test_dask_local_cluster_gives_the_same_rows(images, tmp_path):
    pytest.importorskip("distributed")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    evaluate.evaluate(TOY, images, a, progress=False)
    evaluate.evaluate(TOY, images, b, scheduler="local:2", progress=False)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("enc_s", "dec_s")} for r in rows]  # noqa: E731
    assert strip(read_measures(a)) == strip(read_measures(b))


def test_bad_input_is_one_line(tmp_path, capsys):
    rc = evaluate.main(["--codec", TOY, str(tmp_path / "nothing"), "--out", str(tmp_path / "m.csv")])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: ") and "nothing" in err and err.count("\n") == 1
    write_png(tmp_path / "one.png", image())
    rc = evaluate.main(["--codec", "nope", str(tmp_path), "--out", str(tmp_path / "m.csv")])
    assert rc == 1 and "unknown codec 'nope'" in capsys.readouterr().err
