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

from shared_data.errors import DatasetError
from shared_data.imageio import atomic_write_bytes

BASE_COLUMNS = ("img_name", "bpp", "ms-ssim", "psnr", "enc_s", "dec_s")


class MeasuresError(DatasetError):
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


#: Columns whose cells must be empty ("not measured") or a finite number: what the regression check and the
#: summaries compare. ``psnr`` may also be ``inf`` (a lossless reconstruction); NaN, -inf and text never.
NUMERIC_COLUMNS = ("bpp", "bpsp", "bpd", "psnr", "ms-ssim", "enc_s", "dec_s")


def _parse(v: str):
    if v == "":
        return None
    try:
        return int(v) if v.lstrip("-").isdigit() else float(v)
    except ValueError:
        return v


def _check_cell(path: Path, line: int, img: str, col: str, raw: str, v) -> None:
    where = f"{path}: line {line} (img_name {img!r}), column {col!r}"
    if isinstance(v, str):
        raise MeasuresError(f"{where}: {raw!r} is not a number (leave the cell empty for 'not measured')")
    if isinstance(v, float) and math.isnan(v):
        raise MeasuresError(f"{where}: NaN (leave the cell empty for 'not measured')")
    if isinstance(v, float) and math.isinf(v) and not (col == "psnr" and v > 0):
        raise MeasuresError(f"{where}: {raw!r} is not finite (only psnr may be inf: a lossless reconstruction)")


def read_measures(path: str | os.PathLike) -> list[dict]:
    """Read a measures.csv; numbers come back as int/float, empty cells as None.

    Raises :class:`MeasuresError` naming the file, line and column for a row with more or fewer cells than
    the header, a duplicated or missing ``img_name``/``bpp`` column, or a :data:`NUMERIC_COLUMNS` cell that
    is text, NaN or infinite (``psnr`` = inf excepted).
    """
    path = Path(path)
    if not path.is_file():
        raise MeasuresError(f"{path}: no such measures file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a BOM from a spreadsheet is fine
            reader = csv.reader(f)
            lines = [(reader.line_num, cells) for cells in reader]
    except (UnicodeDecodeError, csv.Error) as e:
        raise MeasuresError(f"{path}: not a readable CSV file ({e})") from None
    header = lines[0][1] if lines else None
    if not header or "img_name" not in header:
        raise MeasuresError(f"{path}: not a measures.csv (no img_name column in header {header})")
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise MeasuresError(f"{path}: line 1: duplicated column(s) {dup}")
    missing = [c for c in ("bpp",) if c not in header]
    if missing:
        raise MeasuresError(f"{path}: missing column(s) {missing}")
    rows = []
    for line, cells in lines[1:]:
        if not cells:
            continue  # a blank line (csv.DictReader skips these too)
        if len(cells) != len(header):
            col = (f"no cell for column {header[len(cells)]!r}" if len(cells) < len(header)
                   else f"extra cell {cells[len(header)][:40]!r} after column {header[-1]!r}")
            raise MeasuresError(f"{path}: line {line}: {len(cells)} cells, the header has {len(header)} "
                                f"({col}; row starting {cells[0][:40]!r})")
        row = {}
        for col, raw in zip(header, cells):
            if col == "img_name":
                row[col] = raw
                continue
            v = _parse(raw)
            if col in NUMERIC_COLUMNS and v is not None:
                _check_cell(path, line, cells[header.index("img_name")], col, raw, v)
            row[col] = v
        if not row["img_name"]:
            raise MeasuresError(f"{path}: line {line}, column 'img_name': empty image name")
        rows.append(row)
    return rows


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
