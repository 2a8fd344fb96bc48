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
