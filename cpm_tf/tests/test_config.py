from pathlib import Path

import pytest
from cpm.config import ConfigError, load_ae_config, load_pc_config, parse

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name,C,H_target", [("low", 32, 0.4), ("med", 32, 1.2), ("hi", 64, 1.0)])
def test_released_ae_configs(name, C, H_target):
    c = load_ae_config(ROOT / "ae_configs/cvpr" / name)
    assert c.num_chan_bn == C and c.H_target == pytest.approx(H_target)
    assert (c.arch, c.beta, c.regularization_factor, c.normalization) == ("CVPR", 500, 0.005, "FIXED")
    assert (c.distortion_to_minimize, c.K_ms_ssim, c.num_centers) == ("ms_ssim", 5000, 6)
    assert c.centers_initial_range == (-2, 2) and c.regularization_factor_centers == 0.1
    assert c.crop_size == (160, 160) and c.batch_size == 30 and c.lr_initial == 8e-5
    assert (c.optimizer, c.lr_schedule, c.lr_schedule_decay_interval, c.lr_schedule_decay_rate) == (
        "ADAM", "DECAY", 2, 0.1)
    assert c.lr_schedule_decay_staircase is True and c.arch_param_B == 5 and c.heatmap is True
    assert c.arch_param_n == 128  # the original's module constant


def test_res_shallow():
    c = load_pc_config(ROOT / "pc_configs/cvpr/res_shallow")
    assert (c.arch, c.kernel_size, c.arch_param__k, c.lr_initial) == ("res_shallow", 3, 24, 1e-4)
    assert c.use_centers_for_padding is True and c.regularization_factor is None
    assert (c.optimizer, c.lr_schedule, c.lr_schedule_decay_interval) == ("ADAM", "DECAY", 2)
    assert load_pc_config(ROOT / "pc_configs/cvpr/res_shallow_64").arch_param__k == 64


def test_unknown_key_is_named(tmp_path):
    f = tmp_path / "cfg"
    f.write_text(f"use {ROOT / 'ae_configs/cvpr/low'}\nnum_chan_bm = 16\n")
    with pytest.raises(ConfigError, match="num_chan_bm"):
        load_ae_config(f)


def test_constraint_and_syntax_errors(tmp_path):
    f = tmp_path / "cfg"
    f.write_text(f"use {ROOT / 'ae_configs/cvpr/low'}\nnormalization = ON\n")
    with pytest.raises(ConfigError, match="normalization"):
        parse(f)
    f.write_text("x = __import__('os')\n")
    with pytest.raises(ConfigError):
        parse(f)
    with pytest.raises(ConfigError, match="no such config"):
        parse(tmp_path / "missing")
