"""The pixel-limit CLI tests (issue 17) that every sub-project runs in its own environment.

``python -m <codec> encode`` / ``decode`` refuse an image above the pixel limit (:mod:`shared_data.limits`;
``--max-pixels`` raises it) up front — one line naming the file, the limit and the flag, before the PNG is
decoded or a model loaded — for a 12000×12000 PNG and for a container whose header declares 12000×12000.
"Up front" is checked as CPU time (< 5 s: interpreter start and argument parsing, no TensorFlow/torch import),
not wall time, which a loaded machine inflates. Use, in ``<sub-project>/tests/test_max_pixels.py``::

    globals().update(limits_tests.make("cpm", ROOT))
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from . import limits

MAX_CPU_S = 5.0


def make(codec: str, root: Path, module: str | None = None) -> dict:
    """The fixture and tests for ``python -m <module>`` (default: the codec's name) run from ``root``, to be put in
    a test module's globals."""
    module = module or codec

    @pytest.fixture(scope="module")
    def big_png(tmp_path_factory):
        return limits.write_constant_png(tmp_path_factory.mktemp("big") / "big12k.png", 12000, 12000)

    def test_default_limit_admits_4k_and_refuses_12000_squared():
        for cmd in ("encode", "decode"):
            assert 3840 * 2160 <= limits.default_max_pixels(codec, cmd) < 12000 * 12000

    def test_huge_encode_is_refused_up_front(big_png, tmp_path):
        out = tmp_path / "o.lic"
        err, wall, cpu = limits.run_cli_refusal([sys.executable, "-m", module, "encode", big_png, out], big_png, out,
                                                root)
        assert "12000x12000" in err and f"{limits.default_max_pixels(codec, 'encode'):,}" in err, err
        assert f"{codec} encoder" in err, err
        assert cpu < MAX_CPU_S, f"{cpu:.1f} s of CPU to refuse (wall {wall:.1f} s): the check is not up front"

    def test_forged_huge_container_is_refused_up_front(tmp_path):
        p = limits.forged_container(tmp_path / "forged.lic", codec, 12000, 12000)
        out = tmp_path / "o.png"
        err, wall, cpu = limits.run_cli_refusal([sys.executable, "-m", module, "decode", p, out], p, out, root)
        assert f"{codec} decoder" in err and cpu < MAX_CPU_S, (err, cpu)

    def test_raised_limit_is_refused_for_memory_up_front(big_png, tmp_path):
        """Issue 17: 12000x12000 with the pixel limit raised (``--max-pixels 0``) completes within 8 GB or is
        refused for memory with the same clarity. A codec whose estimate (:func:`limits.estimated_peak_bytes`)
        is above 8 GB at 144 M pixels is refused under an 8 GiB budget; one below it (tiled CPM: ≈ 3.4 GiB) is
        admitted there (its real 12000² run is a slow test) and is checked here under a budget below its
        estimate — the same up-front, one-line refusal."""
        out = tmp_path / "o.lic"
        est = limits.estimated_peak_bytes(codec, "encode", 12000 * 12000)
        assert est is not None, f"no memory figure for {codec}"
        budget = 8 if est > 8 * limits.GiB else max(1, int(est / limits.GiB) - 1)
        err, wall, cpu = limits.run_cli_refusal([sys.executable, "-m", module, "encode", big_png, out,
                                                 limits.FLAG, "0"], big_png, out, root,
                                                env={limits.MEMORY_VAR: f"{budget}G"}, memory=True)
        assert "12000x12000" in err and f"{budget}.0 GiB" in err, err
        assert cpu < MAX_CPU_S, f"{cpu:.1f} s of CPU to refuse (wall {wall:.1f} s): the check is not up front"

    def test_flag_is_wired_and_raising_the_limit_admits_the_image(big_png, monkeypatch):
        monkeypatch.setenv(limits.MEMORY_VAR, "1T")
        r = subprocess.run([sys.executable, "-m", module, "decode", "--help"], cwd=root, capture_output=True,
                           text=True, timeout=300)
        assert limits.FLAG in r.stdout, r.stdout
        limits.precheck("encode", big_png, 12000 * 12000, codec)  # raised to its size: admitted
        limits.precheck("encode", big_png, 0, codec)  # 0: no limit

    return {k: v for k, v in locals().items() if k == "big_png" or k.startswith("test_")}
