"""Entropy coding of the iREC indices (and, for lossless, of the pixel residual) with constriction's ANS,
through the project's one wrapper :mod:`shared_data.entropy` (a corrupt stream raises a ContainerError).

The original arithmetic-coded all indices of a level with a static, near-uniform frequency table over
``max_index=20`` symbols (so indices ≥ 20 raised IndexError) and the numbers of auxiliary variables with
another near-uniform table. Here:

* indices are coded uniformly over [0, N_s) for *any* N_s ≥ 2 (ideal cost ln N_s nats per index);
* per level, the numbers K_b of auxiliary variables per block are coded as K_min, K_max (varints in the
  header) and K_b − K_min uniformly over [0, K_max − K_min].

:func:`encode_levels` / :func:`decode_levels` turn a list of :class:`~rec.coding.beam_search.LevelCode`
into one byte string and back; ``level_blocks`` (blocks per level) is known to the decoder from the model.
"""

from __future__ import annotations

import math

import numpy as np

from shared_data import entropy

from ..fileformat import IrecFileError
from .beam_search import LevelCode


def encode_levels(codes: list[LevelCode], n_samples: int) -> tuple[list[int], bytes]:
    """Return (header ints [K_min, K_max per level], ANS bytes of all K_b and indices)."""
    header, segments = [], []
    for code in codes:
        k = np.asarray(code.num_aux, np.int64)
        kmin, kmax = int(k.min()), int(k.max())
        header += [kmin, kmax]
        if kmax > kmin:
            segments.append(((k - kmin).astype(np.int32), entropy.uniform(kmax - kmin + 1)))
        segments.append((np.asarray(code.indices, np.int32), entropy.uniform(n_samples)))
    coder = entropy.Encoder("ans")
    for symbols, model in reversed(segments):  # a stack: encode backwards so decoding runs forwards
        if symbols.size:
            coder.encode_model(symbols, model)
    return header, coder.finish()


def decode_levels(header: list[int], data: bytes, level_blocks: list[int], n_samples: int) -> list[LevelCode]:
    """Inverse of :func:`encode_levels`; ``level_blocks[l]`` is the number of blocks of level l."""
    if len(header) != 2 * len(level_blocks):
        raise IrecFileError(f"index header has {len(header)} values, expected {2 * len(level_blocks)} "
                            f"for {len(level_blocks)} levels (wrong model?)")
    decoder = entropy.Decoder(data, "ans", what="index stream")
    codes = []
    for lvl, nb in enumerate(level_blocks):
        kmin, kmax = header[2 * lvl], header[2 * lvl + 1]
        if kmin < 1 or kmax < kmin or kmax > 10_000_000:
            raise IrecFileError(f"level {lvl}: corrupt auxiliary-variable range [{kmin}, {kmax}]")
        if kmax > kmin:
            k = decoder.decode_uniform(kmax - kmin + 1, nb) + kmin
        else:
            k = np.full(nb, kmin, dtype=np.int64)
        total = int(k.sum())
        if 0.9 * total * math.log2(n_samples) > 8 * len(data) + 64:
            # each index costs log2(N_s) bits of the uniform ANS stream: more than the stream holds is corrupt
            # (and would make the beam search rebuild that many candidates for nothing)
            raise IrecFileError(f"level {lvl}: {total} indices declared, the {len(data)}-byte index stream "
                                f"holds at most {int((8 * len(data) + 64) / 0.9 / math.log2(n_samples))}")
        idx = decoder.decode_uniform(n_samples, total) if total else np.zeros(0, np.int64)
        codes.append(LevelCode(num_aux=k, indices=idx))
    return codes


def encode_categorical(symbols: np.ndarray, probabilities: np.ndarray) -> bytes:
    """ANS-code ``symbols[i]`` under the categorical distribution ``probabilities[i]`` (rows sum to 1)."""
    coder = entropy.Encoder("ans")
    coder.encode(symbols, probabilities, dtype=np.float64)
    return coder.finish()


def decode_categorical(data: bytes, probabilities: np.ndarray) -> np.ndarray:
    return entropy.Decoder(data, "ans", what="residual stream").decode(probabilities, dtype=np.float64)
