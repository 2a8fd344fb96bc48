"""Framework-free parts of the readers: the papers' presets, resolving a source to files, header scans."""

from __future__ import annotations

import dataclasses
import glob
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DatasetError
from ..imageio import MAX_PIXELS
from ..transforms import center_crop, hific_rescale_crop, random_crop

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp", ".tif", ".tiff")
RECORD_SUFFIXES = (".tfrecord", ".tfrecords")


class ReaderError(DatasetError):
    """A reader cannot be built from what it was given (no files, a bad preset or option, ...)."""


@dataclass(frozen=True)
class Preset:
    """One paper's training-time sampling.

    ``crop``: side of the square random crop (None: whole images, e.g. CIFAR). ``flip``: random left-right
    flip with p = 0.5. ``rescale``: HiFiC's random downscale range (scale ~ U(lo, hi), raised to crop /
    shorter side, resize to ``ceil(scale·H) × ceil(scale·W)``) applied before the crop. ``small``: what
    happens to an image with a side below ``crop``: ``"skip"`` (dropped before reading, counted and named in
    a warning), ``"upscale"`` (resized so its shorter side equals the crop), ``"error"``.
    ``value_range``: float outputs map 0..255 linearly onto this interval. ``source``: where the rule is
    specified.
    """

    name: str
    crop: int | None
    flip: bool
    rescale: tuple[float, float] | None
    small: str
    value_range: tuple[float, float]
    source: str

    def replace(self, **kw) -> Preset:
        kw = {k: v for k, v in kw.items() if v is not None}
        return dataclasses.replace(self, **kw) if kw else self


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("cpm", 160, True, None, "upscale", (0.0, 255.0),
           "cpm.md §7 Augmentation: one random 160x160 crop per image + random left-right flip "
           "(imgcomp inputpipeline.py _preprocess); inputs are ImageNet with shorter side 256"),
    Preset("sga", 256, False, None, "skip", (0.0, 1.0),
           "sga.md Data: CLIC 2018 unprocessed, PNG scaled to [0,1], random crop 256x256 (--patchsize 256), "
           "no flip"),
    Preset("hific", 256, False, (0.75, 0.95), "upscale", (0.0, 1.0),
           "hific.md Batch size / crop: random scale in [0.75, 0.95] raised so the short side stays >= crop, "
           "resize to ceil(scale*H/W), random 256 crop; TF original (model.py _get_dataset) has no flip"),
    Preset("hific-jt", 256, True, (0.75, 0.95), "upscale", (0.0, 1.0),
           "hific.md: as 'hific', plus the random horizontal flip of the PyTorch port (JT datasets.py)"),
    Preset("l3c", 128, True, None, "skip", (0.0, 255.0),
           "l3c.md §6: RandomCrop(128), RandomHorizontalFlip(), uint8 -> float 0..255; images with min side < "
           "crop dropped by ImagesCached(min_size=crop_size); validation CenterCrop(128)"),
    Preset("irec", 256, False, None, "skip", (0.0, 1.0),
           "irec.md Lossy: random 256x256 crops of CLIC (lossless CIFAR-10 / ImageNet32 models use whole "
           "32x32 images: readers.arrays)"),
)}


def preset(name_or_preset: str | Preset, **overrides) -> Preset:
    """The named preset (or the given one) with ``overrides`` (``crop=``, ``flip=``, ...; None = keep)."""
    if isinstance(name_or_preset, Preset):
        p = name_or_preset
    else:
        try:
            p = PRESETS[name_or_preset]
        except KeyError:
            raise ReaderError(f"unknown preset {name_or_preset!r}; expected one of {', '.join(PRESETS)}") from None
    p = p.replace(**overrides)
    if p.small not in ("skip", "upscale", "error"):
        raise ReaderError(f"small={p.small!r}: expected 'skip', 'upscale' or 'error'")
    if p.crop is not None and p.crop <= 0:
        raise ReaderError(f"crop={p.crop}: must be positive")
    if p.rescale is not None and not (0 < p.rescale[0] <= p.rescale[1]):
        raise ReaderError(f"rescale={p.rescale}: expected 0 < lo <= hi")
    return p


def list_images(source, suffixes: tuple[str, ...] = IMAGE_SUFFIXES + RECORD_SUFFIXES) -> list[str]:
    """Files of ``source``: a folder (searched recursively, sorted), a glob (``*``, ``?``, ``[``; ``**``
    recursive; the originals' escaped ``\\*`` works too), one file, or a list / tuple of any of these.
    Raises :class:`ReaderError` naming the source when nothing is found."""
    if isinstance(source, (list, tuple)):
        files = [f for s in source for f in list_images(s, suffixes)]
        if not files:
            raise ReaderError("no images in an empty list of sources")
        return files
    s = os.fspath(source)
    p = Path(s)
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in suffixes and f.is_file())
        if not files:
            raise ReaderError(f"{s}: no images ({', '.join(suffixes)}) in this folder")
        return files
    if p.is_file():
        return [s]
    pattern = s.replace("\\*", "*")
    if any(c in pattern for c in "*?["):
        files = sorted(f for f in glob.glob(pattern, recursive=True) if os.path.isfile(f))
        if not files:
            raise ReaderError(f"{s}: the glob matches no files")
        return files
    raise ReaderError(f"{s}: no such folder, file or glob")


def is_records(files: list[str]) -> bool:
    """True when every file is a TFRecord shard; a mix of shards and images is refused."""
    rec = [f.lower().endswith(RECORD_SUFFIXES) for f in files]
    if any(rec) and not all(rec):
        raise ReaderError("the source mixes TFRecord shards and image files; give one kind")
    return bool(rec) and all(rec)


def scan_images(files: list[str], min_side: int | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """Open each file's header (no decode): -> (usable files, [(file, reason), ...] skipped).

    Reasons: ``not-an-image``, ``unreadable``, ``empty-file``, ``decompression-bomb``, ``too-small`` (a side
    below ``min_side``). Truncated pixel data is only found when decoding; the readers handle that there.
    """
    keep, skipped = [], []
    for f in files:
        try:
            if os.path.getsize(f) == 0:
                skipped.append((f, "empty-file"))
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(f) as im:
                    w, h = im.size
        except UnidentifiedImageError:
            skipped.append((f, "not-an-image"))
            continue
        except Image.DecompressionBombError:
            skipped.append((f, "decompression-bomb"))
            continue
        except (OSError, SyntaxError, ValueError) as e:
            skipped.append((f, f"unreadable ({type(e).__name__}: {e})"))
            continue
        if w * h > MAX_PIXELS:
            skipped.append((f, "decompression-bomb"))
        elif min_side is not None and min(w, h) < min_side:
            skipped.append((f, f"too-small ({w}x{h} < {min_side})"))
        else:
            keep.append(f)
    return keep, skipped


def report_skipped(skipped: list[tuple[str, str]], where: str, limit: int = 10) -> None:
    """One warning naming the skipped files and why (first ``limit``), so nothing is dropped silently."""
    if not skipped:
        return
    shown = "; ".join(f"{f}: {r}" for f, r in skipped[:limit])
    more = f" (and {len(skipped) - limit} more)" if len(skipped) > limit else ""
    warnings.warn(f"{where}: skipped {len(skipped)} file(s): {shown}{more}", stacklevel=3)


def apply_preset(img: np.ndarray, p, rng: np.random.Generator, center: bool = False) -> np.ndarray:
    """The preset's crop / rescale / flip on a ``uint8 (H, W, 3)`` array (numpy, framework-free)."""
    c = p.crop
    if c is not None:
        h, w = img.shape[:2]
        if p.rescale is not None and not center:
            img = hific_rescale_crop(img, rng, crop=c, scale_range=p.rescale)
        else:
            if min(h, w) < c:
                if p.small != "upscale":
                    raise ValueError(f"image {h}x{w} is smaller than the crop {c}")
                s = c / min(h, w)
                nh, nw = max(c, int(np.ceil(h * s))), max(c, int(np.ceil(w * s)))
                img = np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((nw, nh), Image.BILINEAR))
            img = center_crop(img, c) if center else random_crop(img, c, rng)
    if p.flip and not center and rng.random() < 0.5:
        img = img[:, ::-1]
    img = np.ascontiguousarray(img)
    return img if img.flags.writeable else img.copy()
