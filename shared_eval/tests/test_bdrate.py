"""BD-rate / BD-quality: exact cases, cross-check with the `bjontegaard` package, and clear errors."""

import numpy as np
import pytest

from shared_eval.bdrate import BDError, bd_psnr, bd_quality, bd_rate
from shared_eval.references import curves, load_reference, reference_path

R = np.array([0.1, 0.25, 0.5, 0.9, 1.4])
Q = np.array([28.0, 30.5, 33.0, 35.6, 37.9])


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_identical_curves_are_zero(method):
    assert bd_rate(R, Q, R, Q, method) == pytest.approx(0.0, abs=1e-10)
    assert bd_quality(R, Q, R, Q, method) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
@pytest.mark.parametrize("k", [0.8, 1.1, 1.5])
def test_scaled_rate_gives_k_minus_one(method, k):
    assert bd_rate(R, Q, R * k, Q, method) == pytest.approx((k - 1) * 100, rel=1e-9)
    assert bd_rate(R * k, Q, R, Q, method) == pytest.approx((1 / k - 1) * 100, rel=1e-9)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_shifted_quality_gives_shift(method):
    assert bd_psnr(R, Q, R, Q + 0.7, method) == pytest.approx(0.7, abs=1e-9)


def test_order_of_points_does_not_matter():
    p = [3, 0, 4, 1, 2]
    assert bd_rate(R[p], Q[p], R * 1.2, Q + 0.3) == pytest.approx(bd_rate(R, Q, R * 1.2, Q + 0.3), rel=1e-12)


def _sga(curve):
    pts = curves(load_reference(reference_path("sga")), "kodak", metric="psnr")[curve]
    return [p["bpp"] for p in pts], [p["psnr"] for p in pts]


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_matches_bjontegaard_package_on_real_curves(method):
    bj = pytest.importorskip("bjontegaard", reason="pip install bjontegaard==1.3.0 for the cross-check")
    ra, qa = _sga("M3_base")
    for test in ("M1_sga", "M2_sga_bb"):
        rt, qt = _sga(test)
        ours, theirs = bd_rate(ra, qa, rt, qt, method), bj.bd_rate(ra, qa, rt, qt, method=method)
        assert abs(ours - theirs) <= 0.01 * abs(theirs) / 100 + 1e-9  # agreement <= 0.01 %
        assert ours < 0  # SGA saves bits over amortized inference, as the paper says
        ours_q, theirs_q = bd_psnr(ra, qa, rt, qt, method), bj.bd_psnr(ra, qa, rt, qt, method=method)
        assert ours_q == pytest.approx(theirs_q, rel=1e-4)


def test_errors_are_clear():
    with pytest.raises(BDError, match="at least 4 points"):
        bd_rate(R[:3], Q[:3], R, Q, "cubic")
    with pytest.raises(BDError, match="monotone"):
        bd_rate(R, Q[::-1], R, Q)
    with pytest.raises(BDError, match="do not overlap"):
        bd_rate(R, Q, R * 10, Q + 20)
    with pytest.raises(BDError, match="positive"):
        bd_rate(R - 0.1, Q, R, Q)
    with pytest.raises(BDError, match="unknown interpolation"):
        bd_rate(R, Q, R, Q, "akima")
    with pytest.raises(BDError, match="rates but"):
        bd_rate(R, Q[:4], R, Q)
