"""Per-image evaluation: theoretical bpsp (upstream ``test.py``) and real-file bpsp (``--write_to_files``).

bpsp conventions (see README "Differences"): both are divided by the **unpadded** sub-pixel count 3*H*W
(upstream divided the file size by the padded count). The theoretical bpsp includes the uniform coarsest
level (C*h*w*log2 L bits), as upstream's reported numbers do.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from shared_data.container import pack
from shared_data.imageio import atomic_write_bytes, pad_to_multiple, read_image
from shared_data.transforms import center_crop as _center_crop

from .coding import DEFAULT_BACKEND
from .network import MultiscaleNetwork, image_to_input


@torch.no_grad()
def theoretical_bpsp(net: MultiscaleNetwork, img: np.ndarray) -> tuple[float, list[float]]:
    """Model bpsp of an image (one forward pass, hard quantization) and its per-level parts
    ``[rgb, z1, ..., uniform top]``, all over the unpadded 3*H*W sub-pixels."""
    net.eval()
    xp = image_to_input(pad_to_multiple(img, net.pad_multiple)[0])
    nlls, encs = net(xp)
    n = 3 * img.shape[0] * img.shape[1]
    parts = [float(v) / math.log(2) / n for v in nlls] + [net.uniform_bits(encs) / n]
    return sum(parts), parts


def center_crop(img: np.ndarray, n: int | None) -> np.ndarray:
    """Upstream ``test.py --crop N``: the central N x N window (a side shorter than N is kept whole)."""
    if not n:
        return img
    h, w = img.shape[:2]
    return np.ascontiguousarray(_center_crop(img, (min(n, h), min(n, w))))


def evaluate_files(net, fp, files, backend=DEFAULT_BACKEND, write_to=None, real=True, theory=False,
                   progress=True, crop: int | None = None) -> list[dict]:
    """Rows for shared_eval.measures_csv: real-file bpsp (encode, decode, assert lossless) and estimates.
    ``crop``: evaluate the center N x N crop of every image (``img_name`` gets a ``_cN`` suffix)."""
    from shared_data.codec import decompress

    from .codec import L3CCodec

    codec = L3CCodec(net, fp, None, -1, backend) if real else None  # the codec protocol (l3c.codec)
    rows = []
    for f in tqdm(files, desc="images", disable=not progress):
        img = center_crop(read_image(f), crop)
        h, w = img.shape[:2]
        name = Path(f).name if not crop else f"{Path(f).stem}_c{crop}{Path(f).suffix}"
        row = {"img_name": name, "height": h, "width": w}
        if theory:
            b, parts = theoretical_bpsp(net, img)
            row["bpsp_theory"] = b
            for i, p in enumerate(parts):
                row[f"bpsp_level{i}" if i < len(parts) - 1 else "bpsp_uniform_top"] = p
        if real:
            t0 = time.perf_counter()
            res = codec.encode_with_stats(img)
            data = pack(res.container)
            enc_s = time.perf_counter() - t0
            if write_to is not None:
                atomic_write_bytes(Path(write_to) / (Path(name).stem + ".lic"), data)
            t0 = time.perf_counter()
            rec = decompress(codec, data)
            dec_s = time.perf_counter() - t0
            if not np.array_equal(rec, img):
                raise AssertionError(f"{f}: decoded image differs from the input (not lossless)")
            row.update({"bpp": 8 * len(data) / (h * w), "bpsp": 8 * len(data) / (3 * h * w),
                        "bytes": len(data), "bpsp_estimated": res.stats.est_bits / (3 * h * w),
                        "enc_s": enc_s, "dec_s": dec_s, "backend": backend, "lossless": 1})
        rows.append(row)
    return rows


# --- test.py on Dask (issue 14): one picklable task per image --------------------------------------------

_TASK_MODELS: dict = {}  # (run dir, itr, recursive) -> (net, fingerprint, itr); loaded once per process


def prime_task_model(run_dir, itr: int, recursive, loaded: tuple) -> None:
    """Make ``loaded`` (:func:`l3c.model_io.load_model`'s result) the model :func:`image_task` uses in this
    process for (``run_dir``, ``itr``, ``recursive``): an in-process sweep reuses the driver's model."""
    if len(_TASK_MODELS) >= 4:
        _TASK_MODELS.clear()
    _TASK_MODELS[(str(run_dir), int(itr), str(recursive))] = loaded


def task_model(run_dir: str, itr: int, recursive, threads_n: int | None = None) -> tuple:
    """``(net, fingerprint, itr)`` of ``run_dir``, loaded once per worker process, under the driver's thread
    count ``threads_n`` (Dask workers start with one thread; the coded bytes never depend on it, the float
    theoretical bpsp could in its last bits)."""
    key = (str(run_dir), int(itr), str(recursive))
    if key not in _TASK_MODELS:
        from shared_data import threads

        from .model_io import load_model

        threads.limit(threads_n)
        prime_task_model(run_dir, itr, recursive, load_model(run_dir, itr, recursive))
    return _TASK_MODELS[key]


def image_task(run_dir: str, itr: int, recursive, image: str, backend: str, write_to: str | None, real: bool,
               theory: bool, crop: int | None, threads_n: int | None) -> dict:
    """One image of ``test.py`` (module-level, so Dask workers import it by name): its
    :func:`evaluate_files` row, with the model of ``run_dir`` at iteration ``itr`` (:func:`task_model`)."""
    net, fp, _ = task_model(run_dir, itr, recursive, threads_n)
    return evaluate_files(net, fp, [image], backend, write_to=write_to, real=real, theory=theory,
                          progress=False, crop=crop)[0]
