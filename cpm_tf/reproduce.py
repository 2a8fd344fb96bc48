"""Reproduce CPM: ``python reproduce.py --scale mini|full --out DIR`` writes DIR/measures.csv + summary.json.

mini: trains ``ae_configs/mini/low`` + ``pc_configs/mini/res_shallow`` (reduced, documented in the configs)
on $TRAIN_DIR photos for --steps (default 1,241: what the committed zoo/mini got; a fixed count so that a
rerun can be checked against ci/references/cpm-mini.csv; --minutes only guards the wall time), then evaluates on Kodak ($KODAK_DIR, first --n_images) with
real bitstreams, reporting the context model's real and estimated bpp next to the ideal cost of the same
symbols under a factorized (no-context) model (the paper's central claim at small scale).
``--skip_train`` evaluates the committed zoo/mini model instead (what the CI regression check compares).

full: trains ``ae_configs/cvpr/{low,med,hi}`` + ``pc_configs/cvpr/res_shallow`` on ImageNet TFRecords
($RECORDS_ROOT/{train,val}/*.tfrecord with feature ``image/encoded``, as written by
``python -m shared_data prepare imagenet-cpm``; RECORDS_ROOT = that command's ``OUT/records``) for
--max_steps each (the original has no step limit), testing on ``imgnet_test`` every 1000 steps, then
evaluates all 24 Kodak images with real bitstreams (``config`` column A/B/C per operating point). Meant for
a GPU. ``--configs`` picks operating points; ``--set KEY=VALUE`` overrides autoencoder config values (e.g.
``batch_size=2``; evaluated as config lines after the file, unknown keys refused: ``cpm.config.parse``) —
for smoke tests of this path on a CPU, never for results.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from shared_data import paths

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent


OPERATING_POINTS = {"low": "A", "med": "B", "hi": "C"}


def evaluate(model_dir, n_images, config_label=None, images="kodak"):
    from cpm.codec import load_codec
    from cpm.evaluate import dataset_images, evaluate_image
    from tqdm import tqdm

    from shared_data.imageio import read_image
    codec = load_codec(model_dir)
    rows = []
    for f in tqdm(dataset_images(images)[:n_images], desc=f"{Path(images).name} {Path(model_dir).name}"):
        r = evaluate_image(codec, read_image(f), f.name, real_bpp=True)
        if config_label:
            r["config"] = config_label
        rows.append(r)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=("mini", "full"), required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=1241,
                   help="mini: training steps (1,241 = the committed zoo/mini; ~10 min on an idle 2-core CPU, 25 min "
                        "at load ~10)")
    p.add_argument("--minutes", type=float, default=45.0,
                   help="mini: wall-time guard; if it stops training before --steps, the result is not comparable "
                        "with the mini reference (said in summary.json)")
    p.add_argument("--n_images", type=int, default=None, help="Kodak images to evaluate (mini default 6, full 24)")
    p.add_argument("--skip_train", action="store_true", help="mini: evaluate the committed zoo/mini model")
    p.add_argument("--max_steps", type=int, default=500_000, help="full: steps per operating point")
    p.add_argument("--configs", default="low,med,hi", help="full: operating points (ae_configs/cvpr/*)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="full: override an autoencoder config value (smoke tests)")
    p.add_argument("--images", default="kodak", help="evaluation images (default: Kodak, $KODAK_DIR)")
    a = p.parse_args(argv)
    from cpm.tfsetup import limit_threads
    limit_threads()
    from cpm.codec import DEFAULT_MODEL
    from cpm.evaluate import EXTRA_COLUMNS
    from cpm.train_loop import train

    from shared_data.errors import LicError
    from shared_eval.measures_csv import summarize, write_measures, write_summary
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    info = {"scale": a.scale}
    try:
        if a.scale == "mini":
            n = a.n_images or 6
            if a.skip_train:
                model_dir = DEFAULT_MODEL
            else:
                train_dir = str(paths.train_dir())
                model_dir = train(ROOT / "ae_configs/mini/low", ROOT / "pc_configs/mini/res_shallow", train_dir, None,
                                  out / "logs", max_steps=a.steps, max_minutes=a.minutes, log_save=200,
                                  log_test=-1)
            info["model_dir"] = str(model_dir)
            if not a.skip_train:
                info["steps_requested"], info["minutes_guard"] = a.steps, a.minutes
            rows = evaluate(model_dir, n, images=a.images)
        else:
            n = a.n_images or 24
            rows = []
            cfgs = [c for c in a.configs.split(",") if c]
            bad = [c for c in cfgs if c not in OPERATING_POINTS]
            if bad:
                raise ValueError(f"--configs: unknown operating point(s) {bad} (have {list(OPERATING_POINTS)})")
            info["configs"] = cfgs
            info["overrides"] = a.overrides
            info["max_steps"] = a.max_steps
            info["log_dirs"] = []
            for cfg in cfgs:
                d = train(ROOT / "ae_configs/cvpr" / cfg, ROOT / "pc_configs/cvpr/res_shallow", "imgnet_train",
                          "imgnet_test", out / "logs", max_steps=a.max_steps, ae_overrides=a.overrides)
                info["log_dirs"].append(str(d))
                rows += evaluate(d, n, config_label=OPERATING_POINTS[cfg], images=a.images)
    except (LicError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    write_measures(out / "measures.csv", rows, EXTRA_COLUMNS + (("config",) if a.scale == "full" else ()))
    s = summarize(rows)
    s.update(info)
    s["wall_s"] = round(time.time() - t0, 1)
    s["context_model_beats_factorized"] = bool(s["bpp"] < s["bpp_factorized"])
    s["saving_vs_factorized_pct"] = 100.0 * (1 - s["bpp"] / s["bpp_factorized"])
    write_summary(out / "summary.json", s)
    print(json.dumps(s, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
