"""Plot bpp -> MS-SSIM of validated models with the paper's Fig. 1 curve overlaid (the original's
``plotter.py``): ``python plotter.py LOG_DIR_ROOT JOB_IDS IMAGES [-o out.png] [--style mean|interp]``.

Reads ``LOG_DIR_ROOT/"{job_id} {images}"/measures.csv`` written by val.py. The Fig. 1 curve (28 points
CVPR_FIG1) and the README's A/B/C points come from ``ci/references/cpm.csv``.
"""

import argparse
import sys
from pathlib import Path


def fig1_points():
    from shared_eval.references import load_reference, reference_path
    rows = load_reference(reference_path("cpm"))
    fig1 = sorted((r["bpp"], r["msssim"]) for r in rows if r["curve"] == "cvpr_fig1" and r["dataset"] == "kodak")
    abc = [(r["config"], r["bpp"], r["msssim"]) for r in rows if r["curve"] == "readme_ABC"]
    return fig1, abc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("log_dir_root")
    p.add_argument("job_ids")
    p.add_argument("images")
    p.add_argument("--x_range", default="0,1.2")
    p.add_argument("--y_range", default="0.85,1.0")
    p.add_argument("--latex", action="store_true", help="use LaTeX text rendering (needs a TeX install)")
    p.add_argument("-o", "--out", default=None)
    p.add_argument("--style", choices=("interp", "mean"), default="mean")
    p.add_argument("--paper_plot", action="store_true", help="only the paper curve and our points")
    p.add_argument("--ids", nargs="*", default=None, help="labels for the job ids")
    a = p.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shared_eval.measures_csv import MeasuresError, read_measures, summarize

    root = Path(a.log_dir_root)
    jobs = [j for j in a.job_ids.split(",") if j]
    labels = a.ids or jobs
    if len(labels) != len(jobs):
        print("error: --ids needs one label per job id", file=sys.stderr)
        return 1
    pts = []
    for jid, lab in zip(jobs, labels):
        try:
            s = summarize(read_measures(root / f"{jid} {a.images}" / "measures.csv"))
        except MeasuresError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        pts.append((s.get("bpp", s.get("bpp_estimated")), s.get("ms-ssim"), lab))
    if a.latex:
        plt.rc("text", usetex=True)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    fig1, abc = fig1_points()
    ax.plot(*zip(*fig1), "-", color="C0", label="CPM paper, Fig. 1 (CE-estimated bpp)")
    if not a.paper_plot:
        for name, b, m in abc:
            ax.plot(b, m, "o", color="C0", mfc="none")
            ax.annotate(name.split()[0], (b, m), textcoords="offset points", xytext=(4, -10))
    ours = sorted((b, m, lab) for b, m, lab in pts if b is not None and m is not None)
    if a.style == "interp" and len(ours) > 1:
        ax.plot([o[0] for o in ours], [o[1] for o in ours], "-", color="C3")
    for b, m, lab in ours:
        ax.plot(b, m, "s", color="C3")
        ax.annotate(lab, (b, m), textcoords="offset points", xytext=(4, 4), color="C3")
    ax.plot([], [], "s", color="C3", label="ours (real bitstreams)")
    ax.set_xlim(*map(float, a.x_range.split(",")))
    ax.set_ylim(*map(float, a.y_range.split(",")))
    ax.set_xlabel("bpp")
    ax.set_ylabel("MS-SSIM")
    ax.set_title("Kodak" if a.images == "kodak" else a.images)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    out = Path(a.out or root / f"plot_{a.images}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
