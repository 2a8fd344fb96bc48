"""Issue 17: in-process fuzzing of the decoder (shared_data.fuzz) through the Codec protocol with the zoo
model: mutated .lic files of a tiny image must only ever be refused with a LicError or decode to the clean
image (0 crash / 0 hang / 0 silent-wrong). The default suite's 300 cases are in test_codec_protocol
(shared_data.codec_tests); this is the long run (``make fuzz-hific``; FUZZ_CASES, FUZZ_SEED)."""

import os

import numpy as np
import pytest

from shared_data import codec as codec_api
from shared_data import fuzz
from shared_data.errors import LicError


@pytest.mark.slow
def test_fuzz_decoder_10k(zoo_ckpt):
    codec = codec_api.load_codec(zoo_ckpt, codec="hific")
    img = np.random.default_rng(17).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    clean = codec_api.compress(codec, img)
    n = int(os.environ.get("FUZZ_CASES", 10_000))
    rep = fuzz.run(lambda d: codec_api.decompress(codec, d), clean, (LicError,), n_cases=n,
                   seed=int(os.environ.get("FUZZ_SEED", 0)), time_limit=30.0, progress=False)
    print(rep.summary())
    assert rep.ok, rep.summary()
    assert sum(rep.counts.values()) == n
