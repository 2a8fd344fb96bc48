"""Compress images with one inference method, write real ``.lic`` files, decode them, and measure.

Protocol (``II:main/tf_boilerplate.py`` / spec §5): x in [0,1]; images of equal size are processed together
in batches of round(1e7/#pixels); x̂ is clipped to [0,1] and rounded to 0..255 before PSNR/MS-SSIM against
the original. ``bpp`` is the real file size of the decoded ``.lic``; ``bpp_estimated`` (and its y/z parts)
is the information content −log₂ p of the final latents ÷ #pixels, the quantity the paper reports.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import tensorflow as tf

from shared_data import container as lic
from shared_data.imageio import read_image
from shared_eval import metrics

from .coding import Coder
from .inference import IterativeInference, round_latents

EXTRA_COLUMNS = ("method", "table_id", "lambda", "bpp_estimated", "est_y_bpp", "est_z_bpp", "rd_loss_estimated",
                 "rd_loss_real", "height", "width")


def group_by_shape(paths):
    groups = OrderedDict()
    for p in paths:
        img = read_image(p)
        groups.setdefault(img.shape, []).append((Path(p), img))
    return groups


def run_method(model, lmbda, method, paths, results_dir, script="sga", runname="model", progress=True,
               coder=None, write_npz=True, images=None):
    """Run ``method`` on ``paths`` (or on ``images``: a list of (name, uint8 array)); return measures rows."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    coder = coder or Coder(model)
    inf = IterativeInference(model, lmbda, method)
    if images is None:
        groups = group_by_shape(paths)
    else:
        groups = OrderedDict()
        for name, img in images:
            groups.setdefault(img.shape, []).append((Path(name), img))
    rows = []
    for shape, items in groups.items():
        per_batch = max(1, int(round(1e7 / (shape[0] * shape[1]))))
        for b0 in range(0, len(items), per_batch):
            batch = items[b0:b0 + per_batch]
            x = tf.constant(np.stack([im for _, im in batch]).astype(np.float32) / 255.0)
            t0 = time.perf_counter()
            y, z, trajectory = inf.run(x, progress=progress)
            y_hat, z_hat = round_latents(model, y, z, method.grid)
            opt_s = time.perf_counter() - t0
            _, y_bits, z_bits, _ = model.rd_terms(x, y_hat, z_hat)
            npx = shape[0] * shape[1]
            for i, (path, img) in enumerate(batch):
                t1 = time.perf_counter()
                c = coder.encode(y_hat[i:i + 1].numpy(), z_hat[i:i + 1].numpy(), method.grid, method.name,
                                 shape[0], shape[1])
                out = results_dir / f"{path.stem}.{method.name}.lic"
                size = lic.write(out, c)
                enc_s = opt_s / len(batch) + time.perf_counter() - t1
                t2 = time.perf_counter()
                rec, _ = coder.decode(lic.read(out, codec="sga", model_fingerprint=coder.fingerprint))
                dec_s = time.perf_counter() - t2
                mse = float(np.mean((rec.astype(np.float64) - img.astype(np.float64)) ** 2))
                est_y, est_z = float(y_bits[i]) / npx, float(z_bits[i]) / npx
                real_bpp = metrics.bpp(size, shape[0], shape[1])
                msssim = metrics.ms_ssim(img, rec) if min(shape[:2]) >= 176 else None
                row = {"img_name": path.name, "bpp": real_bpp, "ms-ssim": msssim, "psnr": metrics.psnr(img, rec),
                       "enc_s": enc_s, "dec_s": dec_s, "method": method.name, "table_id": method.table_id,
                       "lambda": lmbda, "bpp_estimated": est_y + est_z, "est_y_bpp": est_y, "est_z_bpp": est_z,
                       "rd_loss_estimated": lmbda * mse + est_y + est_z, "rd_loss_real": lmbda * mse + real_bpp,
                       "height": shape[0], "width": shape[1]}
                rows.append(row)
                if write_npz:
                    name = (f"rd-{runname}-file={path.name}.npz" if method.name == "m3" else
                            f"rd-{script}-lmbda={lmbda:g}+{runname}-input={path.name}.npz")
                    np.savez(results_dir / name, mse=mse, psnr=row["psnr"],
                             msssim=np.nan if msssim is None else msssim,
                             msssim_db=np.nan if msssim is None else metrics.ms_ssim_db(msssim),
                             est_bpp=row["bpp_estimated"], est_y_bpp=est_y, est_z_bpp=est_z,
                             actual_bpp=real_bpp, file_bytes=size,
                             rd_loss=np.array([t["rd_loss"] for t in trajectory]),
                             rd_loss_after_rounding=np.array([t["rd_loss_after_rounding"] for t in trajectory]),
                             its=np.array([t["it"] for t in trajectory]))
    return rows
