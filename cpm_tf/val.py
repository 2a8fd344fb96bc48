"""Validate trained CPM models (the original's ``val.py``): ``python val.py LOG_DIR_ROOT JOB_IDS IMAGES``.

JOB_IDS: comma list of log-dir prefixes (e.g. ``0515_1103``) or model-directory names under LOG_DIR_ROOT
(e.g. ``python val.py zoo mini kodak``). IMAGES: ``kodak`` ($KODAK_DIR), a directory or an escaped glob.
For a log dir with ``ckpts/``, every ``--ckpt_step``-th checkpoint plus the last one is validated (the
original's ``all[:-1:step] + [last]``), skipping those listed in ``validated_ckpts.pkl``; a model directory
without ``ckpts/`` is validated once with its ``weights.npz``. Per checkpoint,
``LOG_DIR_ROOT/"{job_id} {dataset}"/measures.csv`` (img_name,bpp,ms-ssim,psnr,enc_s,dec_s + extras) is
rewritten, so it ends up holding the last checkpoint, and TensorBoard scalars
``val/{dataset}/avg_bpp|avg_ms_ssim|avg_psnr`` (+ ``distance_BPG_*`` when $OTHER_CODECS_ROOT has the BPG
curves) are logged at the checkpoint's step in that folder. Real bitstreams are written and decoded for every
image (``--real_bpp``, now the default; the original's estimate is always reported as ``bpp_estimated``);
``--estimate_only`` skips the coder.

(new, issue 14) ``--scheduler`` (shared_eval.sweep's flags: ``in-process``, ``local:N`` a Dask LocalCluster,
a scheduler address, ``slurm``) evaluates each checkpoint's images as one task per image
(:func:`cpm.evaluate.val_task`) and writes the same measures.csv rows (sorted by image name; timings aside)
as the default in-process loop; every finished image is recorded in ``OUT/.measures.csv.work/``, so a rerun
after a killed driver or worker recomputes only unfinished images of a checkpoint not yet validated.
"""

import argparse
import os
import pickle
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
VALIDATED = "validated_ckpts.pkl"


def find_model_dirs(root: Path, job_ids: str) -> list[Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"log dir root {root} does not exist")
    out = []
    for jid in [j for j in job_ids.replace(";", ",").split(",") if j.strip()]:
        jid = jid.strip()
        exact = root / jid
        if (exact / "config.json").is_file():
            out.append(exact)
            continue
        cands = sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith(jid)
                       and (d / "config.json").is_file())
        if not cands:
            raise FileNotFoundError(f"no model/log dir for job id {jid!r} in {root}")
        out.append(cands[-1])
    return out


class _IntListUnpickler(pickle.Unpickler):
    def find_class(self, module, name):  # a list of ints needs no classes: refuse anything else
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def read_validated(out_dir: Path) -> list[int]:
    f = out_dir / VALIDATED
    if not f.is_file():
        return []
    try:
        with open(f, "rb") as fh:
            v = _IntListUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise ValueError(f"{f}: not a validated-checkpoints list ({e}); use --reset") from None
    if not isinstance(v, list) or not all(isinstance(i, int) for i in v):
        raise ValueError(f"{f}: not a list of ints; use --reset")
    return v


def add_validated(out_dir: Path, itr: int) -> None:
    from shared_data.imageio import atomic_write_bytes
    atomic_write_bytes(out_dir / VALIDATED, pickle.dumps(read_validated(out_dir) + [int(itr)], protocol=2))


def checkpoints_to_check(mdir: Path, ckpt_step: int) -> list[tuple[int, str | None]]:
    """``[(step, ckpt prefix or None for weights.npz)]``: every ckpt_step-th checkpoint plus the last."""
    from cpm.checkpoints import list_checkpoints
    ckpts = list_checkpoints(mdir / "ckpts")
    if not ckpts:
        import json
        step = json.loads((mdir / "config.json").read_text()).get("train", {}).get("step", 0)
        return [(int(step), None)]
    return ckpts[:-1:ckpt_step] + [ckpts[-1]]


class ImageCache:
    """Images read once and kept in memory across checkpoints when all of them fit in ``max_mb`` (estimated
    from the first image's size, as the original's ``CachedImageLoader``); 0 disables the cache."""

    def __init__(self, paths, max_mb: int):
        from PIL import Image
        self.paths = list(paths)
        if not self.paths:
            raise FileNotFoundError("no images to validate (check IMAGES and --how_many)")
        with Image.open(self.paths[0]) as im:
            first = im.size[0] * im.size[1] * 3
        self.cache = {} if 0 < len(self.paths) * first <= max_mb * 1000 * 1000 else None

    def __iter__(self):
        from shared_data.imageio import read_image
        for p in self.paths:
            if self.cache is not None and p in self.cache:
                yield p, self.cache[p]
                continue
            img = read_image(p)
            if self.cache is not None:
                self.cache[p] = img
            yield p, img


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log_dir_root")
    p.add_argument("job_ids")
    p.add_argument("images")
    p.add_argument("--save_ours", "-o", action="store_true", help="save reconstructions (last checkpoint) to imgs/")
    p.add_argument("--how_many", type=int, default=None)
    p.add_argument("--image_cache_max", "-cache", type=int, default=500,
                   help="MB of decoded images kept in memory across checkpoints (0 disables)")
    p.add_argument("--restore_itr", "-i", type=int, default=None, help="parsed and ignored, as in the original")
    p.add_argument("--ckpt_step", "-s", type=int, default=2,
                   help="validate every CKPT_STEP-th checkpoint (1: all) plus the last one; -1: only the last")
    p.add_argument("--reset", action="store_true", help="remove the previous output folder first")
    p.add_argument("--real_bpp", action="store_true", help="(default) code real bitstreams")
    p.add_argument("--estimate_only", action="store_true", help="skip the entropy coder (bpp left empty)")
    p.add_argument("--out_dir", default=None, help="(new) write measures here instead of LOG_DIR_ROOT/...")
    from shared_eval.sweep import add_scheduler_arguments
    add_scheduler_arguments(p)
    a = p.parse_args(argv)
    if a.job_script:  # --scheduler slurm: show the job script, submit nothing
        from shared_eval.sweep import SweepError, slurm_job_script
        try:
            print(slurm_job_script(a))
        except SweepError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    if a.ckpt_step == 0:
        print("error: --ckpt_step must not be 0 (1: all, -1: only the last)", file=sys.stderr)
        return 1
    if a.restore_itr is not None:
        print("note: --restore_itr is ignored (as in the original val.py)", file=sys.stderr)
    from cpm.tfsetup import limit_threads
    limit_threads()
    import tensorflow as tf
    from cpm.checkpoints import restore_model_weights
    from cpm.codec import Codec, load_codec
    from cpm.codec_distance import CodecDistance, CodecDistanceReadException
    from cpm.evaluate import EXTRA_COLUMNS, dataset_images, evaluate_image
    from tqdm import tqdm

    from shared_data.errors import LicError
    from shared_eval.measures_csv import summarize, write_measures
    sched = None
    try:
        if a.scheduler is not None:  # opened first: a bad one fails in one line before anything is written
            from shared_data.pipeline import PrepareError, open_scheduler
            from shared_eval.sweep import SweepError, scheduler_kwargs
            kw = scheduler_kwargs(a)
            try:
                sched = open_scheduler(a.scheduler, kw["connect_timeout"], kw["slurm"], kw["jobs"], kw["job_wait"])
            except PrepareError as e:
                raise SweepError(str(e)) from None
        root = Path(a.log_dir_root)
        images = ImageCache(dataset_images(a.images)[: a.how_many], a.image_cache_max)
        dataset = "kodak" if a.images == "kodak" else Path(a.images.rstrip("/")).name
        distances = {}
        for metric in ("ms-ssim", "psnr"):
            try:
                distances[metric] = CodecDistance(dataset, codec="bpg", metric=metric)
            except CodecDistanceReadException as e:
                print(f"*** Distance to BPG not available for {dataset}: {e}")
                break
        for mdir in find_model_dirs(root, a.job_ids):
            out = Path(a.out_dir) if a.out_dir else root / f"{mdir.name.split(' ')[0]} {dataset}"
            if a.reset and out.is_dir():
                print(f"*** rm -rf {out}")
                shutil.rmtree(out)
            validated = read_validated(out)
            todo = [(s, c) for s, c in checkpoints_to_check(mdir, a.ckpt_step) if s not in validated]
            if not todo:
                print(f"{mdir.name}: all checkpoints validated (see {out / VALIDATED}; --reset to redo)")
                continue
            base = load_codec(mdir)
            writer = tf.summary.create_file_writer(str(out))
            for itr, ckpt in todo:
                if ckpt is None:
                    codec = base
                else:
                    restore_model_weights(base.model, ckpt)
                    codec = Codec(base.model)  # rebuilt: fingerprint and NumPy context model of these weights
                last = itr == todo[-1][0]
                save_dir = (out / "imgs") if (a.save_ours and last) else None
                desc = f"val {mdir.name.split(' ')[0]} @{itr}"
                if sched is not None:
                    rows = _sweep(a, sched, mdir, ckpt, itr, codec, images.paths, out, save_dir, desc)
                else:
                    rows = []
                    for f, img in tqdm(images, total=len(images.paths), desc=desc):
                        rows.append(evaluate_image(codec, img, f.name, real_bpp=not a.estimate_only,
                                                   save_dir=save_dir))
                path = write_measures(out / "measures.csv", rows, EXTRA_COLUMNS)
                s = summarize(rows)
                avg_bpp = s["bpp"] if "bpp" in s else s["bpp_estimated"]
                with writer.as_default(step=itr):
                    tf.summary.scalar(f"val/{dataset}/avg_bpp", avg_bpp)
                    if s.get("ms-ssim") is not None:
                        tf.summary.scalar(f"val/{dataset}/avg_ms_ssim", s["ms-ssim"])
                    tf.summary.scalar(f"val/{dataset}/avg_psnr", s["psnr"])
                    for metric, tag in (("ms-ssim", "MS-SSIM"), ("psnr", "PSNR")):
                        v = s.get(metric)
                        d = distances[metric].distance(avg_bpp, v) if metric in distances and v is not None else None
                        if d is not None:
                            tf.summary.scalar(f"val/{dataset}/distance_BPG_{tag}", d)
                writer.flush()
                add_validated(out, itr)
                print(f"{path} (step {itr}): {s['n_images']} images, bpp {s.get('bpp', float('nan')):.4f} "
                      f"(estimated {s['bpp_estimated']:.4f}, factorized {s['bpp_factorized']:.4f}), "
                      f"MS-SSIM {s.get('ms-ssim') or float('nan'):.4f}, PSNR {s['psnr']:.2f}")
    except (LicError, FileNotFoundError, ValueError) as e:  # model, checkpoint, images, dataset, scheduler
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if sched is not None:
            sched.close()
    return 0


def _sweep(a, sched, mdir, ckpt, itr, codec, paths, out, save_dir, desc) -> list[dict]:
    """One checkpoint's images as shared_eval.sweep tasks (:func:`cpm.evaluate.val_task`) on ``sched``; the
    records in ``OUT/.measures.csv.work`` are keyed by step and image and fingerprinted by the weights."""
    from cpm.evaluate import driver_arith, prime_val_codec, val_task

    from shared_eval.sweep import SweepError, SweepTask, default_work, run_sweep
    from shared_eval.sweep import failure_message as sweep_failure

    prime_val_codec(mdir, ckpt, codec)  # the in-process executor reuses this model
    arith = driver_arith()  # the workers run under this process's arithmetic (cpm.evaluate.apply_arith)
    tasks = []
    for f in paths:
        st = Path(f).stat()
        tasks.append(SweepTask(f"{itr}|{Path(f).name}", (str(mdir), ckpt, str(f), not a.estimate_only,
                                                         None if save_dir is None else str(save_dir),
                                                         arith, a.image_cache_max),
                               f"{Path(f).resolve()}:{st.st_size}:{st.st_mtime_ns}"))
    config = {"fingerprint": codec.fingerprint.hex(), "step": int(itr), "real_bpp": not a.estimate_only,
              "arith": arith}
    work = default_work(out / "measures.csv")
    res = run_sweep(val_task, tasks, work, config, sched.client, progress=not a.no_progress, desc=desc,
                    sort_by=("img_name",))
    print(f"{desc}: {res.line()}")
    if res.failed:
        raise SweepError(sweep_failure(res, work))
    return res.rows


if __name__ == "__main__":
    sys.exit(main())
