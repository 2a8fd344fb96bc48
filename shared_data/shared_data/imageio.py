"""Image I/O every codec shares: read anything Pillow reads as uint8 RGB, write PNG atomically, pad/crop.

Every codec in this repository sees images as ``numpy.uint8`` arrays of shape ``(H, W, 3)``:
grayscale and palette images become RGB, alpha is dropped (composited on nothing: the colour channels are
kept as stored, as the original code bases did with ``.convert('RGB')``), EXIF orientation is applied,
16-bit and float images are scaled to 0..255. Decompression bombs are refused with a clear error.
"""

from __future__ import annotations

import errno
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DatasetError, ImageError

#: Largest image (in pixels) read without complaint; Pillow's own default is ~89 M pixels.
MAX_PIXELS = 200_000_000


def bomb_message(e: Exception, limit: int) -> str:
    """Pillow's decompression-bomb warning/error as one sentence citing ``limit`` (Pillow's error cites twice
    its ``MAX_IMAGE_PIXELS``, so its text would state a second limit)."""
    import re

    m = re.search(r"\((\d+) pixels\)", str(e))
    return f"{m.group(1) if m else 'more than ' + str(limit)} pixels exceeds the limit of {limit} pixels"


class ImageReadError(ImageError):
    """An image file could not be read as an RGB image (missing, not an image, corrupt, too large)."""


#: The image files every folder listing in the project accepts (compared case-insensitively).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".webp", ".tif", ".tiff")
#: Folders no listing descends into (OS metadata); names starting with "." are skipped too.
SKIP_DIRS = ("__MACOSX",)
_GLOB_CHARS = set("*?[")


def is_image_name(path: str | os.PathLike) -> bool:
    """True for a visible file name with one of :data:`IMAGE_SUFFIXES` (any case)."""
    name = Path(path).name
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES


def list_images(source: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """The one image-listing rule of the project, used by every CLI, dataset and evaluation.

    ``source`` is an image file (returned alone, whatever its suffix), a folder or a glob pattern
    (``"kodak/kodim0*.png"``; ``**`` recurses). A folder lists the files whose suffix is in
    :data:`IMAGE_SUFFIXES` compared case-insensitively, descending into sub-folders unless ``recursive`` is
    false, skipping hidden files and folders (a leading ``.``) and :data:`SKIP_DIRS`; symlinks are followed.
    The result is sorted component by component (``pathlib`` order: ``a/x.png`` < ``a-b/x.png``), the same on
    every machine. Raises :class:`DatasetError` naming ``source`` when it does not exist or holds no image.
    """
    src = Path(source)
    if src.is_file():
        return [src]
    if src.is_dir():
        walk = src.rglob("*") if recursive else src.iterdir()
        found = []
        for p in walk:
            rel = p.relative_to(src).parts
            if any(part.startswith(".") or part in SKIP_DIRS for part in rel[:-1]):
                continue
            if is_image_name(p) and p.is_file():
                found.append(p)
        if not found:
            raise DatasetError(f"{src}: no images ({'/'.join(IMAGE_SUFFIXES)}) in this folder"
                               + (" or its sub-folders" if recursive else ""))
        return sorted(found)
    text = str(source)
    if _GLOB_CHARS & set(text):
        import glob
        found = sorted(Path(p) for p in glob.glob(text, recursive=True) if is_image_name(p) and Path(p).is_file())
        if not found:
            raise DatasetError(f"{text}: no image file matches this pattern")
        return found
    raise DatasetError(f"{src}: no such file or folder")


def _to_uint8_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.uint16).astype(np.float64) / 65535.0 * 255.0
        arr = np.repeat(np.round(arr).astype(np.uint8)[..., None], 3, axis=2)
    elif mode == "I":
        raw = np.asarray(img, dtype=np.int64)
        # 16-bit PNGs often open as mode "I"; scale by the container's range, not by the image's values.
        top = 65535.0 if raw.max(initial=0) > 255 or raw.min(initial=0) < 0 else 255.0
        arr = np.clip(raw, 0, top).astype(np.float64) / top * 255.0
        arr = np.repeat(np.round(arr).astype(np.uint8)[..., None], 3, axis=2)
    elif mode == "F":
        raw = np.asarray(img, dtype=np.float64)
        top = 1.0 if raw.max(initial=0.0) <= 1.0 else 255.0
        arr = np.round(np.clip(raw / top, 0.0, 1.0) * 255.0).astype(np.uint8)
        arr = np.repeat(arr[..., None], 3, axis=2)
    elif mode in ("RGB",):
        arr = np.asarray(img, dtype=np.uint8)
    else:
        # 1, L, LA, P, PA, RGBA, RGBX, CMYK, YCbCr, LAB, HSV ... Pillow converts; alpha is dropped.
        if mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(arr)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file to a ``uint8`` array ``(H, W, 3)`` (RGB).

    Raises :class:`ImageReadError` naming the file and the problem for a missing file, a file that is not an
    image, a truncated/corrupt image or an image above :data:`MAX_PIXELS` (decompression bomb).
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image")
    old_max = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise ImageReadError(f"{path}: {w}x{h} = {w * h} pixels exceeds the limit of {MAX_PIXELS} "
                                         "pixels (decompression bomb protection)")
                img.load()
                img = ImageOps.exif_transpose(img)
                arr = _to_uint8_rgb(img)
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageReadError(f"{path}: {bomb_message(e, MAX_PIXELS)} (decompression bomb protection)") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file Pillow can identify") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"{path}: corrupt or truncated image ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_max
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageReadError(f"{path}: decoded to an unusable shape {arr.shape}")
    return arr


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    An OSError (``path`` is an existing folder, the folder is not writable, the disk is full) is re-raised
    with the same type and errno naming ``path``, never the internal temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is an existing folder, cannot write a file there", str(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the mode open() would
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno is not None:
            try:
                err = type(e)(e.errno, e.strerror, str(path))
            except TypeError:  # e.g. BlockingIOError's third argument is a count
                err = OSError(e.errno, e.strerror, str(path))
            raise err from None
        raise


def check_rgb_uint8(img: np.ndarray, what: str = "image") -> np.ndarray:
    """Validate an ``(H, W, 3) uint8`` array and return it unchanged; raise ``ValueError`` otherwise."""
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        shape = getattr(img, "shape", None)
        dtype = getattr(img, "dtype", type(img).__name__)
        raise ValueError(f"{what}: expected a uint8 array of shape (H, W, 3), got {dtype} {shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{what}: empty image {img.shape}")
    return img


def write_png(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write a ``uint8 (H, W, 3)`` RGB array as PNG, atomically (temp file + rename)."""
    import io

    check_rgb_uint8(img)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img), mode="RGB").save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


@dataclass(frozen=True)
class PadInfo:
    """How an image was padded: the original size and the rows/columns added on each side."""

    height: int
    width: int
    top: int
    bottom: int
    left: int
    right: int


def pad_to_multiple(img: np.ndarray, k: int, mode: str = "constant", split: str = "center",
                    value: int = 0) -> tuple[np.ndarray, PadInfo]:
    """Pad ``(H, W, C)`` so that H and W are multiples of ``k``.

    ``mode`` is any ``numpy.pad`` mode a codec asks for ("constant" with ``value``, "reflect", "symmetric",
    "edge"). ``split="center"`` puts ⌊p/2⌋ before and the rest after (CPM's val protocol);
    ``split="end"`` pads bottom/right only. Returns the padded image and a :class:`PadInfo` for
    :func:`crop_to_original`.
    """
    if k < 1:
        raise ValueError(f"pad multiple must be >= 1, got {k}")
    h, w = img.shape[:2]
    ph, pw = (-h) % k, (-w) % k
    if split == "center":
        top, left = ph // 2, pw // 2
    elif split == "end":
        top, left = 0, 0
    else:
        raise ValueError(f"split must be 'center' or 'end', got {split!r}")
    info = PadInfo(h, w, top, ph - top, left, pw - left)
    pads = [(info.top, info.bottom), (info.left, info.right)] + [(0, 0)] * (img.ndim - 2)
    if mode == "constant":
        out = np.pad(img, pads, mode="constant", constant_values=value)
    elif mode == "reflect" and (h < 2 or w < 2):
        out = np.pad(img, pads, mode="symmetric")  # reflect needs 2 pixels; symmetric works from 1
    else:
        out = np.pad(img, pads, mode=mode)
    return out, info


def crop_to_original(img: np.ndarray, info: PadInfo) -> np.ndarray:
    """Undo :func:`pad_to_multiple`."""
    return img[info.top:info.top + info.height, info.left:info.left + info.width]


SAMPLE_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")


def sample_images(names: tuple[str, ...] = SAMPLE_NAMES) -> dict[str, np.ndarray]:
    """The colour sample photos that ship inside scikit-image (the README's default demo input)."""
    from skimage import data

    out = {}
    for name in names:
        loader = getattr(data, name, None)
        if loader is None:
            raise ValueError(f"scikit-image has no sample image {name!r}")
        arr = np.asarray(loader())
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        out[name] = np.ascontiguousarray(arr[..., :3].astype(np.uint8))
    return out
