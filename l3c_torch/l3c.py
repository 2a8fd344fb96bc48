#!/usr/bin/env python
"""Lossless compression with a trained run (upstream ``src/l3c.py``):

    l3c.py LOG_DIR ID [-i ITR] [--backend B] enc IMG OUT [-f]
    l3c.py LOG_DIR ID [-i ITR] dec IN OUT.png [-f]

ID is the run's ``MMDD_HHMM`` (or its directory name). The output is the shared ``.lic`` container.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log_dir")
    p.add_argument("log_date")
    p.add_argument("-i", "--restore_itr", type=int, default=-1)
    p.add_argument("--device", default="cpu", choices=["auto", "cpu"],
                   help="only cpu: coding needs bit-identical probabilities on both sides")
    p.add_argument("--backend", default="constriction", choices=["constriction", "torchac"])
    sub = p.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("enc")
    e.add_argument("img_p")
    e.add_argument("out_p")
    e.add_argument("-f", "--overwrite", action="store_true")
    d = sub.add_parser("dec")
    d.add_argument("img_p")
    d.add_argument("out_p")
    d.add_argument("-f", "--overwrite", action="store_true")
    a = p.parse_args(argv)
    try:
        import torch
        from l3c.__main__ import decode_file, encode_file
        from l3c.model_io import find_run

        torch.set_num_threads(2)
        if Path(a.out_p).exists() and not a.overwrite:
            raise ValueError(f"{a.out_p} exists (use -f to overwrite)")
        run = find_run(a.log_dir, a.log_date)
        if a.mode == "enc":
            encode_file(a.img_p, a.out_p, run, a.backend, a.restore_itr)
        else:
            decode_file(a.img_p, a.out_p, run, a.restore_itr)
    except (ValueError, OSError, RuntimeError) as ex:
        print(f"l3c.py: error: {ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
