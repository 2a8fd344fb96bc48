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
    ta = torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].float() / 255  # a copy: decoded arrays are read-only
    tb = torch.from_numpy(np.array(b)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        return float(lpips_fn(ta, tb).mean())


def image_row(codec: HiFiCCodec, f, out_dir, save: bool = False, reconstruct: bool = False, lpips_fn=None,
              save_reconstructions: bool = False) -> dict:
    """One image's measures.csv row (see :func:`evaluate_files`)."""
    f, out_dir = Path(f), Path(out_dir)
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
    return row


def evaluate_files(model: HiFiC, files, out_dir, save: bool = False, reconstruct: bool = False,
                   lpips_fn=None, progress: bool = True, save_reconstructions: bool = False) -> list[dict]:
    """Compress and decompress every file (or, with ``reconstruct``, only estimate the rate) and write
    ``out_dir/measures.csv``. ``save`` keeps the ``.lic`` files; ``save_reconstructions`` the PNGs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    codec = HiFiCCodec(model)  # portable files from an integerized model, float-path files otherwise
    rows = [image_row(codec, f, out_dir, save, reconstruct, lpips_fn, save_reconstructions)
            for f in tqdm(list(files), desc="images", disable=not progress)]
    write_measures(out_dir / "measures.csv", rows, EXTRA_COLUMNS)
    return rows


# --- compress.py on Dask (issue 14): one picklable task per image ------------------------------------------

_TASK_MODELS: dict = {}  # (checkpoint, lpips mode) -> (HiFiCCodec, LPIPS or None); loaded once per process


def driver_arith(threads_n: int) -> dict:
    """What a worker must take over from the driver so its files equal the driver's: every file records the
    encoder's arithmetic (:func:`hific.portable.arith_config`: the variables of ``shared_data.arith.ENV_KEYS``
    as the user set them, torch's thread count), and Dask workers start with other variables
    (``OMP_NUM_THREADS=1`` ...) and one thread."""
    from shared_data.arith import ENV_KEYS
    from shared_data.threads import user_env

    return {"env": {k: user_env(k) for k in ENV_KEYS}, "threads": int(threads_n)}


def apply_arith(cfg: dict) -> None:
    """Run this (worker) process under the driver's :func:`driver_arith`; call before the process's first
    :func:`shared_data.threads.limit` (which fixes what ``user_env`` reports)."""
    import os

    from shared_data import threads

    for k, v in cfg["env"].items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    threads.limit(cfg["threads"])


def task_lpips(mode: str | None):
    """The LPIPS of a sweep: ``alex`` (the AlexNet weights on disk), ``rand`` (a random backbone, seeded with
    0 so that every worker has the same one), None (no LPIPS column)."""
    from .perceptual import LPIPS

    if mode is None:
        return None
    if mode == "rand":
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return LPIPS(pnet_rand=True)
    return LPIPS()


def prime_task_model(ckpt, lpips_mode: str | None, codec: HiFiCCodec, lpips_fn, device: str = "cpu") -> None:
    """Make (``codec``, ``lpips_fn``) what :func:`image_task` uses in this process for (``ckpt``,
    ``lpips_mode``, ``device``): an in-process sweep reuses the driver's model."""
    _TASK_MODELS.clear()
    _TASK_MODELS[(str(ckpt), lpips_mode, device)] = (codec, lpips_fn)


def task_model(ckpt: str, lpips_mode: str | None, arith: dict, device: str = "cpu") -> tuple:
    """``(HiFiCCodec, LPIPS or None)`` of ``ckpt`` (E and G on ``device``; one GPU per worker: start each
    worker with its own ``CUDA_VISIBLE_DEVICES``), loaded once per worker process under the driver's
    arithmetic (:func:`apply_arith`)."""
    key = (str(ckpt), lpips_mode, device)
    if key not in _TASK_MODELS:
        from .checkpoints import load_checkpoint

        apply_arith(arith)
        model, _ = load_checkpoint(ckpt, device=device)
        prime_task_model(ckpt, lpips_mode, HiFiCCodec(model), task_lpips(lpips_mode), device)
    return _TASK_MODELS[key]


def image_task(ckpt: str, lpips_mode: str | None, image: str, out_dir: str, save: bool, reconstruct: bool,
               save_reconstructions: bool, arith: dict, device: str = "cpu") -> dict:
    """One image of ``compress.py`` (module-level, so Dask workers import it by name): its :func:`image_row`."""
    codec, lpips_fn = task_model(ckpt, lpips_mode, arith, device)
    return image_row(codec, image, out_dir, save, reconstruct, lpips_fn, save_reconstructions)
