"""Benchmark (issue 14): the 2-worker Dask LocalCluster speed-up of SGA inference (M1) on 4 Kodak crops vs one
process, printed as a ratio. Each image is its own task (:mod:`sga.sweep`, ``--task_images 1``), the committed
zoo/mini model; both runs start from an empty work folder, so the times include each process's TensorFlow
start and tracing (what a user pays). The rows of the two runs are checked equal (timings aside)::

    nice .venv/bin/python bench_dask.py [--its 100] [--crop 128] [--workers 2] [--out /tmp/sga-bench-dask]

The speed-up is bounded by the cores: 2 single-threaded-task workers need 2 free cores (each TF process uses
the project's 2 intra-op threads by default; LIC_THREADS=1 gives one each). The load average is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMAGES = ("kodim01.png", "kodim05.png", "kodim15.png", "kodim23.png")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--its", type=int, default=100, help="SGA iterations per image (default 100)")
    ap.add_argument("--crop", type=int, default=128, help="Kodak centre-crop size (default 128)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default=str(HERE / "zoo" / "mini" / "mbt2018-num_filters=32-lmbda=0.01"))
    ap.add_argument("--out", default="/tmp/sga-bench-dask")
    a = ap.parse_args(argv)
    from sga import sweep as sw

    from shared_data import paths
    from shared_eval.sweep import TIMING_COLUMNS, sweep_to_measures

    kodak = paths.kodak_dir()
    images = [kodak / n for n in IMAGES]
    if not all(p.is_file() for p in images):
        print(f"bench_dask: error: {', '.join(IMAGES)} not all found in {kodak} (set KODAK_DIR)", file=sys.stderr)
        return 1
    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    ck = out / "ck"
    ck.mkdir(parents=True)
    (ck / Path(a.model).name).symlink_to(Path(a.model).resolve(), target_is_directory=True)
    run = ck / Path(a.model).name
    config = sw.sweep_config(a.its, a.crop, None, 1)
    sw.keep_driver_thread_env()
    times, rows = {}, {}
    for label, sched in (("1 process", None), (f"{a.workers} workers", f"local:{a.workers}")):
        tasks = sw.make_tasks([run], lambda r: ["sga"], images, a.crop, a.its, lambda r, m: None,
                              out / label.replace(" ", "_") / "files", 1)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        res = sweep_to_measures(sw.inference_task, tasks, out / label.replace(" ", "_") / "measures.csv", config,
                                sched, progress=False, sort_by=("run",), extra_columns=("method", "run"))
        times[label] = time.perf_counter() - t0
        rows[label] = [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in res.rows]
        print(f"{label:>10s}: {times[label]:7.1f} s ({res.line()}); load average {load0:.1f} -> "
              f"{os.getloadavg()[0]:.1f}", flush=True)
    one, many = times["1 process"], times[f"{a.workers} workers"]
    same = rows["1 process"] == rows[f"{a.workers} workers"]
    print(f"speed-up ({a.workers} workers vs 1 process, SGA {a.its} its on {len(images)} Kodak {a.crop}x{a.crop} "
          f"crops): {one / many:.2f}x; rows identical: {same}; cores {os.cpu_count()}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
