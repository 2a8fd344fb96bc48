"""The shared Codec protocol (shared_data.codec_tests) on the committed zoo model: attributes, load_codec by
path / .lic / codec name, round trip, determinism, golden bytes, estimate_bits vs the file, refusals of bad
arrays and of another model's file, 300 fuzzed files (0 crash / hang / silent-wrong)."""

from pathlib import Path

from shared_data import codec_tests

from . import _golden as gd

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests/golden/protocol-32x48.lic"

globals().update(codec_tests.make("hific", GOLDEN, model=ROOT / "zoo/mini"))


def test_golden_bytes(protocol_encoded):  # noqa: F811 - replaces codec_tests' byte-for-byte version
    """The golden bytes with this machine's arithmetic record (section 1, and the CRC that covers it) put back
    to the golden file's: the record names the CPU ISA and thread settings by design (tests/_golden.py)."""
    gd.check_file(GOLDEN, protocol_encoded[1])
