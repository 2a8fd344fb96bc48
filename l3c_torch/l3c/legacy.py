"""The l3c stream layouts of the first releases, kept decodable (and re-encodable with ``fmt=``) but apart
from the current path (:mod:`l3c.coding`: format 4, portable, and format 3, ``--float``).

* **Format 1** (session 1): each symbol under its dense DMLL pmf (L3C eq. (5) on every bin,
  ``DMLL.pmf``), one call per chunk.
* **Format 2** (session 2): the same pmf with the mixture CDF evaluated on a window of bin edges around the
  symbol's support (``DMLL.pmf_windowed``, in batches of :data:`PMF_BATCH` rows).
* **6-field headers** (before the pixel CRC-32, end of session 2): ``(format, backend, levels, recursive,
  strip_pixels, chunk)``.
* **No arithmetic record** (before issue 15): the streams are the last sections.

Their committed files are ``tests/golden/legacy/*.lic`` (formats 1, 2, 3 and a 6-field format-3 header),
decoded by ``tests/test_legacy.py`` under torch's AVX2 kernels (the float path decodes only under the
encoder's arithmetic).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from shared_data import arith
from shared_data.errors import ContainerError

DENSE_FORMATS = (1, 2)
PMF_BATCH = 1024  # format 2: rows per windowed-pmf computation (keeps the K x edges intermediate in cache)


def header_fields(vals: list[int]) -> list:
    """A 6-field header (no pixel CRC) as the 7 fields of the current one, CRC ``None``."""
    if len(vals) != 6:
        raise ContainerError(f"corrupt l3c header: {len(vals)} fields, expected 7 (or 6: no pixel CRC)")
    return list(vals) + [None]


def arith_record(sections: tuple[bytes, ...], n_streams: int) -> dict | None:
    """The arithmetic record (last section) of a file with ``n_streams`` streams, None for a file written
    before it; ``ContainerError`` for another section count."""
    if len(sections) == 2 + n_streams:
        return arith.unpack(sections[-1])
    if len(sections) == 1 + n_streams:
        return None
    raise ContainerError(f"corrupt l3c file: {len(sections) - 1} streams, expected {n_streams}")


def _pmf_rows(dm, fmt: int, pi, mu, ls, buf: torch.Tensor) -> torch.Tensor:
    """pmf rows for ``(n, K)`` parameters (format 1: dense, one call; format 2: windowed, into ``buf[:n]``)."""
    n = mu.shape[0]
    if fmt == 1:
        return dm.pmf(pi, mu, ls)
    out = buf[:n]
    for b0 in range(0, n, PMF_BATCH):
        b1 = min(n, b0 + PMF_BATCH)
        out[b0:b1] = dm.pmf_windowed(pi[b0:b1], mu[b0:b1], ls[b0:b1])
    return out


def code_dense(dm, fmt, pi_c, mu_c, ls_c, flat, coder, mode, stats, chunk) -> None:
    """(De)code one channel of one strip in format 1 or 2: ``chunk`` symbols per coder call, each under its
    whole pmf over the ``dm.L`` bins. ``flat`` (int64) is read (``mode="enc"``) or filled (``"dec"``)."""
    n = flat.shape[0]
    buf = torch.empty(min(chunk, n), dm.L)
    for s0 in range(0, n, chunk):
        s1 = min(n, s0 + chunk)
        t0 = time.perf_counter()
        pmf = _pmf_rows(dm, fmt, pi_c[s0:s1], mu_c[s0:s1], ls_c[s0:s1], buf).numpy()
        t1 = time.perf_counter()
        if mode == "enc":
            sym = flat[s0:s1].numpy()
            coder.encode(sym, pmf)
        else:
            sym = coder.decode(pmf)
            if sym.shape[0] != s1 - s0:
                raise ContainerError("corrupt stream: wrong number of decoded symbols")
            if (sym < 0).any() or (sym >= dm.L).any():
                raise ContainerError("corrupt stream: decoded symbol out of range")
            flat[s0:s1] = torch.from_numpy(sym)
        t2 = time.perf_counter()
        stats.est_bits -= float(np.log2(np.maximum(pmf[np.arange(s1 - s0), sym], 2.0 ** -24)).sum())
        stats.pmf_s += t1 - t0
        stats.coding_s += t2 - t1
