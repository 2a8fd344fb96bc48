"""``python -m shared_data {prepare,download,verify,stats,bench,list}`` — dataset preparation CLI.

Examples::

    python -m shared_data download kodak --out data/kodak
    python -m shared_data prepare imagenet-cpm --src ILSVRC2012_train --out data/imagenet256
    python -m shared_data prepare openimages-l3c --src train_0 --out data/train_oi --seed 123
    python -m shared_data prepare clic --src professional_valid --split professional_valid_2020 --out data/clic
    python -m shared_data prepare cifar10 --src cifar-10-batches-py --out data/cifar10 --scheduler tcp://h:8786
    python -m shared_data verify data/imagenet256
    python -m shared_data stats data/imagenet256
    python -m shared_data bench
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

from .download import CLIC_FILES, CLIC_URL, KODAK_FILES, KODAK_URL, DownloadError, fetch, pinned
from .imageio import atomic_write_bytes
from .pipeline import CONFIG, MANIFEST, Manifest, Outcome, PrepareError, file_sha256, run
from .recipes import RECIPES
from .tfrecord import TFRecordError, read_records

REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_train_dir() -> Path:
    return Path(os.environ.get("TRAIN_DIR", REPO_ROOT.parent / "shared" / "data" / "train-photos"))


# --- prepare ----------------------------------------------------------------------------------------------

def cmd_prepare(a) -> int:
    recipe = RECIPES[a.dataset]
    try:
        opts = recipe.options(a)
    except ValueError as e:
        raise PrepareError(str(e)) from None
    t0 = time.perf_counter()
    cluster = client = None
    scheduler = a.scheduler
    if a.cluster == "slurm":
        import shutil

        from .pipeline import slurm_cluster, slurm_job_script
        job = dict(account=a.account, job_extra=a.job_extra, python=a.job_python, interface=a.job_interface)
        if a.job_script:
            print(slurm_job_script(a.job_cores, a.job_memory, a.job_walltime, a.queue, **job))
            return 0
        cluster = slurm_cluster(a.job_cores, a.job_memory, a.job_walltime, a.queue, **job)
        if shutil.which("sbatch") is None:
            cluster.close()
            raise PrepareError("--cluster slurm: sbatch not found (run this on a SLURM login node)")
        import distributed
        cluster.scale(jobs=a.jobs)
        client = scheduler = distributed.Client(cluster)
        try:
            client.wait_for_workers(1, timeout=a.job_wait)
        except TimeoutError:
            client.close()
            cluster.close()
            raise PrepareError(f"--cluster slurm: no worker started within {a.job_wait:g} s "
                               "(check squeue and the job's output)") from None
    try:
        summary = run(recipe, Path(a.src) if a.src else None, Path(a.out), opts, workers=a.workers,
                      scheduler=scheduler, progress=not a.no_progress, connect_timeout=a.scheduler_timeout)
    finally:
        if client is not None:
            client.close()
            cluster.close()
    print(f"{a.dataset}: {summary.line()} in {time.perf_counter() - t0:.1f} s -> {a.out}")
    failed = sum(n for (s, _), n in summary.counts.items() if s == "failed")
    if failed:
        print(f"{failed} inputs failed unexpectedly; see `python -m shared_data stats {a.out}`", file=sys.stderr)
    return 1 if failed else 0


# --- download ---------------------------------------------------------------------------------------------

def cmd_download(a) -> int:
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.dataset == "kodak":
        table, base = KODAK_FILES, a.base_url or KODAK_URL
        names = a.files or sorted(table)
        unknown = [n for n in names if n not in table]
        if unknown:
            raise PrepareError(f"not Kodak files: {', '.join(unknown)}")
        items = [(n, n, table[n][0], "sha256:" + table[n][1]) for n in names]
    else:
        table, base = CLIC_FILES[a.dataset], a.base_url or CLIC_URL
        unknown = [n for n in a.files or [] if n not in table]
        if unknown:
            raise PrepareError(f"not {a.dataset} files: {', '.join(unknown)} (known: {', '.join(table)})")
        items = [(n, path, size, digest) for n, (path, size, digest) in table.items() if not a.files or n in a.files]
    manifest = Manifest(out)
    for name, path, size, digest in items:
        policy = "published"
        if digest is None:
            pin = None if a.repin else pinned(manifest.records, name)
            if pin is None:
                policy = "pinned-first-use"
            else:
                digest, size, policy = pin[0], pin[1], "checked-against-pin"
        try:
            res = fetch(base.rstrip("/") + "/" + path, out / name, expected=digest, size=size,
                        progress=not a.no_progress, retries=a.retries)
        except DownloadError as e:
            if policy == "checked-against-pin":
                raise DownloadError(f"{e}; {name} has no published checksum and this digest was pinned by its "
                                    f"first download into {out} — if the server's file really changed, re-run "
                                    "with --repin") from None
            raise
        sha = res.digest.split(":", 1)[1] if res.digest.startswith("sha256:") else file_sha256(res.path)
        manifest.append(Outcome(name, "done", "", [res.status, res.digest, policy], [
            {"path": name, "bytes": res.bytes, "sha256": sha}], fingerprint=digest or "", kind="download"))
        how = {"published": "matches the published digest",
               "pinned-first-use": "no published digest: sha256 pinned in manifest.jsonl (trust on first use)",
               "checked-against-pin": "matches the sha256 pinned by its first download"}[policy]
        print(f"{name}: {res.status}, {res.bytes} bytes, {res.digest[:20]}… {how}")
        if a.dataset != "kodak" and a.extract:
            _extract(out / name, out / name.removesuffix(".zip"))
    return 0


def _extract(archive: Path, out: Path) -> Counter:
    """Unzip ``archive`` into ``out``; members not written are counted by reason and printed (never silent)."""
    skipped: Counter = Counter()
    try:
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                parts = Path(info.filename).parts
                if info.is_dir():
                    continue
                if not parts or ".." in parts or info.filename.startswith("/"):
                    skipped["unsafe path"] += 1
                    continue
                if parts[0] == "__MACOSX":
                    skipped["__MACOSX metadata"] += 1
                    continue
                target = out / Path(*parts)
                if target.exists() and target.stat().st_size == info.file_size:
                    skipped["already extracted"] += 1
                    continue
                atomic_write_bytes(target, z.read(info))
    except zipfile.BadZipFile as e:
        raise PrepareError(f"{archive}: not a valid zip ({e})") from None
    if skipped:
        print(f"{archive.name}: not extracted: " + ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())))
    return skipped


# --- verify / stats ---------------------------------------------------------------------------------------

def verify_folder(out: Path, dataset: str | None = None) -> list[str]:
    """Re-check every output recorded in ``out/manifest.jsonl`` (size, sha256, TFRecord CRCs); with
    ``dataset="kodak"`` also check the 24 files against the published table. Returns the problems found."""
    problems: list[str] = []
    if dataset == "kodak":
        for name, (size, sha) in sorted(KODAK_FILES.items()):
            p = out / name
            if not p.is_file():
                problems.append(f"{name}: missing")
            elif p.stat().st_size != size or file_sha256(p) != sha:
                problems.append(f"{name}: does not match the published sha256/size")
        return problems
    if not (out / MANIFEST).exists():
        raise PrepareError(f"{out}: no {MANIFEST} (not a folder written by shared_data prepare/download)")
    manifest = Manifest(out)
    if (out / CONFIG).exists():  # a prepared folder holds exactly what its manifest lists
        listed = {o["path"] for r in manifest.records.values() if r.get("status") == "done"
                  for o in r.get("outputs", [])}
        for p in sorted(out.rglob("*")):
            rel = p.relative_to(out).as_posix()
            if p.is_file() and rel not in listed and rel not in (MANIFEST, CONFIG) and not p.name.endswith(".tmp"):
                problems.append(f"{rel}: not in the manifest (a file no record lists)")
    for _key, rec in sorted(manifest.records.items()):
        if rec.get("status") != "done":
            continue
        for o in rec.get("outputs", []):
            p = out / o["path"]
            if not p.is_file():
                problems.append(f"{o['path']}: missing")
                continue
            if p.stat().st_size != o["bytes"]:
                problems.append(f"{o['path']}: {p.stat().st_size} bytes, manifest says {o['bytes']}")
                continue
            if file_sha256(p) != o["sha256"]:
                problems.append(f"{o['path']}: sha256 differs from the manifest")
                continue
            if p.suffix == ".tfrecord":
                try:
                    n = sum(1 for _ in read_records(p))
                except TFRecordError as e:
                    problems.append(str(e))
                    continue
                if "records" in o and n != o["records"]:
                    problems.append(f"{o['path']}: {n} records, manifest says {o['records']}")
    return problems


def cmd_verify(a) -> int:
    out = Path(a.folder)
    if not out.is_dir():
        raise PrepareError(f"{out}: no such folder")
    problems = verify_folder(out, a.dataset)
    for p in problems:
        print(p)
    n = len(KODAK_FILES) if a.dataset == "kodak" else sum(
        len(r.get("outputs", [])) for r in Manifest(out).records.values() if r.get("status") == "done")
    print(f"verify {out}: {n} files checked, {len(problems)} problems")
    return 1 if problems else 0


def stats_text(out: Path) -> str:
    if not (out / MANIFEST).exists():
        raise PrepareError(f"{out}: no {MANIFEST} (not a folder written by shared_data prepare/download)")
    recs = Manifest(out).records
    lines = []
    cfg = out / CONFIG
    if cfg.exists():
        lines.append(f"recipe: {json.loads(cfg.read_text())}")
    by_reason = Counter((r["status"], r.get("reason", "")) for r in recs.values())
    notes = Counter(n for r in recs.values() for n in r.get("notes", []) if n and " " not in n and ":" not in n)
    kinds = Counter(r.get("kind", "image") for r in recs.values())
    lines.append(f"inputs: {len(recs)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
    for (status, reason), n in sorted(by_reason.items()):
        lines.append(f"  {status:8s} {reason or '-':24s} {n}")
    if notes:
        lines.append("notes: " + ", ".join(f"{k} {n}" for k, n in sorted(notes.items())))
    outputs = [o for r in recs.values() if r["status"] == "done" for o in r.get("outputs", [])]
    images = [o for o in outputs if "width" in o or o["path"].lower().endswith((".png", ".jpg", ".jpeg"))]
    total = sum(o["bytes"] for o in outputs)
    lines.append(f"outputs: {len(outputs)} files, {len(images)} images, {total} bytes ({total / 2**20:.1f} MiB)")
    sides = [min(o["width"], o["height"]) for o in images if "width" in o]
    if sides:
        hist = Counter(2 ** int(math.log2(s)) for s in sides)
        lines.append("shorter side histogram: " + ", ".join(f"[{b},{2 * b}) {n}" for b, n in sorted(hist.items())))
    if outputs:
        hist = Counter(2 ** int(math.log2(max(1, o["bytes"]))) for o in outputs)
        lines.append("file size histogram (bytes): " + ", ".join(f"[{b},{2 * b}) {n}" for b, n in sorted(hist.items())))
    return "\n".join(lines)


def cmd_stats(a) -> int:
    print(stats_text(Path(a.folder)))
    return 0


# --- bench ------------------------------------------------------------------------------------------------

def _frameworks() -> list[str]:
    import importlib.util
    return ["numpy"] + [f for f, mod in (("tf", "tensorflow"), ("torch", "torch")) if importlib.util.find_spec(mod)]


def _time_batches(it, batch: int, seconds: float) -> tuple[float, int]:
    """images/s over ``seconds`` after one warm-up batch (excluded: pipeline start-up, thread pools)."""
    next(it)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        next(it)
        n += batch
    return n / (time.perf_counter() - t0), n


def cmd_bench(a) -> int:
    import warnings

    from .readers import ReaderError

    root = Path(a.dir) if a.dir else _default_train_dir()
    if not root.is_dir():
        raise PrepareError(f"{root}: no such folder (set TRAIN_DIR or pass --dir)")
    have = _frameworks()
    frameworks = have if a.framework == "auto" else [a.framework]
    if a.framework not in ("auto", *have):
        raise PrepareError(f"--framework {a.framework}: not installed in this interpreter ({sys.executable})")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"reader throughput, {a.crop}x{a.crop} crops from {root}, batch {a.batch}, {a.seconds:g} s each, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at start")
    for name in a.presets:
        for fw in frameworks:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")   # non-image files in the folder (named by the readers)
                    if fw == "numpy":
                        from .readers.numpy_data import ImageReader
                        r = ImageReader(root, name, crop=a.crop, dtype="uint8", seed=0)
                        it, how, nimg = r.iterate(a.batch), "1 process", len(r)
                    elif fw == "tf":
                        from .readers import tf_data
                        ds = tf_data.dataset(root, name, crop=a.crop, dtype="uint8", batch_size=a.batch, seed=0)
                        it, how, nimg = iter(ds), "tf.data AUTOTUNE", None
                    else:
                        import torch

                        from .readers import torch_data
                        torch.set_num_threads(1)
                        ds = torch_data.ImageDataset(root, name, crop=a.crop, dtype="uint8", seed=0)
                        it = torch_data.batches(ds, a.batch, num_workers=a.workers,
                                                persistent_workers=False) if a.workers else torch_data.batches(ds, a.batch)
                        how, nimg = f"DataLoader num_workers={a.workers}", len(ds)
                rate, n = _time_batches(it, a.batch, a.seconds)
            except ReaderError as e:
                raise PrepareError(str(e)) from None
            print(f"  {name:9s} {fw:6s} {rate:7.1f} images/s  ({n} crops; {how}"
                  + (f"; {nimg} images" if nimg else "") + ")")
            del it
    return 0


def cmd_list(a) -> int:
    for name, r in RECIPES.items():
        print(f"{name:16s} {r.help}")
    return 0


# --- argument parsing -------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m shared_data", description="Dataset preparation for the five codecs.")
    sub = p.add_subparsers(dest="cmd", required=True)

    pp = sub.add_parser("prepare", help="run a dataset recipe")
    rs = pp.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    for name, recipe in RECIPES.items():
        rp = rs.add_parser(name, help=recipe.help, description=recipe.help)
        rp.add_argument("--src", help="input folder (or file)")
        rp.add_argument("--out", required=True, help="output folder (holds manifest.jsonl and prepare.json)")
        g = rp.add_mutually_exclusive_group()
        g.add_argument("--workers", type=int, default=None,
                       help="processes in the local pool (default: CPU count; 0 = inline)")
        g.add_argument("--scheduler", default=None, help="Dask distributed scheduler address, e.g. tcp://host:8786")
        g.add_argument("--cluster", choices=("slurm",), default=None,
                       help="start Dask workers as SLURM jobs (needs dask-jobqueue and sbatch)")
        rp.add_argument("--jobs", type=int, default=4, help="--cluster: number of jobs")
        rp.add_argument("--job-cores", type=int, default=4, help="--cluster: worker processes per job")
        rp.add_argument("--job-memory", default="8GB", help="--cluster: memory per job")
        rp.add_argument("--job-walltime", default="04:00:00", help="--cluster: walltime per job")
        rp.add_argument("--queue", default=None, help="--cluster: SLURM partition")
        rp.add_argument("--account", default=None, help="--cluster: SLURM account (-A)")
        rp.add_argument("--job-extra", action="append", default=[], metavar="OPTION",
                        help="--cluster: extra #SBATCH option, e.g. --job-extra=--exclusive (repeatable)")
        rp.add_argument("--job-python", default=None, help="--cluster: the workers' Python (default: this one)")
        rp.add_argument("--job-interface", default=None, help="--cluster: network interface, e.g. ib0")
        rp.add_argument("--job-script", action="store_true",
                        help="--cluster: print the SLURM job script that would be submitted, and exit")
        rp.add_argument("--job-wait", type=float, default=600.0, help="--cluster: seconds to wait for a worker")
        rp.add_argument("--scheduler-timeout", type=float, default=20.0, help="seconds to wait for the scheduler")
        rp.add_argument("--no-progress", action="store_true")
        recipe.add_arguments(rp)
    pp.set_defaults(func=cmd_prepare)

    pd = sub.add_parser("download", help="download a dataset with resume and checksum")
    pd.add_argument("dataset", choices=("kodak", *CLIC_FILES))
    pd.add_argument("--out", required=True)
    pd.add_argument("--base-url", default=None, help="mirror to download from (default: the original host)")
    pd.add_argument("--files", nargs="*", default=None, help="only these file names")
    pd.add_argument("--retries", type=int, default=5)
    pd.add_argument("--extract", action="store_true",
                    help="clic: unzip each archive into OUT/<archive name without .zip>/ (mobile and professional "
                         "zips both hold valid/)")
    pd.add_argument("--repin", action="store_true",
                    help="files without a published digest: forget the sha256 pinned by an earlier download")
    pd.add_argument("--no-progress", action="store_true")
    pd.set_defaults(func=cmd_download)

    pv = sub.add_parser("verify", help="re-check a prepared/downloaded folder against its manifest")
    pv.add_argument("folder")
    pv.add_argument("--dataset", choices=("kodak",), default=None, help="check against a published table")
    pv.set_defaults(func=cmd_verify)

    ps = sub.add_parser("stats", help="counts per outcome and reason, size histograms, total bytes")
    ps.add_argument("folder")
    ps.set_defaults(func=cmd_stats)

    pb = sub.add_parser("bench", help="reader throughput (images/s) for random crops from TRAIN_DIR")
    pb.add_argument("--dir", default=None, help="image folder (default: $TRAIN_DIR)")
    pb.add_argument("--crop", type=int, default=256)
    pb.add_argument("--seconds", type=float, default=10.0, help="timed seconds per reader and preset")
    pb.add_argument("--batch", type=int, default=8)
    pb.add_argument("--presets", nargs="+", default=["sga", "hific"],
                    help="reader presets to time (crop overridden by --crop)")
    pb.add_argument("--framework", choices=("auto", "numpy", "tf", "torch"), default="auto",
                    help="auto: numpy, plus tf.data and torch where this interpreter has them")
    pb.add_argument("--workers", type=int, default=2, help="torch DataLoader workers")
    pb.set_defaults(func=cmd_bench)

    pl = sub.add_parser("list", help="list the recipes")
    pl.set_defaults(func=cmd_list)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (PrepareError, DownloadError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished outputs are kept; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
