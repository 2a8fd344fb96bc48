"""Symbols <-> bytes for HiFiC's two latents with the constriction range coder (a maintained Rust coder).

Every symbol ``v`` is coded with one of a set of fixed tables (the y scale table, or z's per-channel
tables). A table ``t`` covers ``v - offset_t`` in ``[0, n_t)``; its last bin (``n_t``) is the **escape**:
a value outside is sent as the escape symbol followed by an Elias-gamma-style code over uniform models
(bit length in 0..63, then the bits below the leading one in 16-bit chunks). This is the role of tfc's
``unbounded_index_range_coding`` whose port wrote only the low nibble of multi-nibble overflows; here every
bit of the overflow is coded, and tests round-trip values of all magnitudes.

One range-coder stream per latent; symbols are coded table by table (ascending table id, raster order
inside a table), then the escapes in the same order. Everything is deterministic given the integer symbols,
the table ids and the stored float32 tables. The coder is constriction's through the project's one wrapper,
:mod:`shared_data.entropy` (every failure of a corrupt stream a ContainerError).
"""

from __future__ import annotations

import numpy as np

from shared_data import entropy
from shared_data.errors import ContainerError

#: What a corrupt stream's ContainerError calls it.
_WHAT = "latent stream"

_NBITS_MODEL_SIZE = 64
_CHUNK = 16


class TableSet:
    """A set of coding tables: ``probs[t]`` (float64, ``n_t + 1`` entries incl. escape), ``offsets[t]``."""

    def __init__(self, probs: list[np.ndarray], offsets: list[int]):
        if len(probs) != len(offsets):
            raise ValueError("probs and offsets differ in length")
        self.probs = probs
        self.offsets = [int(o) for o in offsets]
        self.sizes = [len(p) - 1 for p in probs]
        self._models: dict[int, object] = {}

    def model(self, t: int):
        m = self._models.get(t)
        if m is None:
            m = entropy.table(self.probs[t])
            self._models[t] = m
        return m


def _groups(table_ids: np.ndarray):
    order = np.argsort(table_ids, kind="stable")
    ids_sorted = table_ids[order]
    uniq, starts = np.unique(ids_sorted, return_index=True)
    ends = list(starts[1:]) + [len(order)]
    for t, s, e in zip(uniq, starts, ends):
        yield int(t), order[s:e]


def encode_symbols(symbols: np.ndarray, table_ids: np.ndarray, tables: TableSet) -> bytes:
    """Range-code integer ``symbols`` (any shape) with per-symbol table ids; returns the stream bytes."""
    symbols = np.asarray(symbols, dtype=np.int64).reshape(-1)
    table_ids = np.asarray(table_ids, dtype=np.int64).reshape(-1)
    if symbols.shape != table_ids.shape:
        raise ValueError("symbols and table_ids differ in size")
    enc = entropy.Encoder("range")
    escapes: list[int] = []
    for t, pos in _groups(table_ids):
        n = tables.sizes[t]
        v = symbols[pos] - tables.offsets[t]
        esc = (v < 0) | (v >= n)
        enc.encode_model(np.where(esc, n, v), tables.model(t))
        escapes += [_escape_code(int(val), n) for val in v[esc]]
    _encode_escapes(enc, escapes)
    return enc.finish()


def _escape_code(val: int, n: int) -> int:
    return 2 * (val - n) if val >= n else 2 * (-val - 1) + 1


def _encode_escapes(enc, escapes) -> None:
    for u in escapes:
        nbits = u.bit_length()
        if nbits >= _NBITS_MODEL_SIZE:
            raise ValueError(f"latent value too large to code (overflow {u})")
        enc.encode_uniform([nbits], _NBITS_MODEL_SIZE)
        rem, nrem = u - (1 << (nbits - 1)) if nbits else 0, max(nbits - 1, 0)
        while nrem > 0:
            c = min(nrem, _CHUNK)
            enc.encode_uniform([rem & ((1 << c) - 1)], 1 << c)
            rem >>= c
            nrem -= c


def decode_symbols(data: bytes, table_ids: np.ndarray, tables: TableSet) -> np.ndarray:
    """Inverse of :func:`encode_symbols`; returns int64 symbols shaped like ``table_ids``.

    A stream that is not a multiple of 4 bytes, or whose decoding fails inside the coder, raises
    :class:`ContainerError`.
    """
    shape = np.shape(table_ids)
    table_ids = np.asarray(table_ids, dtype=np.int64).reshape(-1)
    dec = entropy.Decoder(data, "range", what=_WHAT)  # ContainerError unless whole 32-bit words
    out = np.empty(table_ids.shape, dtype=np.int64)
    try:
        esc_list: list[tuple[np.ndarray, int]] = []
        for t, pos in _groups(table_ids):
            n = tables.sizes[t]
            codes = dec.decode_model(tables.model(t), len(pos))
            out[pos] = codes + tables.offsets[t]
            esc_pos = pos[codes == n]
            for p in esc_pos:
                esc_list.append((p, t))
        for p, t in esc_list:
            out[p] = _decode_escape(dec, tables.sizes[t]) + tables.offsets[t]
    except ContainerError:
        raise
    except Exception as e:  # noqa: BLE001 - anything else a forged stream provokes is a corrupt file too
        raise ContainerError(f"corrupt {_WHAT}: the range decoder failed ({type(e).__name__}: {e})") from None
    return out.reshape(shape)


def _decode_escape(dec, n: int) -> int:
    nbits = int(dec.decode_uniform(_NBITS_MODEL_SIZE, 1)[0])
    u, shift, nrem = (1 << (nbits - 1)) if nbits else 0, 0, max(nbits - 1, 0)
    while nrem > 0:
        c = min(nrem, _CHUNK)
        u += int(dec.decode_uniform(1 << c, 1)[0]) << shift
        shift += c
        nrem -= c
    return n + u // 2 if u % 2 == 0 else -(u // 2) - 1


def encode_rows(symbols: np.ndarray, row_chunks) -> bytes:
    """Range-code ``symbols`` (raster order) where symbol i has its own distribution: ``row_chunks`` yields
    (offsets, probs) chunks in order, ``probs`` (n, m + 1) with the escape bin last (the -LMM mixture)."""
    symbols = np.asarray(symbols, dtype=np.int64).reshape(-1)
    enc = entropy.Encoder("range")
    escapes: list[int] = []
    s = 0
    for offsets, probs in row_chunks:
        n = probs.shape[1] - 1
        v = symbols[s:s + len(offsets)] - offsets
        esc = (v < 0) | (v >= n)
        enc.encode(np.where(esc, n, v), probs, dtype=probs.dtype)  # the rows' own float type (float64)
        escapes += [_escape_code(int(val), n) for val in v[esc]]
        s += len(offsets)
    if s != len(symbols):
        raise ValueError(f"{len(symbols)} symbols but distributions for {s}")
    _encode_escapes(enc, escapes)
    return enc.finish()


def decode_rows(data: bytes, row_chunks, count: int) -> np.ndarray:
    """Inverse of :func:`encode_rows` (the same ``row_chunks``); returns ``count`` int64 symbols."""
    dec = entropy.Decoder(data, "range", what=_WHAT)
    out = np.empty(count, dtype=np.int64)
    try:
        pending: list[tuple[int, int, int]] = []
        s = 0
        for offsets, probs in row_chunks:
            n = probs.shape[1] - 1
            codes = dec.decode(probs, dtype=probs.dtype)
            out[s:s + len(offsets)] = codes + offsets
            pending += [(s + int(i), n, int(offsets[i])) for i in np.nonzero(codes == n)[0]]
            s += len(offsets)
        for p, n, off in pending:
            out[p] = _decode_escape(dec, n) + off
    except ContainerError:
        raise
    except Exception as e:  # noqa: BLE001 - as in decode_symbols
        raise ContainerError(f"corrupt {_WHAT}: the range decoder failed ({type(e).__name__}: {e})") from None
    if s != count:
        raise ContainerError("internal shape mismatch while decoding")
    return out
