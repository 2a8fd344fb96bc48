"""The original command lines (``II:main/tf_boilerplate.py``), shared by every entry-point script::

    python <script> [--num_filters N] [--checkpoint_dir D] [-V] train --train_glob G --batchsize 8 \\
        --patchsize 256 --lambda λ --last_step S                        (mbt2018.py only)
    python <script> [--num_filters N] [--checkpoint_dir D] compress RUN_NAME IMAGES [--results_dir R] \\
        [--lambda λ] [--annealing_rate 1e-3] [--t0 700] [--sga_its 2000 (ignored, as in the original)]
    python mbt2018.py --checkpoint_dir D decompress RUN_NAME IN.lic [OUT.png]

The model is ``checkpoint_dir/RUN_NAME``; λ of the inference objective is ``--lambda`` or parsed from the run
name. IMAGES is a file, a directory of PNGs or a glob.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from shared_data import limits


def _setup_tf(encoded_threads: int | None = None) -> int:
    """TF's thread pools by the project's one policy (:func:`shared_data.threads.limit`: LIC_THREADS, else the
    count a file being decoded recorded, else 2)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from .arith_config import set_threads

    return set_threads(encoded=encoded_threads)


def peek_threads(path) -> int | None:
    """The intra-op thread count a .lic file's encoder recorded (None if absent or unreadable: the real
    decode reports the problem)."""
    try:
        from shared_data import container as lic

        from .arith_config import encoded_threads, unpack

        c = lic.read(path, codec="sga")
        head = lic.unpack_ints(c.sections[0], max_count=16) if c.sections else []
        if head and head[0] in (3, 5) and len(c.sections) == 4:
            return encoded_threads(unpack(c.sections[3]))
        if head and head[0] in (4, 6) and len(c.sections) == 3:
            return encoded_threads(unpack(c.sections[2]))
    except (ValueError, OSError):
        return None
    return None


def expand_images(spec: str) -> list[Path]:
    """IMAGES of ``compress``: a file, a folder or a glob, listed by the project's one rule
    (:func:`shared_data.imageio.list_images`: the image suffixes in any case, sub-folders included)."""
    from shared_data.imageio import list_images

    return list_images(spec)


def build_parser(script: str, method: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=script, description=f"{script}: inference method {method!r} "
                                "(Yang, Bamler, Mandt 2020) on the mean-scale hyperprior.")
    p.add_argument("--verbose", "-V", action="store_true", help="progress bars and per-image lines")
    p.add_argument("--num_filters", type=int, default=-1, help="N (checked against the model's args.json)")
    p.add_argument("--num_hfilters", type=int, default=-1, help="unused (kept from the original)")
    p.add_argument("--checkpoint_dir", default="./checkpoints", help="directory holding RUN_NAME/")
    sub = p.add_subparsers(dest="command", required=True)
    if method in ("m3", "bb_model", "bb_plain"):
        t = sub.add_parser("train", help="train a model" + (" (the bits-back model mbt2018_bb)"
                                                           if method != "m3" else ""))
        t.add_argument("--train_glob", default="images/*.png")
        t.add_argument("--batchsize", type=int, default=8)
        t.add_argument("--patchsize", type=int, default=256)
        t.add_argument("--lambda", dest="lmbda", type=float, default=0.01)
        t.add_argument("--last_step", type=int, default=1_000_000)
        t.add_argument("--preprocess_threads", type=int, default=16, help="unused (tf.data decides)")
        t.add_argument("--logdir", default="/tmp/tf_logs")
        t.add_argument("--save_checkpoint_secs", type=float, default=300)
        t.add_argument("--save_summary_secs", type=float, default=60)
        t.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (original: 1e-4)")
        t.add_argument("--scale_semantics", choices=("tf1", "tf2"), default="tf1")
        t.add_argument("--seed", type=int, default=None)
        t.add_argument("--gdn", choices=("original", "simplified"), default=None,
                       help="GDN flavour: tfc 1.3's x/sqrt(b+sum g x^2) (original) or tfc 2's x/(b+sum g|x|) "
                            "(simplified, the pre-fix zoo models); default: original for a new run, the run's "
                            "own when resuming")
        t.add_argument("--rdft", choices=("tfc1", "tfc2"), default=None,
                       help="RDFT kernel parameterization: tfc 1.3's orthonormal basis (tfc1, the original's) "
                            "or tfc 2's RDFTParameter (tfc2, the pre-fix zoo models); default: tfc1 for a new "
                            "run, the run's own when resuming")
        from .distribute import add_arguments as add_strategy_arguments

        add_strategy_arguments(t)  # --strategy, --cpu_replicas (issue 14; --batchsize is the global batch)
    if method == "bb_model":  # mbt2018_bb.py: "Only training is supported." (as the original)
        return p
    c = sub.add_parser("compress", help="compress images with this inference method")
    c.add_argument("runname")
    c.add_argument("input", help="image file, directory or glob")
    c.add_argument("output", nargs="?", default=None, help="(single image) path of the .lic file")
    c.add_argument("--results_dir", default="./results")
    c.add_argument("--lambda", dest="lmbda", type=float, default=-1, help="default: λ from the run name")
    c.add_argument("--sga_its", type=int, default=2000, help="ignored, as in the original (see --its)")
    c.add_argument("--its", type=int, default=None, help="override the method's iteration count (ours)")
    c.add_argument("--annealing_rate", type=float, default=1e-3)
    c.add_argument("--t0", type=float, default=700)
    from .distribute import add_arguments as add_strategy_arguments

    add_strategy_arguments(c)  # --strategy, --cpu_replicas: each batch of same-size images split over replicas
    limits.add_max_pixels_argument(c, "sga", "encode")
    if method in ("bb_sga", "bb_no_sga"):
        c.add_argument("--q_its", type=int, default=None,
                       help="override the iterations of the q(z|ŷ) fit (ours; stored in the file for the decoder)")
    if method == "m3":
        d = sub.add_parser("decompress", help="decode a .lic file")
        d.add_argument("runname")
        d.add_argument("input")
        d.add_argument("output", nargs="?", default=None)
        limits.add_max_pixels_argument(d, "sga", "decode")
    return p


def main(script: str, method: str, argv=None) -> int:
    args = build_parser(script, method).parse_args(argv)
    from shared_data.errors import LicError

    if getattr(args, "strategy", "default") != "default" or getattr(args, "cpu_replicas", None) is not None:
        from .distribute import check_arguments

        try:  # a bad --strategy / --cpu_replicas / $TF_CONFIG: one line, before TF starts or anything is written
            check_arguments(args.strategy, args.cpu_replicas)
        except LicError as e:
            print(f"{script}: error: {e}", file=sys.stderr)
            return 1
    try:  # the pixel limit of every image, before TF is imported or a model loaded (as python -m sga)
        paths = expand_images(args.input) if args.command == "compress" else []
        for p in paths:
            limits.precheck("encode", str(p), args.max_pixels, "sga")
        if args.command == "decompress":
            limits.precheck("decode", args.input, args.max_pixels, "sga")
    except (LicError, OSError) as e:
        print(f"{script}: error: {e}", file=sys.stderr)
        return 1
    _setup_tf(peek_threads(args.input) if args.command == "decompress" else None)
    strategy = None
    if getattr(args, "strategy", "default") != "default":
        from .distribute import strategy_from_args

        strategy = strategy_from_args(args, script)
    from shared_data.imageio import write_png

    from .checkpoints import load_model, parse_lambda

    try:
        if args.command == "train":
            from .train import train

            run_dir = train(args.num_filters, args.lmbda, args.train_glob, args.checkpoint_dir,
                            batchsize=args.batchsize, patchsize=args.patchsize, last_step=args.last_step,
                            logdir=args.logdir, lr=args.lr, save_checkpoint_secs=args.save_checkpoint_secs,
                            save_summary_secs=args.save_summary_secs, scale_semantics=args.scale_semantics,
                            seed=args.seed, model_kind="mbt2018" if method == "m3" else "mbt2018_bb",
                            gdn=args.gdn, rdft=args.rdft, strategy=strategy)
            print(f"trained {run_dir}" if run_dir is not None else
                  "not the chief worker: the chief writes the run directory")
            return 0
        model_dir = Path(args.checkpoint_dir) / args.runname
        if args.command == "decompress":

            from shared_data import container as lic

            from .codec import SGACodec

            model, margs = load_model(model_dir, args.num_filters)
            codec = SGACodec(model, model_dir, margs, lmbda=margs.get("lmbda") or 1.0)  # λ unused by decoding
            t = time.perf_counter()
            c = lic.read(args.input, codec="sga")
            with lic.reading(args.input):
                rec, used = codec.decode_with_method(c)
            out = args.output or str(Path(args.input).with_suffix(".png"))
            write_png(out, rec)
            print(f"{args.input} ({used}) -> {out} in {time.perf_counter() - t:.2f}s")
            return 0
        # compress
        from shared_eval.measures_csv import write_measures

        from .evaluate import EXTRA_COLUMNS, run_method
        from .inference import METHODS, with_overrides

        lmbda = parse_lambda(args.runname, args.lmbda if args.lmbda > 0 else None)
        model, _ = load_model(model_dir, args.num_filters)
        meth = with_overrides(METHODS[method], its=args.its, annealing_rate=args.annealing_rate, t0=args.t0)
        rows = run_method(model, lmbda, meth, paths, args.results_dir, script=Path(script).stem,
                          runname=args.runname, progress=args.verbose, q_its=getattr(args, "q_its", None),
                          strategy=strategy)
        if args.output and len(paths) == 1:
            Path(args.results_dir, f"{paths[0].stem}.{meth.name}.lic").replace(args.output)
        name = f"measures-{Path(script).stem}-lmbda={lmbda:g}+{args.runname}.csv"
        write_measures(Path(args.results_dir) / name, rows, EXTRA_COLUMNS)
        for r in rows:
            print(f"{r['img_name']}: {meth.table_id} bpp {r['bpp']:.4f} (estimated {r['bpp_estimated']:.4f}) "
                  f"PSNR {r['psnr']:.2f} dB")
        return 0
    except (LicError, OSError, ValueError, FloatingPointError) as e:
        print(f"{script}: error: {e}", file=sys.stderr)
        return 1
