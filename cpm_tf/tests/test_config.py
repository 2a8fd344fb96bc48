import json
from pathlib import Path

import pytest
from cpm.config import ConfigError, load_ae_config, load_pc_config, parse

from shared_data import errors, golden

ROOT = Path(__file__).resolve().parents[1]


def committed_configs() -> list[Path]:
    return sorted([p for d in ("ae_configs", "pc_configs") for p in (ROOT / d).rglob("*") if p.is_file()]
                  + [ROOT / "parity/ae_config_parity"])


def test_every_committed_config_gives_the_values_of_the_previous_parser():
    """tests/golden/config_values.json was written by the hand-written parser this package had before it read
    configs through fjcommon.config_parser (issue 16): every committed config must give the same values
    (repr: types included), and the golden names every committed config file."""
    values = {str(p.relative_to(ROOT)): {k: repr(v) for k, v in sorted(parse(p).values().items())}
              for p in committed_configs()}
    golden.check(ROOT / "tests/golden/config_values.json",
                 (json.dumps(values, indent=1, sort_keys=True) + "\n").encode(), "cpm")


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


def test_fjcommon_syntax(tmp_path, monkeypatch):
    """What fjcommon's parser does that the previous one did not: values naming earlier keys, multi-line
    values, $ENV$ substitution."""
    monkeypatch.setenv("CPM_TEST_CROP", "48")
    f = tmp_path / "cfg"
    f.write_text(f"use {ROOT / 'ae_configs/cvpr/low'}\narch_param_B = num_centers - 4\n"
                 "crop_size = ($CPM_TEST_CROP$,\n  $CPM_TEST_CROP$)\n")
    c = load_ae_config(f)
    assert (c.arch_param_B, c.crop_size, c.num_chan_bn) == (2, (48, 48), 32)


def test_unknown_key_is_named(tmp_path):
    f = tmp_path / "cfg"
    f.write_text(f"use {ROOT / 'ae_configs/cvpr/low'}\nnum_chan_bm = 16\n")
    with pytest.raises(ConfigError, match="num_chan_bm"):
        load_ae_config(f)
    with pytest.raises(ConfigError, match="bach_size"):
        load_ae_config(ROOT / "ae_configs/cvpr/low", ["bach_size=2"])


def test_overrides():
    c = load_ae_config(ROOT / "ae_configs/cvpr/low", ["crop_size=(32, 32)", "batch_size = 2", "lr_schedule=FIXED"])
    assert (c.crop_size, c.batch_size, c.lr_schedule, c.num_chan_bn) == ((32, 32), 2, "FIXED", 32)
    for bad, what in (("batch_size", "KEY=VALUE"), ("=3", "KEY=VALUE"), ("lr_schedule=SOMETIMES", "lr_schedule"),
                      ("batch_size=__import__('os')", "not data")):
        with pytest.raises(ConfigError, match=what):
            load_ae_config(ROOT / "ae_configs/cvpr/low", [bad])


def test_constraint_and_syntax_errors(tmp_path):
    f = tmp_path / "cfg"
    f.write_text(f"use {ROOT / 'ae_configs/cvpr/low'}\nnormalization = ON\n")
    with pytest.raises(ConfigError, match=f"{f}.*normalization"):
        parse(f)
    for text, what in (("x = __import__('os')\n", "not data"), ("x = (1).real\n", "not data"),
                       ("x = undefined_word\n", "undefined_word"), ("x = (1,\n", "Missing"),
                       ("x = 1\nuse ../base\n", "first line"), ("# use nothing\nx = 1\n", "first line"),
                       ("just words\n", "cannot parse"), ("x = 1 +\n", "cannot parse"),
                       ("x = 2\nx = $CPM_NO_SUCH_VAR$\n", "CPM_NO_SUCH_VAR")):
        f.write_text(text)
        with pytest.raises(ConfigError, match=what) as e:
            parse(f)
        assert str(f) in str(e.value) and "\n" not in str(e.value)
        assert isinstance(e.value, errors.LicError)
    with pytest.raises(ConfigError, match="no such config"):
        parse(tmp_path / "missing")
    (tmp_path / "a").write_text("use b\nx = 1\n")
    (tmp_path / "b").write_text("use a\ny = 1\n")
    with pytest.raises(ConfigError, match="circular"):
        parse(tmp_path / "a")
