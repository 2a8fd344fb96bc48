"""Exact, platform-independent arithmetic for whatever feeds an entropy coder (Ballé, Johnston, Minnen 2019,
"Integer networks for data compression with latent-variable models").

Rules every deterministic ("portable") coding path in this project follows:

* values are integers, held in int64 or in float64 with ``|v| < 2**53`` — then every sum of products is an
  exactly representable integer and the result cannot depend on summation order, thread count, vector width
  or BLAS kernel (float64 convolutions / matmuls in numpy, torch or TF are therefore exact on such inputs);
* weights are fixed-point integers ``w_q = round(w * 2**f)`` fixed once by a conversion step
  (:func:`to_fixed`), and :func:`check_bound` refuses a layer whose worst-case accumulator could reach 2**53
  at conversion time, naming it;
* requantisation is a right shift with round-half-up (:func:`rshift_round`), exact in int64 and float64;
* non-linearities are integer-indexed tables (:func:`table`) computed once with correctly rounded
  :mod:`decimal` arithmetic, identical on every machine; a softmax becomes integer weights
  (:func:`softmax_weights`) whose normalisation (:func:`normalise`) is one IEEE division per entry —
  correctly rounded, hence identical everywhere.

Framework-free (NumPy + decimal); sub-projects run the same rules in torch / TF float64 where faster.
"""

from __future__ import annotations

import decimal
import functools
import math

import numpy as np

from .errors import ModelError

MAX_EXACT = 1 << 53


class IntegerizeError(ModelError):
    """A checkpoint cannot be converted to the exact form (a layer's accumulator could exceed 2**53)."""


def to_fixed(x, frac_bits: int) -> np.ndarray:
    """``round(x * 2**frac_bits)`` as int64 (conversion time only: the result is what gets stored)."""
    a = np.asarray(x, dtype=np.float64) * float(2 ** frac_bits)
    if a.size and not np.all(np.isfinite(a)):
        raise IntegerizeError("non-finite value in a tensor to convert to fixed point")
    if a.size and np.max(np.abs(a)) >= 2.0 ** 62:
        raise IntegerizeError(f"value {np.max(np.abs(x)):.3g} does not fit int64 at {frac_bits} fractional bits")
    return np.rint(a).astype(np.int64)


def accumulator_bound(w_q, x_max: int, b_q=None, out_axis: int = 0) -> int:
    """Worst-case ``|Σ w_q·x + b_q|`` over outputs for inputs ``|x| ≤ x_max`` (an exact Python int)."""
    w = np.abs(np.asarray(w_q, dtype=np.int64))
    w = np.moveaxis(w, out_axis, 0).reshape(w.shape[out_axis], -1)
    per_out = [int(v) for v in w.sum(axis=1, dtype=np.int64)] if w.size else [0]
    b = [0] * len(per_out) if b_q is None else [abs(int(v)) for v in np.asarray(b_q).reshape(-1)]
    if len(b) == 1 and len(per_out) > 1:
        b = b * len(per_out)
    return max(s * int(x_max) + bb for s, bb in zip(per_out, b, strict=True))


def check_bound(name: str, bound: int, limit: int = MAX_EXACT) -> int:
    """Raise IntegerizeError naming layer ``name`` if its worst-case accumulator ``bound`` reaches ``limit``."""
    if bound >= limit:
        raise IntegerizeError(
            f"layer {name!r} cannot be integerised: its worst-case accumulator is 2^{math.log2(bound):.1f}, "
            f"at or above the exact limit 2^{math.log2(limit):.0f}; use fewer fractional bits for it")
    return bound


def rshift_round(acc, shift: int):
    """``floor((acc + 2**(shift-1)) / 2**shift)``: round-half-up requantisation, exact for int64 arrays and
    for float64 arrays holding integers below 2**53 (division by a power of two is exact)."""
    if shift <= 0:
        return acc * (1 << -shift) if shift < 0 else acc
    a = np.asarray(acc)
    if np.issubdtype(a.dtype, np.integer):
        return (a + (1 << (shift - 1))) >> shift
    return np.floor((a + float(1 << (shift - 1))) * (1.0 / float(1 << shift)))


def rdiv_round(num, den):
    """``floor(num / den + 1/2)`` for integer arrays (exact; ``den > 0``)."""
    num = np.asarray(num, dtype=np.int64)
    den = np.asarray(den, dtype=np.int64)
    return (2 * num + den) // (2 * den)


# ---- tables --------------------------------------------------------------------------------------------

_FNS = {
    "exp": lambda x: x.exp(),
    "sigmoid": lambda x: 1 / (1 + (-x).exp()),
    "softplus": lambda x: (1 + x.exp()).ln() if x < 50 else x + (1 + (-x).exp()).ln(),
    "tanh": lambda x: ((2 * x).exp() - 1) / ((2 * x).exp() + 1) if x < 200 else decimal.Decimal(1),
}


@functools.lru_cache(maxsize=64)
def _table(fn: str, lo: int, hi: int, in_frac: int, out_frac: int) -> bytes:
    ctx = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN, Emin=-999999, Emax=999999)
    f = _FNS[fn]
    scale_in = decimal.Decimal(2) ** -in_frac
    scale_out = decimal.Decimal(2) ** out_frac
    out = np.empty(hi - lo + 1, dtype=np.int64)
    with decimal.localcontext(ctx):
        for i, k in enumerate(range(lo, hi + 1)):
            v = f(decimal.Decimal(k) * scale_in) * scale_out
            out[i] = int(v.to_integral_value(rounding=decimal.ROUND_HALF_EVEN))
    return out.tobytes()


def table(fn: str, lo: int, hi: int, in_frac: int, out_frac: int) -> np.ndarray:
    """``T[i] = round(fn((lo + i) / 2**in_frac) * 2**out_frac)`` for ``i = 0 .. hi-lo``, int64, computed with
    40-digit decimal arithmetic (correctly rounded; the same on every machine). ``fn``: exp, sigmoid,
    softplus, tanh. Cached per process; 65,536 entries take about a second."""
    if fn not in _FNS:
        raise ValueError(f"unknown table function {fn!r}; known: {sorted(_FNS)}")
    if hi < lo or hi - lo > (1 << 22):
        raise ValueError(f"bad table range [{lo}, {hi}]")
    return np.frombuffer(_table(fn, int(lo), int(hi), int(in_frac), int(out_frac)), dtype=np.int64).copy()


def lookup(tab: np.ndarray, lo: int, idx) -> np.ndarray:
    """``tab[clip(idx - lo, 0, len-1)]`` for an integer-valued index array (int64 or float64)."""
    i = np.asarray(idx)
    if not np.issubdtype(i.dtype, np.integer):
        i = i.astype(np.int64)
    return tab[np.clip(i - lo, 0, len(tab) - 1)]


def softmax_weights(logits_q, in_frac: int, out_frac: int = 16, axis: int = -1, span: int | None = None):
    """Integer softmax weights ``round(exp((l - max l) / 2**in_frac) * 2**out_frac)``, at least 1 each.

    ``logits_q`` are integer logits with ``in_frac`` fractional bits. Differences beyond ``span`` (default:
    where exp underflows the output precision) map to weight 1. Normalise with :func:`normalise`."""
    lq = np.asarray(logits_q)
    if not np.issubdtype(lq.dtype, np.integer):
        lq = lq.astype(np.int64)
    if span is None:
        span = int(math.ceil((out_frac + 1) * math.log(2) * (1 << in_frac)))
    tab = _exp_neg(span, in_frac, out_frac)
    d = np.max(lq, axis=axis, keepdims=True) - lq
    return np.maximum(tab[np.minimum(d, span)], 1)


def _exp_neg(span: int, in_frac: int, out_frac: int) -> np.ndarray:
    return table("exp", -span, 0, in_frac, out_frac)[::-1].copy()


def normalise(weights, axis: int = -1) -> np.ndarray:
    """Probabilities ``w / Σw`` in float64 from integer weights (each sum exact below 2**53; one correctly
    rounded division per entry, so identical on every IEEE-754 machine)."""
    w = np.asarray(weights, dtype=np.float64)
    return w / np.sum(w, axis=axis, keepdims=True)
