"""Overlapping tiles for fully convolutional transforms on huge images (issue 17, bounded memory).

A transform whose receptive field is bounded gives, on a window of the input grown by at least that field on
every side and cropped after the network, the same values as on the whole image (up to float rounding in the
convolutions). The grid is counted in *cells* (one latent / symbol = ``scale`` pixels a side), so windows start
on the transform's stride grid. Framework-free: ``fn`` is any callable on a numpy window (TF or torch inside).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np


def tiles(h: int, w: int, tile: int, margin: int) -> Iterator[tuple[tuple[int, int, int, int],
                                                                   tuple[int, int, int, int]]]:
    """((y0, y1, x0, x1) core, (a0, a1, b0, b1) window) of each tile of an h × w grid, row-major; the window is
    the core grown by ``margin`` cells each side, clipped to the grid."""
    if tile < 1 or margin < 0:
        raise ValueError(f"tile {tile} must be >= 1 and margin {margin} >= 0")
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
            yield (y0, y1, x0, x1), (max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin),
                                     min(w, x1 + margin))


def run_tiled(fn: Callable, x: np.ndarray, grid: tuple[int, int], tile: int, margin: int, in_scale: int = 1,
              out_scale: int = 1) -> tuple[np.ndarray, ...]:
    """``fn`` on overlapping windows of ``x`` (N, H, W, C), assembled: a tuple of (N, h·out_scale, w·out_scale,
    C') arrays, one per output of ``fn`` (which returns an array or a tuple of arrays, NHWC).

    ``grid`` = (h, w) cells; a cell is ``in_scale`` pixels of ``x`` and ``out_scale`` pixels of each output (an
    analysis transform: in_scale = its downsampling, out_scale = 1; a synthesis transform: the reverse). Only
    the outputs and one window's activations are ever held: memory is affine in the pixel count with a small
    slope, however large the image."""
    h, w = grid
    if x.shape[1] != h * in_scale or x.shape[2] != w * in_scale:
        raise ValueError(f"input {x.shape[1]}x{x.shape[2]} is not the {h}x{w} grid at {in_scale} px per cell")
    outs = None
    S, T = in_scale, out_scale
    for (y0, y1, x0, x1), (a0, a1, b0, b1) in tiles(h, w, tile, margin):
        res = fn(x[:, a0 * S:a1 * S, b0 * S:b1 * S])
        res = tuple(np.asarray(r) for r in (res if isinstance(res, (tuple, list)) else (res,)))
        if outs is None:
            outs = tuple(np.empty((r.shape[0], h * T, w * T, r.shape[3]), r.dtype) for r in res)
        for o, r in zip(outs, res, strict=True):
            o[:, y0 * T:y1 * T, x0 * T:x1 * T] = r[:, (y0 - a0) * T:(y1 - a0) * T, (x0 - b0) * T:(x1 - b0) * T]
    return outs
