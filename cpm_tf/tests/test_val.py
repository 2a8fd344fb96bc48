"""val.py end to end on small real images (a saved random mini model): measures.csv columns and padding."""

from pathlib import Path

import numpy as np
from cpm.codec import load_codec, save_model

from shared_data.imageio import sample_images, write_png
from shared_eval.measures_csv import read_measures

ROOT = Path(__file__).resolve().parents[1]


def test_val_writes_measures(tmp_path, mini_codec):
    import val
    save_model(mini_codec.model, tmp_path / "logs" / "0101_0000 mini@low mini@res_shallow", "mini/low",
               "mini/res_shallow")
    assert load_codec(tmp_path / "logs" / "0101_0000 mini@low mini@res_shallow").fingerprint_float == mini_codec.fingerprint_float
    imgs = tmp_path / "imgs"
    coffee = sample_images(("coffee",))["coffee"]  # 400 x 600
    write_png(imgs / "a.png", coffee[:181, :203])   # odd size: padded to 184 x 208
    write_png(imgs / "b.png", coffee[100:164, 50:114])
    assert val.main([str(tmp_path / "logs"), "0101", str(imgs), "--real_bpp", "--save_ours"]) == 0
    out = tmp_path / "logs" / "0101_0000 imgs"
    rows = {r["img_name"]: r for r in read_measures(out / "measures.csv")}
    a, b = rows["a.png"], rows["b.png"]
    assert (a["padded_h"], a["padded_w"]) == (184, 208)
    for r in (a, b):
        assert r["bpp"] > 0 and r["bpp_estimated"] > 0 and r["psnr"] > 0 and r["enc_s"] > 0 and r["dec_s"] > 0
        assert r["bpp"] >= r["bpp_estimated"]
    assert 0 < a["ms-ssim"] <= 1 and b["ms-ssim"] is None  # 64 px: below MS-SSIM's 176 px minimum
    assert (out / "imgs" / "a.png").is_file()
    assert val.main([str(tmp_path / "logs"), "9999", str(imgs)]) == 1
    np.testing.assert_equal(len(rows), 2)
