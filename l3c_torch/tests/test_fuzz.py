"""Issue 17: in-process fuzzing of the decoder (shared_data.fuzz) with the zoo model, through the codec protocol
(``shared_data.codec.decompress``): mutated .lic files of a tiny image must only ever be refused cleanly or decode
to the clean image (0 crash / 0 hang / 0 silent-wrong). The default suite runs 300 cases in
``test_codec_protocol.py`` (shared_data.codec_tests); this is the slow >= 10,000-case run (``make fuzz-l3c``)."""

import os

import numpy as np
import pytest

from shared_data import codec as codec_api
from shared_data import fuzz, threads
from shared_data.errors import LicError

SIDE = int(os.environ.get("FUZZ_SIDE", 32))


@pytest.fixture(scope="module")
def setup():
    threads.limit(1)
    codec = codec_api.load_codec(None, codec="l3c")
    img = np.random.default_rng(17).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    return (lambda data: codec_api.decompress(codec, data)), codec_api.compress(codec, img)


@pytest.mark.slow
def test_fuzz_decoder_10k(setup):
    decode, clean = setup
    n = int(os.environ.get("FUZZ_CASES", 10_000))
    rep = fuzz.run(decode, clean, (LicError,), n_cases=n, seed=int(os.environ.get("FUZZ_SEED", 0)), time_limit=30.0,
                   progress=False)
    print(rep.summary())
    assert rep.ok, rep.summary()
    assert sum(rep.counts.values()) == n
