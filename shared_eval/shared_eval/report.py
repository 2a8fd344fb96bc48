"""One markdown table for every run: its operating points and BD-rates vs classical codecs and the paper.

    python -m shared_eval.report runs/ [--baselines ci/baselines/kodak] [--out runs/REPORT.md]

Every ``measures.csv`` under the given folder is one run; a run under ``<paper>/`` (e.g. ``runs/cpm/mini``)
is also compared with that paper's published curve (the ``curve`` of ``[<paper>.full]`` in
ci/tolerances.toml). Baselines are the output folders of :mod:`shared_eval.baselines`
(``<dir>/<codec>/measures.csv``). BD-rates use PCHIP on image-mean points (negative = the run saves bits);
a BD-rate that cannot be computed (too few points, no overlap, non-monotone) is shown as "n/a" with the reason
in a footnote, never as a number.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from shared_data.imageio import atomic_write_bytes

from .bdrate import BDError, bd_rate, rate_gap_at_quality
from .plot import PlotError, Series, series_from_measures
from .references import PAPERS, ReferenceFileError, curves, load_reference, reference_path, repo_root

BASELINE_ORDER = ("jpeg", "webp", "jpeg2000", "avif", "jpegxl")


def _bd(anchor: Series, test: Series, metric: str, notes: list[str]) -> str:
    a = [(b, v) for b, v in zip(anchor.bpp, getattr(anchor, metric)) if v is not None]
    t = [(b, v) for b, v in zip(test.bpp, getattr(test, metric)) if v is not None]
    if not a or not t:
        return "–"
    try:
        if len(t) == 1:  # one operating point: rate gap at the same quality (marked *)
            v = rate_gap_at_quality([p[0] for p in a], [p[1] for p in a], t[0][0], t[0][1])
            return f"{v:+.1f}%*"
        v = bd_rate([p[0] for p in a], [p[1] for p in a], [p[0] for p in t], [p[1] for p in t], "pchip")
    except BDError as e:
        msg = f"{test.label} vs {anchor.label} ({metric}): {e}"
        if msg not in notes:
            notes.append(msg)
        return f"n/a[{notes.index(msg) + 1}]"
    return f"{v:+.1f}%"


def _published(paper: str, dataset: str = "kodak") -> Series | None:
    try:
        tol = tomllib.loads((repo_root() / "ci" / "tolerances.toml").read_text())
        curve = tol[paper]["full"]["curve"]
        pts = curves(load_reference(reference_path(paper)), dataset, rate="bpp").get(curve)
    except (OSError, KeyError, tomllib.TOMLDecodeError, ReferenceFileError):
        return None
    if not pts:
        return None
    return Series(f"{paper} published ({curve})", [p["bpp"] for p in pts], [p["psnr"] for p in pts],
                  [p["msssim"] for p in pts], published=True)


def build_report(runs: Path, baselines: Path | None) -> str:
    measures = sorted(p for p in runs.rglob("measures.csv") if "files" not in p.parts)
    base: list[Series] = []
    if baselines and baselines.is_dir():
        for c in BASELINE_ORDER:
            p = baselines / c / "measures.csv"
            if p.is_file():
                base += series_from_measures(p, c)
    notes: list[str] = []
    lines = [f"# Runs under `{runs}`", ""]
    if not measures:
        lines.append("No measures.csv found.")
        return "\n".join(lines) + "\n"
    hdr = ["run", "points", "bpp range", "PSNR range", "MS-SSIM range"]
    anchors = base.copy()
    cols = [f"BD-rate vs {b.label} (PSNR / MS-SSIM)" for b in base] + ["BD-rate vs paper (PSNR / MS-SSIM)"]
    lines += ["| " + " | ".join(hdr + cols) + " |", "|" + "---|" * (len(hdr) + len(cols))]
    for m in measures:
        rel = m.parent.relative_to(runs)
        try:
            series = series_from_measures(m, str(rel) or m.parent.name)
        except PlotError as e:
            notes.append(f"{rel}: {e}")
            lines.append(f"| {rel} | unreadable[{len(notes)}] |" + " |" * (len(hdr) + len(cols) - 2))
            continue
        paper = next((p for p in rel.parts if p in PAPERS), None)
        pub = _published(paper) if paper else None
        for s in series:
            def rng(vals, fmt):
                v = [x for x in vals if x is not None]
                return f"{min(v):{fmt}}–{max(v):{fmt}}" if v else "–"
            row = [s.label, str(len(s.bpp)), rng(s.bpp, ".3f"), rng(s.psnr, ".2f"), rng(s.msssim, ".4f")]
            for a in anchors:
                row.append(f"{_bd(a, s, 'psnr', notes)} / {_bd(a, s, 'msssim', notes)}")
            row.append(f"{_bd(pub, s, 'psnr', notes)} / {_bd(pub, s, 'msssim', notes)}" if pub else "–")
            lines.append("| " + " | ".join(row) + " |")
    if not base:
        lines += ["", "No baselines given (`--baselines DIR` from `python -m shared_eval.baselines`)."]
    if notes:
        lines += ["", *[f"[{i}] {n}" for i, n in enumerate(notes, 1)]]
    lines += ["", "BD-rate: PCHIP Bjøntegaard delta rate of the run against each anchor at equal quality "
              "(negative = fewer bits); MS-SSIM on its linear scale. * = a single operating point: its rate gap "
              "to the anchor interpolated (PCHIP in log-rate) at the same quality."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shared_eval.report", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, help="folder searched recursively for measures.csv")
    ap.add_argument("--baselines", type=Path, default=repo_root() / "ci" / "baselines" / "kodak",
                    help="output folder of shared_eval.baselines (default ci/baselines/kodak)")
    ap.add_argument("--out", type=Path, help="also write the markdown here")
    a = ap.parse_args(argv)
    if not a.runs.is_dir():
        print(f"report: error: {a.runs}: not a directory", file=sys.stderr)
        return 2
    text = build_report(a.runs, a.baselines)
    print(text, end="")
    if a.out:
        atomic_write_bytes(a.out, text.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
