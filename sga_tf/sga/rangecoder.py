"""A bounded range *decoder*, bit-exact with tensorflow-compression 2.14.1's (issue 17).

The files are written by tfc's range encoder (``gen_ops.entropy_encode_index``); this module reads them
instead of ``gen_ops.entropy_decode_index``. It is a line-by-line port of tfc's ``RangeDecoder``
(``cc/lib/range_coder.h``) and of ``RangeDecoderInterface::OverflowDecode``
(``cc/kernels/range_coder_kernels.cc``, v2.14.1) — same 32-bit state, same 16-bit renormalization, same
zero fill past the end of the string, same Elias-gamma escape code — with one difference: tfc counts the
escape's Elias-gamma prefix with an unbounded ``while (DecodeLinearly(...) == 0) ++n;``, and past the end of a
cut or damaged string (value = base, zero fill) that loop never ends (the hang the 10,000-case fuzz found at
case 1458). A valid stream's prefix is at most 30 (tfc's encoder codes an int32 gamma < 2^31), so here a
longer prefix, or an escaped value outside int32, is a :class:`RangeDecodeError`. Every string decodes in
time linear in the number of symbols.

The lookup table has tfc's flat layout (:func:`rows`): each row ``[precision, 0, c_1, …, 2^|precision|]``,
``precision < 0`` enabling the overflow (escape) bin, padding with repeated ``2^|precision|`` skipped.
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np

from shared_data.errors import ContainerError

M32 = 0xFFFFFFFF
MAX_GAMMA_PREFIX = 30  # tfc's encoder: gamma < 2^31, so at most 30 leading zero bits


class RangeDecodeError(ContainerError):
    """A range-coded string that is not one tfc's encoder can have written (bounded decoder)."""


def rows(flat) -> list[tuple[int, list[int]]]:
    """tfc's ``IndexCDFVector``: a flat int32 table -> [(precision, cdf list starting with 0)]."""
    t = [int(v) for v in np.asarray(flat).ravel()]
    out, p, end = [], 0, len(t)
    while p < end:
        if end < p + 3:
            raise RangeDecodeError("CDF table ended prematurely")
        prec = t[p]
        if not 1 <= abs(prec) <= 16:
            raise RangeDecodeError(f"CDF table precision {prec} not in [1, 16]")
        last = 1 << abs(prec)
        q = p + 1
        if t[q] != 0:
            raise RangeDecodeError("CDF table row must start with 0")
        while True:
            q += 1
            if q == end:
                raise RangeDecodeError("CDF table row must end with 1 << precision")
            if t[q] < t[q - 1]:
                raise RangeDecodeError("CDF table row is not monotonic")
            if t[q] == last:
                break
        out.append((prec, t[p + 1:q + 1]))
        q += 1
        while q != end and t[q] == last:
            q += 1
        p = q
    return out


def _bit(base, size_m1, value, pos, data, n_bytes):
    """``DecodeLinearly({0, 1, 2}, 1)``: one binary-uniform bit; returns (bit, new state)."""
    size = size_m1 + 1
    if ((((value - base) & M32) + 1) << 1) <= size:
        bit, a, b = 0, 0, (size >> 1) - 1
    else:
        bit, a, b = 1, size >> 1, size - 1
    base = (base + a) & M32
    size_m1 = b - a
    if size_m1 >> 16 == 0:
        base = (base << 16) & M32
        size_m1 = ((size_m1 << 16) & M32) | 0xFFFF
        value = (value << 8) & M32 | (data[pos] if pos < n_bytes else 0)
        pos += pos < n_bytes
        value = (value << 8) & M32 | (data[pos] if pos < n_bytes else 0)
        pos += pos < n_bytes
    return bit, base, size_m1, value, pos


def decode_index(data: bytes, table_rows, index) -> tuple[np.ndarray, bool]:
    """Decode ``len(index)`` symbols of one string, symbol j with row ``index[j]`` (tfc's
    ``entropy_decode_index`` + ``entropy_decode_finalize`` for one string). Returns (int64 values, the
    finalize sanity flag). :class:`RangeDecodeError` for an index out of range or an escape no encoder wrote."""
    data = bytes(data)
    n_bytes = len(data)
    idx = np.asarray(index, np.int64).ravel()
    nrows = len(table_rows)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= nrows):
        raise RangeDecodeError(f"table index out of range [0, {nrows})")
    out = np.empty(idx.size, np.int64)
    precs = [abs(r[0]) for r in table_rows]
    escapes = [r[0] < 0 for r in table_rows]
    cdfs = [r[1] for r in table_rows]
    maxv = [len(r[1]) - 2 for r in table_rows]  # tfc: row.size() - 3 with the precision entry

    pos = 0
    value = 0
    for _ in range(2):  # the constructor's two Read16BitValue()
        value = (value << 8) | (data[pos] if pos < n_bytes else 0)
        pos += pos < n_bytes
        value = (value << 8) | (data[pos] if pos < n_bytes else 0)
        pos += pos < n_bytes
    base, size_m1 = 0, M32

    for j, ind in enumerate(idx.tolist()):
        cdf = cdfs[ind]
        prec = precs[ind]
        # --- Decode(row.subspan(1), precision): binary search for the first c_i with lb <= size * c_i
        size = size_m1 + 1
        lb = (((value - base) & M32) + 1) << prec
        i = bisect_left(cdf, -(-lb // size), 1)
        a = (size * cdf[i - 1]) >> prec
        b = ((size * cdf[i]) >> prec) - 1
        base = (base + a) & M32
        size_m1 = b - a
        if size_m1 >> 16 == 0:
            base = (base << 16) & M32
            size_m1 = ((size_m1 << 16) & M32) | 0xFFFF
            value = (value << 8) & M32 | (data[pos] if pos < n_bytes else 0)
            pos += pos < n_bytes
            value = (value << 8) & M32 | (data[pos] if pos < n_bytes else 0)
            pos += pos < n_bytes
        sym = i - 1
        if escapes[ind] and sym == maxv[ind]:
            # --- OverflowDecode: Elias gamma of the escaped magnitude, then its sign (binary uniform cdf)
            n = 0
            while True:
                bit, base, size_m1, value, pos = _bit(base, size_m1, value, pos, data, n_bytes)
                if bit:
                    break
                n += 1
                if n > MAX_GAMMA_PREFIX:
                    raise RangeDecodeError(
                        f"escape code with an Elias-gamma prefix > {MAX_GAMMA_PREFIX} at symbol {j} (a cut or "
                        "damaged string; tfc's own decoder would not return)")
            val = 1 << n
            for k in range(n - 1, -1, -1):
                bit, base, size_m1, value, pos = _bit(base, size_m1, value, pos, data, n_bytes)
                val |= bit << k
            sign, base, size_m1, value, pos = _bit(base, size_m1, value, pos, data, n_bytes)
            sym = -val if sign else val + maxv[ind] - 1
            if not -(1 << 31) <= sym < (1 << 31):
                raise RangeDecodeError(f"escaped value {sym} at symbol {j} outside int32 (a damaged string)")
        out[j] = sym

    # --- Finalize()
    if pos != n_bytes:
        ok = False
    else:
        upper = (base + size_m1) & M32
        if base == 0 or upper < base:
            ok = value == 0
        else:
            shift = 24 if ((base - 1) >> 24) < (upper >> 24) else 16
            mid = ((base - 1) >> shift) + 1
            ok = ((mid << shift) & M32) == value
    return out, ok
