"""The project's codec protocol (issue 16, :mod:`shared_data.codec_tests`) on the committed zoo/mini model
(portable format 3, the default): attributes, load_codec from a path / a .lic file / the codec name, round
trip, the golden bytes of a 32x48 file, estimate_bits vs the file, refusals, 300 fuzzed files."""

from pathlib import Path

from shared_data import codec_tests

ROOT = Path(__file__).resolve().parents[1]

globals().update(codec_tests.make("cpm", ROOT / "tests/golden/protocol-32x48.lic", model=ROOT / "zoo/mini"))
