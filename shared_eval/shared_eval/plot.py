"""Rate-distortion plots: bpp vs PSNR and vs MS-SSIM (in dB, −10·log10(1 − MS-SSIM)), PNG and PDF.

    python -m shared_eval.plot --measures runs/cpm/mini/measures.csv [LABEL=PATH ...] [--paper cpm]
        [--curves cvpr_fig1,readme_ABC] [--dataset kodak] [--metrics psnr,msssim] --out runs/cpm/rd.png

Each measures file becomes one curve per ``codec``/``method`` value (one point per ``quality``,
``target_bpp``, ``lambda``, ``config`` or ``model``; image means), and ``--paper`` overlays the published
curves of ``ci/references/<paper>.csv`` on the same dataset (dashed, hollow markers).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from shared_data.errors import LicError
from shared_data.imageio import atomic_write_bytes  # noqa: E402

from .measures_csv import MeasuresError, read_measures  # noqa: E402
from .metrics import ms_ssim_db  # noqa: E402
from .references import ReferenceFileError, curves, load_reference, reference_path  # noqa: E402

SERIES_COLUMNS = ("codec", "method")
POINT_COLUMNS = ("quality", "target_bpp", "lambda", "config", "model", "point")
METRICS = {"psnr": "PSNR [dB]", "msssim": "MS-SSIM [dB]  (−10·log10(1−MS-SSIM))"}


class PlotError(LicError, ValueError):
    """Bad plot input (unreadable measures, unknown paper/curve, nothing to draw)."""


@dataclass
class Series:
    label: str
    bpp: list[float]
    psnr: list[float | None]
    msssim: list[float | None]
    published: bool = False


def _mean(vals):
    vals = [v for v in vals if isinstance(v, int | float) and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def series_from_measures(path: str | os.PathLike, label: str | None = None) -> list[Series]:
    """One series per codec/method in a measures.csv, one point per operating point (image means)."""
    try:
        rows = read_measures(path)
    except MeasuresError as e:
        raise PlotError(str(e)) from None
    if not rows:
        raise PlotError(f"{path}: no rows")
    label = label or Path(path).parent.name or Path(path).stem
    scol = next((c for c in SERIES_COLUMNS if any(r.get(c) not in (None, "") for r in rows)), None)
    pcol = next((c for c in POINT_COLUMNS if any(r.get(c) not in (None, "") for r in rows)), None)
    out = []
    by_series: dict[str, list[dict]] = {}
    for r in rows:
        by_series.setdefault(str(r.get(scol)) if scol else label, []).append(r)
    for name, srows in by_series.items():
        pts: dict[str, list[dict]] = {}
        for r in srows:
            pts.setdefault(str(r.get(pcol)) if pcol else "all", []).append(r)
        triples = []
        for g in pts.values():
            b = _mean([r.get("bpp") for r in g])
            if b is None:
                continue
            triples.append((b, _mean([r.get("psnr") for r in g]), _mean([r.get("ms-ssim") for r in g])))
        triples.sort()
        if triples:
            nm = name if scol is None or name == label else f"{label}: {name}" if len(by_series) == 1 else name
            out.append(Series(nm, [t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples]))
    return out


def published_series(paper: str, dataset: str = "kodak", which: list[str] | None = None) -> list[Series]:
    """Published curves of ``ci/references/<paper>.csv`` that have a bpp (per-image rows excluded)."""
    try:
        rows = load_reference(reference_path(paper))
    except ReferenceFileError as e:
        raise PlotError(str(e)) from None
    cs = curves(rows, dataset, rate="bpp")
    if which:
        missing = [w for w in which if w not in cs]
        if missing:
            raise PlotError(f"{paper}: no published curve(s) {missing} with bpp on {dataset}; "
                            f"available: {sorted(cs)}")
        cs = {k: cs[k] for k in which}
    return [Series(f"{paper} published: {k}", [p["bpp"] for p in pts], [p["psnr"] for p in pts],
                   [p["msssim"] for p in pts], published=True) for k, pts in cs.items()]


def rd_plot(series: list[Series], out: str | os.PathLike, metrics: tuple[str, ...] = ("psnr", "msssim"),
            title: str = "", pdf: bool = True, xlim: tuple[float, float] | None = None) -> list[Path]:
    """Draw one panel per metric; writes ``out`` (PNG) and the same stem as PDF. Returns the paths."""
    for m in metrics:
        if m not in METRICS:
            raise PlotError(f"unknown metric {m!r}; choose from {list(METRICS)}")
    drawable = [m for m in metrics if any(any(v is not None for v in getattr(s, m)) for s in series)]
    if not drawable:
        raise PlotError("nothing to draw: no series has " + " or ".join(metrics))
    fig, axes = plt.subplots(1, len(drawable), figsize=(6.0 * len(drawable), 4.5), squeeze=False)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, m in zip(axes[0], drawable):
        for i, s in enumerate(series):
            pts = [(b, v) for b, v in zip(s.bpp, getattr(s, m)) if v is not None and math.isfinite(v)]
            if not pts:
                continue
            xs = [p[0] for p in pts]
            ys = [ms_ssim_db(p[1]) if m == "msssim" else p[1] for p in pts]
            style = dict(ls="--", marker="o", mfc="none", ms=4, lw=1.2) if s.published else \
                dict(ls="-", marker="o", ms=4, lw=1.5)
            ax.plot(xs, ys, label=s.label, color=cycle[i % len(cycle)], **style)
        if xlim:
            ax.set_xlim(*xlim)
        ax.set_xlabel("bpp")
        ax.set_ylabel(METRICS[m])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    written = []
    for ext in ("png", "pdf") if pdf else ("png",):
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=150)
        p = out.with_suffix("." + ext)
        atomic_write_bytes(p, buf.getvalue())
        written.append(p)
    plt.close(fig)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shared_eval.plot", description=__doc__.split("\n\n")[0])
    ap.add_argument("--measures", nargs="*", default=[], metavar="[LABEL=]PATH", help="measures.csv files")
    ap.add_argument("--paper", action="append", default=[], help="overlay published curves of this paper")
    ap.add_argument("--curves", help="comma list of published curve ids, optionally paper:curve (default: all with bpp)")
    ap.add_argument("--dataset", default="kodak")
    ap.add_argument("--metrics", default="psnr,msssim")
    ap.add_argument("--title", default="")
    ap.add_argument("--no-pdf", action="store_true")
    ap.add_argument("--xlim", help="bpp axis range LO,HI (e.g. 0,1.5)")
    ap.add_argument("--out", required=True, help="output PNG path (a PDF is written next to it)")
    a = ap.parse_args(argv)
    try:
        series = []
        for spec in a.measures:
            label, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
            series += series_from_measures(path, label or None)
        wanted = [c.strip() for c in a.curves.split(",") if c.strip()] if a.curves else None
        found = set()
        for p in a.paper:
            if wanted is None:
                series += published_series(p, a.dataset)
                continue
            have = {s.label.split(": ", 1)[1] for s in published_series(p, a.dataset)}
            mine = [w.split(":", 1)[-1] for w in wanted if (":" not in w or w.startswith(p + ":"))
                    and w.split(":", 1)[-1] in have]
            found.update(mine)
            if mine:
                series += published_series(p, a.dataset, mine)
        if wanted and (lost := [w for w in wanted if w.split(":", 1)[-1] not in found]):
            raise PlotError(f"published curve(s) {lost} not found for paper(s) {a.paper} on {a.dataset}")
        if not series:
            raise PlotError("give --measures and/or --paper")
        try:
            xlim = tuple(float(v) for v in a.xlim.split(",")) if a.xlim else None
        except ValueError:
            raise PlotError(f"--xlim expects LO,HI, got {a.xlim!r}") from None
        if xlim is not None and len(xlim) != 2:
            raise PlotError(f"--xlim expects LO,HI, got {a.xlim!r}")
        paths = rd_plot(series, a.out, tuple(m.strip() for m in a.metrics.split(",")), a.title, not a.no_pdf,
                        xlim)
    except PlotError as e:
        print(f"plot: error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
