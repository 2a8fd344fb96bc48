#!/usr/bin/env python
"""Lossless compression with a trained run (upstream ``src/l3c.py``), through the codec API
(:func:`l3c.codec.load_codec`, the same as ``python -m l3c encode|decode``):

    l3c.py LOG_DIR ID [-i ITR] [--backend B] enc IMG OUT [-f]
    l3c.py LOG_DIR ID [-i ITR] dec IN OUT.png [-f]

ID is the run's ``MMDD_HHMM`` (or its directory name). The output is the shared ``.lic`` container.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log_dir")
    p.add_argument("log_date")
    p.add_argument("-i", "--restore_itr", type=int, default=-1)
    p.add_argument("--device", default="cpu", choices=["auto", "cpu"],
                   help="only cpu: coding needs bit-identical probabilities on both sides")
    p.add_argument("--backend", default="constriction", choices=["constriction", "torchac"])
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: $LIC_THREADS, else min(2, cores))")
    sub = p.add_subparsers(dest="mode", required=True)
    for mode in ("enc", "dec"):
        s = sub.add_parser(mode)
        s.add_argument("img_p")
        s.add_argument("out_p")
        s.add_argument("-f", "--overwrite", action="store_true")
    a = p.parse_args(argv)
    from shared_data import cli, threads
    from shared_data.errors import LicError

    try:
        if Path(a.out_p).exists() and not a.overwrite:
            raise FileExistsError(17, "exists (use -f to overwrite)", a.out_p)
        threads.limit(a.threads)
        from l3c.codec import load_codec
        from l3c.model_io import find_run

        codec = load_codec(find_run(a.log_dir, a.log_date), backend=a.backend, itr=a.restore_itr)
        if a.mode == "enc":
            r = cli.encode_one(codec, Path(a.img_p), Path(a.out_p), None)
            print(f"{a.out_p}: {r['bytes']} bytes, {r['bpsp']:.4f} bpsp, {r['height']}x{r['width']}, {r['seconds']:.2f} s")
        else:
            r = cli.decode_one(codec, Path(a.img_p), Path(a.out_p), None)
            print(f"{a.out_p}: {r['height']}x{r['width']}, {r['seconds']:.2f} s")
    except (LicError, OSError) as ex:
        print(f"l3c.py: error: {cli.error_line(ex)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
