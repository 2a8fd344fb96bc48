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
from functools import lru_cache
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


def evaluate(lm, images, out_dir, save_reconstructions=True, check_decode=True, progress=True, **coding):
    """Compress each (name, uint8 image) to ``out_dir/reconstructions/<name>.lic``; return (rows, results).

    ``rows`` are measures.csv rows; ``results`` the original's results.csv rows.
    """
    out_dir = Path(out_dir)
    rec_dir = out_dir / "reconstructions"
    rec_dir.mkdir(parents=True, exist_ok=True)
    rows, results = [], []
    codec = IrecCodec(lm, **coding)   # the project's codec interface (the model's default format)
    for name, img in tqdm(list(images), desc="compress", mininterval=5, disable=not progress):
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


# --- a dataset as shared_eval.sweep tasks: in-process or on Dask (issue 14) ---------------------------------

#: marks the results.csv row that travels with each image's measures.csv row through the sweep records
RESULTS_KEY = "_results_row"


def driver_arith() -> dict:
    """This process's arithmetic settings for the workers (:func:`_worker_model`): the variables of
    ``shared_data.arith.ENV_KEYS`` as this process started (:data:`rec.START_ENV`, what a file records) and
    TF's intra/inter-op thread counts."""
    from shared_data.arith import ENV_KEYS

    from . import START_ENV

    return {"env": {k: START_ENV.get(k) for k in ENV_KEYS},
            "tf_threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                           tf.config.threading.get_inter_op_parallelism_threads()]}


_IS_DRIVER = False  # set by evaluate_files in the driver process


@lru_cache(maxsize=2)
def _worker_model(model_dir: str, arith_items: tuple):
    """The model, loaded once per worker process under the driver's arithmetic (:func:`driver_arith`): every
    file records the encoder's arithmetic (thread counts, BLAS/ISA variables) and Dask workers start with others
    (``OMP_NUM_THREADS=1`` …), so without this a worker's files — their bytes and bpp — would differ; the
    ideal-sample numbers are float TF, computed under the driver's thread count too."""
    import os

    from . import START_ENV
    from .codec import load_model

    arith = dict(arith_items)
    if _IS_DRIVER:  # in-process: this process is the arithmetic
        return load_model(model_dir)
    for k, v in arith["env"]:
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    START_ENV.clear()
    START_ENV.update({k: v for k, v in arith["env"] if v})
    intra, inter = arith["tf_threads"]  # TF's pools as the driver's (0 = TF's default), before TF runs an op
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # TF already runs in this worker: its pools stay (the record names them)
        pass
    return load_model(model_dir)


def image_task(model_dir: str, image: str, crop: int, out_dir: str, coding: tuple, save_reconstructions: bool,
               check_decode: bool, arith: tuple) -> list[dict]:
    """One image (a task of :func:`evaluate_files`, runs on a worker): :func:`evaluate` on the image (centre crop
    ``crop``, 0 = whole) → its measures.csv row and its results.csv row. Every number depends on this image alone:
    the coder's candidates come from the file's ``compression_seed`` (Philox keyed by seed, level, step), the
    ideal posterior sample from ``tf.random.set_seed(0)`` set anew per image — not on the worker or the order."""
    from shared_data.imageio import read_image
    from shared_data.transforms import center_crop

    lm = _worker_model(model_dir, arith)
    img = read_image(image)
    if crop:
        img = center_crop(img, min(crop, *img.shape[:2]))
    rows, results = evaluate(lm, [(Path(image).name, img)], out_dir, save_reconstructions=save_reconstructions,
                             check_decode=check_decode, progress=False, **dict(coding))
    return [rows[0], {"img_name": rows[0]["img_name"], RESULTS_KEY: 1, **results[0]}]


def evaluate_files(model_dir, files, out_dir, crop: int = 0, save_reconstructions: bool = True,
                   check_decode: bool = True, scheduler=None, desc: str = "irec encode", **kw):
    """Encode (and decode) every image file with the model of ``model_dir`` as one :mod:`shared_eval.sweep`
    task each — in-process (``scheduler`` None), on a Dask ``local:N`` cluster, a scheduler address or
    ``slurm`` — and write ``out_dir/measures.csv`` and ``results.csv`` (rows sorted by image name, identical
    whatever the scheduler except the timing columns) plus the ``.lic`` files / reconstructions under
    ``out_dir/reconstructions``. Finished images are recorded in ``out_dir/.measures.csv.work`` and never
    recomputed by a rerun (a killed driver or worker). ``kw``: coding options (``n_beams`` …) and
    :func:`shared_eval.sweep.run_sweep` keywords (``connect_timeout``, ``progress``, ``slurm`` …).
    Returns the :class:`shared_eval.sweep.SweepResult`."""
    from shared_eval.sweep import SweepError, SweepTask, default_work, failure_message, run_sweep

    coding_keys = ("kl_per_partition", "block_size", "n_beams", "extra_samples", "compression_seed", "portable")
    coding = tuple(sorted((k, kw.pop(k)) for k in coding_keys if k in kw))
    out_dir = Path(out_dir).resolve()
    files = [Path(f) for f in files]
    stems = [f.stem for f in files]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})[:3]
        raise ValueError(f"image names must be unique (they name the rows): repeated {', '.join(dup)}")
    from .codec import load_model

    global _IS_DRIVER
    _IS_DRIVER = True
    lm = load_model(model_dir)  # checked (and fingerprinted) before any task runs
    a = driver_arith()
    arith = (("env", tuple(sorted(a["env"].items()))), ("tf_threads", tuple(a["tf_threads"])))
    model_dir = str(Path(model_dir).resolve())
    config = {"fingerprint": lm.fingerprint.hex(), "coding": list(coding), "crop": int(crop), "arith": a,
              "check_decode": bool(check_decode), "save_reconstructions": bool(save_reconstructions)}
    tasks = []
    for f in files:
        st = f.stat()
        tasks.append(SweepTask(f.stem, (model_dir, str(f.resolve()), int(crop), str(out_dir), coding,
                                        bool(save_reconstructions), bool(check_decode), arith),
                               f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}"))
    csv_path = out_dir / "measures.csv"
    work = default_work(csv_path)
    res = run_sweep(image_task, tasks, work, config, scheduler, desc=desc, **kw)
    if res.failed:
        raise SweepError(failure_message(res, work))
    rows = [r for r in res.rows if RESULTS_KEY not in r]
    results = [{k: v for k, v in r.items() if k not in (RESULTS_KEY, "img_name")} for r in res.rows if RESULTS_KEY in r]
    res.rows = rows
    write_measures(csv_path, rows)
    write_results_csv(out_dir / "results.csv", results)
    return res
