"""Distance of a (bpp, metric) point to a classical codec's mean curve (the original's ``codec_distance.py``).

Codec results are per-image CSV files ``{img}_out.csv`` without header, rows ``q,bpp,ssim,msssim,psnr``
(what the original's ``other_codecs.py`` writes), in ``$OTHER_CODECS_ROOT/<folder>`` with the folder names
of the original (``CODECS`` below). Each image's curve is interpolated linearly on
``DEFAULT_BPP_GRID = linspace(0.1, 1.4, 50)``; a grid point is kept when more than 99 % of the images
cover it, and the mean over images is the codec curve. ``distance = value − codec(bpp)`` (> 0: better
than the codec); ``None`` outside the curve's bpp range. The BPG/JPEG result folders of the paper are not
public, so without ``$OTHER_CODECS_ROOT`` the distance is simply not computed (as in the original).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

DEFAULT_BPP_GRID = np.linspace(0.1, 1.4, 50)
REQUIRED_FRACTION = 0.99
METRICS = {"ssim": 2, "ms-ssim": 3, "psnr": 4}
CODECS = {
    "u100": {"jp2k": "out_jp2k_Urban100_HR_crop", "bpg": "out_bpg_Urban100_HR_crop", "jp": "out_jp_Urban100_HR_crop"},
    "b100": {"jp2k": "out_jp2k_B100_cropped", "bpg": "out_bpg_B100_cropped", "jp": "out_jp_B100_cropped"},
    "rf100": {"jp2k": "out_jp2k_rf100", "bpg": "out_bpg_rf100", "jp": "out_jp_rf100_v3"},
    "testset": {"bpg": "out_bpg_imagenet_256_train_val_128x128__100", "jp": "out_jp_imagenet_256_train_val_128x128__100"},
    "kodak": {"bpg": "out_bpg_kodak_v2", "jp2k": "out_jp2k_Kodak", "jp": "out_jp_Kodak", "webp": "out_webp_kodak"},
    "cityscapes": {"bpg": "out_bpg_cityscapes"},
}


class CodecDistanceReadException(Exception):
    pass


def read_curve(path: Path, metric: str) -> tuple[np.ndarray, np.ndarray]:
    col = METRICS[metric]
    pts = []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if not row:
                continue
            if len(row) != 5:
                raise CodecDistanceReadException(f"{path}:{i + 1}: expected q,bpp,ssim,msssim,psnr, got {row}")
            try:
                pts.append((float(row[1]), float(row[col])))
            except ValueError:
                raise CodecDistanceReadException(f"{path}:{i + 1}: not numbers: {row}") from None
    pts.sort()
    if len(pts) < 2:
        raise CodecDistanceReadException(f"{path}: fewer than 2 points")
    a = np.array(pts)
    return a[:, 0], a[:, 1]


def mean_curve(curves, grid=DEFAULT_BPP_GRID) -> tuple[np.ndarray, np.ndarray]:
    """Per-image linear interpolation on ``grid``; mean over images where > 99 % of them cover the point."""
    acc = np.zeros_like(grid, dtype=np.float64)
    n = np.zeros(len(grid), dtype=np.int64)
    for bpps, vals in curves:
        inside = (grid >= bpps[0]) & (grid <= bpps[-1])
        acc[inside] += np.interp(grid[inside], bpps, vals)
        n[inside] += 1
    keep = n > REQUIRED_FRACTION * len(curves)
    if not keep.any():
        raise CodecDistanceReadException("no grid point is covered by > 99 % of the images")
    return grid[keep], acc[keep] / n[keep]


class CodecDistance:
    def __init__(self, dataset: str, codec: str = "bpg", metric: str = "ms-ssim", root: str | None = None):
        if metric not in METRICS:
            raise ValueError(f"metric {metric!r} not in {sorted(METRICS)}")
        if dataset not in CODECS:
            raise CodecDistanceReadException(f"Dataset {dataset} not in {sorted(CODECS)}")
        if codec not in CODECS[dataset]:
            raise CodecDistanceReadException(f"Codec {codec} not in {sorted(CODECS[dataset])}")
        root = root or os.environ.get("OTHER_CODECS_ROOT")
        if not root:
            raise CodecDistanceReadException("$OTHER_CODECS_ROOT is not set (no codec curves)")
        d = Path(root) / CODECS[dataset][codec]
        files = sorted(d.glob("*_out.csv"))
        if not files:
            raise CodecDistanceReadException(f"No matches in {d}")
        self.bpps, self.values = mean_curve([read_curve(f, metric) for f in files])

    def distance(self, bpp: float, value: float) -> float | None:
        if not (self.bpps[0] <= bpp <= self.bpps[-1]):
            return None
        return float(value - np.interp(bpp, self.bpps, self.values))
