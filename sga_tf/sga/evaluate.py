"""Compress images with one inference method, write real ``.lic`` files, decode them, and measure.

Protocol (``II:main/tf_boilerplate.py`` / survey §5): x in [0,1]; images of equal size are processed together
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
from shared_data.errors import ConfigError
from shared_data.imageio import read_image
from shared_eval import metrics

from .coding import Coder
from .inference import IterativeInference, round_latents

EXTRA_COLUMNS = ("method", "table_id", "lambda", "bpp_estimated", "est_y_bpp", "est_z_bpp", "rd_loss_estimated",
                 "rd_loss_real", "height", "width", "est_bpp_back", "bpp_back_real", "bits_recovered", "bpp_file")


def _savez_atomic(path, **arrays):
    """``np.savez`` to a temporary name, then renamed (a killed worker leaves no torn .npz)."""
    import os

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def group_by_shape(paths):
    groups = OrderedDict()
    for p in paths:
        img = read_image(p)
        groups.setdefault(img.shape, []).append((Path(p), img))
    return groups


def check_model_method(model, method):
    """The bits-back methods need the bits-back model and vice versa (clear error otherwise)."""
    bb_model = getattr(model, "is_bits_back", False)
    if bb_model and method.grid != "bitsback":
        raise ConfigError(f"{method.name} ({method.table_id}) needs an mbt2018 model; this is a bits-back "
                         "(mbt2018_bb) model: use bb_sga.py, bb_no_sga.py or bb_plain.py")
    if method.grid == "bitsback" and not bb_model:
        raise ConfigError(f"{method.name} ({method.table_id}) needs a bits-back model trained with mbt2018_bb.py "
                         "(run name mbt2018_bb-num_filters=N-lmbda=λ), not an mbt2018 model")


def _bits_back_batch(model, coder, method, batch, y_hat, shape, results_dir, q_its, opt_s):
    """Bits-back code a batch of same-size images as ONE chain file (``<first stem>.<method>.lic``; a single
    image is a chain of one), decode it, and return per image (file, size, enc_s, dec_s, reconstruction,
    est. y bits, est. z bits, extra columns). ``bpp_net`` (the row's ``bpp``) = the image's net growth of the
    real ANS stack plus its share of the container header, i.e. Σ_i bpp_net_i·#px = file bits − the public
    side-information bits the first image borrowed (the original's "net size"); ``bpp_file`` = the whole
    chain file's bits per image per pixel (startup bits included)."""
    npx = shape[0] * shape[1]
    t1 = time.perf_counter()
    c, infos = coder.encode_chain([y_hat[i:i + 1].numpy() for i in range(len(batch))], method.name, shape[0],
                                  shape[1], q_its=q_its)
    out = results_dir / f"{batch[0][0].stem}.{method.name}.lic"
    size = lic.write(out, c)
    enc_s = opt_s / len(batch) + (time.perf_counter() - t1) / len(batch)
    t2 = time.perf_counter()
    c2 = lic.read(out, codec="sga", model_fingerprint=coder.fingerprint)
    y_dec, _, _, recovered = coder.decode_chain(c2)
    recs = [coder.reconstruct(y, shape[0], shape[1]) for y in y_dec]
    dec_s = (time.perf_counter() - t2) / len(batch)
    if not recovered:
        print(f"warning: {out.name}: the borrowed side information was not recovered exactly (images decoded)")
    header_bits = 8 * size - 8 * len(c.sections[1])
    pre = []
    for i, info in enumerate(infos):
        if not np.array_equal(y_dec[i], y_hat[i:i + 1].numpy()):
            raise AssertionError(f"{out}: image {i} did not decode to the encoded latents")
        m, s = info["q"]
        yb, zb, back, _ = model.bits(y_hat[i:i + 1], tf.constant(np.concatenate([m, s], -1), tf.float32),
                                     seed=tf.constant([3, 3], tf.int64))  # one fresh z sample (survey §4)
        bb = {"est_bpp_back": float(back[0]) / npx, "bpp_back_real": info["borrowed_bits"] / npx,
              "bits_recovered": int(recovered), "bpp_net": (info["net_bits"] + header_bits / len(batch)) / npx,
              "bpp_file": 8 * size / len(batch) / npx}
        pre.append((out, size, enc_s, dec_s, recs[i], float(yb[0]), float(zb[0]), bb))
    return pre


def run_method(model, lmbda, method, paths, results_dir, script="sga", runname="model", progress=True,
               coder=None, write_npz=True, images=None, q_its=None, strategy=None):
    """Run ``method`` on ``paths`` (or on ``images``: a list of (name, uint8 array)); return measures rows.
    Bits-back methods (grid ``bitsback``) are coded with :class:`sga.bitsback.BitsBackCoder`; ``q_its``
    shortens their q fit. ``strategy`` (a ``tf.distribute`` strategy, issue 14): each batch of same-size images
    is split over its replicas for the iterative inference (:func:`sga.distribute.make_distributed_inference`;
    None: one device, unchanged); coding and measuring stay on this process."""
    check_model_method(model, method)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    bits_back = method.grid == "bitsback"
    if bits_back:
        from .bitsback import BitsBackCoder

        coder = coder if isinstance(coder, BitsBackCoder) else BitsBackCoder(model, lmbda)
    else:
        coder = coder or Coder(model)
    if strategy is None:
        inf = IterativeInference(model, lmbda, method)
    else:
        from .distribute import make_distributed_inference

        inf = make_distributed_inference(strategy, model, lmbda, method)
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
            if bits_back:
                pre = _bits_back_batch(model, coder, method, batch, y_hat, shape, results_dir, q_its, opt_s)
            else:
                _, y_bits, z_bits, _ = model.rd_terms(x, y_hat, z_hat)
            npx = shape[0] * shape[1]
            for i, (path, img) in enumerate(batch):
                bb = {}
                if bits_back:
                    out, size, enc_s, dec_s, rec, y_bits_i, z_bits_i, bb = pre[i]
                else:
                    t1 = time.perf_counter()
                    c = coder.encode(y_hat[i:i + 1].numpy(), z_hat[i:i + 1].numpy(), method.grid, method.name,
                                     shape[0], shape[1])
                    y_bits_i, z_bits_i = float(y_bits[i]), float(z_bits[i])
                    out = results_dir / f"{path.stem}.{method.name}.lic"
                    size = lic.write(out, c)
                    enc_s = opt_s / len(batch) + time.perf_counter() - t1
                    t2 = time.perf_counter()
                    rec = coder.decode(lic.read(out, codec="sga", model_fingerprint=coder.fingerprint))[0]
                    dec_s = time.perf_counter() - t2
                mse = float(np.mean((rec.astype(np.float64) - img.astype(np.float64)) ** 2))
                est_y, est_z = y_bits_i / npx, z_bits_i / npx
                real_bpp = bb.pop("bpp_net") if bits_back else metrics.bpp(size, shape[0], shape[1])
                msssim = metrics.ms_ssim(img, rec) if min(shape[:2]) >= 176 else None
                est = est_y + est_z - bb.get("est_bpp_back", 0.0)  # bits-back: y + z − bits back (survey §4)
                row = {"img_name": path.name, "bpp": real_bpp, "ms-ssim": msssim, "psnr": metrics.psnr(img, rec),
                       "enc_s": enc_s, "dec_s": dec_s, "method": method.name, "table_id": method.table_id,
                       "lambda": lmbda, "bpp_estimated": est, "est_y_bpp": est_y, "est_z_bpp": est_z,
                       "rd_loss_estimated": lmbda * mse + est, "rd_loss_real": lmbda * mse + real_bpp,
                       "height": shape[0], "width": shape[1], **bb}
                rows.append(row)
                if write_npz:
                    name = (f"rd-{runname}-file={path.name}.npz" if method.name == "m3" else
                            f"rd-{script}+{runname}-input={path.name}.npz" if method.name in ("bb_no_sga", "bb_plain")
                            else f"rd-{script}-lmbda={lmbda:g}+{runname}-input={path.name}.npz")
                    _savez_atomic(results_dir / name, mse=mse, psnr=row["psnr"],
                             msssim=np.nan if msssim is None else msssim,
                             msssim_db=np.nan if msssim is None else metrics.ms_ssim_db(msssim),
                             est_bpp=row["bpp_estimated"], est_y_bpp=est_y, est_z_bpp=est_z,
                             actual_bpp=real_bpp, file_bytes=size,
                             rd_loss=np.array([t["rd_loss"] for t in trajectory]),
                             rd_loss_after_rounding=np.array([t["rd_loss_after_rounding"] for t in trajectory]),
                             its=np.array([t["it"] for t in trajectory]),
                             **({"est_bpp_back": bb["est_bpp_back"], "bpp_back_real": bb["bpp_back_real"],
                                 "chain_file_bpp": bb["bpp_file"]} if bits_back else {}))
    return rows
