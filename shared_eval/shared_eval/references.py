"""Published reference numbers as data: ``ci/references/<paper>.csv`` (and ``<paper>-mini.csv``).

Every row of a published reference has the columns of :data:`COLUMNS`: dataset, a ``curve`` id grouping
the points of one published curve (or point set), method/config/λ, the metric columns (bpp, bpsp, bpd,
PSNR, MS-SSIM, MS-SSIM dB, FID, KID, NIQE, LPIPS; empty = not published), ``bpp_kind`` (real file vs
estimate), ``status`` (published / inferred / digitized) and ``source`` (repository file or paper table).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

from shared_data.errors import DatasetError

PAPERS = ("cpm", "sga", "l3c", "hific", "irec")
COLUMNS = ("paper", "dataset", "curve", "method", "config", "lambda", "lambda_status", "image",
           "bpp", "bpp_kind", "bpsp", "bpd", "bpd_asymptotic", "psnr", "msssim", "msssim_db",
           "fid", "kid", "niqe", "lpips", "status", "source", "notes")
NUMERIC = ("lambda", "bpp", "bpsp", "bpd", "bpd_asymptotic", "psnr", "msssim", "msssim_db",
           "fid", "kid", "niqe", "lpips")


class ReferenceFileError(DatasetError):
    """A reference file is missing or malformed."""


def repo_root() -> Path:
    """The monorepo root (``$LIC_REPO_ROOT`` if set, else two levels above this package)."""
    env = os.environ.get("LIC_REPO_ROOT")
    return Path(env) if env else Path(__file__).resolve().parents[2]


def reference_path(paper: str, scale: str = "full") -> Path:
    """``ci/references/<paper>.csv`` (published) or ``ci/references/<paper>-mini.csv`` / ``-zoo.csv`` (ours:
    a mini reproduction / the committed checkpoint on the Kodak check crops)."""
    suffix = {"mini": "-mini", "zoo": "-zoo"}.get(scale, "")
    return repo_root() / "ci" / "references" / f"{paper}{suffix}.csv"


def _num(v: str):
    if v is None or v.strip() == "":
        return None
    try:
        return float(v)
    except ValueError:
        return None


def load_reference(path: str | os.PathLike) -> list[dict]:
    """Read a published reference CSV; numeric columns come back as float or None."""
    path = Path(path)
    if not path.is_file():
        raise ReferenceFileError(f"{path}: no such reference file")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("dataset", "curve", "bpp") if c not in (reader.fieldnames or [])]
        if missing:
            raise ReferenceFileError(f"{path}: not a reference file (missing column(s) {missing})")
        rows = []
        for r in reader:
            rows.append({k: (_num(v) if k in NUMERIC else v) for k, v in r.items()})
    return rows


def curves(rows: Iterable[dict], dataset: str | None = None, rate: str = "bpp",
           metric: str | None = None, per_image: bool = False) -> dict[str, list[dict]]:
    """Group rows by ``curve`` id (optionally one dataset), keeping rows that have ``rate`` (and ``metric``).

    Per-image rows (``image`` set and not a mean) are dropped unless ``per_image``. Points are sorted by rate.
    """
    out: dict[str, list[dict]] = {}
    for r in rows:
        if dataset is not None and r.get("dataset") != dataset:
            continue
        img = (r.get("image") or "").strip()
        if not per_image and img and not img.startswith("mean"):
            continue
        if r.get(rate) is None or (metric is not None and r.get(metric) is None):
            continue
        out.setdefault(r["curve"], []).append(r)
    for pts in out.values():
        pts.sort(key=lambda p: p[rate])
    return out
