"""The .cf configs through fjcommon (``l3c.config``, issue 16): every committed config parses to the values the
project's previous hand-written parser gave (pinned in ``tests/golden/configs.json``, written by that parser
before it was replaced: same keys, values, types and order), and the thin layer refuses what fjcommon would
refuse with a traceback, misread silently or execute."""
import json

import pytest
from conftest import ROOT
from l3c.config import apply_overrides, dump_cf, parse_cf

from shared_data import golden
from shared_data.errors import ConfigError

COMMITTED = sorted(p for d in ("configs", "zoo", "parity") for p in (ROOT / d).rglob("*.cf"))


def test_every_committed_config_parses_as_before():
    assert len(COMMITTED) >= 16
    got = {str(p.relative_to(ROOT)): repr(parse_cf(p)) for p in COMMITTED}
    golden.check(ROOT / "tests/golden/configs.json", (json.dumps(got, indent=1, sort_keys=True) + "\n").encode(), "l3c")


def test_fjcommon_does_the_parsing(monkeypatch):
    from fjcommon import config_parser

    calls = []
    real = config_parser.parse
    monkeypatch.setattr(config_parser, "parse", lambda p: calls.append(p) or real(p))
    assert parse_cf(ROOT / "configs/ms/cr_mini.cf")["Cf"] == 32 and calls


def test_expressions_use_and_env(tmp_path, monkeypatch):
    (tmp_path / "base.cf").write_text("a = 2\nb.c = (1,\n  2)  # multi-line\nname = 'x'\n")
    (tmp_path / "top.cf").write_text("use base.cf\n# a comment\na = 3\nd = a * 4\ne = '$L3C_TEST_DIR$/v'\n")
    monkeypatch.setenv("L3C_TEST_DIR", "/data")
    assert parse_cf(tmp_path / "top.cf") == {"a": 3, "b.c": (1, 2), "name": "x", "d": 12, "e": "/data/v"}


@pytest.mark.parametrize("text,match", [
    ("# a comment\nuse base.cf\nx = 1\n", "must be the first line"),
    ("# because of a comment\nx = 1\n", "first line containing 'use'"),
    ("x = (1,\n", "Missing"),
    ("x = 1 +\n", "cannot parse value"),
    ("x = undefined_name\n", "NameError"),
    ("x = '$L3C_NO_SUCH_VAR$'\n", "not defined"),
    ("x = [i for i in range(3)]\n", "not an expression of literals"),
    ("_x = 1\n", "Invalid key"),
    ("use nowhere.cf\n", "no such config file"),
])
def test_bad_files_are_one_line_config_errors(tmp_path, text, match):
    p = tmp_path / "bad.cf"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        parse_cf(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_a_config_cannot_run_code(tmp_path):
    marker = tmp_path / "ran"
    p = tmp_path / "evil.cf"
    p.write_text(f"x = open({str(marker)!r}, 'w')\n")
    with pytest.raises(ConfigError, match="Call refused"):
        parse_cf(p)
    p.write_text("x = ().__class__\n")
    with pytest.raises(ConfigError, match="Attribute refused"):
        parse_cf(p)
    assert not marker.exists()


def test_circular_use(tmp_path):
    (tmp_path / "a.cf").write_text("use b.cf\nx = 1\n")
    (tmp_path / "b.cf").write_text("use a.cf\ny = 1\n")
    with pytest.raises(ConfigError, match="circular"):
        parse_cf(tmp_path / "a.cf")


def test_overrides_and_dump_round_trip(tmp_path):
    ms, dl = parse_cf(ROOT / "configs/ms/cr.cf"), parse_cf(ROOT / "configs/dl/oi.cf")
    assert apply_overrides(ms, ["lr.schedule=exp_0.75_e1", "crop_size=64"], dl) == ["lr.schedule=exp_0.75_e1",
                                                                                    "crop_size=64"]
    with pytest.raises(ConfigError, match="Unused params.*upsampling"):
        apply_overrides(ms, ["upsampling=deconv"], dl)
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(ms, ["novalue"])
    p = tmp_path / "resolved.cf"
    p.write_text(dump_cf(ms, note="resolved from /home/user/configs (copy/cr.cf"))  # 'use' and a bracket
    assert parse_cf(p) == ms
