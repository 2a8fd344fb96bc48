"""The committed MINI checkpoint: size, loadability, golden bytes of a tiny file, regression on Kodak."""

import hashlib
import os

import numpy as np
import pytest
from hific.coding import encode_symbols
from hific.model import load_checkpoint

from shared_data import container as ctr
from shared_eval.measures import read_measures

from .conftest import ROOT, kodak_files

# Refresh with HIFIC_REFRESH_GOLDEN=1 after an intended change of the zoo model or the coder.
GOLDEN_SHA256 = "1175b90a8d468f2cd9a5d9c0f32af548c98e442a8c6fa2d6df8a50667c208c8b"


def tiny_file(model) -> bytes:
    """A 64x64 file built from fixed symbols with the zoo model's stored tables: bytes depend only on the
    tables, the coder and the container (no float convolutions)."""
    z_tab, y_tab = model._coding_tables()
    cz, cy = model.cfg.hyper_channels, model.cfg.latent_channels
    z_sym = (np.arange(cz) % 3 - 1).reshape(1, cz, 1, 1)
    z_ids = np.arange(cz).reshape(1, cz, 1, 1)
    y_sym = (np.arange(cy * 16) % 5 - 2).reshape(1, cy, 4, 4)
    y_ids = (np.arange(cy * 16) % 64).reshape(1, cy, 4, 4)
    y_sym[0, 0, 0, 0] = 5000  # an escape
    sections = (ctr.pack_ints([1, 64, 64]), encode_symbols(z_sym, z_ids, z_tab), encode_symbols(y_sym, y_ids, y_tab))
    return ctr.pack(ctr.Container("hific", model.fingerprint(), 64, 64, sections))


def test_zoo_checkpoint_and_golden_bytes(zoo_ckpt):
    assert zoo_ckpt.stat().st_size <= 7 * 1024 * 1024  # integerized: float weights + int32 block
    model, meta = load_checkpoint(zoo_ckpt)
    assert model.cfg.name == "hific-mini"
    digest = hashlib.sha256(tiny_file(model)).hexdigest()
    if os.environ.get("HIFIC_REFRESH_GOLDEN"):
        print("new golden sha256:", digest)
        return
    assert digest == GOLDEN_SHA256


def test_zoo_measures_regression(zoo_ckpt):
    """Re-encode the first Kodak image: real bpp and PSNR as committed in zoo/mini/measures.csv."""
    files = kodak_files()
    if not files:
        pytest.skip("Kodak not found (set KODAK_DIR)")
    rows = {r["img_name"]: r for r in read_measures(ROOT / "zoo" / "mini" / "measures.csv")}
    f = files[0]
    if f.name not in rows:
        pytest.skip(f"{f.name} not in the committed measures")
    from shared_data.imageio import read_image
    from shared_eval.metrics import psnr

    model, _ = load_checkpoint(zoo_ckpt)
    img = read_image(f)
    cont, _ = model.compress(img)
    bpp = 8 * len(ctr.pack(cont)) / (img.shape[0] * img.shape[1])
    rec, _ = model.decompress(cont)
    assert bpp == pytest.approx(rows[f.name]["bpp"], rel=0.01)
    assert psnr(img, rec) == pytest.approx(rows[f.name]["psnr"], abs=0.1)
