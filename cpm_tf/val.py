"""Validate trained CPM models (the original's ``val.py``): ``python val.py LOG_DIR_ROOT JOB_IDS IMAGES``.

JOB_IDS: comma list of log-dir prefixes (e.g. ``0515_1103``) or model-directory names under LOG_DIR_ROOT
(e.g. ``python val.py zoo mini kodak``). IMAGES: ``kodak`` ($KODAK_DIR), a directory or an escaped glob.
Writes ``LOG_DIR_ROOT/"{job_id} {dataset}"/measures.csv`` (img_name,bpp,ms-ssim,psnr,enc_s,dec_s + extras).
Real bitstreams are written and decoded for every image (``--real_bpp``, now the default; the original's
estimate is always reported as ``bpp_estimated``); ``--estimate_only`` skips the coder.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def find_model_dirs(root: Path, job_ids: str) -> list[Path]:
    out = []
    for jid in [j for j in job_ids.split(",") if j]:
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("log_dir_root")
    p.add_argument("job_ids")
    p.add_argument("images")
    p.add_argument("--save_ours", "-o", action="store_true", help="save reconstructions to imgs/")
    p.add_argument("--how_many", type=int, default=None)
    p.add_argument("--real_bpp", action="store_true", help="(default) code real bitstreams")
    p.add_argument("--estimate_only", action="store_true", help="skip the entropy coder (bpp left empty)")
    p.add_argument("--out_dir", default=None, help="(new) write measures here instead of LOG_DIR_ROOT/...")
    a = p.parse_args(argv)
    from cpm.tfsetup import limit_threads
    limit_threads()
    from cpm.codec import ModelLoadError, load_model
    from cpm.evaluate import EXTRA_COLUMNS, dataset_images, evaluate_image
    from tqdm import tqdm

    from shared_data.imageio import ImageReadError, read_image
    from shared_eval.measures import summarize, write_measures
    try:
        root = Path(a.log_dir_root)
        images = dataset_images(a.images)[: a.how_many]
        dataset = "kodak" if a.images == "kodak" else Path(a.images.rstrip("/")).name
        for mdir in find_model_dirs(root, a.job_ids):
            codec = load_model(mdir)
            out = Path(a.out_dir) if a.out_dir else root / f"{mdir.name.split(' ')[0]} {dataset}"
            rows = []
            for f in tqdm(images, desc=f"val {mdir.name}"):
                rows.append(evaluate_image(codec, read_image(f), f.name, real_bpp=not a.estimate_only,
                                           save_dir=(out / "imgs") if a.save_ours else None))
            path = write_measures(out / "measures.csv", rows, EXTRA_COLUMNS)
            s = summarize(rows)
            print(f"{path}: {s['n_images']} images, bpp {s.get('bpp', float('nan')):.4f} "
                  f"(estimated {s['bpp_estimated']:.4f}, factorized {s['bpp_factorized']:.4f}), "
                  f"MS-SSIM {s.get('ms-ssim', float('nan')):.4f}, PSNR {s['psnr']:.2f}")
    except (FileNotFoundError, ModelLoadError, ImageReadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
