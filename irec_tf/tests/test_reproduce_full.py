"""SCALE=full without a GPU: reproduce.py's full path (CLIC-style photo folder + CIFAR-10 / ImageNet32 batch
files written here) trains, codes and writes measures with a step cap.

``test_full_path_wiring_with_tiny_models`` swaps in tiny model sizes to check the wiring (about a minute);
``test_full_configs_one_step_on_cpu`` runs the paper's real configs (N=196/M=128 lossy, 24-block 160/32
ResNet VAE) for one step each (about 7 minutes on 2 busy cores, most of it building the 24-block graph).
Both are ``slow`` (``make test-slow-irec``); the default suite checks the missing-data error only.
"""

import csv
import json

import numpy as np
import pytest

from shared_data.imageio import write_png


def _data(tmp_path, monkeypatch):
    from small_data import write_cifar10, write_imagenet32

    write_cifar10(tmp_path / "data" / "cifar10")
    write_imagenet32(tmp_path / "data" / "imagenet32")
    rs = np.random.RandomState(0)
    for i in range(2):
        write_png(tmp_path / "clic" / "clic2019" / "train" / f"{i}.png",
                  np.clip(rs.randn(260, 270, 3) * 30 + 128, 0, 255).astype(np.uint8))
    monkeypatch.setenv("IREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IREC_CLIC_DIR", str(tmp_path / "clic"))


def _check(out, n_lossy, datasets):
    rows = list(csv.DictReader(open(out / "measures.csv")))
    assert [r["mode"] for r in rows] == ["lossy"] * n_lossy + ["lossless"] * len(datasets)
    assert [r["img_name"].split("/")[0] for r in rows[n_lossy:]] == datasets
    for r in rows:
        assert float(r["bpp"]) > 0 and float(r["enc_s"]) > 0
    s = json.loads((out / "summary.json").read_text())
    assert s["scale"] == "full" and s["steps_cap"] == 1
    return rows, s


@pytest.mark.slow   # ~20 s CPU (two training graphs); the default suite keeps the 3-minute budget
@pytest.mark.parametrize("betas,datasets", [("0.01", ["cifar10"]), ("0.01,0.05", ["cifar10", "imagenet32"])])
def test_full_path_wiring_with_tiny_models(tmp_path, monkeypatch, betas, datasets):
    import reproduce

    _data(tmp_path, monkeypatch)
    monkeypatch.setattr(reproduce, "FULL_LOSSY", dict(reproduce.FULL_LOSSY, level_1_filters=8, level_2_filters=8))
    monkeypatch.setattr(reproduce, "FULL_LOSSY_CROP", 64)
    monkeypatch.setattr(reproduce, "FULL_LOSSLESS", dict(reproduce.FULL_LOSSLESS, num_res_blocks=2,
                                                         deterministic_filters=8, stochastic_filters=4))
    out = tmp_path / "out"
    assert reproduce.main(["--scale", "full", "--out", str(out), "--steps", "1", "--betas", betas,
                           "--lossless-datasets", ",".join(datasets), "--kodak-images", "1", "--kodak-crop", "64",
                           "--lossless-images", "1"]) in (0, 2)
    if not (out / "measures.csv").exists():
        pytest.skip("no Kodak images ($KODAK_DIR)")
    n_lossy = len(betas.split(","))
    rows, s = _check(out, n_lossy, datasets)
    assert s["betas"] == [float(b) for b in betas.split(",")] and s["lossy_train_data"] == str(tmp_path / "clic")
    assert json.loads((out / "models" / "resnet_vae_blocks_24_cifar10" / "config.json").read_text())[
        "num_res_blocks"] == 2
    assert rows[n_lossy]["img_name"] == "cifar10/test_batch_00000"


def test_full_path_needs_the_lossless_data(tmp_path, monkeypatch, capsys):
    import reproduce

    monkeypatch.delenv("IREC_DATA_DIR", raising=False)
    assert reproduce.main(["--scale", "full", "--out", str(tmp_path), "--steps", "1", "--betas", ""]) == 2
    assert "IREC_DATA_DIR" in capsys.readouterr().err


@pytest.mark.slow
def test_full_configs_one_step_on_cpu(tmp_path, monkeypatch):
    import reproduce

    _data(tmp_path, monkeypatch)
    out = tmp_path / "out"
    assert reproduce.main(["--scale", "full", "--out", str(out), "--steps", "1", "--betas", "0.01",
                           "--lossless-datasets", "cifar10", "--kodak-images", "1", "--kodak-crop", "64",
                           "--lossless-images", "1"]) in (0, 2)
    if not (out / "measures.csv").exists():
        pytest.skip("no Kodak images ($KODAK_DIR)")
    _check(out, 1, ["cifar10"])
    cfg = json.loads((out / "models" / "resnet_vae_blocks_24_cifar10" / "config.json").read_text())
    assert (cfg["num_res_blocks"], cfg["deterministic_filters"], cfg["stochastic_filters"]) == (24, 160, 32)
    cfg = json.loads((out / "models" / "large_level_2_vae_beta_0.010" / "config.json").read_text())
    assert (cfg["level_1_filters"], cfg["level_2_filters"]) == (196, 128)
