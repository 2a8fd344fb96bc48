"""Per-image evaluation through the codec protocol (:class:`hific.codec.HiFiCCodec`): real files (bpp of the
packed container), PSNR, MS-SSIM, LPIPS, timings, written with ``shared_eval.measures_csv`` (columns
img_name,bpp,ms-ssim,psnr,enc_s,dec_s + bpp_estimated, lpips)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from shared_data import codec as codec_api
from shared_data.imageio import atomic_write_bytes, read_image, write_png
from shared_eval.measures_csv import write_measures
from shared_eval.metrics import ms_ssim, psnr

from .codec import HiFiCCodec
from .model import HiFiC

EXTRA_COLUMNS = ("bpp_estimated", "lpips")


def _lpips(lpips_fn, a: np.ndarray, b: np.ndarray) -> float:
    ta = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255
    tb = torch.from_numpy(b).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        return float(lpips_fn(ta, tb).mean())


def evaluate_files(model: HiFiC, files, out_dir, save: bool = False, reconstruct: bool = False,
                   lpips_fn=None, progress: bool = True, save_reconstructions: bool = False) -> list[dict]:
    """Compress and decompress every file (or, with ``reconstruct``, only estimate the rate) and write
    ``out_dir/measures.csv``. ``save`` keeps the ``.lic`` files; ``save_reconstructions`` the PNGs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    codec = HiFiCCodec(model)  # portable files from an integerized model, float-path files otherwise
    rows = []
    for f in tqdm(list(files), desc="images", disable=not progress):
        f = Path(f)
        img = read_image(f)
        h, w = img.shape[:2]
        row: dict = {"img_name": f.name}
        est = codec.estimate_bits(img)
        row["bpp_estimated"] = est / (h * w)
        if reconstruct:
            rec = codec.decode(codec.encode(img))  # the file is not kept and not measured
            row.update({"bpp": None, "enc_s": None, "dec_s": None})
        else:
            t0 = time.perf_counter()
            data = codec_api.compress(codec, img)
            enc_s = time.perf_counter() - t0
            if save:
                atomic_write_bytes(out_dir / f"{f.stem}.lic", data)
            t0 = time.perf_counter()
            rec = codec_api.decompress(codec, data)
            dec_s = time.perf_counter() - t0
            row.update({"bpp": 8 * len(data) / (h * w), "enc_s": enc_s, "dec_s": dec_s})
        row["psnr"] = psnr(img, rec)
        row["ms-ssim"] = ms_ssim(img, rec) if min(h, w) >= 176 else None
        row["lpips"] = _lpips(lpips_fn, img, rec) if lpips_fn is not None else None
        if save_reconstructions:
            write_png(out_dir / f"{f.stem}_rec.png", rec)
        rows.append(row)
    write_measures(out_dir / "measures.csv", rows, EXTRA_COLUMNS)
    return rows
