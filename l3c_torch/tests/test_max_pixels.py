"""Bounded memory (issue 17): ``python -m l3c encode`` / ``decode`` refuse an image above the pixel limit
(``shared_data.limits``, default 2^24 = 16,777,216 pixels, CPM's encoder 2^23; ``--max-pixels`` raises it) up front — one
line naming the file, the limit and the flag, before the PNG is decoded or a model loaded — for a
12000×12000 PNG and for a container whose header declares 12000×12000. The 4K peak RSS per codec is
measured by ``bench.py --rss`` (root README, "Reliability")."""

import sys
from pathlib import Path

import pytest

from shared_data import limits

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def big_png(tmp_path_factory):
    return limits.write_constant_png(tmp_path_factory.mktemp("big") / "big12k.png", 12000, 12000)


def test_default_limit_admits_4k_and_refuses_12000_squared():
    for cmd in ("encode", "decode"):
        assert 3840 * 2160 <= limits.default_max_pixels("l3c", cmd) < 12000 * 12000


def test_huge_encode_is_refused_up_front(big_png, tmp_path):
    out = tmp_path / "o.lic"
    err, wall, cpu = limits.run_cli_refusal([sys.executable, "-m", "l3c", "encode", big_png, out], big_png, out, ROOT)
    assert "12000x12000" in err and f"{limits.default_max_pixels('l3c', 'encode'):,}" in err and "l3c encoder" in err
    assert cpu < 5, f"{cpu:.1f} s of CPU to refuse (wall {wall:.1f} s): the check is not up front"


def test_forged_huge_container_is_refused_up_front(tmp_path):
    p = limits.forged_container(tmp_path / "forged.lic", "l3c", 12000, 12000)
    out = tmp_path / "o.png"
    err, wall, cpu = limits.run_cli_refusal([sys.executable, "-m", "l3c", "decode", p, out], p, out, ROOT)
    assert "l3c decoder" in err and cpu < 5, (err, cpu)


def test_flag_is_wired_and_raising_the_limit_admits_the_image(big_png):
    import subprocess
    r = subprocess.run([sys.executable, "-m", "l3c", "decode", "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert limits.FLAG in r.stdout, r.stdout
    limits.precheck("encode", big_png, 12000 * 12000, "l3c")  # raised to its size: admitted
    limits.precheck("encode", big_png, 0, "l3c")  # 0: no limit
