"""The committed MINI checkpoint: size, loadability, golden bytes of a tiny file, regression on Kodak."""

import numpy as np
import pytest
from hific.checkpoints import load_checkpoint
from hific.codec import decode_image, encode_image
from hific.coding import encode_symbols

from shared_data import container as ctr
from shared_data import golden
from shared_eval.measures_csv import read_measures

from . import _golden as gd
from .conftest import ROOT, kodak_files

GOLDEN_FILE = gd.GOLDEN / "tiny_tables.lic"


def tiny_file(model) -> bytes:
    """A 64x64 portable file built from fixed symbols with the zoo model's stored integer tables: its bytes
    depend only on those integers, the coder and the container (no float arithmetic at all)."""
    z_tab, y_tab = model._coding_tables(portable=True)
    cz, cy = model.cfg.hyper_channels, model.cfg.latent_channels
    z_sym = (np.arange(cz) % 3 - 1).reshape(1, cz, 1, 1)
    z_ids = np.arange(cz).reshape(1, cz, 1, 1)
    y_sym = (np.arange(cy * 16) % 5 - 2).reshape(1, cy, 4, 4)
    y_ids = (np.arange(cy * 16) % 64).reshape(1, cy, 4, 4)
    y_sym[0, 0, 0, 0] = 5000  # an escape
    sections = (ctr.pack_ints([1, 64, 64]), encode_symbols(z_sym, z_ids, z_tab), encode_symbols(y_sym, y_ids, y_tab))
    return ctr.pack(ctr.Container("hific", model.portable_fingerprint(), 64, 64, sections))


def test_zoo_checkpoint_and_golden_bytes(zoo_ckpt):
    """Golden bytes (tests/golden/tiny_tables.lic, shared_data.golden: a missing file fails,
    HIFIC_UPDATE_GOLDEN=1 rewrites)."""
    assert zoo_ckpt.stat().st_size <= 7 * 1024 * 1024  # integerized: float weights + int32 block
    model, meta = load_checkpoint(zoo_ckpt)
    assert model.cfg.name == "hific-mini"
    golden.check(GOLDEN_FILE, tiny_file(model), "hific")


def test_zoo_measures_regression(zoo_ckpt):
    """Re-encode the first Kodak image: real bpp and PSNR as committed in zoo/mini/measures.csv."""
    files = kodak_files()
    if not files:
        pytest.skip("Kodak not found (set KODAK_DIR)")
    rows = {r["img_name"]: r for r in read_measures(ROOT / "zoo" / "mini" / "measures.csv")}
    f = files[0]
    assert f.name in rows, f"{f.name} is missing from the committed zoo/mini/measures.csv"
    from shared_data.imageio import read_image
    from shared_eval.metrics import psnr

    model, _ = load_checkpoint(zoo_ckpt)
    img = read_image(f)
    cont, _ = encode_image(model, img)
    bpp = 8 * len(ctr.pack(cont)) / (img.shape[0] * img.shape[1])
    rec, _ = decode_image(model, cont)
    assert bpp == pytest.approx(rows[f.name]["bpp"], rel=0.01)
    assert psnr(img, rec) == pytest.approx(rows[f.name]["psnr"], abs=0.1)
