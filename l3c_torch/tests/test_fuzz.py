"""Issue 17: in-process fuzzing of the decoder (shared_data.fuzz) with the zoo model: mutated .lic files of a
tiny image must only ever be refused cleanly or decode to the clean image (0 crash / 0 hang / 0 silent-wrong)."""

import os

import numpy as np
import pytest
import torch
from l3c.coding import check_model, decode_container, encode_array
from l3c.model_io import load_model

from shared_data import container as ctr
from shared_data import fuzz

SIDE = int(os.environ.get("FUZZ_SIDE", 32))


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    net, fp, _ = load_model()
    img = np.random.default_rng(17).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    clean = ctr.pack(encode_array(net, img, fp).container)

    def decode(data: bytes) -> np.ndarray:
        c = ctr.unpack(data, codec="l3c")
        check_model(net, c, fp)
        return decode_container(net, c)[0]

    return decode, clean


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
