#!/usr/bin/env python
"""Evaluate L3C runs (upstream ``src/test.py``): ``test.py LOG_DIR IDS IMAGES [--names N] [--recursive R]
[--write_to_files DIR] [--sample DIR]``.

IDS: comma/``|``-separated run ids (``MMDD_HHMM``) under LOG_DIR; IMAGES: comma-separated folders or files.
Prints upstream's ``Testset | Experiment | Itr | Result`` table with the theoretical bpsp (including the
uniform coarsest level). With ``--write_to_files`` every image is really encoded (``DIR/<name>.lic``),
decoded and checked bit-exact, and the real-file bpsp is reported too. ``--measures CSV`` (not upstream)
writes per-image rows through ``shared_eval.measures_csv`` (default: ``DIR/measures.csv`` when writing files).

(not upstream, issue 14) ``--scheduler`` (shared_eval.sweep's flags: ``in-process``, ``local:N`` a Dask
LocalCluster, a scheduler address, ``slurm``) evaluates each run/iteration's images as one task per image
(:func:`l3c.evaluate.image_task`, the model loaded once per worker) and gives the same rows (sorted by image
name; timings aside) as the default loop; every finished image is recorded in the work folder
(``.measures.csv.work`` beside the measures file, else ``LOG_DIR_test/.test.py.work``), so a rerun after a
killed driver or worker recomputes only unfinished images.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np


class TestCache:
    """Theoretical results per (testset, itr, crop, model) in ``LOG_DIR_test/<run>/cache.json`` (upstream
    kept a ``cache.pkl`` there; JSON here, so no pickle is ever loaded)."""

    def __init__(self, d: Path, reset: bool):
        import json

        self.path = d / "cache.json"
        if reset and self.path.exists():
            self.path.unlink()
        try:
            self.data = json.loads(self.path.read_text()) if self.path.exists() else {}
        except ValueError:
            self.data = {}  # a damaged cache is recomputed

    def get(self, key):
        return self.data.get(key)

    def put(self, key, rows):
        import json

        from shared_data.imageio import atomic_write_bytes

        self.data[key] = rows
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path, json.dumps(self.data, indent=1).encode())


def _recursive(v: str):
    return "auto" if v == "auto" else int(v)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log_dir")
    p.add_argument("log_dates", help="comma- or |-separated run ids")
    p.add_argument("images", help="comma-separated folders or image files")
    p.add_argument("-fns", "--match_filenames", nargs="+", default=None)
    p.add_argument("-m", "--max_imgs_per_folder", type=int, default=None)
    p.add_argument("--crop", type=int, default=None, help="center crop to N x N (smaller sides are kept)")
    p.add_argument("-f", "--overwrite_cache", action="store_true", help="recompute cached theoretical results")
    p.add_argument("--reset_entire_cache", action="store_true", help="delete LOG_DIR_test/<run>/cache.json first")
    p.add_argument("--compare_theory", action="store_true", help="with --write_to_files: per-image real vs theory")
    p.add_argument("--time_report", default=None, help="write per-image encode/decode times to this file")
    p.add_argument("-n", "--names", default=None, help="comma-separated display names for the runs")
    p.add_argument("-i", "--restore_itr", default="-1")
    p.add_argument("--recursive", default="auto", help="0|N|auto (RGB Shared: auto = 3)")
    p.add_argument("--sample", default=None)
    p.add_argument("--write_to_files", default=None)
    p.add_argument("--backend", default="constriction", choices=["constriction", "torchac"])
    p.add_argument("--measures", default=None, help="(not upstream) per-image measures.csv path")
    p.add_argument("-s", "--sort_output", default="testset", choices=["testset", "exp", "itr", "res"])
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: $LIC_THREADS, else min(2, cores))")
    from shared_eval.sweep import add_scheduler_arguments

    add_scheduler_arguments(p)
    a = p.parse_args(argv)
    if a.job_script:  # --scheduler slurm: show the job script, submit nothing
        from shared_eval.sweep import slurm_job_script

        print(slurm_job_script(a))
        return 0
    sched = _open_scheduler(a)  # first: a bad one fails in one line before anything is loaded or written
    try:
        return _main(a, sched)
    finally:
        if sched is not None:
            sched.close()


def _open_scheduler(a):
    if a.scheduler is None:
        return None
    from shared_data.pipeline import PrepareError, open_scheduler
    from shared_eval.sweep import SweepError, scheduler_kwargs

    kw = scheduler_kwargs(a)
    try:
        return open_scheduler(a.scheduler, kw["connect_timeout"], kw["slurm"], kw["jobs"], kw["job_wait"])
    except PrepareError as e:
        raise SweepError(str(e)) from None


def _sweep(a, sched, run, itr, net, fp, files, out, testset, work) -> list[dict]:
    """One run/iteration's images as shared_eval.sweep tasks (:func:`l3c.evaluate.image_task`) on ``sched``;
    records keyed by testset, run, iteration and image, fingerprinted by the model and the settings."""
    from l3c.evaluate import image_task, prime_task_model

    from shared_data import threads
    from shared_eval.sweep import SweepError, SweepTask, failure_message, run_sweep

    rec = _recursive(a.recursive)
    prime_task_model(run, itr, rec, (net, fp, itr))  # the in-process executor reuses this model
    n_threads = threads.count(a.threads)
    real = out is not None
    tasks = []
    for f in files:
        st = Path(f).stat()
        tasks.append(SweepTask(f"{testset}|{run.name}|{itr}|{Path(f)}",
                               (str(run), itr, rec, str(f), a.backend, None if out is None else str(out), real,
                                True, a.crop, n_threads),
                               f"{Path(f).resolve()}:{st.st_size}:{st.st_mtime_ns}"))
    config = {"fingerprint": fp.hex(), "recursive": net.recursive, "backend": a.backend, "real": real,
              "crop": a.crop, "threads": n_threads}
    desc = f"test {run.name.split(' ')[0]} @{itr}"
    res = run_sweep(image_task, tasks, work, config, sched.client, progress=not a.no_progress, desc=desc,
                    sort_by=("img_name",))
    print(f"{desc}: {res.line()}")
    if res.failed:
        raise SweepError(failure_message(res, work))
    return res.rows


def _main(a, sched):

    from l3c.data import resolve_glob
    from l3c.evaluate import evaluate_files
    from l3c.model_io import find_run, load_model

    from shared_data import threads
    from shared_data.errors import DatasetError
    from shared_data.imageio import read_image
    from shared_eval.measures_csv import write_measures
    from shared_eval.sweep import default_work

    threads.limit(a.threads)
    if a.crop is not None and a.crop < 1:
        raise ValueError(f"--crop {a.crop}: must be a positive size")
    ids = [s for s in re.split(r"[,|]", a.log_dates) if s]
    names = a.names.split(",") if a.names else ids
    itrs = [int(i) for i in a.restore_itr.split(",")]
    mpath = a.measures or (Path(a.write_to_files) / "measures.csv" if a.write_to_files else None)
    work = default_work(mpath) if mpath else Path(str(Path(a.log_dir)) + "_test") / ".test.py.work"
    table = []
    all_rows = []
    for folder in a.images.split(","):
        files = resolve_glob(folder)
        if a.match_filenames:
            files = [f for f in files if any(re.search(m, f.name) for m in a.match_filenames)]
        if a.max_imgs_per_folder and len(files) > a.max_imgs_per_folder:
            idx = np.linspace(0, len(files) - 1, a.max_imgs_per_folder).round().astype(int)
            files = [files[i] for i in sorted(set(idx))]
        if not files:
            raise DatasetError(f"{folder}: no images")
        testset = f"{Path(folder.rstrip('/')).name}_{len(files)}"
        for rid, name in zip(ids, names):
            run = find_run(a.log_dir, rid)
            for itr in itrs:
                net, fp, itr_ = load_model(run, itr, _recursive(a.recursive))
                if a.sample:
                    from l3c.sampling import sample_image

                    for k, f in enumerate(files):
                        for pth in sample_image(net, read_image(f), a.sample, Path(f).stem, k):
                            print(f"wrote {pth}")
                out = Path(a.write_to_files) if a.write_to_files else None
                cache = TestCache(Path(str(Path(a.log_dir)) + "_test") / run.name, a.reset_entire_cache)
                key = f"{testset}|{itr_}|crop={a.crop}|recursive={net.recursive}|{fp.hex()}"
                rows = None if (out is not None or a.overwrite_cache) else cache.get(key)
                if rows is None:
                    if out is not None:
                        out.mkdir(parents=True, exist_ok=True)
                    if sched is not None:
                        rows = _sweep(a, sched, run, itr_, net, fp, files, out, testset, work)
                    else:
                        rows = evaluate_files(net, fp, files, a.backend, write_to=out, real=out is not None,
                                              theory=True, crop=a.crop)
                    if out is None:
                        cache.put(key, rows)
                else:
                    print(f"{testset} {name} {itr_}: cached in {cache.path} (-f recomputes)")
                if out is not None and a.compare_theory:
                    for r in rows:
                        print(f"  {r['img_name']}: real {r['bpsp']:.4f} theory {r['bpsp_theory']:.4f} "
                              f"({100 * (r['bpsp'] / r['bpsp_theory'] - 1):+.3f}%)")
                if out is not None and a.time_report:
                    lines = [f"{name} itr {itr_} {r['img_name']} enc {r['enc_s']:.3f} s dec {r['dec_s']:.3f} s"
                             for r in rows]
                    with open(a.time_report, "a") as fh:
                        fh.write("\n".join(lines) + "\n")
                for r in rows:
                    r["experiment"], r["itr"] = name, itr_
                all_rows += rows
                res = f"bpsp={np.mean([r['bpsp_theory'] for r in rows]):.4f}"
                if out is not None:
                    res += f" real={np.mean([r['bpsp'] for r in rows]):.4f}"
                table.append((testset, name, itr_, res))
    key = {"testset": 0, "exp": 1, "itr": 2, "res": 3}[a.sort_output]
    table.sort(key=lambda t: t[key])
    w = [max(len(str(t[i])) for t in table + [("Testset", "Experiment", "Itr", "Result")]) for i in range(4)]
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(("Testset", "Experiment", "Itr", "Result"))))
    for t in table:
        print("  ".join(str(v).ljust(w[i]) for i, v in enumerate(t)))
    if mpath:
        write_measures(mpath, all_rows)
        print(f"wrote {mpath}")
    return 0


if __name__ == "__main__":
    from shared_data.errors import LicError

    try:
        sys.exit(main())
    except (ValueError, FileNotFoundError, NotImplementedError, LicError) as e:
        print(f"test.py: error: {e}", file=sys.stderr)
        sys.exit(1)
