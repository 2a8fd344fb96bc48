"""The committed zoo on Kodak: one table and one R-D plot (``make zoo-report`` = ``python -m shared_eval.zoo``).

    python -m shared_eval.zoo [--out docs] [--repo .]

Reads committed files only and encodes nothing: each zoo model's ``measures.csv`` (written from real files by
``make zoo-<paper>``; bpp = 8·file bytes / pixels), the Kodak baselines of ``ci/baselines/kodak/<codec>/``
(Pillow / imagecodecs quality sweeps, real files) and the published Kodak curves of ``ci/references/<paper>.csv``
(dashed in the plot). Writes ``OUT/zoo-kodak.md`` (the table) and ``OUT/zoo-kodak.png`` (+ PDF).

JPEG at the same bpp: the Kodak-mean JPEG curve (mean bpp, PSNR, MS-SSIM per quality) interpolated linearly
at the model's mean bpp, the same rule for every model (cpm's ``summary.json`` also has a per-image match).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from shared_data.errors import LicError
from shared_data.imageio import atomic_write_bytes

from .measures_csv import MeasuresError, read_measures

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Entry:
    """One committed zoo model: its measures file and which of its rows are the model (``where``)."""

    paper: str
    model: str
    measures: str  # relative to the repository
    where: tuple[tuple[str, str], ...] = ()  # (column, value) filters
    point: str | None = None  # the column that separates operating points within the file (sga: lambda)


#: the zoo, lossy models first (one row per operating point in the table); l3c is lossless (bpsp)
ZOO = (
    Entry("cpm", "cpu_low", "cpm_tf/zoo/cpu_low/measures.csv"),
    Entry("cpm", "cpu_med", "cpm_tf/zoo/cpu_med/measures.csv"),
    Entry("sga", "ms (M3, amortized)", "sga_tf/zoo/ms/measures.csv", (("method", "m3"),), point="lambda"),
    Entry("hific", "mini stage 1 (MSE)", "hific_torch/zoo/mini/measures_stage1.csv"),
    Entry("hific", "mini (GAN)", "hific_torch/zoo/mini/measures.csv"),
    Entry("hific", "cpu stage 1 (MSE)", "hific_torch/zoo/cpu/measures.csv", (("model", "stage1"),)),
    Entry("hific", "cpu (GAN)", "hific_torch/zoo/cpu/measures.csv", (("model", "gan"),)),
    Entry("irec", "mini", "irec_tf/zoo/mini/measures.csv", (("mode", "lossy"),)),
    Entry("irec", "cpu", "irec_tf/zoo/cpu/measures.csv", (("mode", "lossy"), ("model", "irec cpu"))),
)
LOSSLESS = (
    Entry("l3c", "l3c_cpu", "l3c_torch/zoo/l3c_cpu/measures.csv", (("model", "L3C l3c_cpu"),)),
)
LOSSLESS_BASELINES = ("png", "webp-lossless", "jpeg2000-lossless", "jpegxl-lossless")  # rows of l3c's file
#: the published Kodak curves drawn (irec publishes lossless tables only; l3c is lossless)
PUBLISHED = {"cpm": ["cvpr_fig1"], "sga": ["M3_base", "M1_sga"], "hific": ["hific"]}


class ZooReportError(LicError, ValueError):
    """A committed measures file is missing or unreadable (the message names it)."""


def _rows(repo: Path, e: Entry) -> list[dict]:
    path = repo / e.measures
    if not path.is_file():
        raise ZooReportError(f"{path}: missing (run make zoo-{e.paper})")
    try:
        rows = read_measures(path)
    except MeasuresError as err:
        raise ZooReportError(str(err)) from None
    rows = [r for r in rows if all(str(r.get(c)) == v for c, v in e.where)]
    if not rows:
        raise ZooReportError(f"{path}: no rows with {dict(e.where)}")
    return rows


def _mean(rows, key):
    vals = [r.get(key) for r in rows]
    vals = [float(v) for v in vals if isinstance(v, int | float) and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def points(repo: Path, e: Entry) -> list[dict]:
    """Image means per operating point: {label, n, bpp, psnr, msssim, bpsp}."""
    rows = _rows(repo, e)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(str(r.get(e.point)) if e.point else "", []).append(r)
    out = []
    for key, g in groups.items():
        label = e.model if not key else f"{e.model} λ={float(key):g}"
        out.append(dict(label=label, n=len(g), bpp=_mean(g, "bpp"), psnr=_mean(g, "psnr"),
                        msssim=_mean(g, "ms-ssim"), bpsp=_mean(g, "bpsp")))
    return sorted(out, key=lambda p: p["bpp"])


def baseline_curve(repo: Path, codec: str) -> list[dict]:
    """Kodak means per quality of a committed baseline sweep, sorted by bpp."""
    path = repo / "ci" / "baselines" / "kodak" / codec / "measures.csv"
    try:
        rows = read_measures(path)
    except (MeasuresError, OSError) as err:
        raise ZooReportError(f"{path}: {err}") from None
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(str(r.get("quality")), []).append(r)
    pts = [dict(n=len(g), bpp=_mean(g, "bpp"), psnr=_mean(g, "psnr"), msssim=_mean(g, "ms-ssim"),
                bpsp=_mean(g, "bpsp")) for g in groups.values()]
    return sorted(pts, key=lambda p: p["bpp"])


def interpolate(curve: list[dict], bpp: float, key: str) -> float | None:
    """``key`` of ``curve`` at ``bpp`` (linear between the neighbouring points; None outside the curve)."""
    for a, b in zip(curve, curve[1:]):
        if a["bpp"] <= bpp <= b["bpp"] and a[key] is not None and b[key] is not None:
            t = 0.0 if b["bpp"] == a["bpp"] else (bpp - a["bpp"]) / (b["bpp"] - a["bpp"])
            return a[key] + t * (b[key] - a[key])
    return None


def _f(v, fmt):
    return "–" if v is None else format(v, fmt)


def table(repo: Path = REPO) -> tuple[str, list]:
    """The markdown table and the plot's series."""
    from .plot import Series

    jpeg = baseline_curve(repo, "jpeg")
    lines = ["| paper | model | Kodak images | bpp (real files) | PSNR [dB] | MS-SSIM | JPEG at the same bpp: PSNR / MS-SSIM |",
             "|---|---|---|---|---|---|---|"]
    series: dict[str, list[dict]] = {}
    for e in ZOO:
        for p in points(repo, e):
            jp, jm = interpolate(jpeg, p["bpp"], "psnr"), interpolate(jpeg, p["bpp"], "msssim")
            at = f"{_f(jp, '.2f')} / {_f(jm, '.4f')}" if jp is not None else \
                f"below JPEG's lowest quality ({jpeg[0]['bpp']:.3f} bpp: {jpeg[0]['psnr']:.2f} / {jpeg[0]['msssim']:.4f})"
            lines.append(f"| {e.paper} | {p['label']} | {p['n']} | {_f(p['bpp'], '.3f')} | {_f(p['psnr'], '.2f')} | "
                         f"{_f(p['msssim'], '.4f')} | {at} |")
            series.setdefault(f"{e.paper} zoo: {e.model.split(' λ')[0]}" if e.paper != "cpm" else "cpm zoo",
                              []).append(p)
    lines += ["", "| paper | model | Kodak images | bpsp (real files) | " + " | ".join(LOSSLESS_BASELINES) + " |",
              "|---|---|---|---|" + "---|" * len(LOSSLESS_BASELINES)]
    for e in LOSSLESS:  # its measures file holds the baselines on the same images (rows model=<codec>)
        base = {c: points(repo, Entry(e.paper, c, e.measures, (("model", c),))) for c in LOSSLESS_BASELINES}
        for p in points(repo, e):
            cells = [_f(base[c][0]["bpsp"], ".3f") for c in LOSSLESS_BASELINES]
            lines.append(f"| {e.paper} | {p['label']} | {p['n']} | {_f(p['bpsp'], '.3f')} | " + " | ".join(cells) + " |")
    out = [Series(name, [p["bpp"] for p in pts], [p["psnr"] for p in pts], [p["msssim"] for p in pts])
           for name, pts in series.items()]
    for codec in ("jpeg", "webp"):
        c = baseline_curve(repo, codec)
        out.append(Series(f"{codec} (Pillow)", [p["bpp"] for p in c], [p["psnr"] for p in c], [p["msssim"] for p in c]))
    return "\n".join(lines), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shared_eval.zoo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=REPO)
    ap.add_argument("--out", type=Path, default=REPO / "docs")
    ap.add_argument("--no-published", action="store_true", help="leave the published Kodak curves out of the plot")
    a = ap.parse_args(argv)
    from .plot import PlotError, published_series, rd_plot

    try:
        md, series = table(a.repo)
        if not a.no_published:
            for paper, curves in PUBLISHED.items():
                series += published_series(paper, "kodak", curves)
        a.out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(a.out / "zoo-kodak.md", (md + "\n").encode())
        top = max(max(s.bpp) for s in series if not s.published and not s.label.startswith(("jpeg", "webp")))
        paths = rd_plot(series, a.out / "zoo-kodak.png",
                        title="The committed zoo on Kodak (24 images unless the table says fewer; real files)",
                        xlim=(0.0, max(1.0, 1.3 * top)))
    except (ZooReportError, PlotError) as e:
        print(f"zoo: error: {e}", file=sys.stderr)
        return 2
    print(md)
    for p in [a.out / "zoo-kodak.md", *paths]:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
