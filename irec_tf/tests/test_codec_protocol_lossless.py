"""The shared codec conformance tests (:mod:`shared_data.codec_tests`) on the committed lossless model
zoo/mini-lossless (decoded bit-exactly), with the golden bytes of a 16×24 file (``IREC_UPDATE_GOLDEN=1``
rewrites it); see test_codec_protocol.py. estimate_bits (KL at the posterior means + −log₂ p(x|ẑ)) is 16 %
below the file here (8234 vs 9752 bits), inside the default tolerance."""

import pytest
import rec
from conftest import ROOT

from shared_data import codec_tests


@pytest.fixture(scope="module", autouse=True)
def _plain_arithmetic_record():
    """The record names no variables of the caller's shell (LIC_THREADS=1 make test writes the same bytes)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rec, "START_ENV", {})
        yield


globals().update(codec_tests.make("irec", ROOT / "tests/golden/protocol/lossless-16x24.lic",
                                  model=ROOT / "zoo/mini-lossless", size=(16, 24)))
