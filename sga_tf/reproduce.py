"""Reproduce the paper's comparison of inference methods on one trained model and write measures.csv +
summary.json into --out.

``--scale mini`` (CPU, minutes): the committed small model(s) in ``zoo/mini`` (``--retrain`` trains them again
on ``$TRAIN_DIR`` with the command in zoo/mini/README.md), a few centre crops of Kodak images, every method of
Table 1 that is implemented (M3, M1 SGA, A1 MAP, A2 STE, A3 U-noise, A4 D-anneal) with the iteration count
shortened to ``--its`` and the temperature schedules compressed to the same shape.

``--scale full`` (GPU): every run directory ``mbt2018-num_filters=N-lmbda=λ`` in ``--checkpoint_dir``, all
24 Kodak images, the methods' own iteration counts (2000).

Every row's ``bpp`` is the size of a real range-coded ``.lic`` file that was decoded back for PSNR/MS-SSIM;
``bpp_estimated`` is the paper's information-content estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KODAK_DIR = Path(os.environ.get("KODAK_DIR", HERE.parent.parent / "shared" / "data" / "kodak"))
MINI_IMAGES = ("kodim01.png", "kodim05.png", "kodim15.png", "kodim23.png")
METHOD_ORDER = ("m3", "sga", "map", "ste", "unoise", "danneal")


def kodak_crops(names, size):
    import numpy as np

    from shared_data.imageio import read_image

    out = []
    for n in names:
        p = KODAK_DIR / n
        img = read_image(p)
        if img.shape[0] > img.shape[1]:
            img = np.ascontiguousarray(np.rot90(img))  # landscape, as SN's kodak_landscape
        h, w = img.shape[:2]
        if size:
            top, left = (h - size) // 2, (w - size) // 2
            img = np.ascontiguousarray(img[top:top + size, left:left + size])
        out.append((n, img))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=("mini", "full"), default="mini")
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint_dir", default=None, help="default: zoo/mini (mini), ./checkpoints (full)")
    ap.add_argument("--its", type=int, default=None, help="iterations per method (mini default 300)")
    ap.add_argument("--crop", type=int, default=None, help="Kodak centre-crop size (mini default 128)")
    ap.add_argument("--methods", default=",".join(METHOD_ORDER))
    ap.add_argument("--retrain", action="store_true", help="(mini) train the small model(s) first")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from sga.cli import _setup_tf

    _setup_tf()
    from sga.checkpoints import load_model, parse_lambda
    from sga.coding import Coder
    from sga.evaluate import EXTRA_COLUMNS, run_method
    from sga.inference import METHODS, with_overrides

    from shared_eval.measures import summarize, write_measures, write_summary

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not KODAK_DIR.is_dir():
        print(f"reproduce: error: Kodak not found at {KODAK_DIR} (set KODAK_DIR)", file=sys.stderr)
        return 1
    if args.scale == "mini":
        ckdir = Path(args.checkpoint_dir or HERE / "zoo" / "mini")
        its = args.its or 300
        crop = 128 if args.crop is None else args.crop
        images = kodak_crops(MINI_IMAGES, crop)
        if args.retrain:
            from sga.checkpoints import export_weights
            from sga.train import train

            train_dir = os.environ.get("TRAIN_DIR", str(HERE.parent.parent / "shared" / "data" / "train-photos"))
            ckdir = out / "checkpoints"
            for lmbda in (0.01,):
                run = train(32, lmbda, f"{train_dir}/*.png", str(out / "train"), batchsize=8, patchsize=128,
                            last_step=500, lr=2e-3, seed=1, logdir=str(out / "tb"))
                model, margs = load_model(run)
                export_weights(model, margs, ckdir / run.name)
    else:
        ckdir = Path(args.checkpoint_dir or "checkpoints")
        its = args.its
        images = kodak_crops(sorted(p.name for p in KODAK_DIR.glob("kodim*.png")), args.crop)
    runs = sorted(d for d in ckdir.glob("mbt2018-num_filters=*-lmbda=*") if (d / "args.json").is_file())
    if not runs:
        print(f"reproduce: error: no model directories 'mbt2018-num_filters=N-lmbda=λ' in {ckdir}", file=sys.stderr)
        return 1
    rows, t0 = [], time.time()
    for run in runs:
        model, _ = load_model(run)
        lmbda = parse_lambda(run.name)
        coder = Coder(model)
        for name in args.methods.split(","):
            meth = with_overrides(METHODS[name], its=its if name != "m3" else None, compress_schedule=True)
            t = time.time()
            r = run_method(model, lmbda, meth, None, out / "files" / run.name, script=name, runname=run.name,
                           progress=args.progress, coder=coder, images=images)
            for row in r:
                row["run"] = run.name
            rows += r
            s = summarize(r)
            print(f"{run.name} {meth.table_id:3s} {name:8s} its={meth.its:5d} real bpp {s['bpp']:.4f} "
                  f"est bpp {s['bpp_estimated']:.4f} PSNR {s['psnr']:.2f} rd_loss(est) "
                  f"{s['rd_loss_estimated']:.4f} rd_loss(real) {s['rd_loss_real']:.4f} [{time.time() - t:.0f}s]",
                  flush=True)
    write_measures(out / "measures.csv", rows, EXTRA_COLUMNS + ("run",))
    summary = {"scale": args.scale, "its": its, "crop": crop if args.scale == "mini" else args.crop,
               "images": [n for n, _ in images], "wall_s": time.time() - t0, "per_run": {}}
    for run in runs:
        per = {}
        for name in args.methods.split(","):
            rr = [r for r in rows if r["run"] == run.name and r["method"] == name]
            if rr:
                per[name] = summarize(rr)
        if "m3" in per:
            for name, s in per.items():
                if name != "m3":
                    s["rd_loss_estimated_vs_m3"] = s["rd_loss_estimated"] - per["m3"]["rd_loss_estimated"]
                    s["rd_loss_real_vs_m3"] = s["rd_loss_real"] - per["m3"]["rd_loss_real"]
        summary["per_run"][run.name] = per
    summary.update({k: v for k, v in summarize(rows).items() if k == "n_images"})
    write_summary(out / "summary.json", summary)
    try:  # R-D plot of every method (real file bpp) against the published Kodak curves
        from shared_eval.plots import published_series, rd_plot, series_from_measures

        series = series_from_measures(out / "measures.csv")
        try:
            series += published_series("sga", "kodak")
        except Exception as e:  # noqa: BLE001 - the plot is optional
            print(f"reproduce: note: no published curves ({e})")
        rd_plot(series, out / "rd.png", metrics=("psnr",), title=f"sga_tf {args.scale}: methods vs published")
    except Exception as e:  # noqa: BLE001 - measures and summary are written; the plot is a bonus
        print(f"reproduce: note: R-D plot not written ({e})")
    print(json.dumps({r: {m: round(v["rd_loss_estimated"], 4) for m, v in p.items()}
                      for r, p in summary["per_run"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
