"""Open one dataset input and say what it is: the rules for bad inputs shared by every recipe.

:func:`load` returns the decoded Pillow image (EXIF orientation applied) together with its original mode and
notes, or raises :class:`SkipInput` with a short machine-readable ``reason`` (these reasons are what
``python -m shared_data stats`` counts). The rules:

============================  ==========================================================
input                         outcome
============================  ==========================================================
zero-byte file                skip, reason ``empty-file``
not an image                  skip, reason ``not-an-image``
truncated / corrupt image     skip, reason ``corrupt``
more than MAX_PIXELS pixels   skip, reason ``decompression-bomb`` (never decoded)
EXIF orientation != 1         rotated upright, note ``exif-rotated``
CMYK, L, P, LA, PA, RGBA, ..  kept with its mode; :func:`to_rgb` converts (note ``converted-<mode>``),
                              a recipe may instead refuse non-RGB inputs (L3C does)
16-bit / 32-bit / float       scaled to 8 bits by :func:`to_rgb` (note ``converted-<mode>``)
============================  ==========================================================
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .imageio import MAX_PIXELS, bomb_message


class SkipInput(Exception):
    """An input that a recipe does not turn into an output; ``reason`` is a short key, ``detail`` says more."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Loaded:
    image: Image.Image          # decoded, EXIF-transposed, in its original mode
    mode: str                   # the mode as stored in the file (before any conversion)
    format: str                 # Pillow's format name ("JPEG", "PNG", ...)
    notes: list[str] = field(default_factory=list)
    quantization: dict | None = None  # JPEG quantization tables, when the input is a JPEG


def load(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Loaded:
    """Decode ``path`` fully, or raise :class:`SkipInput` naming why it cannot be used."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise SkipInput("unreadable", str(e)) from None
    if size == 0:
        raise SkipInput("empty-file", "zero bytes")
    old_max = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = max_pixels
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # e.g. "Corrupt EXIF data"
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise SkipInput("decompression-bomb", f"{w}x{h} = {w * h} pixels exceeds the limit of "
                                                          f"{max_pixels} pixels")
                mode, fmt = img.mode, img.format or "?"
                quant = getattr(img, "quantization", None)
                img.load()
                notes = []
                orientation = img.getexif().get(0x0112, 1)
                if orientation not in (None, 1):
                    img = ImageOps.exif_transpose(img)
                    notes.append("exif-rotated")
                else:
                    img = img.copy()
    except SkipInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own text cites 2 x its limit for the error; state the one limit this project applies
        raise SkipInput("decompression-bomb", bomb_message(e, max_pixels)) from None
    except UnidentifiedImageError:
        raise SkipInput("not-an-image", "Pillow cannot identify the file") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise SkipInput("corrupt", f"{type(e).__name__}: {e}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_max
    if img.width == 0 or img.height == 0:
        raise SkipInput("corrupt", f"empty image {img.size}")
    return Loaded(img, mode, fmt, notes, quant)


def to_rgb(loaded: Loaded) -> Image.Image:
    """The image as 8-bit RGB; appends ``converted-<mode>`` to ``loaded.notes`` when it had to convert."""
    img = loaded.image
    if img.mode == "RGB":
        return img
    loaded.notes.append(f"converted-{loaded.mode}")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        raw = np.asarray(img, dtype=np.int64)
        top = 255.0 if img.mode == "I" and raw.max(initial=0) <= 255 and raw.min(initial=0) >= 0 else 65535.0
        g = np.round(np.clip(raw, 0, top) / top * 255.0).astype(np.uint8)
        return Image.fromarray(np.repeat(g[..., None], 3, axis=2), "RGB")
    if img.mode == "F":
        raw = np.asarray(img, dtype=np.float64)
        top = 1.0 if raw.max(initial=0.0) <= 1.0 else 255.0
        g = np.round(np.clip(raw / top, 0.0, 1.0) * 255.0).astype(np.uint8)
        return Image.fromarray(np.repeat(g[..., None], 3, axis=2), "RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")  # alpha dropped without compositing, as the original code bases did
