"""Golden files (issue 15 item 5): committed portable files of the zoo models must decode to the pinned symbols
(sha256 of ẑ/k and ŷ) and to the committed reconstruction within 1 grey level (g_s stays float). Only the
portable path is pinned; the float path is checked by in-process round trips (test_coding, test_arith_config).
A missing golden file FAILS; ``SGA_UPDATE_GOLDEN=1`` rewrites them (from the synthetic image below), both
through :mod:`shared_data.golden`. The bytes of a fresh file are pinned by test_codec_protocol.py."""
import hashlib
import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, ZOO_BB_MODEL, ZOO_MODEL

from shared_data import container as lic
from shared_data import golden

GOLDEN = ROOT / "tests" / "golden"
CASES = {"sga-zoo.m3": ("m3", ZOO_MODEL), "sga-zoo.sga": ("sga", ZOO_MODEL),
         "sga-zoo.bb_plain": ("bb_plain", ZOO_BB_MODEL)}


def symbols_sha256(z, y) -> str:
    h = hashlib.sha256()
    for a in (z, y):
        h.update(np.ascontiguousarray(np.asarray(a, np.float64)).tobytes())
    return h.hexdigest()


def _image():
    rng = np.random.default_rng(2020)
    yy, xx = np.mgrid[0:48, 0:72]
    base = np.stack([120 + 80 * np.sin(xx / 6.0 + yy / 9.0), 100 + 60 * np.cos(yy / 4.0), (xx * 5) % 256], -1)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def _load(model_dir):
    from sga.checkpoints import load_model
    from sga.codec import open_coder

    model, _ = load_model(model_dir)
    return model, open_coder(model, 0.01)


def _update():
    from sga.inference import METHODS, IterativeInference, round_latents, with_overrides

    GOLDEN.mkdir(exist_ok=True)
    img = _image()
    x = tf.constant(img[None].astype(np.float32) / 255.0)
    table = {}
    for name, (method_name, model_dir) in CASES.items():
        model, coder = _load(model_dir)
        assert coder.portable, f"{model_dir} is not integerized"
        method = with_overrides(METHODS[method_name], its=3 if method_name == "sga" else None)
        y, z, _ = IterativeInference(model, 0.01, method, jit=False).run(x, progress=False)
        y_hat, z_hat = round_latents(model, y, z, method.grid)
        if method.grid == "bitsback":
            c, _ = coder.encode(y_hat.numpy(), method.name, *img.shape[:2])
        else:
            c = coder.encode(y_hat.numpy(), z_hat.numpy(), method.grid, method.name, *img.shape[:2])
        lic.write(GOLDEN / f"{name}.lic", c)
        yd, zd, _, _ = coder.decode_latents(coder.read(GOLDEN / f"{name}.lic"))
        np.save(GOLDEN / f"{name}.rec.npy", coder.reconstruct(yd, *img.shape[:2]))
        table[name] = {"method": method_name, "model": model_dir.name, "symbols_sha256": symbols_sha256(zd, yd)}
    (GOLDEN / "golden.json").write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def pinned():
    """The committed table (golden.json) after checking it through the project's golden convention
    (shared_data.golden: a missing file FAILS; SGA_UPDATE_GOLDEN=1 re-encodes the .lic files and rewrites it):
    the table is recomputed from the committed .lic files and must equal the committed bytes."""
    if golden.update_requested("sga"):
        _update()
    table = {}
    for name, (_method, model_dir) in CASES.items():
        for ext in (".lic", ".rec.npy"):
            if not (GOLDEN / f"{name}{ext}").is_file():
                pytest.fail(f"golden file {GOLDEN / (name + ext)} is missing; regenerate with SGA_UPDATE_GOLDEN=1")
        _, coder = _load(model_dir)
        y, z, method, _ = coder.decode_latents(coder.read(GOLDEN / f"{name}.lic"), name)
        table[name] = {"method": method, "model": model_dir.name, "symbols_sha256": symbols_sha256(z, y)}
    golden.check(GOLDEN / "golden.json", (json.dumps(table, indent=1, sort_keys=True) + "\n").encode(), "sga")
    return json.loads((GOLDEN / "golden.json").read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_file_decodes_to_pinned_symbols(pinned, name):
    _, coder = _load(CASES[name][1])
    c = coder.read(GOLDEN / f"{name}.lic")
    assert lic.unpack_ints(c.sections[0])[0] in (5, 6)  # portable formats only
    y, z, method, _ = coder.decode_latents(c, name)
    assert method == pinned[name]["method"] == CASES[name][0]
    assert symbols_sha256(z, y) == pinned[name]["symbols_sha256"]
    rec = coder.reconstruct(y, c.height, c.width)
    assert np.abs(rec.astype(int) - np.load(GOLDEN / f"{name}.rec.npy").astype(int)).max() <= 1
