"""Real image pairs for the metric cross-checks: Kodak crops (when KODAK_DIR has them) and the
scikit-image sample photos, each against a JPEG-compressed version of itself."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared_data.imageio import read_image, sample_images


def _jpeg(img: np.ndarray, q: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _pairs():
    out = []
    for name, img in sample_images(("astronaut", "coffee", "rocket")).items():
        crop = img[:256, :384] if img.shape[0] >= 256 and img.shape[1] >= 384 else img[:256, :256]
        out.append(pytest.param(crop, _jpeg(crop, 15), id=f"skimage-{name}"))
    kodak = Path(os.environ.get("KODAK_DIR", Path(__file__).resolve().parents[3] / "shared/data/kodak"))
    for i in (1, 7, 19, 23):
        p = kodak / f"kodim{i:02d}.png"
        mark = pytest.mark.skipif(not p.is_file(), reason=f"Kodak image {p} not present (set KODAK_DIR)")
        if p.is_file():
            img = read_image(p)[128:384, 192:576]
            out.append(pytest.param(img, _jpeg(img, 10 + 10 * (i % 3)), id=f"kodim{i:02d}", marks=mark))
        else:
            out.append(pytest.param(None, None, id=f"kodim{i:02d}", marks=mark))
    return out


PAIRS = _pairs()
