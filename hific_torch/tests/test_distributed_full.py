"""DDP via torchrun (2 CPU processes, gloo) for both stages, and the SCALE=full driver on a tiny folder.

Both are slow (process start-up, the 181.5 M-parameter model): ``make test-slow-hific``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def img_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (80, 96 + 8 * i, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return d


def _torchrun(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2", "train.py", *args]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.mark.slow
def test_torchrun_ddp_both_stages(tmp_path, img_dir):
    common = ["--mini", "-bs", "4", "-crop", "64", "--lpips", "off", "-steps", "2", "-log_intv", "1",
              "--data_dir", str(img_dir), "-o", str(tmp_path)]
    _torchrun(["-mt", "compression", "-n", "s1", *common], tmp_path)
    runs = list(tmp_path.glob("s1_compression_*"))
    assert len(runs) == 1  # every rank wrote into rank 0's run folder, only rank 0 saved
    s1 = runs[0] / "checkpoints" / "final.pt"
    ck = torch.load(s1, weights_only=True)
    assert ck["step"] == 2 and ck["ddp"] == {"world_size": 2, "backend": "gloo", "replicas_identical": True}
    assert json.loads((runs[0] / "config.json").read_text())["world_size"] == 2
    _torchrun(["-mt", "compression_gan", "-n", "gan", "-warmstart", "-ckpt", str(s1), *common], tmp_path)
    ck = torch.load(next(tmp_path.glob("gan_compression_gan_*")) / "checkpoints" / "final.pt", weights_only=True)
    assert ck["step"] == 2 and ck["ddp"]["replicas_identical"] and "discriminator" in ck


@pytest.mark.slow
def test_full_scale_driver_smoke(tmp_path, img_dir, monkeypatch):
    """reproduce.py --scale full (paper-size model, both stages, Kodak evaluation) for 1 step on CPU."""
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(kodak / "k1.png")
    monkeypatch.setenv("TRAIN_DIR", str(img_dir))
    monkeypatch.setenv("KODAK_DIR", str(kodak))
    import reproduce
    out = tmp_path / "full"
    assert reproduce.main(["--scale", "full", "--out", str(out), "--steps", "1", "--batch_size", "1",
                           "--crop", "64", "--lpips", "off"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stage1"]["steps"] == 1 and summary["gan"]["steps"] == 1
    assert summary["stage1"]["n_images"] == 1 and summary["gan"]["bpp"] > 0
    cfg = json.loads(next((out / "runs").glob("stage1_*/config.json")).read_text())
    assert cfg["model"]["latent_channels"] == 220 and cfg["model"]["n_residual_blocks"] == 9
