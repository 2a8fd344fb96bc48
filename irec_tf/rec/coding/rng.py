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


def _candidate_words(seed: int, level: int, step: int, n_blocks: int, n_samples: int, block_size: int,
                     first_block: int) -> tuple[np.ndarray, int]:
    per4 = -(-block_size // 4)
    n = n_blocks * n_samples * per4 * 4
    if first_block:
        return _philox_at(seed, level, step, first_block * n_samples * per4).random_raw(n).astype(np.uint64), per4 * 4
    return raw_words(seed, PURPOSE_CANDIDATES, level, step, n), per4 * 4


def candidate_normals(seed: int, level: int, step: int, n_blocks: int, n_samples: int, block_size: int,
                      first_block: int = 0):
    """Standard normals (n_blocks, n_samples, block_size) of one coding step, for blocks ``first_block ..
    first_block + n_blocks - 1`` (the encoder draws a chunk of blocks at a time: bounded memory).

    Layout: candidate j of block b uses the Philox counters [(b·n_samples + j)·⌈block_size/4⌉, …) of the
    stream (seed, candidates, level, step), so :func:`candidate_normal` can regenerate a single candidate
    without drawing the others, and any range of blocks gives the same numbers as all blocks at once.
    """
    w, per = _candidate_words(seed, level, step, n_blocks, n_samples, block_size, first_block)
    return _words_to_normals(w).reshape(n_blocks, n_samples, per)[:, :, :block_size]


def candidate_normal(seed: int, level: int, step: int, block: int, index: int, n_samples: int,
                     block_size: int) -> np.ndarray:
    """Candidate ``index`` of block ``block`` from :func:`candidate_normals`, drawn alone."""
    per4 = -(-block_size // 4)
    g = _philox_at(seed, level, step, (block * n_samples + index) * per4)
    return _words_to_normals(g.random_raw(block_size).astype(np.uint64))


# --- exact (integer) candidates for the portable format -------------------------------------------------
#: The inverse normal CDF table: ICDF[i] = round(Φ⁻¹((i + ½)/2¹⁶) · 2¹⁶), i = 0 … 2¹⁶−1, computed once with
#: 50-digit decimal arithmetic (:func:`build_icdf_table`) and committed; its SHA-256 is checked on load.
ICDF_BITS = 16
EPS_FRAC = 16
ICDF_FILE = "normal_icdf_u16.npy"
ICDF_SHA256 = "ee46eda6f743ea9b2949c72134d6385025bcc7573bb0fba98b3bf40224779880"


def _phi_decimal(x):
    """Φ(x) in the current decimal context: ½(1 + erf(x/√2)), erf by its all-positive series
    erf(y) = 2/√π · e^{−y²} · Σ_n 2ⁿ y^{2n+1} / (1·3·…·(2n+1))."""
    import decimal

    y = x / decimal.Decimal(2).sqrt()
    y2 = y * y
    term = y
    total = term
    n = 0
    eps = decimal.Decimal(10) ** -(decimal.getcontext().prec + 2)
    while abs(term) > eps * abs(total):
        term = term * 2 * y2 / (2 * n + 3)
        total += term
        n += 1
    pi = decimal.Decimal("3.14159265358979323846264338327950288419716939937510582097494459")
    erf = 2 / pi.sqrt() * (-y2).exp() * total
    return (1 + erf) / 2


def icdf_entry(i: int, bits: int = ICDF_BITS, frac: int = EPS_FRAC) -> int:
    """round(Φ⁻¹((i + ½)/2^bits) · 2^frac) with 50-digit decimal Newton steps from scipy's float estimate
    (correctly rounded unless Φ⁻¹ lies within 10⁻⁴⁰ of a rounding boundary)."""
    import decimal

    with decimal.localcontext(decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN)):
        D = decimal.Decimal
        u = (D(i) + D("0.5")) / D(2) ** bits
        x = D(float(ndtri(float(u))))
        sqrt2pi = (2 * D("3.14159265358979323846264338327950288419716939937510582097494459")).sqrt()
        for _ in range(3):
            x = x - (_phi_decimal(x) - u) / ((-x * x / 2).exp() / sqrt2pi)
        return int((x * D(2) ** frac).to_integral_value(rounding=decimal.ROUND_HALF_EVEN))


def build_icdf_table(bits: int = ICDF_BITS, frac: int = EPS_FRAC) -> np.ndarray:
    """The whole table (odd symmetry: entry 2^bits − 1 − i = −entry i); ~10 s."""
    half = [icdf_entry(i, bits, frac) for i in range(1 << (bits - 1))]
    return np.array(half + [-v for v in reversed(half)], dtype=np.int32)


_ICDF_CACHE: list = []


def icdf_table() -> np.ndarray:
    """The committed inverse-CDF table as int64 (checked against its pinned SHA-256)."""
    if not _ICDF_CACHE:
        import hashlib
        from pathlib import Path

        path = Path(__file__).with_name(ICDF_FILE)
        try:
            t = np.load(path, allow_pickle=False)
        except OSError as e:
            raise RuntimeError(f"{path}: cannot read the committed inverse-CDF table ({e})") from None
        digest = hashlib.sha256(np.ascontiguousarray(t, dtype="<i4").tobytes()).hexdigest()
        if t.shape != (1 << ICDF_BITS,) or digest != ICDF_SHA256:
            raise RuntimeError(f"{path}: inverse-CDF table does not match its pinned SHA-256 (got {digest}); "
                               "rebuild it with rec.coding.rng.build_icdf_table()")
        _ICDF_CACHE.append(t.astype(np.int64))
    return _ICDF_CACHE[0]


def _words_to_int_normals(w: np.ndarray) -> np.ndarray:
    return icdf_table()[(w >> np.uint64(64 - ICDF_BITS)).astype(np.int64)]


def candidate_normals_int(seed: int, level: int, step: int, n_blocks: int, n_samples: int, block_size: int,
                          first_block: int = 0):
    """Integer standard normals ε·2^EPS_FRAC (n_blocks, n_samples, block_size), int64: the top 16 bits of the
    same Philox words as :func:`candidate_normals` index the inverse-CDF table (exact on every machine)."""
    w, per = _candidate_words(seed, level, step, n_blocks, n_samples, block_size, first_block)
    return _words_to_int_normals(w).reshape(n_blocks, n_samples, per)[:, :, :block_size]


def candidate_normal_int(seed: int, level: int, step: int, block: int, index: int, n_samples: int,
                         block_size: int) -> np.ndarray:
    """Candidate ``index`` of block ``block`` from :func:`candidate_normals_int`, drawn alone."""
    per4 = -(-block_size // 4)
    g = _philox_at(seed, level, step, (block * n_samples + index) * per4)
    return _words_to_int_normals(g.random_raw(block_size).astype(np.uint64))
