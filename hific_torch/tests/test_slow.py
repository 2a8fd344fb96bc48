"""Slow checks (``make test-slow-hific``): the paper-size codec end to end, and all of Kodak with the zoo."""

import numpy as np
import pytest
import torch
from hific.codec import decode_image, encode_image

from shared_data import container as ctr

from .conftest import kodak_files


@pytest.mark.slow
def test_paper_size_codec_round_trip():
    from hific.config import ModelConfig
    from hific.model import HiFiC

    torch.manual_seed(0)
    m = HiFiC(ModelConfig()).eval()
    m.update()
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (70, 100, 3), dtype=np.uint8)
    cont, enc = encode_image(m, img)
    rec, dec = decode_image(m, ctr.unpack(ctr.pack(cont), codec="hific", model_fingerprint=m.fingerprint()))
    assert rec.shape == img.shape
    assert torch.equal(enc["y_sym"], dec["y_sym"]) and torch.equal(enc["z_sym"], dec["z_sym"])
    rec_tiled, _ = decode_image(m, cont, tile=2)
    assert np.abs(rec_tiled.astype(int) - rec.astype(int)).max() <= 1
    # the paper-size h_s (N = 320, C = 220) integerizes within the 2^53 bound: a portable round trip
    from hific.portable import LAYOUT_PORTABLE, integerize
    m.portable = integerize(m)
    cont, enc = encode_image(m, img)
    rec_p, dec = decode_image(m, ctr.unpack(ctr.pack(cont)))
    assert enc["layout"] == LAYOUT_PORTABLE and torch.equal(enc["y_sym"], dec["y_sym"])
    assert np.abs(rec_p.astype(int) - rec.astype(int)).mean() < 1


@pytest.mark.slow
def test_zoo_all_kodak_round_trips(zoo_ckpt):
    files = kodak_files()
    if not files:
        pytest.skip("Kodak not found (set KODAK_DIR)")
    from hific.checkpoints import load_checkpoint

    from shared_data.imageio import read_image

    model, _ = load_checkpoint(zoo_ckpt)
    for f in files:
        img = read_image(f)
        cont, enc = encode_image(model, img)
        _, dec = decode_image(model, ctr.unpack(ctr.pack(cont)))
        assert torch.equal(enc["y_sym"], dec["y_sym"]), f.name
