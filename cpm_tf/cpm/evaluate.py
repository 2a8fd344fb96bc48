"""Evaluation protocol of the original ``val.py`` with real bitstreams.

Each image is zero-padded (⌊p/2⌋ before, rest after) to a multiple of 8; bpp, MS-SSIM and PSNR are computed
on the **padded** image as in the original (bpp divides by the padded pixel count; ``padded_h``/``padded_w``
say when that differs). The reconstruction is cast to uint8 by truncation, as the original did.

Columns: ``bpp`` — bits of the real ``.lic`` file (container header + range-coded symbols);
``bpp_estimated`` — the original's cross-entropy estimate Σ bitcost/(H·W) (no header);
``bpp_factorized`` — estimated: the ideal cost of the same symbols under the best *factorized* (no context)
model, i.e. each channel's empirical symbol entropy on this image (a lower bound for any per-channel i.i.d.
model, not counting the cost of sending its histogram); ``overhead_pct`` = real / estimated − 1.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from shared_data import paths
from shared_data.imageio import list_images, pad_to_multiple
from shared_eval.metrics import ms_ssim, psnr

from .codec import Codec
from .model import SUBSAMPLING

EXTRA_COLUMNS = ("bpp_estimated", "bpp_factorized", "overhead_pct", "padded_h", "padded_w", "real_bpp")


def factorized_bits(symbols: np.ndarray, L: int) -> float:
    """Σ_c N_c·H(empirical distribution of channel c): ideal bits of a per-channel i.i.d. model."""
    bits = 0.0
    for ch in symbols.reshape(symbols.shape[0], -1):
        counts = np.bincount(ch, minlength=L).astype(np.float64)
        p = counts[counts > 0] / ch.size
        bits += float(-(counts[counts > 0] * np.log2(p)).sum())
    return bits


def dataset_images(name: str) -> list[Path]:
    """``kodak`` ($KODAK_DIR, :func:`shared_data.paths.kodak_images`), a folder, a file or a glob (``\\*``
    escaped) listed by :func:`shared_data.imageio.list_images`; :class:`DatasetError` naming it if empty."""
    if name == "kodak":
        return paths.kodak_images()
    return list_images(name.replace("\\*", "*"))


def evaluate_image(codec: Codec, img: np.ndarray, name: str, real_bpp: bool = True, save_dir=None) -> dict:
    padded, _ = pad_to_multiple(img, SUBSAMPLING, mode="constant", split="center")
    Hp, Wp = padded.shape[:2]
    row: dict = {"img_name": name, "padded_h": Hp, "padded_w": Wp}
    if real_bpp:
        t0 = time.perf_counter()
        c, res = codec.encode_array(img)
        enc_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, rec, symbols = codec.decode_container(c)
        dec_s = time.perf_counter() - t0
        if not np.array_equal(symbols, res.symbols):
            raise AssertionError(f"{name}: decoded symbols differ from the encoder's")
        row.update(bpp=8.0 * res.num_bytes / (Hp * Wp), enc_s=enc_s, dec_s=dec_s, real_bpp=1)
    else:
        symbols = codec.symbols_of(padded)
        rec = codec.reconstruct(symbols)
        row["real_bpp"] = 0
    est = codec.bits_of_symbols(symbols)
    row["bpp_estimated"] = est / (Hp * Wp)
    row["bpp_factorized"] = factorized_bits(symbols, codec.model.L) / (Hp * Wp)
    if real_bpp:
        row["overhead_pct"] = 100.0 * (row["bpp"] / row["bpp_estimated"] - 1.0)
    row["psnr"] = psnr(padded, rec)
    try:
        row["ms-ssim"] = ms_ssim(padded, rec)
    except ValueError:
        row["ms-ssim"] = None  # image below 176 px: MS-SSIM undefined with 5 scales
    if save_dir is not None:
        from shared_data.imageio import write_png
        write_png(Path(save_dir) / f"{Path(name).stem}.png", rec)
    return row


# --- val.py on Dask (issue 14): one picklable task per image ---------------------------------------------

_VAL_CODECS: dict = {}   # (model dir, checkpoint prefix) -> Codec; one per process (the driver primes its own)
_IMAGES: dict = {}       # image path -> uint8 array, within the task's cache budget


def prime_val_codec(model_dir, ckpt: str | None, codec: Codec) -> None:
    """Make ``codec`` the one :func:`val_task` uses in this process for (``model_dir``, ``ckpt``): an
    in-process sweep reuses the driver's model instead of loading it again."""
    _VAL_CODECS.clear()
    _VAL_CODECS[(str(model_dir), ckpt)] = codec


def driver_arith() -> dict:
    """This process's arithmetic settings that a worker can take over (:func:`apply_arith`): the variables of
    ``shared_data.arith.ENV_KEYS`` as the user set them, TF's and OpenBLAS's thread counts."""
    from shared_data.arith import ENV_KEYS
    from shared_data.threads import user_env

    from .arithcfg import blas_threads, tf_threads
    return {"env": {k: user_env(k) for k in ENV_KEYS}, "tf_threads": tf_threads() or None,
            "blas_threads": blas_threads()}


def apply_arith(cfg: dict | None) -> None:
    """Run this (worker) process under the driver's :func:`driver_arith`: a float-path file records the
    encoder's arithmetic (cpm.arithcfg), and Dask workers start with other variables (``OMP_NUM_THREADS=1``
    ...), so without this a worker's files — and their bpp — would differ from the driver's. Call before the
    first :func:`shared_data.threads.limit` of the process (TF's thread pools are fixed once it runs)."""
    if not cfg:
        return
    import os

    from .arithcfg import set_blas_threads
    from .tfsetup import limit_threads
    for k, v in cfg["env"].items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    limit_threads(cfg["tf_threads"])
    if cfg.get("blas_threads"):
        set_blas_threads(int(cfg["blas_threads"]))


def val_codec(model_dir, ckpt: str | None, arith: dict | None = None) -> Codec:
    """The codec val.py validates: ``model_dir``'s model with ``ckpt``'s weights restored (``None``: its
    ``weights.npz``), loaded once per worker process under the driver's arithmetic (:func:`apply_arith`)."""
    key = (str(model_dir), ckpt)
    if key not in _VAL_CODECS:
        from .checkpoints import restore_model_weights
        from .codec import load_codec
        apply_arith(arith)
        codec = load_codec(model_dir)
        if ckpt is not None:
            restore_model_weights(codec.model, ckpt)
            codec = Codec(codec.model)  # fingerprint and NumPy context model of these weights (as val.py)
        prime_val_codec(model_dir, ckpt, codec)
    return _VAL_CODECS[key]


def val_task(model_dir: str, ckpt: str | None, image: str, real_bpp: bool, save_dir: str | None,
             arith: dict | None, cache_mb: int) -> dict:
    """One image of val.py (module-level, so Dask workers import it by name): its :func:`evaluate_image` row.
    Images are kept in memory across checkpoints while they fit in ``cache_mb`` (val.py's ``-cache``)."""
    from shared_data.imageio import read_image
    img = _IMAGES.get(image)
    if img is None:
        img = read_image(image)
        if sum(a.nbytes for a in _IMAGES.values()) + img.nbytes <= cache_mb * 1000 * 1000:
            _IMAGES[image] = img
    return evaluate_image(val_codec(model_dir, ckpt, arith), img, Path(image).name, real_bpp=real_bpp,
                          save_dir=save_dir)
