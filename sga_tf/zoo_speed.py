"""Training-speed measurements for the SGA zoo (issue 19): seconds per training step of the mean-scale hyperprior
(``sga.train``'s step: Minnen et al. 2018 loss, Adam) for thread settings, crop/batch shapes and input pipelines.

    .venv/bin/python zoo_speed.py [--steps 20] [--num_filters 64] [--out speed.json]

Each configuration runs in a fresh process (TF's thread pools are fixed at start-up): warm-up (tracing) steps,
then ``--steps`` timed steps; the input pipeline is timed alone too. ``pipeline``: ``files`` =
``shared_data.readers.tf_data`` (decode a PNG per crop, the training default), ``memory`` = the photos decoded
once and cropped from RAM (``zoo.MemoryCrops``), ``fixed`` = one batch reused (compute only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIGS = [  # (label, intra, inter, batch, crop, pipeline, onednn)
    ("base 2/2 8x128 files", 2, 2, 8, 128, "files", None),
    ("2/2 8x128 fixed", 2, 2, 8, 128, "fixed", None),
    ("2/2 8x128 memory", 2, 2, 8, 128, "memory", None),
    ("1/1 8x128 memory", 1, 1, 8, 128, "memory", None),
    ("2/1 8x128 memory", 2, 1, 8, 128, "memory", None),
    ("2/2 16x96 memory", 2, 2, 16, 96, "memory", None),
    ("2/2 4x256 memory", 2, 2, 4, 256, "memory", None),
    ("2/2 8x128 memory onednn=0", 2, 2, 8, 128, "memory", "0"),
]


def one(args) -> dict:
    """Measure one configuration in this process."""
    import numpy as np
    import tensorflow as tf

    from shared_data import paths, threads

    threads.limit(args.intra, inter=args.inter)
    import zoo  # the script's own folder is on sys.path (python zoo_speed.py)
    from sga.model import MBT2018

    tf.random.set_seed(0)
    glob = str(paths.train_dir())
    t0 = time.perf_counter()
    if args.pipeline == "files":
        from sga.train import make_dataset

        ds, _ = make_dataset(glob, args.batch, args.crop, seed=0)
    else:
        ds = zoo.MemoryCrops(glob, max_files=args.max_files).dataset(args.batch, args.crop, seed=0)
    it = iter(ds)
    x0 = next(it)
    t_setup = time.perf_counter() - t0
    tp = time.perf_counter()
    for _ in range(args.steps):
        next(it)
    pipe_s = (time.perf_counter() - tp) / args.steps
    model = MBT2018(args.num_filters)
    opt = tf.keras.optimizers.Adam(1e-4)
    step_fn = zoo.make_train_step(model, opt, 0.01)
    for _ in range(args.warmup):
        step_fn(x0)
    t = time.perf_counter()
    for _ in range(args.steps):
        x = x0 if args.pipeline == "fixed" else next(it)
        loss, _, _ = step_fn(x)
    float(loss)
    step_s = (time.perf_counter() - t) / args.steps
    return dict(step_s=step_s, pipeline_only_s=pipe_s, setup_s=t_setup, px_per_s=args.batch * args.crop ** 2 / step_s,
                load=os.getloadavg()[0], loss=float(np.asarray(loss)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--num_filters", type=int, default=64)
    p.add_argument("--max_files", type=int, default=None, help="memory pipeline: first K photos only")
    p.add_argument("--out", default=None)
    p.add_argument("--only", default=None, help="comma list of config indices")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--intra", type=int, default=2)
    p.add_argument("--inter", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--pipeline", default="files")
    a = p.parse_args(argv)
    if a.one:
        print("RESULT " + json.dumps(one(a)))
        return 0
    results = []
    idx = range(len(CONFIGS)) if a.only is None else [int(i) for i in a.only.split(",")]
    for i in idx:
        label, intra, inter, batch, crop, pipeline, onednn = CONFIGS[i]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        if onednn is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = onednn
        cmd = [sys.executable, __file__, "--one", "--intra", str(intra), "--inter", str(inter), "--batch", str(batch),
               "--crop", str(crop), "--pipeline", pipeline, "--steps", str(a.steps), "--warmup", str(a.warmup),
               "--num_filters", str(a.num_filters)] + (["--max_files", str(a.max_files)] if a.max_files else [])
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        if not line:
            print(f"{label}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        r = dict(label=label, num_filters=a.num_filters, **json.loads(line[0][7:]))
        results.append(r)
        print(f"{label:32s} {r['step_s']:.3f} s/step  {r['px_per_s'] / 1e3:.0f} kpx/s  pipeline alone "
              f"{r['pipeline_only_s']:.3f} s/batch  load {r['load']:.1f}", flush=True)
    if a.out:
        tmp = Path(a.out).with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1) + "\n")
        tmp.replace(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
