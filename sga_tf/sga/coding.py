"""Range coding of the final discrete latents (ẑ, ŷ) with tensorflow-compression into the shared container.

* ẑ (always on the integer grid) is coded with tfc's range coder ops and per-channel tables of the
  hyperprior's unit-bin probabilities on the integers (what ``tfc.ContinuousBatchedEntropyModel`` with
  ``offset_heuristic=False`` builds, without its slow iterative tail search).
* ŷ is coded with tfc's range coder ops (``entropy_encode_index``) and our own probability tables, one per
  (scale-table entry, sub-integer offset bin): 64 scales × 17 offsets in [−1/2, 1/2] (step 1/16). The
  offset lets us code latents on the **integer grid** under N(μ, σ²) * U(−1/2, 1/2) as SGA/STE/D-anneal
  produce them (μ need not be an integer): the symbol is ŷ − round(μ), coded with the table for
  frac = μ − round(μ) rounded to 1/16 (a small, measured cost over the exact information content). The
  *offset* grid (ŷ = k + μ, tfc's "dequantize" rounding, used by M3, MAP and U-noise) is the special case
  frac = 0. σ picks the smallest scale-table entry ≥ σ (tfc 1.3's rule).

Container (codec ``"sga"``): sections = (header varints, z string, y string[, arithmetic config]). Header =
[format, method id, grid id, y_h, y_w, z_h, z_w(, symbol CRC-32)]. μ and σ are recomputed from ẑ with batch
size 1 on both sides, so encoder and decoder index the same tables. Formats: 1 (float path, no config, no CRC;
still decodes), 3 (float path + the encoder's arithmetic configuration + a CRC-32 of the symbols, so a decoder
whose float h_s picks other tables fails naming the configurations instead of returning a wrong image).
Since issue 17 the stored CRC starts from the image H x W (little-endian uint32 pair) and carries the flag
bit 2^32 (:data:`SIZED_CRC`), so a container whose size fields were changed (container CRC recomputed) is
refused; files without the flag (older formats 3-6 files, the golden files) are checked as before.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from scipy.special import ndtr, ndtri
from tensorflow_compression.python.ops import gen_ops  # the range coder kernels

from shared_data import container as lic

from . import arith_config, rangecoder
from .inference import GRID_IDS, METHOD_IDS, METHOD_NAMES
from .model import scale_table
from .stream import (  # noqa: F401 - re-exported: the stream layer's names, as sga.coding had them
    CODEC,
    FORMAT,
    FORMAT_LEGACY,
    FORMAT_NAMES,
    FORMAT_PORTABLE,
    INTEGER_NAME,
    PORTABLE_FORMATS,
    SIZED_CRC,
    SGAArithmeticError,
    SGAFormatError,
    check_fingerprint,
    choose_portable,
    crc_matches,
    file_format,
    model_fingerprints,
    read_checked,
    symbol_crc,
)

PRECISION = 16
TAIL_MASS = 2 ** -8
FRAC_BINS = 16  # offsets k/16, k = -8..8


_Y_TABLES = None


def _y_tables():
    """(flat cdf int32, cdf_offset int32[num_tables], num_tables): pmfs over integers k of
    N(frac, σ²) * U(−1/2, 1/2), with the tail mass in tfc's overflow bin."""
    global _Y_TABLES
    if _Y_TABLES is None:
        scales = scale_table()
        fracs = np.arange(-FRAC_BINS // 2, FRAC_BINS // 2 + 1) / FRAC_BINS
        cdfs, offsets = [], []
        z_tail = -ndtri(TAIL_MASS / 2)
        for s in scales:
            for f in fracs:
                lo = int(math.floor(-z_tail * s + f - 0.5))
                hi = int(math.ceil(z_tail * s + f + 0.5))
                k = np.arange(lo, hi + 1, dtype=np.float64)
                pmf = ndtr((k + 0.5 - f) / s) - ndtr((k - 0.5 - f) / s)
                overflow = max(1.0 - pmf.sum(), 0.0)
                p = tf.constant(np.concatenate([pmf, [overflow]]), tf.float32)
                c = gen_ops.pmf_to_quantized_cdf(p, precision=PRECISION).numpy()
                cdfs.append(np.concatenate([[-PRECISION], c]).astype(np.int32))
                offsets.append(lo)
        _Y_TABLES = (tf.constant(np.concatenate(cdfs)), np.array(offsets, np.int32), len(offsets))
    return _Y_TABLES


def y_table_indexes(mu: np.ndarray, sigma: np.ndarray, grid: str):
    """Table index per element and the integer base b (ŷ = b + symbol) for the given grid."""
    table = scale_table().astype(np.float32)
    s_idx = np.searchsorted(table[:-1], sigma.astype(np.float32), side="left").astype(np.int64)
    if grid == "integer":
        base = np.round(mu)
        frac = mu - base
        f_idx = np.clip(np.round((frac + 0.5) * FRAC_BINS), 0, FRAC_BINS).astype(np.int64)
    else:
        base = mu
        f_idx = np.full(mu.shape, FRAC_BINS // 2, np.int64)
    return (s_idx * (FRAC_BINS + 1) + f_idx).astype(np.int32), base


class Coder:
    """Entropy coder for one model: ``encode`` latents to a :class:`Container`, ``decode`` it back.

    ``portable`` (default: whether the model is integerized) selects stream format 5 (integer h_s, stored
    tables: bit-exact symbols on every IEEE-754 machine) over the float path (format 3). Both decode."""

    def __init__(self, model, portable: bool | None = None):
        self.model = model
        self.portable = choose_portable(model, portable)
        self.integer = (getattr(model, "integer_data", None) or (None, None))[0]
        self._z_float = None
        self._portable_tables = None
        self._rows = {}  # id(cdf tensor) -> (the tensor, its rows for sga.rangecoder)
        self.float_fingerprint, self.portable_fingerprint = model_fingerprints(model)
        self.fingerprint = self.portable_fingerprint if self.portable else self.float_fingerprint

    @property
    def z_tables(self):
        if self._z_float is None:
            self._z_float = self._z_tables(self.model)
        return self._z_float

    def _tables(self, portable):
        """(z cdf, z offsets, y cdf, y offsets) of the float path or the stored portable ones."""
        if portable:
            if self._portable_tables is None:
                d = self.integer
                self._portable_tables = (tf.constant(d["z_cdf"]), d["z_offsets"].astype(np.int32),
                                         tf.constant(d["y_cdf"]), d["y_offsets"].astype(np.int32))
            return self._portable_tables
        cdf, offs, _ = _y_tables()
        return (*self.z_tables, cdf, offs)

    def _portable_indexes(self, z_hat, y_shape, grid):
        from .portable import IN_FRAC, OUT_FRAC, hs_int, mu_base_and_bin, scale_index

        z_q = np.asarray(z_hat, np.float64) * (1 << IN_FRAC)
        mu_q, raw_q = hs_int(self.integer, z_q, y_shape)
        s_idx = scale_index(self.integer, raw_q, self.model.scale_semantics)
        if grid == "integer":
            base, f_idx = mu_base_and_bin(mu_q, FRAC_BINS)
            base = base.astype(np.float64)
        else:
            base = mu_q * (1.0 / (1 << OUT_FRAC))
            f_idx = np.full(mu_q.shape, FRAC_BINS // 2, np.int64)
        return (s_idx * (FRAC_BINS + 1) + f_idx).astype(np.int32), base

    def _indexes(self, portable, z_hat, y_shape, grid):
        if portable:
            return self._portable_indexes(z_hat, y_shape, grid)
        mu, sigma = self._side_np(z_hat, y_shape)
        return y_table_indexes(mu, sigma, grid)

    @staticmethod
    def _z_tables(model, radius=512):
        """Per-channel tables of the hyperprior's unit-bin pmf on the integers, support cut where the
        tails hold less than 2^-8 (what tfc's ``ContinuousBatchedEntropyModel`` keeps; the rest goes to the
        overflow bin). Computed once per model in float32 on the host; both sides compute them the same
        way (tfc's own tables are built the same way; they warn about cross-platform float differences)."""
        n = model.num_filters
        k = np.arange(-radius, radius + 1, dtype=np.float32)
        pmf = model.hyperprior.prob(tf.constant(np.repeat(k[:, None], n, 1))).numpy().T.astype(np.float64)
        cdfs, offsets = [], []
        for ch in range(n):
            p = pmf[ch]
            c = np.cumsum(p)
            lo = int(np.searchsorted(c, TAIL_MASS / 2))
            hi = int(np.searchsorted(c, c[-1] - TAIL_MASS / 2)) + 1
            lo, hi = max(lo - 1, 0), min(hi + 1, len(p) - 1)
            q = p[lo:hi + 1]
            overflow = max(1.0 - q.sum(), 0.0)
            cq = gen_ops.pmf_to_quantized_cdf(tf.constant(np.concatenate([q, [overflow]]), tf.float32),
                                              precision=PRECISION).numpy()
            cdfs.append(np.concatenate([[-PRECISION], cq]).astype(np.int32))
            offsets.append(lo - radius)
        return tf.constant(np.concatenate(cdfs)), np.array(offsets, np.int32)

    @staticmethod
    def _range_encode(cdf, offsets, idx, sym):
        values = (np.asarray(sym, np.int64) - offsets[idx]).astype(np.int32)
        handle = gen_ops.create_range_encoder([1], cdf)
        handle = gen_ops.entropy_encode_index(handle, idx.reshape(1, -1), values.reshape(1, -1))
        return gen_ops.entropy_encode_finalize(handle).numpy()[0]

    def _range_decode(self, cdf, offsets, idx, data):
        """Decode one string with the bounded port of tfc's range decoder (:mod:`sga.rangecoder`; tfc's own
        ``entropy_decode_index`` never returns on some cut strings, issue 17)."""
        key = id(cdf)
        if key not in self._rows:
            self._rows[key] = (cdf, rangecoder.rows(cdf.numpy()))
        values, ok = rangecoder.decode_index(data, self._rows[key][1], idx)
        if not ok:
            raise SGAFormatError("corrupt range-coded payload (range decoder sanity check failed)")
        return values.reshape(idx.shape) + offsets[idx]

    def _z_indexes(self, shape):
        return np.broadcast_to(np.arange(self.model.num_filters, dtype=np.int32), shape).copy()

    def _side_np(self, z_hat1, y_shape):
        mu, sigma = self.model.side_params(tf.constant(z_hat1, tf.float32), y_shape)
        return mu.numpy().astype(np.float64), sigma.numpy().astype(np.float64)

    def encode(self, y_hat, z_hat, grid: str, method: str, height: int, width: int) -> lic.Container:
        """y_hat (1,h,w,N), z_hat (1,hz,wz,N): final discrete latents of one image."""
        y_hat = np.asarray(y_hat, np.float64)
        z_hat = np.asarray(z_hat, np.float32)
        if not np.array_equal(z_hat, np.round(z_hat)):
            raise ValueError("z_hat must be on the integer grid")
        if self.portable and z_hat.size and np.max(np.abs(z_hat)) > 1024:
            raise ValueError(f"hyper-latent value {np.max(np.abs(z_hat)):.0f} outside the portable range ±1024")
        z_cdf, z_offs, cdf, offs = self._tables(self.portable)
        z_str = self._range_encode(z_cdf, z_offs, self._z_indexes(z_hat.shape), z_hat.astype(np.int64))
        idx, base = self._indexes(self.portable, z_hat, y_hat.shape, grid)
        sym = np.round(y_hat - base).astype(np.int64)
        y_str = self._range_encode(cdf, offs, idx, sym)
        crc = symbol_crc(z_hat, sym, size=(height, width))
        head = lic.pack_ints([FORMAT_PORTABLE if self.portable else FORMAT, METHOD_IDS[method], GRID_IDS[grid], y_hat.shape[1], y_hat.shape[2],
                              z_hat.shape[1], z_hat.shape[2], crc])
        cfg = arith_config.pack(arith_config.describe())
        return lic.Container(CODEC, self.fingerprint, int(height), int(width), (head, z_str, y_str, cfg))

    def decode_latents(self, c: lic.Container, path=None):
        """Return (ŷ float32 (1,h,w,N), ẑ, method name, grid). ``path`` only names the file in errors."""
        if not c.sections:
            raise SGAFormatError("expected 3 or 4 sections (header, z, y[, config]), found 0")
        head = lic.unpack_ints(c.sections[0], max_count=16)
        fmt = head[0] if head else None
        want = {FORMAT_LEGACY: (7, 3), FORMAT: (8, 4), FORMAT_PORTABLE: (8, 4)}
        if fmt not in want:
            raise SGAFormatError(f"unknown sga payload header {head[:2]} (this decoder reads range-coded formats "
                                 f"{sorted(want)})")
        if len(c.sections) != want[fmt][1]:
            raise SGAFormatError(f"expected {want[fmt][1]} sections for format {fmt}, found {len(c.sections)}")
        if len(head) != want[fmt][0]:
            raise SGAFormatError(f"corrupt sga payload header ({len(head)} fields for format {fmt})")
        portable = fmt == FORMAT_PORTABLE
        if portable and self.integer is None:
            check_fingerprint(c, fmt, self.float_fingerprint, None, path)
        cfg = arith_config.unpack(c.sections[3], path) if fmt != FORMAT_LEGACY else None
        _, mid, gid, yh, yw, zh, zw = head[:7]
        grids = {v: k for k, v in GRID_IDS.items()}
        if mid not in METHOD_NAMES or gid not in grids:
            raise SGAFormatError(f"unknown method id {mid} or grid id {gid}")
        if not (yh == -(-c.height // 16) and yw == -(-c.width // 16) and zh == -(-yh // 4)
                and zw == -(-yw // 4)):
            raise SGAFormatError(f"latent shapes {yh}x{yw}/{zh}x{zw} do not fit a {c.height}x{c.width} image")
        n = self.model.num_filters
        try:
            z_cdf, z_offs, cdf, offs = self._tables(portable)
            z_hat = self._range_decode(z_cdf, z_offs, self._z_indexes((1, zh, zw, n)),
                                       c.sections[1]).astype(np.float32)
            idx, base = self._indexes(portable, z_hat, (1, yh, yw, n), grids[gid])
            sym = self._range_decode(cdf, offs, idx, c.sections[2])
        except (tf.errors.OpError, ValueError) as e:
            if cfg is not None and not portable:
                raise SGAArithmeticError(arith_config.mismatch_message(
                    path, cfg, f"range decoder failed ({str(e).splitlines()[0][:80]})")) from None
            raise SGAFormatError(f"corrupt range-coded payload ({str(e).splitlines()[0][:200]})") from None
        if fmt != FORMAT_LEGACY and not crc_matches(head[7], c.height, c.width, z_hat, sym):
            sized = head[7] & SIZED_CRC
            if portable:
                raise SGAFormatError(f"{path + ': ' if path else ''}symbol CRC mismatch: " + (
                    f"the image size {c.height}x{c.width} or the symbols were altered, or " if sized else "")
                    + "the portable file decoded to other symbols than were encoded (a bug, please report)")
            raise SGAArithmeticError(arith_config.mismatch_message(
                path, cfg, "symbol CRC mismatch" + (f" (or the image size {c.height}x{c.width} was altered)"
                                                    if sized else "")))
        y_hat = (sym + base).astype(np.float32)
        return y_hat, z_hat.astype(np.float32), METHOD_NAMES[mid], grids[gid]

    def reconstruct(self, y_hat, height, width) -> np.ndarray:
        """x̂ = g_s(ŷ) cropped, clipped to [0,1], rounded to uint8 (H, W, 3)."""
        x_hat = self.model.synthesis_transform(tf.constant(y_hat, tf.float32))[0, :height, :width, :]
        return np.round(np.clip(x_hat.numpy(), 0.0, 1.0) * 255.0).astype(np.uint8)

    def read(self, path, model_dir=None) -> lic.Container:
        """Read an sga file and check its fingerprint against the one of its format (float or portable)."""
        return read_checked(path, self.float_fingerprint, self.portable_fingerprint, model_dir)

    def decode(self, c: lic.Container, path=None):
        y_hat, z_hat, method, grid = self.decode_latents(c, path)
        return self.reconstruct(y_hat, c.height, c.width), method
