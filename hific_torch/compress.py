"""Compress a folder of images with a trained HiFiC checkpoint and write measures.csv (port's compress.py).

  python compress.py -i DIR -ckpt CKPT [-o OUT] [--reconstruct] [--save] [--lpips auto|alex|off|rand]

Default: every image is really encoded to a .lic container and decoded; bpp is the packed file's size.
``--reconstruct``: rate is only estimated (bpp column empty, bpp_estimated filled). ``--save`` keeps the
.lic files and the reconstructions (PNG, uint8) in OUT.
"""

from __future__ import annotations

import argparse
import sys

import torch


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
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from hific.data import list_images
    from hific.evaluate import evaluate_files
    from hific.model import ModelLoadError, load_checkpoint
    from hific.perceptual import LPIPS, LPIPSWeightsMissing

    from shared_data.imageio import ImageReadError

    try:
        model, _ = load_checkpoint(args.ckpt)
        files = list_images(args.image_dir)
        if args.limit:
            files = files[: args.limit]
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
        evaluate_files(model, files, args.output_dir, save=args.save, reconstruct=args.reconstruct,
                       lpips_fn=lpips_fn, save_reconstructions=args.save)
    except (ModelLoadError, FileNotFoundError, ImageReadError) as e:
        print(f"compress.py: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output_dir}/measures.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
