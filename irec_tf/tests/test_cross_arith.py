"""Cross-arithmetic test (issue 15): encode under one arithmetic configuration, decode under another, each in a
fresh process (shared_data.arith.run), for every pair of shared_data.arith.CROSS_PAIRS; plus every committed
golden file decoded under emulated other CPUs (sse-cpu-1thread, avx2-cpu).

Portable files (format 3): lossless bit-exact, lossy identical latents (the symbols' meaning) and a
reconstruction within one grey level. The float path (format 2) runs alongside and must fail for at least
one pair — the reason the portable format exists. Batched: one process per configuration (tests/_cross_arith.py).
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import KODAK_DIR, ROOT

from shared_data import arith

DRIVER = ROOT / "tests" / "_cross_arith.py"
GOLDEN = ROOT / "tests" / "golden"
GOLDEN_EMULATIONS = ("sse-cpu-1thread", "avx2-cpu")


def _drive(args, emulation):
    p = arith.run([sys.executable, str(DRIVER), *args], emulation, cwd=ROOT, timeout=600)
    assert p.returncode == 0, f"driver under {emulation} failed: {p.stderr[-2000:]}"


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """{(enc, dec): {file name: result}} for every pair, and {emulation: {golden: result}}."""
    goldens = sorted(GOLDEN.glob("*.lic"))
    assert goldens, f"no golden files in {GOLDEN} (IREC_UPDATE_GOLDEN=1 pytest tests/test_portable.py writes them)"
    tmp = tmp_path_factory.mktemp("xarith")
    encs = sorted({e for e, _ in arith.CROSS_PAIRS} | set(GOLDEN_EMULATIONS))
    decs = sorted({d for _, d in arith.CROSS_PAIRS})

    def encode(name):
        args = ["--result", str(tmp / f"enc-{name}.json")]
        if name in {e for e, _ in arith.CROSS_PAIRS}:
            args += ["--encode", str(tmp / f"enc-{name}")]
        if name in GOLDEN_EMULATIONS:
            args += ["--goldens", str(GOLDEN)]
        _drive(args, name)

    def decode(name):
        dirs = [str(tmp / f"enc-{e}") for e, d in arith.CROSS_PAIRS if d == name]
        _drive(["--decode", *dirs, "--result", str(tmp / f"dec-{name}.json")], name)

    with ThreadPoolExecutor(2) as pool:   # the 2-core budget: two configurations at a time
        list(pool.map(encode, encs))
        list(pool.map(decode, decs))
    pairs = {}
    for e, d in arith.CROSS_PAIRS:
        res = json.loads((tmp / f"dec-{d}.json").read_text())
        pairs[(e, d)] = {Path(k).name: v for k, v in res.items() if Path(k).parent.name == f"enc-{e}"}
    gold = {}
    for name in GOLDEN_EMULATIONS:
        res = json.loads((tmp / f"enc-{name}.json").read_text())
        gold[name] = {Path(k).name: v for k, v in res.items() if not k.startswith("_")}
    return pairs, gold


def _assert_portable(results, which):
    files = {k: v for k, v in results.items() if ".portable." in k and k.startswith(which)}
    assert files, f"no portable {which} files"
    for name, r in files.items():
        assert r["ok"], f"{name}: {r.get('error')}"
        assert r["latents_equal"], f"{name}: latents differ"
        if ".lossless." in name:
            assert r["exact"], f"{name}: lossless decode not bit-exact"
        else:
            assert r["max_diff"] <= 1, f"{name}: reconstruction differs by {r['max_diff']} grey levels"


@pytest.mark.parametrize("pair", arith.CROSS_PAIRS, ids=[f"{e}->{d}" for e, d in arith.CROSS_PAIRS])
def test_portable_synthetic_decodes_under_other_arithmetic(outcome, pair):
    _assert_portable(outcome[0][pair], "synth")


@pytest.mark.skipif(not (KODAK_DIR / "kodim01.png").is_file(), reason=f"Kodak not found at {KODAK_DIR} "
                    "(set KODAK_DIR)")
@pytest.mark.parametrize("pair", arith.CROSS_PAIRS, ids=[f"{e}->{d}" for e, d in arith.CROSS_PAIRS])
def test_portable_kodak_crops_decode_under_other_arithmetic(outcome, pair):
    _assert_portable(outcome[0][pair], "kodim")


@pytest.mark.parametrize("emulation", GOLDEN_EMULATIONS)
def test_goldens_decode_under_emulated_cpus(outcome, emulation):
    res = outcome[1][emulation]
    assert len(res) == len(list(GOLDEN.glob("*.lic")))
    for name, r in res.items():
        assert r["ok"], f"{name} under {emulation}: {r.get('error')}"
        assert r["latents_equal"] and (r["exact"] if ".lossless." in name else r["max_diff"] <= 1), (name, r)


def _float_failures(outcome):
    """Pairs under which some float-path file did not decode to the encoder's result."""
    bad = {}
    for pair, results in outcome[0].items():
        for name, r in results.items():
            if ".float." in name and (not r["ok"] or not r["exact"]):
                bad.setdefault(pair, []).append(name)
    return bad


def test_float_path_fails_under_some_pair(outcome):
    """THE DEMONSTRATION: the same images on the float path (format 2) do not survive every pair."""
    bad = _float_failures(outcome)
    assert bad, "every float-path file decoded under every pair: the cross-arithmetic test cannot tell"
    for pair, names in bad.items():   # and each failure is an error naming the check, never a wrong image
        for name in names:
            r = outcome[0][pair][name]
            assert not r["ok"] and "check value" in r["error"], (pair, name, r)
