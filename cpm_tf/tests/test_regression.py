"""Regression of the committed zoo/mini model on two Kodak crops against zoo/mini/regression.json.

Tolerances: real bpp may grow by at most 1 % and PSNR drop by 0.05 dB, MS-SSIM by 0.001 (CPU float noise
only: the model and coder are deterministic on one platform). CPM_UPDATE_GOLDEN=1 rewrites the file.
"""

import json

import pytest
from cpm.codec import DEFAULT_MODEL
from cpm.evaluate import evaluate_image

from shared_data import golden
from shared_data.imageio import atomic_write_bytes, read_image

CROPS = {"kodim01_crop256": ("kodim01.png", 128, 256), "kodim07_crop256": ("kodim07.png", 100, 300)}


def test_zoo_mini_regression(zoo_codec, kodak_dir):
    path = DEFAULT_MODEL / "regression.json"
    rows = {}
    for name, (f, y, x) in CROPS.items():
        img = read_image(kodak_dir / f)[y:y + 256, x:x + 256]
        r = evaluate_image(zoo_codec, img, name)
        rows[name] = {k: r[k] for k in ("bpp", "bpp_estimated", "bpp_factorized", "psnr", "ms-ssim")}
    if golden.update_requested("cpm"):  # the project's golden convention (shared_data.golden)
        atomic_write_bytes(path, (json.dumps(rows, indent=1) + "\n").encode())
    if not path.exists():
        pytest.fail(f"{path} missing; run with CPM_UPDATE_GOLDEN=1 to create it")
    ref = json.loads(path.read_text())
    for name, r in rows.items():
        e = ref[name]
        assert r["bpp"] <= e["bpp"] * 1.01, (name, r, e)
        assert r["psnr"] >= e["psnr"] - 0.05, (name, r, e)
        assert r["ms-ssim"] >= e["ms-ssim"] - 0.001, (name, r, e)
        # the paper's claim on real images: the context model beats the best factorized model of the symbols
        assert r["bpp"] < r["bpp_factorized"], (name, r)
