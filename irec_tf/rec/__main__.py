"""``python -m rec encode IN.png OUT.lic [--model DIR]`` / ``python -m rec decode OUT.lic REC.png``.

The default model is the committed lossy checkpoint ``zoo/mini``; a lossless (``resnet_vae``) model
directory makes a lossless file. Errors: exit status 1 and one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rec", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode", help="compress an image to an .lic file")
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument("--model", default=None, help="model directory (default: zoo/mini)")
    e.add_argument("--kl_per_partition", type=float, default=None, help="Ω in nats")
    e.add_argument("--n_beams", type=int, default=None, help="B")
    e.add_argument("--extra_samples", type=float, default=None, help="1+ε")
    e.add_argument("--compression_seed", type=int, default=None)
    d = sub.add_parser("decode", help="decompress an .lic file to PNG")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--model", default=None, help="model directory (default: zoo/mini)")
    args = p.parse_args(argv)
    from shared_data import arith
    from shared_data.container import ContainerError
    from shared_data.imageio import ImageReadError, read_image, write_png

    from .fileformat import read_record, recorded_threads

    try:
        encoded = None
        if args.cmd == "decode":  # reproduce the encoder's thread count (LIC_THREADS still wins)
            encoded = recorded_threads(read_record(args.input)[1])
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(arith.threads(default=2, encoded=encoded))
        tf.config.threading.set_inter_op_parallelism_threads(1)
        from .codec import compress, decompress, load_model  # errors: ModelError is a ValueError

        lm = load_model(args.model)
        if args.cmd == "encode":
            img = read_image(args.input)
            r = compress(lm, img, args.output, kl_per_partition=args.kl_per_partition, n_beams=args.n_beams,
                         extra_samples=args.extra_samples, compression_seed=args.compression_seed)
            print(f"{args.output}: {r.num_bytes} bytes, {r.bpp:.4f} bpp (ideal {r.ideal_bpp:.4f} bpp), "
                  f"{r.enc_s:.1f} s")
        else:
            img = decompress(lm, args.input)
            write_png(args.output, img)
            print(f"{args.output}: {img.shape[1]}x{img.shape[0]}")
    except (ImageReadError, ContainerError, NotImplementedError, ValueError, OSError) as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
