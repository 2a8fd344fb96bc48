"""The original's sacred experiments: names, config keys, print_config, and a tiny real run."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT  # noqa: E402

from shared_data.imageio import write_png

SCRIPTS = {
    "examples/lossless/train_generative_model.py": ["num_res_blocks", "lamb", "iters", "learning_rate_drop_rate",
                                                    "drop_learning_rate_after_iter", "dataset_info"],
    "examples/lossless/compression_performance.py": ["kl_per_partition", "n_beams", "extra_samples",
                                                     "compression_seed", "block_size", "num_res_blocks", "mode"],
    "examples/lossy/train_lossy_model.py": ["level_1_filters", "level_2_filters", "loss_fn", "beta", "anneal_kl"],
    "examples/lossy/compress_with_lossy_model.py": ["model_dir", "kl_per_partition", "n_beams", "extra_samples"],
}


def _run(script, *args, env=None):
    return subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_print_config_lists_original_keys(script):
    r = _run(script, "print_config")
    assert r.returncode == 0, r.stderr
    for key in SCRIPTS[script]:
        assert key in r.stdout, f"{key} missing from {script} config"


def test_lossy_train_then_compress_tiny(tmp_path):
    rs = np.random.RandomState(0)
    data = tmp_path / "photos"
    for i in range(3):
        write_png(data / f"{i}.png", np.clip(rs.randn(80, 90, 3) * 40 + 128, 0, 255).astype(np.uint8))
    env = {"IREC_SACRED_DIR": str(tmp_path / "sacred")}
    r = _run("examples/lossy/train_lossy_model.py", "with", "level_1_filters=8", "level_2_filters=8", "iters=3",
             "crop_size=64", "batch_size=2", f"dataset.dataset_base_path={data}",
             f"model_save_dir={tmp_path / 'model'}", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "model" / "weights.npz").exists()
    assert any((tmp_path / "model" / "logs" / "train").iterdir())          # TensorBoard events
    assert (tmp_path / "sacred" / "train_lossy_model" / "1" / "config.json").exists()  # FileStorageObserver
    r = _run("examples/lossy/compress_with_lossy_model.py", "with", f"model_dir={tmp_path / 'model'}",
             f"dataset.dataset_base_path={data}", "num_test_images=2", "n_beams=2",
             f"output_file={tmp_path / 'out' / 'results.csv'}", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "out" / "results.csv").read_text().startswith("name,KL,lossy_BPP,comp_codelength")
    assert (tmp_path / "out" / "measures.csv").exists()
