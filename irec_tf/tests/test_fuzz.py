"""Issue 17: in-process fuzzing of the decoder (shared_data.fuzz) with the zoo models: mutated .lic files of a
tiny image must only ever be refused cleanly (a LicError) or decode to the clean image (0 crash / 0 hang /
0 silent-wrong), through the codec interface (:func:`shared_data.codec.decompress`). The 300-case run of every
suite is in test_codec_protocol*.py (shared_data.codec_tests); these are the slow 10k runs (``make fuzz-irec``)."""

import os

import numpy as np
import pytest
from conftest import ROOT

from shared_data import codec as codec_api
from shared_data import fuzz
from shared_data.errors import LicError


def _setup(model_dir):
    codec = codec_api.load_codec(model_dir, codec="irec")
    rng = np.random.default_rng(17)
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return (lambda data: codec_api.decompress(codec, data)), codec_api.compress(codec, img)


def _run(setup, n, seed):
    decode, clean = setup
    rep = fuzz.run(decode, clean, (LicError,), n_cases=n, seed=seed, time_limit=30.0, progress=False)
    print(rep.summary())
    assert rep.ok, rep.summary()
    assert sum(rep.counts.values()) == n
    return rep


@pytest.mark.slow
def test_fuzz_decoder_10k():
    _run(_setup(ROOT / "zoo" / "mini"), int(os.environ.get("FUZZ_CASES", 10_000)),
         seed=int(os.environ.get("FUZZ_SEED", 0)))


@pytest.mark.slow
def test_fuzz_lossless_decoder_10k():
    """The lossless zoo model (residual section, image check over the cropped image)."""
    _run(_setup(ROOT / "zoo" / "mini-lossless"), int(os.environ.get("FUZZ_CASES", 10_000)),
         seed=int(os.environ.get("FUZZ_SEED", 0)))
