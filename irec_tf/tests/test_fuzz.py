"""Issue 17: in-process fuzzing of the decoder (shared_data.fuzz) with the zoo model: mutated .lic files of a
tiny image must only ever be refused cleanly or decode to the clean image (0 crash / 0 hang / 0 silent-wrong)."""

import os

import numpy as np
import pytest
from rec.codec import DEFAULT_MODEL_DIR, compress, decompress, load_model
from rec.portable import PortableError

from shared_data import fuzz
from shared_data.container import ContainerError


def _setup(tmp_path_factory, model_dir=None):
    lm = load_model(model_dir)
    rng = np.random.default_rng(17)
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    d = tmp_path_factory.mktemp("fuzz")
    clean_path, case = d / "clean.lic", d / "case.lic"
    compress(lm, img, clean_path)

    def decode(data: bytes) -> np.ndarray:
        case.write_bytes(data)
        return decompress(lm, case)

    return decode, clean_path.read_bytes()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return _setup(tmp_path_factory)


def _run(setup, n, seed):
    decode, clean = setup
    rep = fuzz.run(decode, clean, (ContainerError, PortableError), n_cases=n, seed=seed, time_limit=30.0,
                   progress=False)
    print(rep.summary())
    assert rep.ok, rep.summary()
    assert sum(rep.counts.values()) == n
    return rep


def test_fuzz_decoder(setup):
    _run(setup, 300, seed=0)


@pytest.mark.slow
def test_fuzz_decoder_10k(setup):
    _run(setup, int(os.environ.get("FUZZ_CASES", 10_000)), seed=int(os.environ.get("FUZZ_SEED", 0)))


@pytest.mark.slow
def test_fuzz_lossless_decoder_10k(tmp_path_factory):
    """The lossless zoo model (residual section, image check over the cropped image)."""
    setup = _setup(tmp_path_factory, DEFAULT_MODEL_DIR.parent / "mini-lossless")
    _run(setup, int(os.environ.get("FUZZ_CASES", 10_000)), seed=int(os.environ.get("FUZZ_SEED", 0)))
