"""Lossless residual: the pixels given the decoded latents, entropy-coded under p(x|ẑ).

p(x|ẑ) is the ResNet VAE's discretized logistic (bin 1/256, one global log-scale s). Pixel value v ∈ [0,255]
maps to x = (v + 0.5)/256 − 0.5, whose bin is [(v−128)/256, (v−127)/256); its probability is
σ((upper − μ)/s) − σ((lower − μ)/s) with the outermost bins extended to ±∞ so the 256 probabilities sum
to 1 (the training likelihood adds 1e-7 instead). The original only *added* the ideal length −log₂ p(x|ẑ);
here the symbols are really ANS-coded (constriction), in chunks to bound memory.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ..fileformat import IrecFileError
from .index_coding import decode_categorical, encode_categorical

CHUNK = 65536


def pixel_probabilities(loc: np.ndarray, log_scale: float) -> np.ndarray:
    """(n,) means in model units → (n, 256) probabilities of pixel values 0..255."""
    loc = np.asarray(loc, np.float64).reshape(-1, 1)
    s = float(np.exp(np.float64(log_scale)))
    edges = (np.arange(1, 256, dtype=np.float64) - 128.0) / 256.0     # upper edges of bins 0..254
    cdf = expit((edges[None, :] - loc) / s)
    cdf = np.concatenate([np.zeros((loc.shape[0], 1)), cdf, np.ones((loc.shape[0], 1))], axis=1)
    p = np.diff(cdf, axis=1)
    p = np.maximum(p, 1e-12)
    return p / p.sum(axis=1, keepdims=True)


def ideal_bits(pixels: np.ndarray, loc: np.ndarray, log_scale: float, probabilities=None) -> float:
    """−log₂ p(x|ẑ) of uint8 ``pixels`` under :func:`pixel_probabilities` (or ``probabilities``)."""
    probabilities = probabilities or (lambda lc: pixel_probabilities(lc, log_scale))
    flat = np.asarray(pixels).reshape(-1).astype(np.int64)
    locf = np.asarray(loc).reshape(-1)
    total = 0.0
    for s in range(0, flat.size, CHUNK):
        p = probabilities(locf[s:s + CHUNK])
        total -= np.log2(p[np.arange(p.shape[0]), flat[s:s + CHUNK]]).sum()
    return float(total)


def encode_residual(pixels: np.ndarray, loc: np.ndarray, log_scale: float, probabilities=None) -> bytes:
    """ANS-code uint8 ``pixels`` (any shape) given per-pixel means ``loc`` (same shape, model units).
    ``probabilities(loc_chunk)`` replaces :func:`pixel_probabilities` (the portable path's integer model)."""
    probabilities = probabilities or (lambda lc: pixel_probabilities(lc, log_scale))
    flat = np.asarray(pixels).reshape(-1).astype(np.int32)
    locf = np.asarray(loc).reshape(-1)
    if flat.size != locf.size:
        raise ValueError("pixels and loc differ in size")
    out = []
    for s in range(0, flat.size, CHUNK):
        chunk = encode_categorical(flat[s:s + CHUNK], probabilities(locf[s:s + CHUNK]))
        out.append(len(chunk).to_bytes(4, "little") + chunk)
    return b"".join(out)


def decode_residual(data: bytes, loc: np.ndarray, log_scale: float, probabilities=None) -> np.ndarray:
    """Inverse of :func:`encode_residual`; returns uint8 pixels with ``loc``'s shape."""
    probabilities = probabilities or (lambda lc: pixel_probabilities(lc, log_scale))
    locf = np.asarray(loc).reshape(-1)
    out, pos = [], 0
    for s in range(0, locf.size, CHUNK):
        if pos + 4 > len(data):
            raise IrecFileError("residual section is truncated")
        n = int.from_bytes(data[pos:pos + 4], "little")
        pos += 4
        if pos + n > len(data):
            raise IrecFileError("residual section is truncated")
        out.append(decode_categorical(data[pos:pos + n], probabilities(locf[s:s + CHUNK])))
        pos += n
    if pos != len(data):
        raise IrecFileError(f"residual section has {len(data) - pos} trailing bytes")
    return np.concatenate(out).astype(np.uint8).reshape(np.shape(loc))
