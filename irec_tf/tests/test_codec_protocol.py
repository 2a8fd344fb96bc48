"""The shared codec conformance tests (:mod:`shared_data.codec_tests`) on the committed lossy model zoo/mini:
protocol attributes, load_codec by path / .lic / name, round trip, determinism, the golden bytes of a 32×48
file (``IREC_UPDATE_GOLDEN=1`` rewrites it), estimate_bits vs the file, refusals, 300 fuzzed files.

The golden pins what this machine type writes: the encoder's posterior and beam search are float, and every
file carries the encoder's arithmetic record (ISA, versions, TF threads, the variables the process started
with), so the module records none of the caller's variables (rec.START_ENV). estimate_bits (KL at the
posterior means) is 12 % below the file here (1995 vs 2256 bits: iREC's per-block overhead, header and
record), inside the default tolerance."""

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


globals().update(codec_tests.make("irec", ROOT / "tests/golden/protocol/lossy-32x48.lic", model=ROOT / "zoo/mini"))
