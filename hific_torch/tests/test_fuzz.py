"""Issue 17: in-process fuzzing of the decoder (shared_data.fuzz) with the zoo model: mutated .lic files of a
tiny image must only ever be refused cleanly or decode to the clean image (0 crash / 0 hang / 0 silent-wrong)."""

import os

import numpy as np
import pytest
import torch
from hific.checkpoints import default_model_path, load_checkpoint
from hific.codec import decode_image, encode_image

from shared_data import container as ctr
from shared_data import fuzz


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    path = default_model_path()
    if not path.is_file():
        pytest.skip(f"no committed checkpoint at {path}")
    model, _ = load_checkpoint(path)
    img = np.random.default_rng(17).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    c, _ = encode_image(model, img)

    def decode(data: bytes) -> np.ndarray:
        return decode_image(model, ctr.unpack(data, codec="hific"))[0]

    return decode, ctr.pack(c)


def _run(setup, n, seed):
    decode, clean = setup
    rep = fuzz.run(decode, clean, (ctr.ContainerError,), n_cases=n, seed=seed, time_limit=30.0, progress=False)
    print(rep.summary())
    assert rep.ok, rep.summary()
    assert sum(rep.counts.values()) == n
    return rep


def test_fuzz_decoder(setup):
    _run(setup, 300, seed=0)


@pytest.mark.slow
def test_fuzz_decoder_10k(setup):
    _run(setup, int(os.environ.get("FUZZ_CASES", 10_000)), seed=int(os.environ.get("FUZZ_SEED", 0)))
