"""Compress a folder of images with a trained HiFiC checkpoint and write measures.csv (port's compress.py).

  python compress.py -i DIR -ckpt CKPT [-o OUT] [--reconstruct] [--save] [--lpips auto|alex|off|rand]
                     [--max-pixels N] [--threads N] [--device cpu|cuda|cuda:N] [--scheduler ...]

Default: every image is really encoded to a .lic container and decoded; bpp is the packed file's size.
``--reconstruct``: rate is only estimated (bpp column empty, bpp_estimated filled). ``--save`` keeps the
.lic files and the reconstructions (PNG, uint8) in OUT. Images are listed by the project's one rule
(``shared_data.imageio.list_images``). Every image's size is checked against the encoder's pixel limit from
its header before the model loads, as ``python -m hific encode`` does (``--max-pixels``, 0 = no limit).

(new, issue 14) ``--scheduler`` (shared_eval.sweep's flags: ``in-process``, ``local:N`` a Dask LocalCluster,
a scheduler address, ``slurm``) evaluates one task per image (:func:`hific.evaluate.image_task`, the model
loaded once per worker under the driver's arithmetic settings) and writes the same measures.csv rows (sorted
by image name; timings aside) as the default loop; finished images are recorded in
``OUT/.measures.csv.work/``, so a rerun after a killed driver or worker recomputes only unfinished images.
With ``--lpips rand`` the random LPIPS backbone is seeded (0) there, so every worker has the same one.
"""

from __future__ import annotations

import argparse
import sys

from shared_data import limits, threads
from shared_data.errors import LicError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", "--image_dir", required=True)
    p.add_argument("-ckpt", "--ckpt", required=True)
    p.add_argument("-o", "--output_dir", default="data/reconstructions")
    p.add_argument("-rc", "--reconstruct", action="store_true")
    p.add_argument("-save", "--save", action="store_true")
    p.add_argument("--lpips", default="auto", choices=["auto", "alex", "off", "rand"],
                   help="auto: LPIPS column if the AlexNet weights are on disk; alex: require them")
    p.add_argument("--limit", type=int, default=0, help="only the first N images")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu",
                   help="(new) where E and G run: cpu (default) or cuda[:N]; the hyperprior and the coder always "
                        "run on the CPU (hific.codec)")
    limits.add_max_pixels_argument(p, "hific", "encode")
    from shared_eval.sweep import add_scheduler_arguments

    add_scheduler_arguments(p)
    args = p.parse_args(argv)
    if args.job_script:  # --scheduler slurm: show the job script, submit nothing
        from shared_eval.sweep import slurm_job_script

        try:
            print(slurm_job_script(args))
        except LicError as e:
            print(f"compress.py: error: {e}", file=sys.stderr)
            return 1
        return 0

    from shared_data.imageio import list_images
    try:  # before any torch import or model load: the listing and every image's header size
        files = list_images(args.image_dir)
        if args.limit:
            files = files[: args.limit]
        for f in files:
            limits.check_image_file(f, args.max_pixels, "the hific encoder")
        threads.limit(args.threads)  # before a LocalCluster sets OMP_NUM_THREADS=1 ... in this process's
        # environment (Dask's pre-spawn-environ), which the files' arithmetic record would then name
        sched = _open_scheduler(args)  # before the model loads; a bad one writes nothing
    except LicError as e:
        print(f"compress.py: error: {e}", file=sys.stderr)
        return 1
    try:
        return _evaluate(args, files, sched)
    finally:
        if sched is not None:
            sched.close()


def _open_scheduler(args):
    if args.scheduler is None:
        return None
    from shared_data.pipeline import PrepareError, open_scheduler
    from shared_eval.sweep import SweepError, scheduler_kwargs

    kw = scheduler_kwargs(args)
    try:
        return open_scheduler(args.scheduler, kw["connect_timeout"], kw["slurm"], kw["jobs"], kw["job_wait"])
    except PrepareError as e:
        raise SweepError(str(e)) from None


def _sweep(args, sched, files, model, lpips_mode, lpips_fn):
    """The images as shared_eval.sweep tasks (:func:`hific.evaluate.image_task`) on ``sched``, fingerprinted
    by the model, the settings and the driver's arithmetic; one measures.csv in OUT."""
    from pathlib import Path

    from hific.codec import HiFiCCodec
    from hific.evaluate import EXTRA_COLUMNS, driver_arith, image_task, prime_task_model

    from shared_eval.sweep import SweepTask, sweep_to_measures

    codec = HiFiCCodec(model)
    if sched.client is None:  # the in-process executor reuses this model
        prime_task_model(args.ckpt, lpips_mode, codec, lpips_fn, args.device)
    arith = driver_arith(threads.count(args.threads))
    tasks = []
    for f in files:
        st = Path(f).stat()
        tasks.append(SweepTask(str(f), (str(args.ckpt), lpips_mode, str(f), str(args.output_dir), args.save,
                                        args.reconstruct, args.save, arith, args.device),
                               f"{Path(f).resolve()}:{st.st_size}:{st.st_mtime_ns}"))
    config = {"fingerprint": codec.fingerprint.hex(), "lpips": lpips_mode, "reconstruct": args.reconstruct,
              "save": args.save, "arith": arith, "device": args.device}
    out = Path(args.output_dir) / "measures.csv"
    res = sweep_to_measures(image_task, tasks, out, config, sched.client, extra_columns=EXTRA_COLUMNS,
                            progress=not args.no_progress, desc="hific evaluate")
    print(f"{out}: {res.line()}")


def _device(dev: str, here: bool) -> str:
    """The device the driver loads the model on: ``dev`` when the images are evaluated in this process, else
    the CPU (the driver only fingerprints the model; each Dask worker loads it on ``dev`` itself)."""
    import torch

    if dev != "cpu" and not (dev == "cuda" or dev.startswith("cuda:")):
        raise LicError(f"--device {dev}: expected cpu, cuda or cuda:N")
    if not here:
        return "cpu"
    if dev != "cpu" and not torch.cuda.is_available():
        raise LicError(f"--device {dev}: torch sees no CUDA device here (torch {torch.__version__})")
    return dev


def _evaluate(args, files, sched) -> int:
    threads.limit(args.threads)
    from hific.checkpoints import load_checkpoint
    from hific.evaluate import evaluate_files
    from hific.perceptual import LPIPS, LPIPSWeightsMissing

    try:
        here = sched is None or sched.client is None
        model, _ = load_checkpoint(args.ckpt, device=_device(args.device, here))
        lpips_fn, lpips_mode = None, None
        if args.lpips in ("alex", "auto"):
            try:
                lpips_fn, lpips_mode = LPIPS(), "alex"
            except LPIPSWeightsMissing as e:
                if args.lpips == "alex":
                    raise
                print(f"note: LPIPS column left empty: {e}", file=sys.stderr)
        elif args.lpips == "rand":
            if sched is None:
                lpips_fn = LPIPS(pnet_rand=True)
            else:
                from hific.evaluate import task_lpips
                lpips_fn = task_lpips("rand")
            lpips_mode = "rand"
        threads.limit(args.threads)  # torch is imported now: set its pool
        if sched is not None:
            _sweep(args, sched, files, model, lpips_mode, lpips_fn)
        else:
            evaluate_files(model, files, args.output_dir, save=args.save, reconstruct=args.reconstruct,
                           lpips_fn=lpips_fn, save_reconstructions=args.save)
    except (LicError, OSError) as e:
        print(f"compress.py: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output_dir}/measures.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
