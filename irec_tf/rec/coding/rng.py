"""Counter-based shared randomness for relative entropy coding.

Encoder and decoder must draw *the same* candidate samples. The original relied on TF-2.1's seeded stateful
RNG (``tf.random.set_seed`` + ``uniform(seed=seed+iteration)``), which changes between TF versions and
devices. Here every random number is a pure function of ``(seed, purpose, level, step)`` and its position:
the raw output of the Philox-4x64-10 counter-based generator (Salmon et al. 2011; ``numpy.random.Philox``,
whose raw bit stream is fixed by the algorithm, not by numpy's version). Uniforms are built from the top 53
bits of each 64-bit word and mapped to normals with the inverse normal CDF (``scipy.special.ndtri``).
No global state is read or written.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

PURPOSE_PERMUTATION = 1
PURPOSE_CANDIDATES = 2

_MASK64 = (1 << 64) - 1


def _philox(seed: int, purpose: int, level: int, step: int) -> np.random.Philox:
    if not 0 <= seed < (1 << 64):
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    if not (0 <= level < (1 << 32) and 0 <= step < (1 << 64)):
        raise ValueError(f"level/step out of range: {level}, {step}")
    key = np.array([seed & _MASK64, (purpose << 32) | level], dtype=np.uint64)
    counter = np.array([0, step, 0, 0], dtype=np.uint64)
    return np.random.Philox(counter=counter, key=key)


def raw_words(seed: int, purpose: int, level: int, step: int, n: int) -> np.ndarray:
    """``n`` raw 64-bit words of the stream named by (seed, purpose, level, step)."""
    return _philox(seed, purpose, level, step).random_raw(int(n)).astype(np.uint64)


def uniforms(seed: int, purpose: int, level: int, step: int, n: int) -> np.ndarray:
    """``n`` float64 uniforms in the open interval (0, 1): ((w >> 11) + 0.5) · 2⁻⁵³."""
    w = raw_words(seed, purpose, level, step, n)
    return ((w >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / (1 << 53))


def standard_normals(seed: int, purpose: int, level: int, step: int, shape) -> np.ndarray:
    """Standard normal float64 array of ``shape`` by inverse-CDF of :func:`uniforms`."""
    n = int(np.prod(shape))
    return ndtri(uniforms(seed, purpose, level, step, n)).reshape(shape)


def permutation(seed: int, level: int, n: int) -> np.ndarray:
    """A permutation of ``range(n)`` (stable argsort of random 64-bit keys); replaces ``tf.random.shuffle``."""
    keys = raw_words(seed, PURPOSE_PERMUTATION, level, 0, n)
    return np.argsort(keys, kind="stable")


def _words_to_normals(w: np.ndarray) -> np.ndarray:
    return ndtri(((w >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / (1 << 53)))


def _philox_at(seed: int, level: int, step: int, offset: int) -> np.random.Philox:
    g = _philox(seed, PURPOSE_CANDIDATES, level, step)
    if offset:
        g = np.random.Philox(counter=np.array([offset, step, 0, 0], dtype=np.uint64), key=g.state["state"]["key"])
    return g


def candidate_normals(seed: int, level: int, step: int, n_blocks: int, n_samples: int, block_size: int):
    """Standard normals (n_blocks, n_samples, block_size) of one coding step.

    Layout: candidate j of block b uses the Philox counters [(b·n_samples + j)·⌈block_size/4⌉, …) of the
    stream (seed, candidates, level, step), so :func:`candidate_normal` can regenerate a single candidate
    without drawing the others.
    """
    per = -(-block_size // 4) * 4
    w = raw_words(seed, PURPOSE_CANDIDATES, level, step, n_blocks * n_samples * per)
    return _words_to_normals(w).reshape(n_blocks, n_samples, per)[:, :, :block_size]


def candidate_normal(seed: int, level: int, step: int, block: int, index: int, n_samples: int,
                     block_size: int) -> np.ndarray:
    """Candidate ``index`` of block ``block`` from :func:`candidate_normals`, drawn alone."""
    per4 = -(-block_size // 4)
    g = _philox_at(seed, level, step, (block * n_samples + index) * per4)
    return _words_to_normals(g.random_raw(block_size).astype(np.uint64))
