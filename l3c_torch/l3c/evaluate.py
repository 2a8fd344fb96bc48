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
