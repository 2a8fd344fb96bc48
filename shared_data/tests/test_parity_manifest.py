"""shared_data.parity: the one manifest schema and loader of the parity fixtures."""

import json

import numpy as np
import pytest

from shared_data import parity


@pytest.fixture
def fx_dir(tmp_path):
    d = tmp_path / "cr"
    d.mkdir()
    np.savez(d / "orig_outputs.npz", a=np.arange(4.0), b=np.ones(2))
    (d / "sub").mkdir()
    (d / "sub" / "w.bin").write_bytes(b"weights")
    (d / "PROVENANCE.md").write_text("how it was made\n")
    man = parity.manifest(d, fixture="cr", repository="https://github.com/x/y", commit="abc", generator="tools/x.py",
                          versions={"python": "3.11"}, params={"seed": 0})
    parity.write_manifest(d, man)
    return d


def test_roundtrip_and_arrays(fx_dir):
    fx = parity.load(fx_dir, commit="abc", required=("orig_outputs.npz",), regen="tools/x.py")
    assert sorted(fx.manifest["files"]) == ["orig_outputs.npz", "sub/w.bin"]
    assert fx.name == "cr" and fx.commit == "abc" and fx.params == {"seed": 0}
    np.testing.assert_array_equal(fx.npz("orig_outputs.npz", keys=("a",))["a"], np.arange(4.0))
    with pytest.raises(parity.FixtureError, match=r"lacks \['c'\]; regenerate with tools/x.py"):
        fx.npz("orig_outputs.npz", keys=("c",))


@pytest.mark.parametrize("damage, match", [
    (lambda d: (d / "sub" / "w.bin").write_bytes(b"edited"), r"w.bin: sha256 .* differs"),
    (lambda d: (d / "sub" / "w.bin").unlink(), r"w.bin: listed in MANIFEST.json but missing"),
    (lambda d: (d / "MANIFEST.json").unlink(), r"MANIFEST.json: missing"),
    (lambda d: (d / "MANIFEST.json").write_text("{"), r"MANIFEST.json: unreadable"),
    (lambda d: (d / "MANIFEST.json").write_text(json.dumps({"commit": "abc"})), r"not a lic-parity/1 manifest"),
])
def test_every_problem_is_one_line_naming_the_file(fx_dir, damage, match):
    damage(fx_dir)
    with pytest.raises(parity.FixtureError, match=match) as e:
        parity.load(fx_dir, commit="abc")
    assert "\n" not in str(e.value)


def test_wrong_commit_or_fixture(fx_dir):
    with pytest.raises(parity.FixtureError, match="made from original commit abc, this port follows def"):
        parity.load(fx_dir, commit="def")
    with pytest.raises(parity.FixtureError, match="describes fixture 'cr', not 'other'"):
        parity.load(fx_dir, fixture="other")
    with pytest.raises(parity.FixtureError, match="does not list x.npz"):
        parity.load(fx_dir, required=("x.npz",))


def test_assert_close():
    m = {}
    assert parity.assert_close("x", [1.0, 2.0], [1.0, 2.0 + 1e-7], 1e-6, m) < 1e-6 and "x" in m
    with pytest.raises(AssertionError, match="x: relative error"):
        parity.assert_close("x", [1.0, 2.5], [1.0, 2.0], 1e-3)
    with pytest.raises(AssertionError, match="shape"):
        parity.rel_err(np.zeros(2), np.zeros(3))
