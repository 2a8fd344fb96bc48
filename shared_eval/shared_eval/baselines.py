"""Classical codec baselines on real files: JPEG, WebP, JPEG 2000, AVIF, JPEG XL (+ lossless PNG, WebP, JPEG XL,
JPEG 2000), quality sweeps and matched-bpp search.

    python -m shared_eval.baselines --images DIR --codecs jpeg,webp,jpeg2000,avif,jpegxl --out runs/baselines
        [--qualities 10,30,50,70,90] [--target-bpp 0.25,0.5] [--max-images N] [--keep-files]
        [--scheduler local:4 | tcp://host:8786 | slurm]

Every rate is ``8·len(bitstream) / (H·W)`` of the complete encoded file (all headers included, unlike CPM's
header-stripped JPEG/BPG numbers). Writes ``OUT/<codec>/measures.csv`` (columns of
:mod:`shared_eval.measures_csv` plus ``codec, quality`` [``target_bpp``], ``bpsp`` for lossless codecs) and
``OUT/<codec>/settings.json`` (library versions and encoder settings). FLIF (used by the L3C and iREC
tables) is not installable here; ``jpegxl-lossless`` is its successor, and no FLIF numbers are produced.

Every (image, codec, quality) point is one task of :mod:`shared_eval.sweep`: in-process by default, or on
Dask with ``--scheduler``; finished points are kept in ``OUT/.sweep/`` so a killed run resumes.

Library API: :func:`encode`, :func:`decode`, :func:`encode_at_bpp`, :data:`CODECS`.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, features

from shared_data.errors import LicError
from shared_data.imageio import ImageReadError, atomic_write_bytes, check_rgb_uint8, read_image

from .measures_csv import write_measures
from .metrics import bpp as bpp_of
from .metrics import bpsp as bpsp_of
from .metrics import ms_ssim, psnr
from .sweep import (
    SweepError,
    SweepTask,
    add_scheduler_arguments,
    failure_message,
    run_sweep,
    scheduler_kwargs,
    slurm_job_script,
)

try:  # AVIF and JPEG XL come from imagecodecs; the Pillow codecs work without it
    import imagecodecs
except ImportError:  # pragma: no cover - exercised only in environments without imagecodecs
    imagecodecs = None


class BaselineError(LicError, ValueError):
    """Unknown codec, unavailable library, or an encode/decode failure."""


@dataclass(frozen=True)
class Codec:
    """A classical codec: ``quality`` grows with the rate between ``q_range[0]`` and ``q_range[1]``."""

    name: str
    library: str
    lossless: bool
    q_range: tuple[float, float]
    integer_q: bool
    default_qualities: tuple[float, ...]
    settings: dict = field(default_factory=dict)
    quality_meaning: str = ""


def _pil_save(img: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pil_load(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _need_imagecodecs(name: str):
    if imagecodecs is None:
        raise BaselineError(f"codec {name!r} needs imagecodecs (pip install imagecodecs==2024.9.22)")
    return imagecodecs


_Q_SWEEP = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)

CODECS: dict[str, Codec] = {
    "jpeg": Codec("jpeg", "Pillow/libjpeg-turbo", False, (1, 95), True, _Q_SWEEP,
                  {"subsampling": "4:2:0", "optimize": True}, "Pillow quality 1..95"),
    "jpeg444": Codec("jpeg444", "Pillow/libjpeg-turbo", False, (1, 95), True, _Q_SWEEP,
                     {"subsampling": "4:4:4", "optimize": True}, "Pillow quality 1..95 (CPM's JPEG setting)"),
    "webp": Codec("webp", "Pillow/libwebp", False, (0, 100), True, _Q_SWEEP, {"method": 6},
                  "Pillow quality 0..100"),
    "jpeg2000": Codec("jpeg2000", "Pillow/OpenJPEG", False, (0.02, 8.0), False,
                      (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0),
                      {"irreversible": True, "quality_mode": "rates", "mct": 1},
                      "target bpp (OpenJPEG rate = 24 / bpp)"),
    "avif": Codec("avif", "imagecodecs/libavif", False, (0, 100), True, (10, 20, 30, 40, 50, 60, 70, 80, 90),
                  {"speed": 6, "numthreads": 1}, "imagecodecs level (quality) 0..100"),
    "jpegxl": Codec("jpegxl", "imagecodecs/libjxl", False, (0, 100), True, (10, 20, 30, 40, 50, 60, 70, 80, 90),
                    {"effort": 7, "numthreads": 1}, "imagecodecs level (quality) 0..100"),
    "png": Codec("png", "Pillow/zlib", True, (9, 9), True, (9,), {"compress_level": 9, "optimize": True},
                 "zlib level"),
    "webp-lossless": Codec("webp-lossless", "Pillow/libwebp", True, (75, 75), True, (75,),
                           {"lossless": True, "method": 4, "quality": 75}, "effort (cwebp -lossless defaults)"),
    "jpegxl-lossless": Codec("jpegxl-lossless", "imagecodecs/libjxl", True, (7, 7), True, (7,),
                             {"lossless": True, "effort": 7, "numthreads": 1}, "effort"),
    "jpeg2000-lossless": Codec("jpeg2000-lossless", "Pillow/OpenJPEG", True, (0, 0), True, (0,),
                               {"irreversible": False, "mct": 1}, "n/a"),
}


def _encoder(name: str) -> Callable[[np.ndarray, float], bytes]:
    c = CODECS[name]
    s = c.settings
    if name in ("jpeg", "jpeg444"):
        return lambda im, q: _pil_save(im, "JPEG", quality=int(q), subsampling=s["subsampling"],
                                       optimize=s["optimize"])
    if name == "webp":
        return lambda im, q: _pil_save(im, "WEBP", quality=int(q), method=s["method"])
    if name == "jpeg2000":
        return lambda im, q: _pil_save(im, "JPEG2000", irreversible=True, quality_mode="rates",
                                       quality_layers=[24.0 / float(q)], mct=s["mct"])
    if name == "avif":
        return lambda im, q: bytes(_need_imagecodecs(name).avif_encode(im, level=int(q), speed=s["speed"],
                                                                       numthreads=s["numthreads"]))
    if name == "jpegxl":
        return lambda im, q: bytes(_need_imagecodecs(name).jpegxl_encode(im, level=int(q), effort=s["effort"],
                                                                         numthreads=s["numthreads"]))
    if name == "png":
        return lambda im, q: _pil_save(im, "PNG", compress_level=int(q), optimize=True)
    if name == "webp-lossless":
        return lambda im, q: _pil_save(im, "WEBP", lossless=True, quality=s["quality"], method=s["method"])
    if name == "jpegxl-lossless":
        return lambda im, q: bytes(_need_imagecodecs(name).jpegxl_encode(im, lossless=True, effort=int(q),
                                                                         numthreads=s["numthreads"]))
    if name == "jpeg2000-lossless":
        return lambda im, q: _pil_save(im, "JPEG2000", irreversible=False, mct=s["mct"])
    raise BaselineError(f"unknown codec {name!r}")  # pragma: no cover


def _decoder(name: str) -> Callable[[bytes], np.ndarray]:
    if name in ("avif",):
        return lambda b: np.asarray(_need_imagecodecs(name).avif_decode(b))
    if name in ("jpegxl", "jpegxl-lossless"):
        return lambda b: np.asarray(_need_imagecodecs(name).jpegxl_decode(b))
    return _pil_load


def _codec(name: str) -> Codec:
    if name not in CODECS:
        raise BaselineError(f"unknown codec {name!r}; choose from {', '.join(CODECS)}")
    return CODECS[name]


def encode(img: np.ndarray, codec: str, quality: float) -> bytes:
    """Encode an RGB uint8 image; returns the complete file's bytes."""
    c = _codec(codec)
    img = check_rgb_uint8(np.ascontiguousarray(img), "image")
    lo, hi = c.q_range
    if not lo <= quality <= hi:
        raise BaselineError(f"{codec}: quality {quality} outside [{lo}, {hi}] ({c.quality_meaning})")
    try:
        return _encoder(codec)(img, quality)
    except BaselineError:
        raise
    except Exception as e:  # library errors -> one clear message
        raise BaselineError(f"{codec}: encoding failed at quality {quality}: {e}") from e


def decode(data: bytes, codec: str) -> np.ndarray:
    """Decode a file produced by :func:`encode` to an RGB uint8 array."""
    _codec(codec)
    try:
        out = _decoder(codec)(data)
    except BaselineError:
        raise
    except Exception as e:
        raise BaselineError(f"{codec}: cannot decode {len(data)} bytes: {e}") from e
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return np.ascontiguousarray(out[..., :3].astype(np.uint8))


def encode_at_bpp(img: np.ndarray, codec: str, target_bpp: float, mode: str = "at_most",
                  max_iter: int = 24) -> tuple[bytes, np.ndarray, int | float]:
    """Binary search of the quality so the file hits ``target_bpp`` (as tfci's ``--target_bpp`` does).

    ``mode="at_most"``: the highest quality whose bpp ≤ target (the baseline never gets more bits than the
    learned codec); if even the lowest quality is above the target, that lowest-quality file is returned.
    The quality is an int for the 0..100 codecs and a float (target bpp knob) for JPEG 2000.
    ``mode="closest"``: the quality whose bpp is nearest the target. Returns ``(bytes, decoded, quality)``.
    """
    c = _codec(codec)
    if c.lossless:
        raise BaselineError(f"{codec} is lossless: its rate cannot be chosen")
    if not target_bpp > 0:
        raise BaselineError(f"target bpp must be positive, got {target_bpp}")
    if mode not in ("at_most", "closest"):
        raise BaselineError(f"mode must be 'at_most' or 'closest', got {mode!r}")
    h, w = img.shape[:2]
    cache: dict[float, bytes] = {}

    def rate(q: float) -> float:
        if q not in cache:
            cache[q] = encode(img, codec, q)
        return bpp_of(len(cache[q]), h, w)

    lo, hi = c.q_range
    if c.integer_q:
        lo, hi = int(lo), int(hi)
        if rate(lo) <= target_bpp:
            while hi - lo > 1:  # invariant: rate(lo) <= target
                mid = (lo + hi) // 2
                if rate(mid) <= target_bpp:
                    lo = mid
                else:
                    hi = mid
            if rate(hi) <= target_bpp:
                lo = hi
    else:
        guess = min(max(target_bpp, lo), hi)  # JPEG 2000's knob is a rate already: try it first
        if rate(guess) <= target_bpp:
            lo = guess
        else:
            hi = guess
        if rate(lo) <= target_bpp and abs(rate(lo) - target_bpp) >= 1e-3 * target_bpp:
            for _ in range(max_iter):
                mid = 0.5 * (lo + hi)
                if rate(mid) <= target_bpp:
                    lo = mid
                else:
                    hi = mid
                if abs(rate(lo) - target_bpp) < 1e-3 * target_bpp:
                    break
    best = lo
    if mode == "closest":
        best = min(cache, key=lambda q: (abs(rate(q) - target_bpp), -q))
    data = cache[best]
    return data, decode(data, codec), (int(best) if c.integer_q else float(best))


def library_versions() -> dict:
    """Versions of every library whose bits are measured (stored next to each result)."""
    import PIL

    v = {"Pillow": PIL.__version__, "libjpeg-turbo": features.version("libjpeg_turbo") or features.version_codec("jpg"),
         "libwebp": features.version("webp"), "openjpeg": features.version_codec("jpg_2000"),
         "zlib": features.version_codec("zlib")}
    if imagecodecs is not None:
        v["imagecodecs"] = imagecodecs.__version__
        for part in imagecodecs.version().split(", "):
            for lib in ("libavif", "libjxl", "aom", "dav1d", "rav1e", "svt"):
                if part.startswith(lib + "-"):
                    v[lib] = part.split("-", 1)[1]
    return v


def _measure(img: np.ndarray, name: str, data: bytes, enc_s: float, codec: Codec) -> dict:
    h, w = img.shape[:2]
    t0 = time.perf_counter()
    rec = decode(data, codec.name)
    dec_s = time.perf_counter() - t0
    if rec.shape != img.shape:
        raise BaselineError(f"{codec.name}: decoded shape {rec.shape} != input {img.shape} for {name}")
    row = {"img_name": name, "bpp": bpp_of(len(data), h, w), "enc_s": enc_s, "dec_s": dec_s}
    if codec.lossless:
        if not np.array_equal(rec, img):
            raise BaselineError(f"{codec.name}: lossless round trip is not exact for {name}")
        row["bpsp"] = bpsp_of(len(data), h, w)
        row["psnr"] = float("inf")
        row["ms-ssim"] = 1.0
    else:
        row["psnr"] = psnr(img, rec)
        row["ms-ssim"] = ms_ssim(img, rec) if min(h, w) >= 176 else None
    return row


def list_images(folder: str | Path, max_images: int | None = None) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise BaselineError(f"{folder}: not a directory")
    exts = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp"}
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in exts)
    if not files:
        raise BaselineError(f"{folder}: no images found ({', '.join(sorted(exts))})")
    return files[:max_images] if max_images else files


_EXT = {"jpeg444": "jpg", "jpeg": "jpg", "jpeg2000": "jp2", "jpeg2000-lossless": "jp2", "jpegxl": "jxl",
        "jpegxl-lossless": "jxl", "webp-lossless": "webp"}


def baseline_task(path: str, codec: str, quality: float | None, target_bpp: float | None,
                  keep_dir: str | None = None) -> dict:
    """One sweep point on one image (the per-task function of :mod:`shared_eval.sweep`; runs on a worker):
    encode at ``quality`` (or binary-search it for ``target_bpp``), decode, measure; returns the row."""
    try:
        im = read_image(path)
    except ImageReadError as e:
        raise BaselineError(str(e)) from None
    c = _codec(codec)
    name = Path(path).name
    t0 = time.perf_counter()
    if target_bpp is None:
        data = encode(im, codec, quality)
    else:
        data, _, quality = encode_at_bpp(im, codec, target_bpp)
    enc_s = time.perf_counter() - t0
    row = _measure(im, name, data, enc_s, c)
    row.update({"codec": codec, "quality": quality})
    if target_bpp is not None:
        row["target_bpp"] = target_bpp
    if keep_dir is not None:
        atomic_write_bytes(Path(keep_dir) / f"{Path(name).stem}_q{quality:g}.{_EXT.get(codec, codec)}", data)
    return row


def baseline_tasks(images: list[Path], codecs: list[str], out: str | Path,
                   qualities: dict[str, list[float]] | None = None, target_bpps: list[float] | None = None,
                   keep_files: bool = False) -> tuple[list[SweepTask], dict[str, list[float]]]:
    """The sweep's tasks (image × codec × quality or target bpp) and each codec's quality list."""
    out = Path(out)
    tasks, qs_of = [], {}
    for c in (_codec(c) for c in codecs):
        qs = qs_of[c.name] = list((qualities or {}).get(c.name, c.default_qualities))
        points = [(None, t) for t in target_bpps] if target_bpps and not c.lossless else [(q, None) for q in qs]
        keep = str(out / c.name / "files") if keep_files else None
        for p in images:
            st = p.stat()
            for q, t in points:
                key = f"{c.name}|{p.name}|" + (f"q={q:g}" if t is None else f"bpp={t:g}")
                tasks.append(SweepTask(key, (str(p), c.name, q, t, keep), f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}"))
    return tasks, qs_of


def run_baselines(images: list[Path], codecs: list[str], out: str | Path,
                  qualities: dict[str, list[float]] | None = None, target_bpps: list[float] | None = None,
                  keep_files: bool = False, progress: bool = True, scheduler=None, **sweep_kw) -> dict[str, Path]:
    """Sweep every codec over every image through :mod:`shared_eval.sweep` (in-process by default;
    ``scheduler="local:N"``, an address, ``"slurm"`` or a ``distributed.Client`` for Dask); finished points
    are kept in ``OUT/.sweep`` so a rerun after a kill computes only the rest. Returns
    ``{codec: measures.csv path}``; raises :class:`SweepError` naming failed points (no measures.csv then)."""
    out = Path(out)
    todo = [_codec(c) for c in codecs]
    names = []
    for p in images:  # every input is checked on the driver, before anything runs or is written
        try:
            read_image(p)
        except ImageReadError as e:
            raise BaselineError(str(e)) from None
        names.append(p.name)
    versions = library_versions()
    tasks, qs_of = baseline_tasks(images, codecs, out, qualities, target_bpps, keep_files)
    config = {"versions": versions, "settings": {c.name: c.settings for c in todo}}
    res = run_sweep(baseline_task, tasks, out / ".sweep", config, scheduler, progress=progress,
                    desc="baselines", sort_by=("img_name", "target_bpp", "quality"), **sweep_kw)
    if res.failed:
        raise SweepError(failure_message(res, out / ".sweep"))
    written = {}
    for c in todo:
        rows = [r for r in res.rows if r.get("codec") == c.name]
        extra = ["codec", "quality"] + (["target_bpp"] if target_bpps and not c.lossless else []) + \
            (["bpsp"] if c.lossless else [])
        path = write_measures(out / c.name / "measures.csv", rows, extra)
        meta = {"codec": c.name, "library": c.library, "versions": versions, "settings": c.settings,
                "quality_meaning": c.quality_meaning, "qualities": qs_of[c.name], "target_bpp": target_bpps,
                "lossless": c.lossless, "rate": "8*len(file)/(H*W), whole file incl. headers",
                "images": names}
        atomic_write_bytes(out / c.name / "settings.json", (json.dumps(meta, indent=2) + "\n").encode())
        written[c.name] = path
    return written


def _floats(s: str) -> list[float]:
    try:
        return [float(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise BaselineError(f"expected comma-separated numbers, got {s!r}") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shared_eval.baselines", description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", required=True, help="folder of images (e.g. $KODAK_DIR)")
    ap.add_argument("--codecs", default="jpeg,webp,jpeg2000,avif,jpegxl",
                    help=f"comma list from: {', '.join(CODECS)}")
    ap.add_argument("--out", required=True, help="output folder (one sub-folder per codec)")
    ap.add_argument("--qualities", help="comma list of 0..100 qualities for jpeg/webp/avif/jpegxl (jpeg2000 keeps its bpp sweep)")
    ap.add_argument("--target-bpp", help="comma list of target bpps: binary-search the quality per image")
    ap.add_argument("--max-images", type=int, help="use only the first N images (sorted by name)")
    ap.add_argument("--keep-files", action="store_true", help="also store every encoded file")
    add_scheduler_arguments(ap)
    a = ap.parse_args(argv)
    if a.scheduler == "slurm" and a.job_script:
        try:
            print(slurm_job_script(a))
        except SweepError as e:
            print(f"baselines: error: {e}", file=sys.stderr)
            return 2
        return 0
    kw = scheduler_kwargs(a)
    try:
        codecs = [c.strip() for c in a.codecs.split(",") if c.strip()]
        for c in codecs:
            _codec(c)
        qual = ({c: _floats(a.qualities) for c in codecs if not CODECS[c].lossless and CODECS[c].integer_q}
                if a.qualities else None)
        written = run_baselines(list_images(a.images, a.max_images), codecs, a.out, qual,
                                _floats(a.target_bpp) if a.target_bpp else None, a.keep_files, **kw)
    except BaselineError as e:
        print(f"baselines: error: {e}", file=sys.stderr)
        return 2
    except SweepError as e:  # a scheduler that cannot be opened (2), or failed sweep points (1)
        print(f"baselines: error: {e}", file=sys.stderr)
        return 1 if "tasks failed" in str(e) else 2
    from .measures_csv import read_measures, summarize
    for c, p in written.items():
        rows = read_measures(p)
        key = "target_bpp" if rows and rows[0].get("target_bpp") is not None else "quality"
        for q in sorted({r[key] for r in rows}):
            s = summarize([r for r in rows if r[key] == q])
            extra = f" bpsp={s['bpsp']:.3f}" if "bpsp" in s else ""
            ms = f" ms-ssim={s['ms-ssim']:.4f}" if "ms-ssim" in s else ""
            print(f"{c:18s} {key}={q:<6g} bpp={s['bpp']:.3f} psnr={s.get('psnr', float('nan')):.2f}{ms}{extra}")
        print(f"  -> {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
