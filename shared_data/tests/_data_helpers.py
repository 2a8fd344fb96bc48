"""Shared helpers for the dataset-preparation tests (real images: Kodak, train-photos, scikit-image samples)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
KODAK_DIR = Path(os.environ.get("KODAK_DIR", REPO.parent / "shared" / "data" / "kodak"))
TRAIN_DIR = Path(os.environ.get("TRAIN_DIR", REPO.parent / "shared" / "data" / "train-photos"))

needs_kodak = pytest.mark.skipif(not (KODAK_DIR / "kodim01.png").is_file(),
                                 reason=f"Kodak images not found in {KODAK_DIR} (set KODAK_DIR)")
needs_train = pytest.mark.skipif(not (TRAIN_DIR / "0001.png").is_file(),
                                 reason=f"train-photos not found in {TRAIN_DIR} (set TRAIN_DIR)")


def kodak(n: int) -> np.ndarray:
    return np.asarray(Image.open(KODAK_DIR / f"kodim{n:02d}.png").convert("RGB"))


def photo(name: str = "astronaut") -> np.ndarray:
    from shared_data.imageio import sample_images
    return sample_images((name,))[name]


def jpeg(arr: np.ndarray, quality: int = 90, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality, **kw)
    return buf.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims ``width × height`` pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def write_bad_inputs(folder: Path, base: np.ndarray) -> dict[str, tuple[str, str]]:
    """Write one file per kind of awkward input; returns name -> (expected status, reason or note)."""
    folder.mkdir(parents=True, exist_ok=True)
    pil = Image.fromarray(base)
    good = jpeg(base)
    (folder / "ok.jpg").write_bytes(good)
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    pil.convert("CMYK").save(folder / "cmyk.jpg", quality=90)
    pil.convert("L").save(folder / "gray.png")
    pil.convert("P", palette=Image.ADAPTIVE).save(folder / "palette.png")
    Image.fromarray(np.asarray(pil.convert("L"), dtype=np.uint16) * 257).save(folder / "gray16.png")
    rgba = np.concatenate([base, np.full(base.shape[:2] + (1,), 128, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    pil.save(folder / "exif_rotated.jpg", quality=90, exif=exif.tobytes())
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "bomb.png").write_bytes(png_bomb())
    return {"ok.jpg": ("done", ""), "truncated.jpg": ("skipped", "corrupt"),
            "cmyk.jpg": ("done", "converted-CMYK"), "gray.png": ("done", "converted-L"),
            "palette.png": ("done", "converted-P"), "gray16.png": ("done", "converted-I;16"),
            "alpha.png": ("done", "converted-RGBA"), "exif_rotated.jpg": ("done", "exif-rotated"),
            "empty.jpg": ("skipped", "empty-file"), "notes.txt": ("skipped", "not-an-image"),
            "bomb.png": ("skipped", "decompression-bomb")}
