"""Issue 17: in-process fuzzing of the decoder (shared_data.fuzz) with the zoo model, through the codec protocol
(``shared_data.codec.decompress``): mutated .lic files of a tiny image must only ever be refused with a LicError
or decode to the clean image (0 crash / 0 hang / 0 silent-wrong). The default suite's 300 cases are
``tests/test_codec_protocol.py`` (shared_data.codec_tests); this is the slow 10,000-case run (``make fuzz-cpm``)."""

import os

import numpy as np
import pytest

from shared_data import codec as codec_api
from shared_data import fuzz
from shared_data.errors import LicError


@pytest.fixture(scope="module")
def setup(zoo_codec):
    rng = np.random.default_rng(17)
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return (lambda data: codec_api.decompress(zoo_codec, data)), codec_api.compress(zoo_codec, img)


@pytest.mark.slow
def test_fuzz_decoder_10k(setup):
    decode, clean = setup
    n = int(os.environ.get("FUZZ_CASES", 10_000))
    rep = fuzz.run(decode, clean, (LicError,), n_cases=n, seed=int(os.environ.get("FUZZ_SEED", 0)), time_limit=30.0,
                   progress=False)
    print(rep.summary())
    assert rep.ok, rep.summary()
    assert sum(rep.counts.values()) == n
