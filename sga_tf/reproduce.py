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

Scaling out (issue 14): the evaluation is a :mod:`shared_eval.sweep` of tasks (model run × method × image
chunk, :mod:`sga.sweep`); ``--scheduler`` runs it in-process (default), on a Dask LocalCluster (``local:N``),
at a scheduler address or on SLURM, with the same ``measures.csv`` rows (timings aside), a progress bar, and
a resumable work folder (``OUT/.measures.csv.work``: a rerun after a killed worker or driver recomputes only
unfinished tasks). ``--task_images 1`` makes each image its own task (default 0: the protocol's same-size
batches, as one process optimises them). ``--strategy`` trains the full-scale models under tf.distribute.
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
    """(name, image) of Kodak images, landscape, centre-cropped to ``size`` (:func:`sga.sweep.load_image`)."""
    from sga.sweep import load_image

    return [(n, load_image(KODAK_DIR / n, size)) for n in names]


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
    ap.add_argument("--images", default=None,
                    help="comma-separated Kodak file names (default: mini the 4 of MINI_IMAGES, full all 24)")
    ap.add_argument("--retrain", action="store_true", help="(mini) train the small model(s) first")
    ap.add_argument("--lambdas", default=None, help="(full) comma-separated λ sweep (default: the 7-point set)")
    ap.add_argument("--num_filters", type=int, default=None, help="(full) N for every λ (default 192/256)")
    ap.add_argument("--last_step", type=int, default=None, help="(full) training steps for every λ")
    ap.add_argument("--train_dir", default=None, help="(full) training images (default: CLIC-2018 splits)")
    ap.add_argument("--batchsize", type=int, default=8, help="training batch (the global batch under --strategy)")
    ap.add_argument("--patchsize", type=int, default=256)
    ap.add_argument("--no_train", action="store_true", help="(full) evaluate the run directories present only")
    ap.add_argument("--progress", action="store_true", help="training progress bars (the sweep has its own bar; --no-progress)")
    ap.add_argument("--task_images", type=int, default=0,
                    help="images per sweep task (0: the protocol's same-size batches; 1: one image per task)")
    from sga.distribute import add_arguments as add_strategy_arguments
    from sga.distribute import check_arguments

    from shared_data.errors import LicError
    from shared_eval.sweep import SweepError, add_scheduler_arguments, scheduler_kwargs, slurm_job_script

    add_strategy_arguments(ap)
    add_scheduler_arguments(ap)
    args = ap.parse_args(argv)
    if args.job_script:
        try:
            print(slurm_job_script(args))
        except SweepError as e:
            print(f"reproduce: error: {e}", file=sys.stderr)
            return 1
        return 0
    from shared_data.pipeline import PrepareError, open_scheduler

    try:  # bad flags, then the scheduler — before TensorFlow starts or anything is written
        check_arguments(args.strategy, args.cpu_replicas)
        if args.task_images < 0:
            raise LicError(f"--task_images {args.task_images}: expected >= 0")
        if not KODAK_DIR.is_dir():
            raise LicError(f"Kodak not found at {KODAK_DIR} (set KODAK_DIR)")
        kw = scheduler_kwargs(args)
        if kw["scheduler"] not in (None, "", "in-process", "inline"):
            from sga.sweep import keep_driver_thread_env

            keep_driver_thread_env()  # the files' arithmetic record must not name the nannies' OMP=1 ...
        sched = open_scheduler(kw["scheduler"], kw["connect_timeout"], kw["slurm"], kw["jobs"], kw["job_wait"])
    except (LicError, PrepareError) as e:
        print(f"reproduce: error: {e}", file=sys.stderr)
        return 1
    try:
        return _main(args, sched, kw)
    finally:
        sched.close()


def _train(*a, **kw):
    from sga.cli import _setup_tf

    _setup_tf()
    from sga.train import train

    return train(*a, **kw)


def _main(args, sched, kw) -> int:
    import sga.sweep as sw

    from shared_eval.measures_csv import summarize, write_summary
    from shared_eval.sweep import SweepError, sweep_to_measures

    out = Path(args.out).resolve()
    if args.scale == "mini":
        ckdir = Path(args.checkpoint_dir or HERE / "zoo" / "mini")
        its = args.its or 300
        crop = 128 if args.crop is None else args.crop
        names = args.images.split(",") if args.images else list(MINI_IMAGES)
        if args.retrain:  # shortened versions of the commands in zoo/mini/README.md
            from sga.checkpoints import export_weights, load_model

            ckdir = out / "checkpoints"
            for kind, lmbda in (("mbt2018", 0.01), ("mbt2018_bb", 0.01)):
                run = _train(32, lmbda, str(TRAIN_DIR), str(out / "train"), batchsize=8, patchsize=128,
                             last_step=500, lr=2e-3, seed=1, logdir=str(out / "tb"), model_kind=kind)
                model, margs = load_model(run)
                export_weights(model, margs, ckdir / run.name)
    else:
        ckdir = Path(args.checkpoint_dir or "checkpoints")
        its = args.its
        crop = args.crop
        names = args.images.split(",") if args.images else sorted(p.name for p in _kodak_images())
        if not names:
            print(f"reproduce: error: no kodim*.png in {KODAK_DIR}", file=sys.stderr)
            return 1
        if not args.no_train:
            try:
                sources = [args.train_dir] if args.train_dir else clic_sources()
            except FileNotFoundError as e:
                print(f"reproduce: error: {e}", file=sys.stderr)
                return 1
            strategy = None
            if args.strategy != "default":
                from sga.cli import _setup_tf
                from sga.distribute import strategy_from_args

                _setup_tf()
                strategy = strategy_from_args(args, "reproduce")
            lambdas = [float(v) for v in args.lambdas.split(",")] if args.lambdas else list(FULL_LAMBDAS)
            for lmbda in lambdas:
                n = args.num_filters or full_num_filters(lmbda)
                steps = args.last_step or full_last_step(lmbda)
                for kind in ("mbt2018", "mbt2018_bb"):
                    print(f"reproduce: training {kind} N={n} λ={lmbda:g} to step {steps}", flush=True)
                    _train(n, lmbda, sources, str(ckdir), batchsize=args.batchsize, patchsize=args.patchsize,
                           last_step=steps, lr=1e-4, logdir=str(out / "tb"), model_kind=kind,
                           progress=args.progress, strategy=strategy)
    missing = [n for n in names if not (KODAK_DIR / n).is_file()]
    if missing:
        print(f"reproduce: error: {', '.join(missing)} not found in {KODAK_DIR}", file=sys.stderr)
        return 1
    images = [KODAK_DIR / n for n in names]
    runs = sorted(d for pat in ("mbt2018-num_filters=*-lmbda=*", "mbt2018_bb-num_filters=*-lmbda=*")
                  for d in ckdir.glob(pat) if (d / "args.json").is_file())
    if not runs:
        print(f"reproduce: error: no model directories 'mbt2018[_bb]-num_filters=N-lmbda=λ' in {ckdir}",
              file=sys.stderr)
        return 1
    selected = args.methods.split(",")
    unknown = [m for m in selected if m not in METHOD_ORDER + BB_METHOD_ORDER]
    if unknown:
        print(f"reproduce: error: unknown method(s) {unknown}", file=sys.stderr)
        return 1
    from sga.inference import METHODS

    def is_bb(run):
        return json.loads((run / "args.json").read_text()).get("model", "mbt2018") == "mbt2018_bb"

    def methods_of(run):
        return [m for m in selected if (m in BB_METHOD_ORDER) == is_bb(run)]

    def q_its_of(run, name):
        if args.q_its is not None or not is_bb(run) or not its:
            return args.q_its
        own = METHODS[METHODS[name].q_fit].its  # shorten the q fit in the same ratio as the iterations
        return max(1, round(own * its / 2000)) if own else None

    try:
        tasks = sw.make_tasks(runs, methods_of, images, crop, its, q_its_of, out / "files", args.task_images)
    except (OSError, ValueError) as e:
        print(f"reproduce: error: {e}", file=sys.stderr)
        return 1
    t0 = time.time()
    from sga.evaluate import EXTRA_COLUMNS

    try:
        res = sweep_to_measures(sw.inference_task, tasks, out / "measures.csv",
                                sw.sweep_config(its, crop, args.q_its, args.task_images),
                                sched.client, extra_columns=EXTRA_COLUMNS + ("run",), sort_by=("run",),
                                progress=kw["progress"], desc="reproduce")
    except SweepError as e:
        print(f"reproduce: error: {e}", file=sys.stderr)
        return 1
    res.executor = sched.kind
    print(res.line(), flush=True)
    rows = res.rows
    for run in runs:
        for name in methods_of(run):
            r = [row for row in rows if row["run"] == run.name and row["method"] == name]
            if not r:
                continue
            s = summarize(r)
            print(f"{run.name} {r[0]['table_id']:3s} {name:9s} real bpp {s['bpp']:.4f} "
                  f"est bpp {s['bpp_estimated']:.4f} PSNR {s['psnr']:.2f} rd_loss(est) "
                  f"{s['rd_loss_estimated']:.4f} rd_loss(real) {s['rd_loss_real']:.4f}", flush=True)
    summary = {"scale": args.scale, "its": its, "crop": crop, "images": list(names), "wall_s": time.time() - t0,
               "executor": res.executor, "per_run": {}}
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
