"""shared_data.speed: the zoo scripts' case tables."""

import json

import pytest

from shared_data.speed import run_cases


class Bad(ValueError):
    pass


def test_run_cases_rows_and_file(tmp_path, capsys):
    seen = []
    table = {"base": {}, "fast": {"threads": 2, "bf16": True}}
    rows = run_cases(table, None, {"threads": 1}, lambda kw: seen.append(kw) or {"s_per_step": 0.5},
                     {"recipe": "r"}, tmp_path / "sub" / "s.json")
    assert seen == [{"threads": 1}, {"threads": 2, "bf16": True}]
    assert [r["case"] for r in rows] == ["base", "fast"] and rows[1]["bf16"] and rows[0]["recipe"] == "r"
    assert json.loads((tmp_path / "sub" / "s.json").read_text()) == rows
    assert not list((tmp_path / "sub").glob("*.tmp"))
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_unknown_case_raises_before_running():
    ran = []
    with pytest.raises(Bad, match="unknown speed case 'x'"):
        run_cases({"base": {}}, "base,x", {}, lambda kw: ran.append(kw) or {}, error=Bad)
    assert ran == []
