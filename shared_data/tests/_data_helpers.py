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
    exp = {}
    good = jpeg(base)
    (folder / "ok.jpg").write_bytes(good); exp["ok.jpg"] = ("done", "")
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2]); exp["truncated.jpg"] = ("skipped", "corrupt")
    Image.fromarray(base).convert("CMYK").save(folder / "cmyk.jpg", quality=90); exp["cmyk.jpg"] = ("done", "converted-CMYK")
    Image.fromarray(base).convert("L").save(folder / "gray.png"); exp["gray.png"] = ("done", "converted-L")
    Image.fromarray(base).convert("P", palette=Image.ADAPTIVE).save(folder / "palette.png"); exp["palette.png"] = ("done", "converted-P")
    g16 = (np.asarray(Image.fromarray(base).convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(g16).save(folder / "gray16.png"); exp["gray16.png"] = ("done", "converted-I;16")
    rgba = np.concatenate([base, np.full(base.shape[:2] + (1,), 128, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png"); exp["alpha.png"] = ("done", "converted-RGBA")
    exif = Image.Exif(); exif[0x0112] = 6  # rotate 90° CW to display
    Image.fromarray(base).save(folder / "exif_rotated.jpg", quality=90, exif=exif.tobytes())
    exp["exif_rotated.jpg"] = ("done", "exif-rotated")
    (folder / "empty.jpg").write_bytes(b""); exp["empty.jpg"] = ("skipped", "empty-file")
    (folder / "notes.txt").write_text("not an image\n"); exp["notes.txt"] = ("skipped", "not-an-image")
    (folder / "bomb.png").write_bytes(png_bomb()); exp["bomb.png"] = ("skipped", "decompression-bomb")
    return exp
