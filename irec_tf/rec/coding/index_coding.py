"""Entropy coding of the iREC indices (and, for lossless, of the pixel residual) with constriction's ANS.

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

import constriction
import numpy as np

from .beam_search import LevelCode


class IndexCodeError(ValueError):
    """The index section of a file is malformed (wrong number of levels/blocks, bad ranges)."""


def _uniform(n: int):
    return constriction.stream.model.Uniform(int(n))


def _words_to_bytes(words: np.ndarray) -> bytes:
    return np.asarray(words, dtype="<u4").tobytes()


def _bytes_to_words(data: bytes) -> np.ndarray:
    if len(data) % 4:
        raise IndexCodeError(f"ANS stream of {len(data)} bytes is not a whole number of 32-bit words")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


def encode_levels(codes: list[LevelCode], n_samples: int) -> tuple[list[int], bytes]:
    """Return (header ints [K_min, K_max per level], ANS bytes of all K_b and indices)."""
    header, segments = [], []
    for code in codes:
        k = np.asarray(code.num_aux, np.int64)
        kmin, kmax = int(k.min()), int(k.max())
        header += [kmin, kmax]
        if kmax > kmin:
            segments.append(((k - kmin).astype(np.int32), _uniform(kmax - kmin + 1)))
        segments.append((np.asarray(code.indices, np.int32), _uniform(n_samples)))
    coder = constriction.stream.stack.AnsCoder()
    for symbols, model in reversed(segments):  # a stack: encode backwards so decoding runs forwards
        if symbols.size:
            coder.encode_reverse(symbols, model)
    return header, _words_to_bytes(coder.get_compressed())


def decode_levels(header: list[int], data: bytes, level_blocks: list[int], n_samples: int) -> list[LevelCode]:
    """Inverse of :func:`encode_levels`; ``level_blocks[l]`` is the number of blocks of level l."""
    if len(header) != 2 * len(level_blocks):
        raise IndexCodeError(f"index header has {len(header)} values, expected {2 * len(level_blocks)} "
                             f"for {len(level_blocks)} levels (wrong model?)")
    decoder = constriction.stream.stack.AnsCoder(_bytes_to_words(data))
    codes = []
    for lvl, nb in enumerate(level_blocks):
        kmin, kmax = header[2 * lvl], header[2 * lvl + 1]
        if kmin < 1 or kmax < kmin or kmax > 10_000_000:
            raise IndexCodeError(f"level {lvl}: corrupt auxiliary-variable range [{kmin}, {kmax}]")
        if kmax > kmin:
            k = decoder.decode(_uniform(kmax - kmin + 1), nb).astype(np.int64) + kmin
        else:
            k = np.full(nb, kmin, dtype=np.int64)
        total = int(k.sum())
        if 0.9 * total * math.log2(n_samples) > 8 * len(data) + 64:
            # each index costs log2(N_s) bits of the uniform ANS stream: more than the stream holds is corrupt
            # (and would make the beam search rebuild that many candidates for nothing)
            raise IndexCodeError(f"level {lvl}: {total} indices declared, the {len(data)}-byte index stream "
                                 f"holds at most {int((8 * len(data) + 64) / 0.9 / math.log2(n_samples))}")
        idx = decoder.decode(_uniform(n_samples), total).astype(np.int64) if total else np.zeros(0, np.int64)
        codes.append(LevelCode(num_aux=k, indices=idx))
    return codes


def encode_categorical(symbols: np.ndarray, probabilities: np.ndarray) -> bytes:
    """ANS-code ``symbols[i]`` under the categorical distribution ``probabilities[i]`` (rows sum to 1)."""
    coder = constriction.stream.stack.AnsCoder()
    model = constriction.stream.model.Categorical(perfect=False)
    coder.encode_reverse(np.asarray(symbols, np.int32), model, np.asarray(probabilities, np.float64))
    return _words_to_bytes(coder.get_compressed())


def decode_categorical(data: bytes, probabilities: np.ndarray) -> np.ndarray:
    decoder = constriction.stream.stack.AnsCoder(_bytes_to_words(data))
    model = constriction.stream.model.Categorical(perfect=False)
    return decoder.decode(model, np.asarray(probabilities, np.float64)).astype(np.int64)
