"""Bjøntegaard delta rate and delta quality (G. Bjøntegaard, VCEG-M33, 2001; VCEG-AL22 for PCHIP).

Both R-D curves are interpolated and integrated over the interval where they overlap:

- BD-rate: log10(rate) as a function of quality; the mean difference Δ of the two integrals gives
  BD-rate = (10**Δ − 1)·100 %, the average rate change of *test* relative to *anchor* at equal quality
  (negative = test needs fewer bits).
- BD-quality (BD-PSNR, BD-MS-SSIM …): quality as a function of log10(rate); the mean difference is the
  average quality gain of *test* at equal rate (positive = test is better).

Interpolation ``method``:
- ``"cubic"``: the original least-squares cubic polynomial (needs ≥ 4 points per curve);
- ``"pchip"``: piecewise cubic Hermite (monotone), as in the JVET/CTC Excel sheets (needs ≥ 2 points).

Each curve must be strictly monotone (quality increasing with rate) and the curves must overlap;
otherwise :class:`BDError` says which curve is wrong.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

from shared_data.errors import LicError

METHODS = ("cubic", "pchip")


class BDError(LicError, ValueError):
    """The curves cannot be compared by Bjøntegaard delta (too few points, non-monotone, no overlap)."""


def _curve(rate, quality, name: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rate, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if r.shape != q.shape:
        raise BDError(f"{name}: {r.size} rates but {q.size} quality values")
    need = 4 if method == "cubic" else 2
    if r.size < need:
        raise BDError(f"{name}: {method} interpolation needs at least {need} points, got {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        raise BDError(f"{name}: rates and quality values must be finite")
    if np.any(r <= 0):
        raise BDError(f"{name}: rates must be positive (log scale), got {r.tolist()}")
    order = np.argsort(r)
    r, q = r[order], q[order]
    if np.any(np.diff(r) <= 0) or np.any(np.diff(q) <= 0):
        pts = ", ".join(f"({a:.4g}, {b:.4g})" for a, b in zip(r, q))
        raise BDError(f"{name}: not a monotone R-D curve (quality must strictly increase with rate): {pts}")
    return np.log10(r), q


class _Fit:
    """y(x) by the chosen interpolation, with an exact definite integral."""

    def __init__(self, x: np.ndarray, y: np.ndarray, method: str):
        if method == "cubic":
            self._p = np.polynomial.Polynomial.fit(x, y, 3).convert()
            self._P = self._p.integ()
        elif method == "pchip":
            self._pchip = PchipInterpolator(x, y, extrapolate=False)
        else:
            raise BDError(f"unknown interpolation method {method!r}; choose one of {METHODS}")
        self.method = method

    def integral(self, lo: float, hi: float) -> float:
        if self.method == "cubic":
            return float(self._P(hi) - self._P(lo))
        return float(self._pchip.integrate(lo, hi))


def _overlap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if hi <= lo:
        raise BDError(f"the curves do not overlap in {what}: anchor [{a.min():.4g}, {a.max():.4g}] vs "
                      f"test [{b.min():.4g}, {b.max():.4g}]")
    return float(lo), float(hi)


def bd_rate(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "cubic") -> float:
    """Average rate difference of test vs anchor at equal quality, in percent (negative = test saves bits)."""
    if method not in METHODS:
        raise BDError(f"unknown interpolation method {method!r}; choose one of {METHODS}")
    la, qa = _curve(rate_anchor, quality_anchor, "anchor", method)
    lt, qt = _curve(rate_test, quality_test, "test", method)
    lo, hi = _overlap(qa, qt, "quality")
    fa, ft = _Fit(qa, la, method), _Fit(qt, lt, method)
    delta = (ft.integral(lo, hi) - fa.integral(lo, hi)) / (hi - lo)
    return float((10.0**delta - 1.0) * 100.0)


def bd_quality(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "cubic") -> float:
    """Average quality difference of test vs anchor at equal rate (e.g. BD-PSNR in dB; positive = better)."""
    if method not in METHODS:
        raise BDError(f"unknown interpolation method {method!r}; choose one of {METHODS}")
    la, qa = _curve(rate_anchor, quality_anchor, "anchor", method)
    lt, qt = _curve(rate_test, quality_test, "test", method)
    lo, hi = _overlap(la, lt, "log-rate")
    fa, ft = _Fit(la, qa, method), _Fit(lt, qt, method)
    return float((ft.integral(lo, hi) - fa.integral(lo, hi)) / (hi - lo))


bd_psnr = bd_quality  # the usual name when the quality is PSNR in dB


def rate_gap_at_quality(rate_anchor, quality_anchor, rate: float, quality: float) -> float:
    """Rate difference in percent of one point vs an anchor curve at the same quality.

    The anchor's log10(rate) is interpolated as a PCHIP function of quality (the single-point analogue of
    BD-rate); raises :class:`BDError` if ``quality`` lies outside the anchor's quality range.
    """
    la, qa = _curve(rate_anchor, quality_anchor, "anchor", "pchip")
    if not qa[0] <= quality <= qa[-1]:
        raise BDError(f"quality {quality:.4g} outside the anchor's range [{qa[0]:.4g}, {qa[-1]:.4g}]")
    if not rate > 0:
        raise BDError(f"rate must be positive, got {rate}")
    ref = 10.0 ** float(PchipInterpolator(qa, la)(quality))
    return float((rate / ref - 1.0) * 100.0)
