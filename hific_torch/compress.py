"""Compress a folder of images with a trained HiFiC checkpoint and write measures.csv (port's compress.py).

  python compress.py -i DIR -ckpt CKPT [-o OUT] [--reconstruct] [--save] [--lpips auto|alex|off|rand]
                     [--max-pixels N] [--threads N]

Default: every image is really encoded to a .lic container and decoded; bpp is the packed file's size.
``--reconstruct``: rate is only estimated (bpp column empty, bpp_estimated filled). ``--save`` keeps the
.lic files and the reconstructions (PNG, uint8) in OUT. Images are listed by the project's one rule
(``shared_data.imageio.list_images``). Every image's size is checked against the encoder's pixel limit from
its header before the model loads, as ``python -m hific encode`` does (``--max-pixels``, 0 = no limit).
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
    limits.add_max_pixels_argument(p, "hific", "encode")
    args = p.parse_args(argv)

    from shared_data.imageio import list_images
    try:  # before any torch import or model load: the listing and every image's header size
        files = list_images(args.image_dir)
        if args.limit:
            files = files[: args.limit]
        for f in files:
            limits.check_image_file(f, args.max_pixels, "the hific encoder")
    except LicError as e:
        print(f"compress.py: error: {e}", file=sys.stderr)
        return 1

    threads.limit(args.threads)
    from hific.checkpoints import load_checkpoint
    from hific.evaluate import evaluate_files
    from hific.perceptual import LPIPS, LPIPSWeightsMissing

    try:
        model, _ = load_checkpoint(args.ckpt)
        lpips_fn = None
        if args.lpips in ("alex", "auto"):
            try:
                lpips_fn = LPIPS()
            except LPIPSWeightsMissing as e:
                if args.lpips == "alex":
                    raise
                print(f"note: LPIPS column left empty: {e}", file=sys.stderr)
        elif args.lpips == "rand":
            lpips_fn = LPIPS(pnet_rand=True)
        threads.limit(args.threads)  # torch is imported now: set its pool
        evaluate_files(model, files, args.output_dir, save=args.save, reconstruct=args.reconstruct,
                       lpips_fn=lpips_fn, save_reconstructions=args.save)
    except (LicError, OSError) as e:
        print(f"compress.py: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output_dir}/measures.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
