"""Benchmark (a script, not a timed test): the speed-up of :mod:`shared_eval.sweep` on a 2-worker Dask
LocalCluster over the in-process run, on 4 Kodak crops, printed as a ratio.

    .venv/bin/python shared_eval/bench_sweep.py [--task baselines] [--images $KODAK_DIR] [--n 4] [--crop 512]
        [--codecs jpeg,webp] [--workers 2]

``--task baselines`` (the only one wired today): the JPEG/WebP quality sweeps of
:mod:`shared_eval.baselines` (11 qualities per codec). Both runs start from an empty output folder (nothing
resumed); the rows of both are checked to be identical except the wall times. The LocalCluster's start-up is
timed separately and not included in the ratio. ``--task sga`` is for SGA's per-image inference once sga_tf
plugs its per-image function into the engine; until then it says so and measures nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from shared_data.imageio import read_image, write_png
from shared_eval import baselines as bl
from shared_eval.measures_csv import read_measures
from shared_eval.sweep import TIMING_COLUMNS

HERE = Path(__file__).resolve().parent
DEFAULT_KODAK = os.environ.get("KODAK_DIR", str(HERE.parents[1] / "shared" / "data" / "kodak"))

#: ``--task`` → a function (args, crops folder, scheduler or None, out folder) -> {codec: measures.csv}, or
#: ``None`` for a task whose sub-project has not plugged its per-image function in yet.
TASKS = {"baselines": "baselines", "sga": None}


def _crops(src: Path, n: int, size: int, dst: Path) -> list[Path]:
    files = sorted(src.glob("kodim*.png"))[:n]
    if len(files) < n:
        raise SystemExit(f"bench_sweep: error: {src}: fewer than {n} kodim*.png images (set KODAK_DIR or --images)")
    out = []
    for p in files:
        a = read_image(p)
        h, w = a.shape[:2]
        s = min(size, h, w)
        write_png(dst / p.name, np.ascontiguousarray(a[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]))
        out.append(dst / p.name)
    return out


def _run_baselines(a, images: list[Path], scheduler, out: Path) -> dict[str, Path]:
    return bl.run_baselines(images, a.codecs.split(","), out, progress=False, scheduler=scheduler)


def _values(paths: dict[str, Path]) -> list[dict]:
    rows = []
    for c in sorted(paths):
        rows += [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in read_measures(paths[c])]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=sorted(TASKS), default="baselines")
    ap.add_argument("--images", default=DEFAULT_KODAK, help="folder with kodim*.png (default $KODAK_DIR)")
    ap.add_argument("--n", type=int, default=4, help="number of Kodak images (default 4)")
    ap.add_argument("--crop", type=int, default=512, help="centre crop side in pixels (default 512)")
    ap.add_argument("--codecs", default="jpeg,webp")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="alternate in-process and cluster runs this many times; medians are compared")
    a = ap.parse_args(argv)
    if TASKS[a.task] is None:
        print(f"bench_sweep: --task {a.task} is not wired: sga_tf has not plugged its per-image inference into "
              "shared_eval.sweep yet (see shared_eval/README.md, 'Plugging a sub-project in'); nothing was "
              "measured", file=sys.stderr)
        return 3
    import distributed

    with tempfile.TemporaryDirectory(prefix="bench_sweep.") as tmp:
        tmp = Path(tmp)
        (tmp / "crops").mkdir()
        images = _crops(Path(a.images), a.n, a.crop, tmp / "crops")
        t_inline, t_dask, same = [], [], True
        t0 = time.perf_counter()
        with distributed.LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            client.wait_for_workers(a.workers)
            t_start = time.perf_counter() - t0
            for i in range(a.repeat):  # alternated, so a change in the machine's load hits both alike
                t0 = time.perf_counter()
                ref = _run_baselines(a, images, None, tmp / f"inline{i}")
                t_inline.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                got = _run_baselines(a, images, client, tmp / f"dask{i}")
                t_dask.append(time.perf_counter() - t0)
                same = same and _values(ref) == _values(got)
        t_inline, t_dask = float(np.median(t_inline)), float(np.median(t_dask))
        n_tasks = sum(len(read_measures(p)) for p in ref.values())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"task {a.task}: {a.n} Kodak crops {a.crop}x{a.crop}, codecs {a.codecs}, {n_tasks} tasks; "
          f"{os.cpu_count()} CPUs, load average {load:.2f} at the end")
    print(f"in-process          {t_inline:8.2f} s  (median of {a.repeat})")
    print(f"LocalCluster({a.workers})     {t_dask:8.2f} s  (median of {a.repeat}; + {t_start:.2f} s cluster start, not counted)")
    print(f"speed-up {a.workers} workers / 1 process: {t_inline / t_dask:.2f}x   rows identical (except "
          f"{', '.join(TIMING_COLUMNS)}): {'yes' if same else 'NO'}")
    if load > (os.cpu_count() or 1) - 0.5:
        print(f"warning: the machine was busy (load {load:.1f} on {os.cpu_count()} CPUs): with Linux's "
              "autogroup scheduling this session's processes share one CPU slice however many workers it "
              "starts, so the ratio measures contention, not the engine")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
