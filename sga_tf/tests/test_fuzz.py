"""Issue 17: in-process fuzzing of the decoder (shared_data.fuzz) through the codec protocol's decode
(``shared_data.codec.decompress`` of ``sga.codec``) with the zoo models: mutated .lic files of a tiny image must
only ever be refused cleanly (a LicError) or decode to the clean image (0 crash / 0 hang / 0 silent-wrong).
The default 300 cases run in test_codec_protocol.py (shared_data.codec_tests); here: the regression cases, and
slow: 10,000 cases of a range-coded (M3) file and of a bits-back (A6) file (``FUZZ_CASES``, ``FUZZ_SEED``)."""

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import ZOO_BB_MODEL, ZOO_MODEL

from shared_data import codec as codec_api
from shared_data import container as lic
from shared_data import fuzz
from shared_data.errors import LicError


def _image():
    rng = np.random.default_rng(17)
    return rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)


def _load(model_dir):
    from sga.codec import load_codec

    if not (model_dir / "args.json").is_file():
        pytest.fail(f"committed model {model_dir} is missing (it is part of the repository)")
    codec = load_codec(model_dir)
    return codec, (lambda data: codec_api.decompress(codec, data))


@pytest.fixture(scope="module")
def m3_case():
    """The M3 file of the 10k runs since issue 17 (the bytes the seed-0 cases, e.g. case 1458, were found on)."""
    from sga.inference import round_latents

    codec, decode = _load(ZOO_MODEL)
    model = codec.model
    x = tf.constant(_image()[None].astype(np.float32) / 255.0)
    y = model.analysis_transform(x)
    y_hat, z_hat = round_latents(model, y, model.hyper_analysis_transform(y), "offset")
    return decode, lic.pack(codec.coder.encode(y_hat.numpy(), z_hat.numpy(), "offset", "m3", 32, 32))


@pytest.fixture(scope="module")
def bb_case():
    codec, decode = _load(ZOO_BB_MODEL)
    assert codec.method.name == "bb_plain"
    return decode, codec_api.compress(codec, _image())


def _run(case, n, seed):
    decode, clean = case
    rep = fuzz.run(decode, clean, (LicError,), n_cases=n, seed=seed, time_limit=30.0, progress=False)
    print(rep.summary())
    assert rep.ok, rep.summary()
    assert sum(rep.counts.values()) == n
    return rep


def test_forged_image_size_is_refused(m3_case):
    """The known silent-wrong case before the fix: the container's 32x32 changed to 31x32 (CRC recomputed)
    decoded to a 31x32 image; the symbol CRC of new files covers H x W."""
    decode, clean = m3_case
    c = lic.unpack(clean, codec="sga")
    forged = lic.pack(lic.Container(c.codec, c.fingerprint, 31, c.width, c.sections))
    with pytest.raises(lic.ContainerError, match="image size"):
        decode(forged)


def test_cut_y_string_does_not_hang(m3_case):
    """The hang the 10k fuzz found (seed 0, case 1458, ``payload/cut``: the y string cut, lengths and CRC
    consistent): tfc's range decoder never returned; the bounded decoder (sga.rangecoder) refuses it."""
    decode, clean = m3_case
    name, data = fuzz.make_case(clean, seed=0, index=1458)
    assert name.startswith("payload/cut") and data != clean
    outcome, detail = fuzz.classify(decode, data, clean, decode(clean), (LicError,), time_limit=30.0)
    assert outcome == "clean-error" and "Elias-gamma" in detail, (outcome, detail)


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_fuzz_decoder_10k(m3_case):
    _run(m3_case, int(os.environ.get("FUZZ_CASES", 10_000)), seed=int(os.environ.get("FUZZ_SEED", 0)))


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_fuzz_bits_back_decoder_10k(bb_case):
    _run(bb_case, int(os.environ.get("FUZZ_CASES", 10_000)), seed=int(os.environ.get("FUZZ_SEED", 0)))
