"""Reproduce the paper's comparison of inference methods (Table 1 / Fig. of R-D curves) and write measures.csv
+ summary.json (+ rd.png) into --out.

``--scale mini`` (CPU, minutes): the committed small models in ``zoo/mini`` — two mean-scale hyperpriors
(``mbt2018-num_filters=32-lmbda=0.01`` and ``…=0.0025``) and one bits-back model
(``mbt2018_bb-num_filters=32-lmbda=0.01``); ``--retrain`` trains them again on ``$TRAIN_DIR`` with the
commands of zoo/mini/README.md (shortened). Four 128×128 centre crops of Kodak images; every method of Table 1
(M3, M1 SGA, A1 MAP, A2 STE, A3 U-noise, A4 D-anneal on the mbt2018 models; M2 SGA+BB, A5, A6 on the
bits-back model) with the iteration counts shortened to ``--its`` (300) and the temperature schedules
compressed to the same shape; the bits-back q fits are shortened in the same ratio.

``--scale full`` (GPU): the paper's λ sweep. For each λ of ``--lambdas`` (default the INFERRED 7-point set
0.001 … 0.08; N = 192, 256 for λ ≥ 0.04) it trains (or resumes) ``mbt2018-num_filters=N-lmbda=λ`` and
``mbt2018_bb-…`` in ``--checkpoint_dir`` on CLIC-2018 (professional train/valid/test + mobile valid/test under
``$CLIC_DIR``, as prepared by ``python -m shared_data prepare clic``; ``--train_dir`` overrides) with batch 8,
256² crops, Adam 1e-4 and the README's step counts (1M for 0.001, 3M for 0.08, else 2M; ``--last_step``
overrides), then runs every method with its own iteration count on all 24 Kodak images (landscape).

Every row's ``bpp`` is real: the size of a range-coded ``.lic`` file that was decoded back for PSNR/MS-SSIM,
and for the bits-back methods the image's net share of a real bits-back ANS chain file (file bits − the
public side-information bits borrowed by its first image; ``bpp_file`` is the whole file per image).
``bpp_estimated`` is the paper's information-content estimate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from shared_data import paths

HERE = Path(__file__).resolve().parent
KODAK_DIR = paths.kodak_dir()
MINI_IMAGES = ("kodim01.png", "kodim05.png", "kodim15.png", "kodim23.png")
CLIC_DIR = paths.data_dir("CLIC_DIR", paths.SHARED_DIR / "data" / "clic")
TRAIN_DIR = paths.train_dir()
METHOD_ORDER = ("m3", "sga", "map", "ste", "unoise", "danneal")
BB_METHOD_ORDER = ("bb_sga", "bb_no_sga", "bb_plain")
#: the INFERRED 7-point λ set of the paper (survey §2); N = 256 for the two largest (II:main/README.md)
FULL_LAMBDAS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08)
#: CLIC-2018 splits the original trained on (survey §2), as folders under $CLIC_DIR
CLIC_TRAIN_SPLITS = ("professional_train", "professional_valid", "professional_test", "mobile_valid", "mobile_test")


def full_num_filters(lmbda: float) -> int:
    return 256 if lmbda >= 0.04 else 192


def full_last_step(lmbda: float) -> int:
    return 1_000_000 if lmbda <= 0.001 else 3_000_000 if lmbda >= 0.08 else 2_000_000


def clic_sources():
    found = [str(CLIC_DIR / s) for s in CLIC_TRAIN_SPLITS if (CLIC_DIR / s).is_dir()]
    if not found:
        raise FileNotFoundError(f"no CLIC-2018 split folders ({', '.join(CLIC_TRAIN_SPLITS)}) under {CLIC_DIR}: "
                                "prepare them with 'python -m shared_data prepare clic', set CLIC_DIR, or pass "
                                "--train_dir")
    return found


def _kodak_images():
    """kodim*.png of $KODAK_DIR (the project's listing rule, top level only)."""
    from shared_data.errors import DatasetError
    from shared_data.imageio import list_images

    try:
        return [p for p in list_images(KODAK_DIR, recursive=False) if p.name.startswith("kodim")]
    except DatasetError:
        return []


def kodak_crops(names, size):
    import numpy as np

    from shared_data.imageio import read_image
    from shared_data.transforms import center_crop

    out = []
    for n in names:
        p = KODAK_DIR / n
        img = read_image(p)
        if img.shape[0] > img.shape[1]:
            img = np.ascontiguousarray(np.rot90(img))  # landscape, as SN's kodak_landscape
        if size:
            img = np.ascontiguousarray(center_crop(img, size))
        out.append((n, img))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=("mini", "full"), default="mini")
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint_dir", default=None, help="default: zoo/mini (mini), ./checkpoints (full)")
    ap.add_argument("--its", type=int, default=None, help="iterations per method (mini default 300)")
    ap.add_argument("--crop", type=int, default=None, help="Kodak centre-crop size (mini default 128)")
    ap.add_argument("--q_its", type=int, default=None,
                    help="bits-back q-fit iterations (default: the methods' own, scaled like --its)")
    ap.add_argument("--methods", default=",".join(METHOD_ORDER + BB_METHOD_ORDER))
    ap.add_argument("--retrain", action="store_true", help="(mini) train the small model(s) first")
    ap.add_argument("--lambdas", default=None, help="(full) comma-separated λ sweep (default: the 7-point set)")
    ap.add_argument("--num_filters", type=int, default=None, help="(full) N for every λ (default 192/256)")
    ap.add_argument("--last_step", type=int, default=None, help="(full) training steps for every λ")
    ap.add_argument("--train_dir", default=None, help="(full) training images (default: CLIC-2018 splits)")
    ap.add_argument("--batchsize", type=int, default=8)
    ap.add_argument("--patchsize", type=int, default=256)
    ap.add_argument("--no_train", action="store_true", help="(full) evaluate the run directories present only")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    from sga.cli import _setup_tf

    _setup_tf()
    from sga.checkpoints import load_model, parse_lambda
    from sga.codec import open_coder
    from sga.evaluate import EXTRA_COLUMNS, run_method
    from sga.inference import METHODS, with_overrides

    from shared_eval.measures_csv import summarize, write_measures, write_summary

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not KODAK_DIR.is_dir():
        print(f"reproduce: error: Kodak not found at {KODAK_DIR} (set KODAK_DIR)", file=sys.stderr)
        return 1
    from sga.train import train

    if args.scale == "mini":
        ckdir = Path(args.checkpoint_dir or HERE / "zoo" / "mini")
        its = args.its or 300
        crop = 128 if args.crop is None else args.crop
        images = kodak_crops(MINI_IMAGES, crop)
        if args.retrain:  # shortened versions of the commands in zoo/mini/README.md
            from sga.checkpoints import export_weights

            ckdir = out / "checkpoints"
            for kind, lmbda in (("mbt2018", 0.01), ("mbt2018_bb", 0.01)):
                run = train(32, lmbda, str(TRAIN_DIR), str(out / "train"), batchsize=8, patchsize=128,
                            last_step=500, lr=2e-3, seed=1, logdir=str(out / "tb"), model_kind=kind)
                model, margs = load_model(run)
                export_weights(model, margs, ckdir / run.name)
    else:
        ckdir = Path(args.checkpoint_dir or "checkpoints")
        its = args.its
        crop = args.crop
        images = kodak_crops(sorted(p.name for p in _kodak_images()), args.crop)
        if not images:
            print(f"reproduce: error: no kodim*.png in {KODAK_DIR}", file=sys.stderr)
            return 1
        if not args.no_train:
            try:
                sources = [args.train_dir] if args.train_dir else clic_sources()
            except FileNotFoundError as e:
                print(f"reproduce: error: {e}", file=sys.stderr)
                return 1
            lambdas = [float(v) for v in args.lambdas.split(",")] if args.lambdas else list(FULL_LAMBDAS)
            for lmbda in lambdas:
                n = args.num_filters or full_num_filters(lmbda)
                steps = args.last_step or full_last_step(lmbda)
                for kind in ("mbt2018", "mbt2018_bb"):
                    print(f"reproduce: training {kind} N={n} λ={lmbda:g} to step {steps}", flush=True)
                    train(n, lmbda, sources, str(ckdir), batchsize=args.batchsize, patchsize=args.patchsize,
                          last_step=steps, lr=1e-4, logdir=str(out / "tb"), model_kind=kind,
                          progress=args.progress)
    runs = sorted(d for pat in ("mbt2018-num_filters=*-lmbda=*", "mbt2018_bb-num_filters=*-lmbda=*")
                  for d in ckdir.glob(pat) if (d / "args.json").is_file())
    if not runs:
        print(f"reproduce: error: no model directories 'mbt2018[_bb]-num_filters=N-lmbda=λ' in {ckdir}",
              file=sys.stderr)
        return 1
    rows, t0 = [], time.time()
    selected = args.methods.split(",")
    unknown = [m for m in selected if m not in METHODS or m not in METHOD_ORDER + BB_METHOD_ORDER]
    if unknown:
        print(f"reproduce: error: unknown method(s) {unknown}", file=sys.stderr)
        return 1
    for run in runs:
        model, _ = load_model(run)
        lmbda = parse_lambda(run.name)
        bb = getattr(model, "is_bits_back", False)
        coder = open_coder(model, lmbda)
        for name in [m for m in selected if (m in BB_METHOD_ORDER) == bb]:
            base = METHODS[name]
            meth = with_overrides(base, its=its if (its and base.its > 0) else None, compress_schedule=True)
            q_its = args.q_its
            if bb and q_its is None and its:  # shorten the q fit in the same ratio as the iterations
                own = METHODS[base.q_fit].its
                q_its = max(1, round(own * its / 2000)) if own else None
            t = time.time()
            r = run_method(model, lmbda, meth, None, out / "files" / run.name, script=name, runname=run.name,
                           progress=args.progress, coder=coder, images=images, q_its=q_its)
            for row in r:
                row["run"] = run.name
            rows += r
            s = summarize(r)
            print(f"{run.name} {meth.table_id:3s} {name:9s} its={meth.its:5d} real bpp {s['bpp']:.4f} "
                  f"est bpp {s['bpp_estimated']:.4f} PSNR {s['psnr']:.2f} rd_loss(est) "
                  f"{s['rd_loss_estimated']:.4f} rd_loss(real) {s['rd_loss_real']:.4f} [{time.time() - t:.0f}s]",
                  flush=True)
    write_measures(out / "measures.csv", rows, EXTRA_COLUMNS + ("run",))
    summary = {"scale": args.scale, "its": its, "crop": crop,
               "images": [n for n, _ in images], "wall_s": time.time() - t0, "per_run": {}}
    for run in runs:
        per = {}
        for name in selected:
            rr = [r for r in rows if r["run"] == run.name and r["method"] == name]
            if rr:
                per[name] = summarize(rr)
        if "m3" in per:
            for name, s in per.items():
                if name != "m3":
                    s["rd_loss_estimated_vs_m3"] = s["rd_loss_estimated"] - per["m3"]["rd_loss_estimated"]
                    s["rd_loss_real_vs_m3"] = s["rd_loss_real"] - per["m3"]["rd_loss_real"]
        summary["per_run"][run.name] = per
    # across models at the same λ (M2/A5/A6 run on the bits-back model, the others on mbt2018)
    by_lambda = {}
    for r in rows:
        by_lambda.setdefault(f"{r['lambda']:g}", {}).setdefault(f"{r['table_id']} {r['method']}", []).append(r)
    summary["by_lambda"] = {lam: {k: summarize(v) for k, v in sorted(d.items())} for lam, d in by_lambda.items()}
    summary.update({k: v for k, v in summarize(rows).items() if k == "n_images"})
    write_summary(out / "summary.json", summary)
    try:  # R-D plot of every method (real file bpp) against the published Kodak curves
        from shared_eval.plot import published_series, rd_plot, series_from_measures

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
