"""Training loop: steps, checkpoints, resume, the original flags' error paths."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, smooth_image
from l3c.config import Config, apply_overrides, parse_cf
from l3c.model_io import list_ckpts, load_model
from l3c.train_loop import train

from shared_data.imageio import write_png


@pytest.fixture
def tiny_setup(tmp_path):
    data = tmp_path / "imgs"
    for i in range(3):
        write_png(data / f"{i}.png", smooth_image(24, 20 + i, seed=i))
    write_png(data / "small.png", smooth_image(8, 8))  # below the crop size: filtered out
    ms, dl = parse_cf(ROOT / "configs/ms/cr_mini.cf"), parse_cf(ROOT / "configs/dl/mini.cf")
    apply_overrides(ms, ["Cf=8", "enc.num_blocks=1", "dec.num_blocks=1"],)
    apply_overrides(dl, ["crop_size=16", "batchsize_train=2", "batchsize_val=2", "num_val_batches=1",
                         f"train_imgs_glob={data}", f"val_glob={data}"])
    return tmp_path, ms, dl


def test_train_checkpoint_and_resume(tiny_setup):
    tmp, ms, dl = tiny_setup
    run = tmp / "run"
    (run).mkdir()
    from l3c.config import dump_cf

    (run / "config_ms.cf").write_text(dump_cf(ms))
    (run / "config_dl.cf").write_text(dump_cf(dl))
    res = train(Config(ms), Config(dl), run, max_steps=2, log_train=1, log_val=2, save_every=1, keep_tmp=1,
                quiet=True)
    assert res["itr"] == 2 and np.isfinite(res["val_bpsp"])
    assert [i for i, _ in list_ckpts(run)][-1] == 2
    assert any(p.name.startswith("events.out.tfevents") for p in run.iterdir())
    res2 = train(Config(ms), Config(dl), run, restore=(run, -1), max_steps=3, save_every=1, quiet=True)
    assert res2["itr"] == 3
    net, fp, itr = load_model(run)
    assert itr == 3 and len(fp) == 8
    state = torch.load(list_ckpts(run)[-1][1], weights_only=True)
    assert set(state) == {"net", "optim"}


def test_train_cli_unknown_param(tmp_path):
    r = subprocess.run([sys.executable, "train.py", "configs/ms/cr.cf", "configs/dl/oi.cf", str(tmp_path),
                        "-p", "upsampling=deconv"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Unused params" in r.stderr
