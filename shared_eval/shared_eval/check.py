"""Regression check of a run against published numbers (full) or our own committed results (mini, zoo).

    python -m shared_eval.check --paper P --scale mini|zoo|full --measures runs/P/S/measures.csv
        [--reference CSV] [--tolerances ci/tolerances.toml] [--tolerance KEY=VALUE ...] [--dataset D]
        [--update-reference]

full: the run's operating points (means over images per ``lambda``/``config``/``model`` group) are matched to
the published curve in ``ci/references/<paper>.csv``: a point named like a published point (HiFiC "Lo", CPM
"A") is compared with it directly; other points by their rate gap at matched quality (the published curve
interpolated with PCHIP in log-rate); two or more points also by BD-rate against the published curve.
mini: per-group means are compared with ``ci/references/<paper>-mini.csv`` (a committed measures.csv of
this project's own mini run); ``--update-reference`` writes that file from ``--measures``. zoo: the same
comparison for the committed ``zoo/mini`` checkpoint re-evaluated on the Kodak check crops (``make test``)
against ``ci/references/<paper>-zoo.csv``, with ``[defaults.zoo]`` / ``[<paper>.zoo]`` tolerances: a fixed
checkpoint must reproduce its numbers closely, while a mini *reproduction* retrains and may need more room.

Exit status: 0 pass, 1 regression, 2 bad input, 3 no mini reference committed yet, 4 nothing comparable.
"""

from __future__ import annotations

import argparse
import math
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

from shared_data.errors import DatasetError
from shared_data.imageio import atomic_write_bytes

from .bdrate import BDError, bd_rate
from .measures_csv import MeasuresError, read_measures
from .references import PAPERS, ReferenceFileError, curves, load_reference, reference_path, repo_root

EXIT_OK, EXIT_REGRESSION, EXIT_INPUT, EXIT_NO_MINI_REFERENCE, EXIT_NOTHING_COMPARED = 0, 1, 2, 3, 4
SCALES = ("mini", "zoo", "full")
GROUP_COLUMNS = ("lambda", "config", "model", "quality", "point")
#: mini runs are grouped by every one of these their reference has (e.g. SGA: method × lambda; iREC: mode)
MINI_GROUP_COLUMNS = ("mode", "method") + GROUP_COLUMNS
_MEAS = {"msssim": "ms-ssim"}  # reference column -> measures.csv column


class CheckInputError(DatasetError):
    """Bad tolerances, measures or reference input (exit status 2)."""


@dataclass
class Line:
    """One row of the printed table."""

    label: str
    ours: str
    published: str
    gap: str
    limit: str
    verdict: str  # PASS, FAIL or SKIP
    note: str = ""


@dataclass
class Result:
    paper: str
    scale: str
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_OK

    def table(self) -> str:
        head = ("point", "ours", "published", "gap", "limit", "verdict")
        rows = [head] + [(ln.label, ln.ours, ln.published, ln.gap, ln.limit,
                          ln.verdict + (f" ({ln.note})" if ln.note else "")) for ln in self.lines]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
        out = [fmt.format(*r) for r in rows]
        out.insert(1, "-" * min(120, sum(widths) + 2 * len(widths) + 7))
        return "\n".join(out)


# --- tolerances ------------------------------------------------------------------------------------

def default_tolerances_path() -> Path:
    return repo_root() / "ci" / "tolerances.toml"


def load_tolerances(path: str | Path, paper: str, scale: str,
                    overrides: dict | None = None) -> list[tuple[str, dict]]:
    """The check sections for a paper and scale: ``[(name, settings)]`` with overrides applied."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CheckInputError(f"{path}: tolerances file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise CheckInputError(f"{path}: invalid TOML: {e}") from None
    if paper not in data and scale == "full":
        raise CheckInputError(f"{path}: no [{paper}.full] section")
    sect = data.get(paper, {})
    if scale == "mini":
        merged = dict(data.get("defaults", {}).get("mini", {}))
        merged.update(sect.get("mini", {}))
        out = [("mini", merged)]
    elif scale == "zoo":  # the committed checkpoint re-evaluated: [defaults.mini] < [defaults.zoo] < [P.zoo]
        merged = dict(data.get("defaults", {}).get("mini", {}))
        merged.update(data.get("defaults", {}).get("zoo", {}))
        merged.update(sect.get("zoo", {}))
        out = [("zoo", merged)]
    else:
        out = [(k, dict(v)) for k, v in sect.items() if k.startswith("full") and isinstance(v, dict)]
        if not out:
            raise CheckInputError(f"{path}: no [{paper}.full] section")
    for _, s in out:
        s.update(overrides or {})
    return out


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for it in items or []:
        if "=" not in it:
            raise CheckInputError(f"--tolerance expects KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            out[k.strip()] = v.strip()
    return out


# --- helpers ---------------------------------------------------------------------------------------

def _group_column(rows: list[dict], exclude: str | None = None) -> str | None:
    cols = set().union(*(r.keys() for r in rows)) if rows else set()
    for c in GROUP_COLUMNS:
        if c in cols and c != exclude and any(r.get(c) not in (None, "") for r in rows):
            return c
    return None


def _label(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _groups(rows: list[dict], col: str | None) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(_label(r.get(col)) if col else "all", []).append(r)
    return out


def _mean(rows: list[dict], col: str) -> float | None:
    vals = [r.get(col) for r in rows]
    if not vals or any(not isinstance(v, int | float) or isinstance(v, bool) for v in vals):
        return None
    return float(np.mean(vals))


def _fmt(v: float | None, col: str) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if col in ("msssim", "ms-ssim") else f"{v:.3f}" if col in ("bpp", "bpsp", "bpd") else f"{v:.2f}"


def _delta(v: float, col: str) -> str:
    v = 0.0 if abs(v) < 5e-7 else v
    return f"{v:+.4f}" if col in ("msssim", "ms-ssim") else f"{v:+.2f}"


def _matches(label: str, ref: dict) -> bool:
    lab = label.strip().lower()
    for key in ("config", "method"):
        v = (ref.get(key) or "").strip().lower()
        if v and (lab == v or lab in v.split()):
            return True
    return False


# --- full scale ------------------------------------------------------------------------------------

def _check_full_section(name: str, s: dict, paper: str, rows: list[dict], ref_rows: list[dict],
                        dataset_override: str | None, res: Result) -> int:
    """Append lines for one [paper.full*] section; returns the number of non-SKIP lines."""
    dataset = dataset_override or s.get("dataset")
    rate = s.get("rate", "bpp")
    ref_rate = s.get("ref_rate", rate)
    metric = s.get("metric")
    mcol = _MEAS.get(metric, metric) if metric else None
    usable = [r for r in rows if isinstance(r.get(rate), int | float)
              and (mcol is None or isinstance(r.get(mcol), int | float))]
    if "dataset" in (usable[0] if usable else {}):
        usable = [r for r in usable if str(r.get("dataset", "")).lower() == str(dataset).lower()]
    if not usable:
        res.notes.append(f"[{paper}.{name}] skipped: no rows with {rate}" + (f" and {mcol}" if mcol else "")
                         + f" on {dataset}")
        return 0
    if "dataset" not in usable[0]:
        res.notes.append(f"[{paper}.{name}] measures have no dataset column: assuming {dataset}")
    cc = s.get("curve_column")
    if cc and any(r.get(cc) not in (None, "") for r in usable):
        split = _groups(usable, cc)
        cmap = {str(k).lower(): v for k, v in dict(s.get("curve_map", {})).items()}
        parts = [(k, cmap.get(k.lower()), v) for k, v in split.items()]
    else:
        parts = [("", s["curve"], usable)]
    all_curves = curves(ref_rows, dataset, rate=ref_rate, metric=metric)
    n_compared = 0
    for part, curve_id, prow in parts:
        prefix = f"{part}/" if part else ""
        if curve_id is None or curve_id not in all_curves:
            res.lines.append(Line(f"{prefix}*", "-", "-", "-", "-", "SKIP",
                                  f"no published curve {curve_id or part!r} on {dataset}"))
            continue
        ref_curve = all_curves[curve_id]
        direct = all_curves.get(s.get("points_curve", ""), [])
        gcol = _group_column(prow, exclude=cc)
        pts = []
        for label, g in _groups(prow, gcol).items():
            r_ours, m_ours = _mean(g, rate), (_mean(g, mcol) if mcol else None)
            pts.append((label, r_ours, m_ours))
            tag = f"{prefix}{label} ({len(g)} img)"
            limit_r = float(s.get("max_rate_gap_pct", math.inf))
            if metric is None:  # lossless: a published point by name
                want = label if gcol else s.get("match", "")
                cand = [p for p in ref_curve if _matches(want, p)] or (ref_curve if len(ref_curve) == 1 else [])
                if not cand:
                    res.lines.append(Line(tag, _fmt(r_ours, rate), "-", "-", "-", "SKIP",
                                          f"no published point named {want!r} in {curve_id}"))
                    continue
                pub = cand[0][ref_rate]
                gap = (r_ours / pub - 1) * 100
                res.lines.append(Line(tag, f"{rate}={_fmt(r_ours, rate)}", f"{ref_rate}={_fmt(pub, ref_rate)}",
                                      f"{gap:+.1f}%", f"<= {limit_r:g}%", "PASS" if gap <= limit_r else "FAIL",
                                      cand[0].get("method", "")))
                n_compared += 1
                continue
            named = [p for p in direct if gcol and _matches(label, p)]
            if named:
                p = named[0]
                gap = (r_ours / p[ref_rate] - 1) * 100
                drop = p[metric] - m_ours
                limit_m = float(s.get("max_metric_drop", math.inf))
                ok = gap <= limit_r and drop <= limit_m
                res.lines.append(Line(tag, f"{_fmt(r_ours, rate)} / {_fmt(m_ours, metric)}",
                                      f"{_fmt(p[ref_rate], ref_rate)} / {_fmt(p[metric], metric)} ({p['config']})",
                                      f"rate {gap:+.1f}%, {metric} {_delta(-drop, metric)}",
                                      f"rate <= {limit_r:g}%, drop <= {limit_m:g}", "PASS" if ok else "FAIL"))
                n_compared += 1
                continue
            rr = np.array([p[ref_rate] for p in ref_curve])
            qq = np.array([p[metric] for p in ref_curve])
            if len(rr) < 2 or np.any(np.diff(qq) <= 0):
                res.lines.append(Line(tag, _fmt(r_ours, rate), "-", "-", "-", "SKIP",
                                      f"published curve {curve_id} has < 2 points or is not monotone"))
                continue
            if not (qq[0] <= m_ours <= qq[-1]):
                res.lines.append(Line(tag, f"{_fmt(r_ours, rate)} / {_fmt(m_ours, metric)}", "-", "-", "-",
                                      "SKIP", f"{metric} outside the published range "
                                              f"[{_fmt(qq[0], metric)}, {_fmt(qq[-1], metric)}] of {curve_id}"))
                continue
            pub_r = float(10 ** PchipInterpolator(qq, np.log10(rr))(m_ours))
            gap = (r_ours / pub_r - 1) * 100
            res.lines.append(Line(tag, f"{_fmt(r_ours, rate)} / {_fmt(m_ours, metric)}",
                                  f"{_fmt(pub_r, rate)} / {_fmt(m_ours, metric)} ({curve_id}, interp.)",
                                  f"rate {gap:+.1f}% at equal {metric}", f"<= {limit_r:g}%",
                                  "PASS" if gap <= limit_r else "FAIL"))
            n_compared += 1
        if metric is not None and len(pts) >= 2:
            limit_bd = float(s.get("max_bd_rate_pct", math.inf))
            label = f"{prefix}BD-rate vs {curve_id}"
            try:
                bd = bd_rate([p[ref_rate] for p in ref_curve], [p[metric] for p in ref_curve],
                             [p[1] for p in pts], [p[2] for p in pts], method="pchip")
            except BDError as e:
                res.lines.append(Line(label, f"{len(pts)} points", f"{len(ref_curve)} points", "-", "-",
                                      "SKIP", str(e)))
            else:
                res.lines.append(Line(label, f"{len(pts)} points", f"{len(ref_curve)} points", f"{bd:+.1f}%",
                                      f"<= {limit_bd:g}%", "PASS" if bd <= limit_bd else "FAIL"))
                n_compared += 1
    return n_compared


# --- mini scale ------------------------------------------------------------------------------------

def _check_mini(s: dict, rows: list[dict], ref: list[dict], res: Result) -> int:
    cols = [c for c in MINI_GROUP_COLUMNS if any(r.get(c) not in (None, "") for r in ref)]
    gcol = "/".join(cols) or None

    def groups(rs):
        out: dict[str, list[dict]] = {}
        for r in rs:
            label = " ".join(f"{c}={_label(r.get(c))}" for c in cols) if cols else "all"
            out.setdefault(label, []).append(r)
        return out

    ours_g, ref_g = groups(rows), groups(ref)
    n = 0
    for label, rg in ref_g.items():
        og = ours_g.get(label)
        if og is None:
            res.lines.append(Line(label, "missing", f"{len(rg)} img", "-", "-", "FAIL",
                                  f"the run has no {gcol or 'rows'} = {label}"))
            n += 1
            continue
        names_r, names_o = sorted(r["img_name"] for r in rg), sorted(r["img_name"] for r in og)
        if names_r != names_o:
            res.lines.append(Line(label, f"{len(og)} img", f"{len(rg)} img", "-", "-", "FAIL",
                                  "image sets differ: "
                                  f"only in run {sorted(set(names_o) - set(names_r))[:3]}, "
                                  f"only in reference {sorted(set(names_r) - set(names_o))[:3]}"))
            n += 1
            continue
        checks = [(c, "rate", float(s.get("max_rate_increase_pct", 0.0))) for c in ("bpp", "bpsp")]
        checks += [("psnr", "drop", float(s.get("max_psnr_drop_db", 0.0))),
                   ("ms-ssim", "drop", float(s.get("max_msssim_drop", 0.0)))]
        for col, kind, lim in checks:
            o, r = _mean(og, col), _mean(rg, col)
            if r is None:
                continue
            tag = f"{label} {col}"
            if o is None:
                res.lines.append(Line(tag, "-", _fmt(r, col), "-", "-", "FAIL", f"the run has no {col}"))
                n += 1
                continue
            if kind == "rate":
                gap = 0.0 if o == r else (o / r - 1) * 100 if r else math.inf
                res.lines.append(Line(tag, _fmt(o, col), _fmt(r, col), f"{gap:+.2f}%", f"<= {lim:g}%",
                                      "PASS" if gap <= lim else "FAIL"))
            else:
                drop = 0.0 if o == r else r - o  # inf == inf for lossless PSNR
                if math.isnan(drop):
                    drop = math.inf
                lost = sorted(x["img_name"] for x in og if math.isinf(r) and not math.isinf(x[col]))
                if lost:  # a mean of inf hides one image that is no longer lossless
                    res.lines.append(Line(tag, _fmt(o, col), _fmt(r, col), "-", "every image lossless",
                                          "FAIL", f"{len(lost)} image(s) not lossless: {lost[:3]}"))
                    n += 1
                    continue
                res.lines.append(Line(tag, _fmt(o, col), _fmt(r, col), _delta(-drop, col), f"drop <= {lim:g}",
                                      "PASS" if drop <= lim else "FAIL"))
            n += 1
    for label in ours_g.keys() - ref_g.keys():
        res.lines.append(Line(label, f"{len(ours_g[label])} img", "-", "-", "-", "SKIP",
                              "not in the mini reference"))
    return n


# --- required columns ------------------------------------------------------------------------------

def _require_mini_columns(measures, rows: list[dict], ref: list[dict], ref_path: Path) -> None:
    """Every rate/quality/grouping column the reference has values in must be a column of the run."""
    have = set(rows[0])
    for c in MINI_GROUP_COLUMNS + ("bpp", "bpsp", "psnr", "ms-ssim"):
        if c not in have and any(r.get(c) not in (None, "") for r in ref):
            raise CheckInputError(f"{measures}: no column {c!r} (the reference {ref_path} has it)")


def _require_full_columns(measures, rows: list[dict], paper: str, sections: list[tuple[str, dict]]) -> None:
    """At least one [paper.full*] section must find its rate and metric columns in the run's header."""
    have, missing = set(rows[0]), []
    for name, s in sections:
        need = [s.get("rate", "bpp")] + ([_MEAS.get(s["metric"], s["metric"])] if s.get("metric") else [])
        lack = [c for c in need if c not in have]
        if not lack:
            return
        missing.append(f"{lack[0]!r} (needed by [{paper}.{name}])")
    raise CheckInputError(f"{measures}: no column {' or '.join(missing)}")


# --- entry points ----------------------------------------------------------------------------------

def run_check(paper: str, scale: str, measures: str | Path, reference: str | Path | None = None,
              tolerances: str | Path | None = None, overrides: dict | None = None,
              dataset: str | None = None) -> Result:
    """Compare a measures.csv with the reference; the verdict is in ``Result.exit_code``."""
    if paper not in PAPERS:
        raise CheckInputError(f"unknown paper {paper!r}; choose one of {', '.join(PAPERS)}")
    if scale not in SCALES:
        raise CheckInputError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    res = Result(paper, scale)
    ref_path = Path(reference) if reference else reference_path(paper, scale)
    if scale != "full" and not ref_path.is_file():
        res.notes.append(f"no {scale} reference {ref_path} has been committed yet, so this run cannot be checked. "
                         f"After reviewing the run, record it with: python -m shared_eval.check --paper {paper} "
                         f"--scale {scale} --measures {measures} --update-reference")
        res.exit_code = EXIT_NO_MINI_REFERENCE
        return res
    sections = load_tolerances(tolerances or default_tolerances_path(), paper, scale, overrides)
    try:
        rows = read_measures(measures)
    except MeasuresError as e:
        raise CheckInputError(str(e)) from None
    if not rows:
        raise CheckInputError(f"{measures}: no rows")
    n = 0
    if scale != "full":
        try:
            ref = read_measures(ref_path)
        except MeasuresError as e:
            raise CheckInputError(f"{scale} reference: {e}") from None
        _require_mini_columns(measures, rows, ref, ref_path)
        n = _check_mini(sections[0][1], rows, ref, res)
    else:
        try:
            ref_rows = load_reference(ref_path)
        except ReferenceFileError as e:
            raise CheckInputError(str(e)) from None
        _require_full_columns(measures, rows, paper, sections)
        for name, s in sections:
            n += _check_full_section(name, s, paper, rows, ref_rows, dataset, res)
    if any(ln.verdict == "FAIL" for ln in res.lines):
        res.exit_code = EXIT_REGRESSION
    elif n == 0:
        res.notes.append("nothing could be compared with the reference (see SKIP reasons): not a pass")
        res.exit_code = EXIT_NOTHING_COMPARED
    return res


def update_mini_reference(paper: str, measures: str | Path, reference: str | Path | None = None,
                          scale: str = "mini") -> Path:
    """Validate ``measures`` and store it as the committed mini (or zoo) reference (atomic write)."""
    try:
        rows = read_measures(measures)
    except MeasuresError as e:
        raise CheckInputError(str(e)) from None
    if not rows:
        raise CheckInputError(f"{measures}: no rows")
    dst = Path(reference) if reference else reference_path(paper, scale)
    atomic_write_bytes(dst, Path(measures).read_bytes())
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shared_eval.check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--paper", required=True, choices=PAPERS)
    ap.add_argument("--scale", required=True, choices=SCALES,
                    help="full: vs the published numbers; mini: a `make reproduce-P SCALE=mini` run vs our "
                         "committed ci/references/P-mini.csv; zoo: the committed checkpoint on the Kodak check "
                         "crops vs ci/references/P-zoo.csv (strict tolerances)")
    ap.add_argument("--measures", required=True, help="measures.csv of the run")
    ap.add_argument("--reference", help="reference CSV (default ci/references/<paper>[-mini|-zoo].csv)")
    ap.add_argument("--tolerances", help="tolerances TOML (default ci/tolerances.toml)")
    ap.add_argument("--tolerance", action="append", default=[], metavar="KEY=VALUE",
                    help="override one tolerance (e.g. max_bd_rate_pct=5); repeatable")
    ap.add_argument("--dataset", help="dataset of the run when measures.csv has no dataset column")
    ap.add_argument("--update-reference", action="store_true",
                    help="(mini/zoo) store --measures as ci/references/<paper>-mini.csv (-zoo.csv)")
    a = ap.parse_args(argv)
    try:
        if a.update_reference:
            if a.scale == "full":
                raise CheckInputError("--update-reference only applies to --scale mini/zoo (published references "
                                      "are data from the papers, rebuilt by ci/references/build_references.py)")
            dst = update_mini_reference(a.paper, a.measures, a.reference, a.scale)
            print(f"wrote {dst}")
            return EXIT_OK
        res = run_check(a.paper, a.scale, a.measures, a.reference, a.tolerances,
                        parse_overrides(a.tolerance), a.dataset)
    except CheckInputError as e:
        print(f"check: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    print(f"{a.paper} ({a.scale}) vs {a.reference or reference_path(a.paper, a.scale)}")
    if res.lines:
        print(res.table())
    for n in res.notes:
        print(f"note: {n}", file=sys.stderr if res.exit_code else sys.stdout)
    verdict = {EXIT_OK: "PASS", EXIT_REGRESSION: "FAIL: regression", EXIT_NO_MINI_REFERENCE:
               "NOT CHECKED: no mini/zoo reference", EXIT_NOTHING_COMPARED: "NOT CHECKED: nothing comparable"}
    print(f"{a.paper} {a.scale}: {verdict[res.exit_code]}", file=sys.stderr if res.exit_code else sys.stdout)
    return res.exit_code


if __name__ == "__main__":
    sys.exit(main())
