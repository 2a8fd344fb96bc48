"""``measures.csv``: the one per-image results format every sub-project writes.

Columns ``img_name,bpp,ms-ssim,psnr,enc_s,dec_s`` (CPM's original four plus timings), followed by any
codec-specific extras (e.g. ``bpsp``, ``bpp_estimated``, ``method``). Empty cells mean "not measured"
(e.g. MS-SSIM of an image smaller than 176 px, timings of an estimate). Files are written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from shared_data.imageio import atomic_write_bytes

BASE_COLUMNS = ("img_name", "bpp", "ms-ssim", "psnr", "enc_s", "dec_s")


class MeasuresError(ValueError):
    """A measures.csv file is missing, malformed or lacks a required column."""


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return repr(v) if math.isinf(v) else f"{v:.6g}" if abs(v) >= 1e5 else f"{v:.8g}"
    return str(v)


def write_measures(path: str | os.PathLike, rows: Iterable[Mapping[str, object]],
                   extra_columns: Iterable[str] = ()) -> Path:
    """Write rows (dicts keyed by column name) to ``path``; unknown keys must be listed in extra_columns."""
    rows = list(rows)
    extras = list(extra_columns)
    for r in rows:
        for k in r:
            if k not in BASE_COLUMNS and k not in extras:
                extras.append(k)
    cols = list(BASE_COLUMNS) + extras
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        if "img_name" not in r:
            raise MeasuresError(f"row without img_name: {dict(r)}")
        w.writerow([_fmt(r.get(c)) for c in cols])
    atomic_write_bytes(path, buf.getvalue().encode())
    return Path(path)


def _parse(v: str):
    if v == "":
        return None
    try:
        return int(v) if v.lstrip("-").isdigit() else float(v)
    except ValueError:
        return v


def read_measures(path: str | os.PathLike) -> list[dict]:
    """Read a measures.csv; numbers come back as int/float, empty cells as None."""
    path = Path(path)
    if not path.is_file():
        raise MeasuresError(f"{path}: no such measures file")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "img_name" not in reader.fieldnames:
            raise MeasuresError(f"{path}: not a measures.csv (no img_name column in header "
                                f"{reader.fieldnames})")
        missing = [c for c in ("bpp",) if c not in reader.fieldnames]
        if missing:
            raise MeasuresError(f"{path}: missing column(s) {missing}")
        return [{k: (v if k == "img_name" else _parse(v)) for k, v in row.items()} for row in reader]


def summarize(rows: Iterable[Mapping[str, object]]) -> dict:
    """Arithmetic means over images of every numeric column (the papers' protocol), plus the count."""
    rows = list(rows)
    out: dict[str, object] = {"n_images": len(rows)}
    cols = []
    for r in rows:
        cols += [k for k in r if k not in cols and k != "img_name"]
    for c in cols:
        vals = [r.get(c) for r in rows]
        nums = [float(v) for v in vals if isinstance(v, int | float) and not isinstance(v, bool)]
        if nums and len(nums) == len([v for v in vals if v is not None]):
            out[c] = sum(nums) / len(nums)
    return out


def write_summary(path: str | os.PathLike, summary: Mapping[str, object]) -> Path:
    """Write a summary dict (e.g. from :func:`summarize` plus run metadata) as JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(dict(summary), indent=2, sort_keys=True) + "\n").encode())
    return Path(path)
