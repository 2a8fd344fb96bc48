#!/usr/bin/env python
"""Reproduction driver (``make reproduce-l3c SCALE=mini|full``): writes ``OUT/measures.csv`` and
``OUT/summary.json``.

mini: real-file bpsp on Kodak of the committed ``zoo/mini`` L3C model (every file encoded, decoded and
checked bit-exact), beside the lossless classical codecs of ``shared_eval.baselines`` (PNG, WebP-lossless,
JPEG2000-lossless, JPEG XL-lossless where imagecodecs is installed) on the same images. ``--retrain M``
first trains the mini configs (L3C, and with ``--baselines`` also RGB and RGB Shared) for M minutes each on
``$TRAIN_DIR`` and evaluates those instead.

full: ``cr.cf`` (+ the baselines) on Open Images on a GPU, then evaluation; it needs the preprocessed data
(``-p train_imgs_glob=... -p val_glob=...`` or ``$OI_TRAIN``/``$OI_VAL``) and CUDA, and says so otherwise.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

LOSSLESS = ("png", "webp-lossless", "jpeg2000-lossless", "jpegxl-lossless")


def classical_rows(files) -> tuple[list[dict], list[str]]:
    from shared_data.imageio import read_image
    from shared_eval import baselines

    rows, notes = [], []
    for codec in LOSSLESS:
        try:
            for f in files:
                img = read_image(f)
                t0 = time.perf_counter()
                data = baselines.encode(img, codec, baselines.CODECS[codec].default_qualities[0])
                enc_s = time.perf_counter() - t0
                h, w = img.shape[:2]
                rows.append({"img_name": Path(f).name, "model": codec, "bpp": 8 * len(data) / (h * w),
                             "bpsp": 8 * len(data) / (3 * h * w), "bytes": len(data), "enc_s": enc_s})
        except Exception as e:  # e.g. imagecodecs missing for JPEG XL
            rows = [r for r in rows if r["model"] != codec]
            notes.append(f"{codec}: not measured ({type(e).__name__}: {e})")
    return rows, notes


def train_mini(cf: str, minutes: float, log_root: Path) -> Path:
    cmd = [sys.executable, str(HERE / "train.py"), str(HERE / "configs/ms" / cf), str(HERE / "configs/dl/mini.cf"),
           str(log_root), "--max_minutes", str(minutes), "-p", "crop_size=32", "-lval", "100", "-si", "50"]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    runs = sorted(p for p in log_root.iterdir() if p.is_dir() and Path(cf).stem in p.name)
    return runs[-1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=["mini", "full"], default="mini")
    p.add_argument("--out", required=True)
    p.add_argument("--max_images", type=int, default=None, help="first N Kodak images (default: all 24)")
    p.add_argument("--retrain", type=float, default=0, help="train the mini configs for this many minutes each")
    p.add_argument("--baselines", action="store_true", help="with --retrain: also RGB and RGB Shared")
    p.add_argument("--backend", default="constriction", choices=["constriction", "torchac"])
    p.add_argument("--no_classical", action="store_true")
    a = p.parse_args(argv)

    import torch
    from l3c.data import default_dir, resolve_glob
    from l3c.evaluate import evaluate_files
    from l3c.model_io import DEFAULT_MODEL, load_model

    from shared_eval.measures import summarize, write_measures, write_summary

    torch.set_num_threads(2)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.scale == "full":
        if not torch.cuda.is_available():
            print("reproduce.py --scale full: needs a CUDA GPU and the Open Images preprocessing "
                  "(shared_data recipes); run on a GPU machine: python train.py configs/ms/cr.cf configs/dl/oi.cf "
                  "LOGS -p train_imgs_glob=TRAIN_OI -p val_glob=VAL_OI, then test.py LOGS ID VAL_OI_500 "
                  "--write_to_files OUT. Nothing was run.", file=sys.stderr)
            return 2
        raise NotImplementedError("the full-scale driver is not automated; see README 'Full scale'")

    kodak = default_dir("KODAK_DIR")
    files = resolve_glob(str(kodak))
    if not files:
        print(f"reproduce.py: no Kodak images in {kodak} (set KODAK_DIR)", file=sys.stderr)
        return 2
    files = files[: a.max_images] if a.max_images else files
    models = {"L3C": DEFAULT_MODEL}
    if a.retrain:
        log_root = out / "logs"
        log_root.mkdir(exist_ok=True)
        models = {"L3C": train_mini("cr_mini.cf", a.retrain, log_root)}
        if a.baselines:
            models["RGB"] = train_mini("cr_rgb_mini.cf", a.retrain, log_root)
            models["RGB Shared"] = train_mini("cr_rgb_shared_mini.cf", a.retrain, log_root)
    rows, meta = [], {"scale": a.scale, "kodak_dir": str(kodak), "n_images": len(files), "backend": a.backend,
                      "torch": torch.__version__, "python": platform.python_version(), "models": {}}
    t0 = time.time()
    for name, run in models.items():
        net, fp, itr = load_model(run)
        meta["models"][name] = {"run": str(run), "itr": itr, "fingerprint": fp.hex()}
        for r in evaluate_files(net, fp, files, a.backend, theory=True):
            r["model"] = name
            rows.append(r)
    notes = []
    if not a.no_classical:
        crow, notes = classical_rows(files)
        rows += crow
    write_measures(out / "measures.csv", rows)
    summ = {"wall_s": time.time() - t0, **meta, "notes": notes, "per_model": {}}
    for name in dict.fromkeys(r["model"] for r in rows):
        summ["per_model"][name] = summarize([{k: v for k, v in r.items() if k not in ("model", "backend")}
                                             for r in rows if r["model"] == name])
    write_summary(out / "summary.json", summ)
    for name, s in summ["per_model"].items():
        print(f"{name:20s} bpsp {s.get('bpsp', float('nan')):.4f}"
              + (f"  (estimate {s['bpsp_estimated']:.4f}, theory {s['bpsp_theory']:.4f})"
                 if "bpsp_estimated" in s else ""))
    print(f"wrote {out / 'measures.csv'} and {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
