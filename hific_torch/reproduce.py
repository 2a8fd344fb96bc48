"""Reproduce HiFiC end to end: stage 1 (rate + MSE [+ LPIPS]), stage 2 (GAN, warm-started), Kodak evaluation.

  python reproduce.py --scale mini --out DIR     # reduced-width MINI config, CPU, time-boxed (~20 min)
  python reproduce.py --scale full --out DIR     # paper size and schedule (1M + 1M steps: a GPU job)

Writes DIR/measures.csv (both models on Kodak, real bitstreams; column ``model`` = stage1 | gan, so the mini
regression check compares each), DIR/measures_{stage1,gan}.csv, DIR/summary.json (means of both, steps reached,
wall times, LPIPS backbone) and the two runs under DIR/runs.

MINI trains a fixed number of steps (deterministic on CPU with one thread and a fixed seed), so a rerun
reproduces the committed ci/references/hific-mini.csv; the time budgets are only a guard and the summary
says whether one fired (then the run is not comparable with the reference).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import train as train_cli
from hific.checkpoints import load_checkpoint
from hific.evaluate import EXTRA_COLUMNS, evaluate_files
from hific.perceptual import LPIPS, LPIPSWeightsMissing

from shared_data import paths, threads
from shared_data.errors import DatasetError
from shared_data.imageio import list_images
from shared_eval.measures_csv import summarize, write_measures, write_summary

SCALES = {
    # MINI: bs 8, 128 crops, lr 5e-4 (x5 the paper's, so that minutes of CPU training move the model),
    # schedules compressed proportionally (early target/rate-weight phase 5 % of the steps, lr drop at 80 %).
    # Fixed step counts (400 + 200): ~0.6 s / ~0.9 s per step on one idle core (~10 min in all with the
    # evaluation), 5-7 s per step on the shared 2-core machine at load ~15; the time budgets are only a guard.
    "mini": dict(stage1=["--mini", "-steps", "400", "-bs", "8", "-crop", "128", "-lr", "5e-4",
                         "--schedule_step", "20", "--lr_decay_step", "320", "-log_intv", "20",
                         "-save_intv", "200", "--time_budget_min", "60", "--cache_images"],
                 gan=["--mini", "-steps", "200", "-bs", "8", "-crop", "128", "-lr", "5e-4",
                      "--schedule_step", "10", "--lr_decay_step", "160", "-log_intv", "20",
                      "-save_intv", "200", "--time_budget_min", "45", "--cache_images"]),
    # FULL: the paper's model, batch 8, 256 crops, 1M + 1M steps, lr 1e-4, schedules at 50k / 500k (a GPU
    # job; --steps/--batch_size/--crop override for smoke runs, e.g. tests/test_slow.py runs it on CPU).
    "full": dict(stage1=["-steps", "1000000", "-gpu", "-log_intv", "1000", "-save_intv", "50000"],
                 gan=["-steps", "1000000", "-gpu", "-log_intv", "1000", "-save_intv", "50000"]),
}


def _last(args: list[str], flag: str) -> str:
    return args[len(args) - 1 - args[::-1].index(flag) + 1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=sorted(SCALES), default="mini")
    p.add_argument("--out", required=True)
    p.add_argument("--regime", default="low", choices=["low", "med", "high"])
    p.add_argument("--lpips", default="auto", choices=["auto", "alex", "off"],
                   help="auto: LPIPS in the loss and the measures if the AlexNet weights are on disk")
    p.add_argument("--kodak_limit", type=int, default=0, help="evaluate on the first N Kodak images only")
    p.add_argument("--steps", type=int, default=0, help="override the steps of both stages (smoke runs)")
    p.add_argument("--batch_size", type=int, default=0, help="override the batch size (smoke runs)")
    p.add_argument("--crop", type=int, default=0, help="override the crop size (smoke runs)")
    args = p.parse_args(argv)
    threads.limit(1)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        kodak = paths.kodak_images()
        list_images(paths.train_dir())
    except DatasetError as e:
        print(f"reproduce.py: error: {e}", file=sys.stderr)
        return 2
    if args.kodak_limit:
        kodak = kodak[: args.kodak_limit]

    lpips_fn = None
    if args.lpips != "off":
        try:
            lpips_fn = LPIPS()
        except LPIPSWeightsMissing as e:
            if args.lpips == "alex":
                print(f"reproduce.py: error: {e}", file=sys.stderr)
                return 2
            print(f"note: training without the k_P LPIPS term and no LPIPS column: {e}", file=sys.stderr)
    lp = ["--lpips", "alex" if lpips_fn is not None else "off"]
    cfg = {k: list(v) for k, v in SCALES[args.scale].items()}
    for stage in cfg.values():  # argparse keeps the last occurrence of a flag
        for flag, val in (("-steps", args.steps), ("-bs", args.batch_size), ("-crop", args.crop)):
            if val:
                stage += [flag, str(val)]
    t0 = time.time()
    rc = train_cli.main(["-mt", "compression", "-regime", args.regime, "-n", "stage1", "-o", str(out / "runs"),
                         "--data_dir", str(paths.train_dir()), *lp, *cfg["stage1"]])
    if rc:
        return rc
    s1 = sorted((out / "runs").glob("stage1_compression_*"))[-1] / "checkpoints" / "final.pt"
    t1 = time.time()
    rc = train_cli.main(["-mt", "compression_gan", "-regime", args.regime, "-n", "gan", "-o", str(out / "runs"),
                         "--data_dir", str(paths.train_dir()), "-warmstart", "-ckpt", str(s1), *lp, *cfg["gan"]])
    if rc:
        return rc
    s2 = sorted((out / "runs").glob("gan_compression_gan_*"))[-1] / "checkpoints" / "final.pt"
    t2 = time.time()

    summary: dict = {"paper": "hific", "scale": args.scale, "regime": args.regime,
                     "lpips": ("alex (torchvision AlexNet ImageNet weights, lpips v0.1 linear layers)"
                               if lpips_fn is not None else
                               "not measured and not in the loss: the AlexNet backbone weights are not on "
                               "this machine (never a random-backbone number)"),
                     "train_s": {"stage1": t1 - t0, "gan": t2 - t1},
                     "checkpoints": {"stage1": str(s1), "gan": str(s2)}}
    all_rows = []
    for name, ck in (("stage1", s1), ("gan", s2)):
        model, meta = load_checkpoint(ck)
        ev_dir = out / f"eval_{name}"
        rows = evaluate_files(model, kodak, ev_dir, lpips_fn=lpips_fn)
        steps = int(meta["step"])
        summary[name] = {**summarize(rows), "steps": steps,
                         "steps_planned": int(_last(cfg[name], "-steps"))}
        summary[name]["time_budget_fired"] = summary[name]["steps"] < summary[name]["steps_planned"]
        (out / f"measures_{name}.csv").write_bytes((ev_dir / "measures.csv").read_bytes())
        all_rows += [{**r, "model": name} for r in rows]
    write_measures(out / "measures.csv", all_rows, (*EXTRA_COLUMNS, "model"))
    summary.update({k: v for k, v in summary["gan"].items() if k not in ("steps", "steps_planned")})
    summary["eval_s"] = time.time() - t2
    write_summary(out / "summary.json", summary)
    try:  # rate-distortion plot of both stages against the official Lo/Mi/Hi Kodak points
        from shared_eval.plot import main as plot_main
        plot_main(["--measures", str(out / "measures_gan.csv"), f"stage1={out / 'measures_stage1.csv'}",
                   "--paper", "hific", "--dataset", "kodak", "--out", str(out / "rd.png")])
    except Exception as e:  # noqa: BLE001 - the measures are written; the plot is a convenience
        print(f"note: no plot ({type(e).__name__}: {e})", file=sys.stderr)
    print(json.dumps({k: summary[k] for k in ("stage1", "gan")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
