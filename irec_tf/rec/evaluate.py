"""Per-image evaluation: real files, actual vs ideal code lengths (survey §5), the original's results.csv columns
and the shared measures.csv.

Lossy: *ideal* = KL/(#px·ln 2) with metrics of one posterior sample; *actual* = the .lic file's size with
metrics of the REC-coded (and decoded) sample. Lossless: *ideal* bpd = (KL/ln 2 + −log₂ p(x|z_posterior))/
(H·W·3) with z a posterior sample (the negative ELBO's single-sample estimate); *actual* bpd = file bits/(H·W·3),
the file holding the REC indices and the ANS-coded residual. PNG and WebP-lossless sizes of the same image
(Pillow) are given for comparison.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image
from tqdm import tqdm

from shared_data import container
from shared_data.imageio import atomic_write_bytes, pad_to_multiple, write_png
from shared_eval.measures_csv import write_measures
from shared_eval.metrics import ms_ssim, psnr

from .codec import IrecCodec
from .coding.residual import ideal_bits
from .models.resnet_vae import to_model_range

LN2 = math.log(2.0)


def _msssim(a, b):
    try:
        return ms_ssim(a, b)
    except ValueError:
        return None  # image side < 176 px


def _pil_bytes(img, fmt, **kw) -> int:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt, **kw)
    return len(buf.getvalue())


def _ideal_lossy(lm, img):
    padded, _ = pad_to_multiple(img, 64, mode="edge", split="end")
    tf.random.set_seed(0)
    x_hat, kl1, kl2 = lm.model(tf.constant(padded[None].astype(np.float32) / 255.0))
    rec = np.round(np.clip(x_hat.numpy()[0], 0, 1) * 255).astype(np.uint8)[: img.shape[0], : img.shape[1]]
    return float(kl1 + kl2), rec


def _ideal_lossless(lm, img):
    padded, _ = pad_to_multiple(img, 2, mode="edge", split="end")
    tf.random.set_seed(0)
    m = lm.model
    x = to_model_range(tf.constant(padded[None]))
    stats = m.inference_pass(x)
    h = m._base(1, stats[0][0].shape[1], stats[0][0].shape[2])
    kl = 0.0
    for block, q_stats in zip(m.blocks, stats):
        t, (pl, ps), (ql, qs) = block.distributions(h, q_stats)
        z = ql + qs * tf.random.normal(tf.shape(ql))
        kl += float(tf.reduce_sum(tf.math.log(ps / qs) + (qs ** 2 + (ql - pl) ** 2) / (2 * ps ** 2) - 0.5))
        h = block.generate(h, t, z)
    loc = m.output_loc(h).numpy()[0][: img.shape[0], : img.shape[1]]
    return kl, ideal_bits(img, loc, float(m.likelihood_log_scale.numpy()))


def evaluate(lm, images, out_dir, save_reconstructions=True, check_decode=True, **coding):
    """Compress each (name, uint8 image) to ``out_dir/reconstructions/<name>.lic``; return (rows, results).

    ``rows`` are measures.csv rows; ``results`` the original's results.csv rows.
    """
    out_dir = Path(out_dir)
    rec_dir = out_dir / "reconstructions"
    rec_dir.mkdir(parents=True, exist_ok=True)
    rows, results = [], []
    codec = IrecCodec(lm, **coding)   # the project's codec interface (the model's default format)
    for name, img in tqdm(list(images), desc="compress", mininterval=5):
        stem = Path(name).stem
        path = rec_dir / f"{stem}.lic"
        h, w = img.shape[:2]
        npx = h * w
        c, r = codec.encode_with_stats(img)
        r.num_bytes = container.write(path, c)
        t0 = time.perf_counter()
        if check_decode:
            with container.reading(path):
                dec = codec.decode(container.read(path, codec=codec.codec_id))
        else:
            dec = r.reconstruction
        dec_s = time.perf_counter() - t0
        if check_decode and not np.array_equal(dec, r.reconstruction):
            raise AssertionError(f"{name}: decoded image differs from the encoder's reconstruction")
        overhead_bits = r.num_bytes * 8 - r.kl_nats / LN2 - r.residual_bytes * 8
        if lm.lossless:
            kl_nats, res_bits = _ideal_lossless(lm, img)
            bpd = r.num_bytes * 8 / (npx * 3)
            row = dict(img_name=stem, bpp=r.bpp, **{"ms-ssim": None}, psnr=None, enc_s=r.enc_s, dec_s=dec_s,
                       mode="lossless", bpd=bpd, bpd_ideal=(kl_nats / LN2 + res_bits) / (npx * 3),
                       bpd_estimated_coded=(r.kl_nats / LN2 + r.residual_ideal_bits) / (npx * 3),
                       kl_bits=r.kl_nats / LN2, index_bits=r.index_bytes * 8,
                       residual_bits=r.residual_bytes * 8, residual_ideal_bits=r.residual_ideal_bits,
                       overhead_bits=overhead_bits,
                       png_bpd=_pil_bytes(img, "PNG", optimize=True) * 8 / (npx * 3),
                       webp_bpd=_pil_bytes(img, "WEBP", lossless=True, quality=100, method=6) * 8 / (npx * 3))
            results.append(dict(name=stem, residual=res_bits * LN2, KL=kl_nats,
                                lossless_BPP=(kl_nats / LN2 + res_bits) / npx,
                                BPD=row["bpd_ideal"], comp_residual=r.residual_bytes * 8,
                                comp_codelength=r.num_bytes * 8 - r.residual_bytes * 8, comp_KL=r.kl_nats,
                                comp_lossless_BPP=r.bpp, comp_BPD=bpd, comp_time=r.enc_s))
            if not np.array_equal(dec, img):
                raise AssertionError(f"{name}: lossless decode is not bit-exact")
        else:
            kl_nats, ideal_rec = _ideal_lossy(lm, img)
            ms_a, ms_i = _msssim(img, dec), _msssim(img, ideal_rec)
            row = dict(img_name=stem, bpp=r.bpp, **{"ms-ssim": ms_a}, psnr=psnr(img, dec), enc_s=r.enc_s,
                       dec_s=dec_s, mode="lossy", bpp_ideal=kl_nats / (npx * LN2),
                       bpp_kl_coded=r.kl_nats / (npx * LN2), psnr_ideal=psnr(img, ideal_rec),
                       ms_ssim_ideal=ms_i, kl_bits=r.kl_nats / LN2, index_bits=r.index_bytes * 8,
                       overhead_bits=overhead_bits, file_bytes=r.num_bytes)
            results.append(dict(name=stem, KL=kl_nats, lossy_BPP=row["bpp_ideal"], comp_codelength=r.num_bytes * 8,
                                comp_lossy_BPP=r.bpp, comp_time=r.enc_s, ideal_PSNR=row["psnr_ideal"],
                                ideal_MS_SSIM=ms_i, PSNR=row["psnr"], MS_SSIM=ms_a))
            if save_reconstructions:
                write_png(rec_dir / f"{stem}.png", dec)
        rows.append(row)
    return rows, results


def write_results_csv(path, results):
    """The original's results.csv (columns as in compression_performance.py / compress_with_lossy_model.py)."""
    if not results:
        return
    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=list(results[0]), lineterminator="\n")
    wr.writeheader()
    wr.writerows(results)
    atomic_write_bytes(path, buf.getvalue().encode())


def write_all(out_dir, rows, results):
    out_dir = Path(out_dir)
    write_measures(out_dir / "measures.csv", rows)
    write_results_csv(out_dir / "results.csv", results)
