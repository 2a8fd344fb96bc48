"""``python -m cpm encode|decode|info`` (shared_data.cli) from the repository root (the package is installed) and
bad inputs: corrupt / foreign containers, non-images, model directories with unknown config keys."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared_data.imageio import read_image, sample_images, write_png

ROOT = Path(__file__).resolve().parents[1]
REPO = ROOT.parent


def test_python_m_cpm_from_repo_root(zoo_codec, tmp_path):
    img = sample_images(("coffee",))["coffee"][:61, :90]   # not a multiple of 8: padded to 64 x 96
    src = tmp_path / "in.png"
    write_png(src, img)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for args in (["encode", src, tmp_path / "out.lic", "--model", ROOT / "zoo/mini"],
                 ["decode", tmp_path / "out.lic", tmp_path / "rec.png"]):
        r = subprocess.run([sys.executable, "-m", "cpm", *map(str, args)], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
    rec = read_image(tmp_path / "rec.png")
    assert rec.shape == img.shape
    # the same bytes as the in-process codec, and the decoder's output equals the model's reconstruction
    c, res = zoo_codec.encode_array(img)
    from shared_data import container as cont
    assert cont.pack(c) == (tmp_path / "out.lic").read_bytes()
    np.testing.assert_array_equal(rec, zoo_codec.reconstruct(res.symbols)[1:62, 3:93])


def _main(args, capsys):
    from cpm.__main__ import main
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err


def test_bad_inputs_give_one_line_errors(zoo_codec, tmp_path, capsys):
    src = tmp_path / "in.png"
    write_png(src, sample_images(("coffee",))["coffee"][:40, :40])
    rc, _ = _main(["encode", src, tmp_path / "ok.lic"], capsys)
    assert rc == 0
    data = (tmp_path / "ok.lic").read_bytes()
    cases = {"truncated": data[:-5], "corrupt": data[:20] + bytes([data[20] ^ 0x40]) + data[21:],
             "not a container": b"hello world, not a lic file"}
    for what, blob in cases.items():
        (tmp_path / "bad.lic").write_bytes(blob)
        rc, err = _main(["decode", tmp_path / "bad.lic", tmp_path / "x.png"], capsys)
        assert rc == 1 and len(err) == 1 and err[0].startswith("error:"), (what, err)
        assert not (tmp_path / "x.png").exists()
    (tmp_path / "notimg.png").write_bytes(b"\x89PNG not really")
    rc, err = _main(["encode", tmp_path / "notimg.png", tmp_path / "y.lic"], capsys)
    assert rc == 1 and len(err) == 1 and "notimg.png" in err[0]
    # a model directory whose config.json carries an unknown key: refused, naming the key
    bad_model = tmp_path / "model"
    shutil.copytree(ROOT / "zoo/mini", bad_model)
    cfg = json.loads((bad_model / "config.json").read_text())
    cfg["ae"]["num_chan_bm"] = 16
    (bad_model / "config.json").write_text(json.dumps(cfg))
    rc, err = _main(["decode", tmp_path / "ok.lic", tmp_path / "z.png", "--model", bad_model], capsys)
    assert rc == 1 and len(err) == 1 and "num_chan_bm" in err[0]
    rc, err = _main(["decode", tmp_path / "ok.lic", tmp_path / "z.png", "--model", tmp_path], capsys)
    assert rc == 1 and "not a cpm model directory" in err[0]


@pytest.mark.parametrize("key", ["num_chan_bm", "lr_inital"])
def test_train_py_unknown_config_key(tmp_path, capsys, key):
    import train
    f = tmp_path / "cfg"
    f.write_text(f"use {ROOT / 'ae_configs/mini/low'}\n{key} = 3\n")
    assert train.main([str(f), str(ROOT / "pc_configs/mini/res_shallow"), "-dtrain", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0]
