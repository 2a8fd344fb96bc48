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


def test_model_paths(tmp_path):
    """--model / load_codec: a checkpoint file, or a folder naming ``hific_<folder>.pt`` or holding one hific
    checkpoint; ``is_model`` reads only the archive's small pickle (a .pt of another kind is not a model)."""
    import shutil

    import pytest
    import torch
    from hific import codec as hc

    from shared_data.errors import ModelError

    zoo = ROOT / "zoo" / "mini"
    assert hc.model_file(zoo) == zoo / "hific_mini.pt" and hc.model_file(None) == hc.DEFAULT_MODEL
    assert hc.is_model(zoo) and hc.is_model(zoo / "hific_mini_stage1.pt")
    assert not hc.is_model(ROOT / "README.md") and not hc.is_model(tmp_path / "absent.pt")
    torch.save({"format": "something/1", "state_dict": {}}, tmp_path / "other.pt")
    assert not hc.is_model(tmp_path / "other.pt") and not hc.is_model(tmp_path)
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(zoo / "hific_mini_stage1.pt", one / "a.pt")
    assert hc.model_file(one) == one / "a.pt"
    shutil.copy(zoo / "hific_mini.pt", one / "b.pt")
    with pytest.raises(ModelError, match="2 hific checkpoints"):
        hc.model_file(one)
