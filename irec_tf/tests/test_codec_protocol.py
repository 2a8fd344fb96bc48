"""The shared codec conformance tests (:mod:`shared_data.codec_tests`) on the committed lossy model zoo/mini:
protocol attributes, load_codec by path / .lic / name, round trip, determinism, the golden bytes of a 32×48
file (``IREC_UPDATE_GOLDEN=1`` rewrites it), estimate_bits vs the file, refusals, 300 fuzzed files.

The golden pins what this machine type writes: the encoder's posterior and beam search are float, and every
file carries the encoder's arithmetic record (ISA, versions, TF threads, the thread variables that are set),
so the module runs with those variables unset. estimate_bits (KL at the posterior means) is 12 % below the
file here (1995 vs 2256 bits: iREC's per-block overhead, header and record), inside the default tolerance."""

import pytest
from conftest import ROOT

from shared_data import arith, codec_tests


@pytest.fixture(scope="module", autouse=True)
def _plain_arithmetic_record():
    with pytest.MonkeyPatch.context() as mp:
        for k in arith.ENV_KEYS:
            mp.delenv(k, raising=False)
        yield


globals().update(codec_tests.make("irec", ROOT / "tests/golden/protocol/lossy-32x48.lic", model=ROOT / "zoo/mini"))
