"""Issue 16: the L3C codec through the project's one interface (:mod:`shared_data.codec_tests`: protocol,
round trip, golden bytes, estimate vs file, refusals, 300 fuzzed files) with the committed zoo/mini model."""

from pathlib import Path

from shared_data import codec_tests

ROOT = Path(__file__).resolve().parents[1]

globals().update(codec_tests.make("l3c", ROOT / "tests/golden/protocol-32x48.lic", model=ROOT / "zoo/mini"))
