"""Portable (exact) coding path: integerized h_s and stored entropy-coder tables (issue 15; Ballé, Johnston,
Minnen 2019, "Integer networks for data compression with latent-variable models").

What must be bit-identical on every machine for the decoder to read the symbols the encoder wrote is
everything between the decoded ẑ and the tables that code ŷ: h_s (→ μ, σ), the choice of a scale-table entry
(and of μ's 1/16 offset bin), and the tables themselves. ``integerize`` (``python -m sga integerize CKPT
OUT``) converts a trained model once:

* h_s (three transposed convolutions, ReLU) becomes fixed point: kernels ``round(w·2^fw)`` (fw per layer, the
  largest ≤ 16 whose worst-case accumulator stays below 2^52; fewer than 8 bits refuses the layer, naming it),
  biases at the accumulator's scale, input ẑ·4 (two fractional bits: the bits-back grid k/4; |ẑ| ≤ 1024),
  activations requantized to 10 fractional bits and the output (μ, raw log-scale) to 12 by round-half-up
  right shifts. Held as integers in float64 (< 2^53), so every sum of products is exact whatever the BLAS
  kernel, thread count or summation order (:func:`hs_int`, numpy).
* σ's table index is chosen by comparing the integer raw log-scale against integer thresholds
  ``floor(ln(s_k)·2^12)`` of the scale table computed with 40-digit decimal arithmetic (``tf1``: smallest
  s_k ≥ max(e^raw, .11); ``tf2``: smallest k ≥ e^raw); μ's integer base and offset bin by integer shifts.
* The range coder's integer CDF tables (ẑ: the hyperprior's unit-bin pmf per channel; ŷ: one per (scale,
  offset)) are built once with the float code at conversion time and **stored** in ``integer.npz``; the
  bits-back model stores its prior densities at k/4 (float32, as the float path computes them) and an
  ``exp`` table (decimal, 2^-32 steps) that turns the integer raw log-scale into the σ handed to
  constriction. Nothing the decoder needs is recomputed with float ops.

g_a, g_s and the iterative inference stay float (they only choose symbols / reconstruct pixels); so does the
bits-back q fit (see ``bitsback.py``).
"""

from __future__ import annotations

import decimal
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from shared_data import exact

from .stream import NotIntegerizedError, integer_fingerprint_parts  # noqa: F401 - re-exported

INTEGER_FILE = "integer.npz"
INTEGER_VERSION = 1
IN_FRAC = 2  # h_s input: ẑ·4 (bits-back grid k/4)
Z_MAX = 1024  # |ẑ| bound of the portable path (the bits-back range ±4095 on k/4)
ACT_FRAC = 10
OUT_FRAC = 12
W_FRAC_MAX, W_FRAC_MIN = 16, 8
BOUND_LIMIT = 1 << 52  # one bit of margin under 2^53
EXP_FRAC = 32
RAW_MAX = 9.0  # σ ≤ e^9 on the bits-back path (its symbol range is ±4095)


# ---- the integer h_s ---------------------------------------------------------------------------------------
def tconv(x, w, stride: int):
    """tfc ``SignalConv2D(corr=False, strides_up=stride, padding="same_zeros")`` on one image (H, W, Cin) with
    kernel (kh, kw, Cin, Cout), in float64. Exact for integer inputs whose partial sums stay below 2^53."""
    h, wd, _ = x.shape
    kh, kw = w.shape[:2]
    full = np.zeros(((h - 1) * stride + kh, (wd - 1) * stride + kw, w.shape[3]))
    xf = x.reshape(h * wd, -1)
    for a in range(kh):
        for b in range(kw):
            full[a:a + (h - 1) * stride + 1:stride, b:b + (wd - 1) * stride + 1:stride] += \
                (xf @ w[a, b]).reshape(h, wd, -1)
    oa, ob = kh // 2, kw // 2
    return full[oa:oa + h * stride, ob:ob + wd * stride]


def hs_int(data: dict, z_q, y_shape):
    """Integer h_s: z_q (1, hz, wz, N) integers = ẑ·2^IN_FRAC → (μ_q, raw_q) (1, h, w, N) float64 integers with
    OUT_FRAC fractional bits, cropped to y_shape."""
    x = np.asarray(z_q, np.float64)[0]
    if x.size and np.max(np.abs(x)) > Z_MAX * (1 << IN_FRAC):
        raise ValueError(f"hyper-latent outside the portable range |z| <= {Z_MAX}")
    for i in range(3):
        acc = tconv(x, data[f"hs{i}_w"], int(data[f"hs{i}_stride"])) + data[f"hs{i}_b"]
        if i < 2:
            acc = np.maximum(acc, 0.0)
        x = exact.rshift_round(acc, int(data[f"hs{i}_shift"]))
    x = x[:y_shape[1], :y_shape[2]]
    n = x.shape[-1] // 2
    return x[None, ..., :n], x[None, ..., n:]


def _integerize_hs(hs_layers) -> tuple[dict, list[dict]]:
    out, report = {}, []
    frac, x_max = IN_FRAC, Z_MAX << IN_FRAC
    for i, layer in enumerate(hs_layers):
        w = layer.kernel.numpy().astype(np.float64)
        b = layer.bias.numpy().astype(np.float64)
        name = f"hyper_synthesis.{layer.name}"
        target = ACT_FRAC if i < 2 else OUT_FRAC
        chosen = None
        for fw in range(W_FRAC_MAX, W_FRAC_MIN - 1, -1):
            w_q = exact.to_fixed(w, fw)
            b_q = exact.to_fixed(b, fw + frac)
            bound = exact.accumulator_bound(w_q, x_max, b_q, out_axis=3)
            if bound < BOUND_LIMIT:
                chosen = (fw, w_q, b_q, bound)
                break
        if chosen is None:
            exact.check_bound(name, exact.accumulator_bound(exact.to_fixed(w, W_FRAC_MIN),
                                                            x_max, exact.to_fixed(b, W_FRAC_MIN + frac),
                                                            out_axis=3), BOUND_LIMIT)
        fw, w_q, b_q, bound = chosen
        shift = fw + frac - target
        out[f"hs{i}_w"] = w_q.astype(np.float64)
        out[f"hs{i}_b"] = b_q.astype(np.float64)
        out[f"hs{i}_stride"] = np.int64(layer.strides_up[0])
        out[f"hs{i}_shift"] = np.int64(shift)
        report.append({"layer": name, "weight_frac_bits": fw, "bound_log2": round(math.log2(max(bound, 1)), 2)})
        frac, x_max = target, (bound >> shift) + 1
    return out, report


# ---- exact thresholds and tables -----------------------------------------------------------------------------
def _dec_ctx():
    return decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)


def scale_thresholds(semantics: str, num_scales: int, smin: float, smax: float) -> np.ndarray:
    """Integer thresholds t_k (int64) such that the table index of an integer raw log-scale r_q is
    ``searchsorted(t, r_q, 'left')`` (+1 for ``tf2``): tf1 t_k = floor(ln s_k·2^OUT_FRAC), k = 0..62;
    tf2 t_k = floor(ln k·2^OUT_FRAC), k = 1..62. 40-digit decimal arithmetic."""
    d = decimal.Decimal
    with decimal.localcontext(_dec_ctx()):
        scale = d(2) ** OUT_FRAC
        if semantics == "tf1":
            lo, hi = d(repr(smin)).ln(), d(repr(smax)).ln()
            vals = [(lo + k * (hi - lo) / (num_scales - 1)) * scale for k in range(num_scales - 1)]
        else:
            vals = [d(k).ln() * scale for k in range(1, num_scales - 1)]
        return np.array([int(v.to_integral_value(rounding=decimal.ROUND_FLOOR)) for v in vals], np.int64)


def scale_index(data: dict, raw_q, semantics: str):
    t = data["scale_thresholds"]
    idx = np.searchsorted(t, np.asarray(raw_q, np.float64).astype(np.int64), side="left")
    return idx + 1 if semantics == "tf2" else idx


def mu_base_and_bin(mu_q, frac_bins: int):
    """Integer-grid coding of ŷ under N(μ, ·): base = floor(μ + 1/2), offset bin = round((μ − base + 1/2)·16)
    clipped to 0..16, both by exact integer shifts of μ_q (OUT_FRAC fractional bits)."""
    m = np.asarray(mu_q, np.float64).astype(np.int64)
    base = exact.rshift_round(m, OUT_FRAC)
    rem = m - (base << OUT_FRAC) + (1 << (OUT_FRAC - 1))  # (μ − base + 1/2)·2^OUT_FRAC in [0, 2^OUT_FRAC)
    shift = OUT_FRAC - int(round(math.log2(frac_bins)))
    f_idx = np.clip(exact.rshift_round(rem, shift), 0, frac_bins)
    return base, f_idx


def sigma_exact(data: dict, raw_q) -> np.ndarray:
    """σ = max(e^raw, 0.11) (tf1) from the integer raw log-scale via the stored decimal exp table (float64)."""
    lo = int(data["exp_lo"])
    tab = data["exp_table"]
    r = np.asarray(raw_q, np.float64).astype(np.int64)
    sig = exact.lookup(tab, lo, r).astype(np.float64) * (1.0 / float(1 << EXP_FRAC))
    return np.where(r < lo, float(data["scale_min"]), sig)


# ---- conversion --------------------------------------------------------------------------------------------
def integerize_model(model) -> tuple[dict, dict]:
    """The integer data of a loaded model (arrays for integer.npz) and the conversion record."""
    from .model import NUM_SCALES, SCALE_MAX, SCALE_MIN

    data, report = _integerize_hs(model.hyper_synthesis_transform.layers)
    data["scale_thresholds"] = scale_thresholds(model.scale_semantics, NUM_SCALES, SCALE_MIN, SCALE_MAX)
    data["scale_min"] = np.float64(SCALE_MIN)
    if getattr(model, "is_bits_back", False):
        import tensorflow as tf

        from .stream import RANGES, Z_DENSITY

        r = RANGES[-1]
        k = np.arange(-r, r + 1, dtype=np.float32) / Z_DENSITY
        n = model.num_filters
        data["prior_density"] = model.z_density(tf.constant(np.repeat(k[:, None], n, 1))).numpy().T.copy()
        lo = int(math.floor(math.log(SCALE_MIN) * (1 << OUT_FRAC))) + 1
        hi = int(RAW_MAX * (1 << OUT_FRAC))
        data["exp_lo"] = np.int64(lo)
        data["exp_table"] = exact.table("exp", lo, hi, OUT_FRAC, EXP_FRAC)
    else:
        from .coding import Coder, _y_tables

        z_cdf, z_off = Coder._z_tables(model)
        y_cdf, y_off, _ = _y_tables()
        data["z_cdf"], data["z_offsets"] = z_cdf.numpy(), z_off
        data["y_cdf"], data["y_offsets"] = y_cdf.numpy(), y_off
    record = {"version": INTEGER_VERSION, "in_frac": IN_FRAC, "act_frac": ACT_FRAC, "out_frac": OUT_FRAC,
              "z_max": Z_MAX, "layers": report, "float_fingerprint": float_fingerprint(model)}
    return data, record


def float_fingerprint(model) -> str:
    """Hex fingerprint of the float weights (what ``integer.npz`` was converted from)."""
    from .stream import model_fingerprints

    saved = model.__dict__.pop("integer_data", None)
    try:
        return model_fingerprints(model)[0].hex()
    finally:
        if saved is not None:
            model.__dict__["integer_data"] = saved


def integerize(ckpt_dir, out_dir) -> dict:
    """``python -m sga integerize CKPT OUT``: OUT = CKPT's args.json (+ the conversion record under
    ``"integerized"``), its weights, and integer.npz. OUT may be CKPT itself (adds the two files in place)."""
    from .checkpoints import export_weights, load_model

    src, out = Path(ckpt_dir), Path(out_dir)
    model, args = load_model(src, integer=False)
    data, record = integerize_model(model)
    args = {k: v for k, v in args.items() if k != "integerized"}
    args["integerized"] = record
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != src.resolve():
        export_weights(model, args, out)
    _atomic(out / INTEGER_FILE, lambda f: np.savez_compressed(f, **data))
    _atomic(out / "args.json", lambda f: f.write((json.dumps(args, indent=2, sort_keys=True) + "\n").encode()))
    return record


def _atomic(path: Path, write):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_integer(model_dir, model=None):
    """(data dict, record) from ``model_dir/integer.npz`` + args.json's record, or None when float-only.
    With ``model``: refuses an integer.npz converted from other weights (a checkpoint trained further in
    place) instead of coding with a stale h_s."""
    d = Path(model_dir)
    p = d / INTEGER_FILE
    if not p.is_file():
        return None
    try:
        args = json.loads((d / "args.json").read_text())
        record = args["integerized"]
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{p}: unreadable integerized model ({e})") from None
    if record.get("version") != INTEGER_VERSION:
        raise ValueError(f"{p}: integerized with version {record.get('version')}, this code reads "
                         f"{INTEGER_VERSION}; re-run 'python -m sga integerize'")
    if model is not None and record.get("float_fingerprint") != float_fingerprint(model):
        raise ValueError(f"{p} was converted from other weights than {d}'s checkpoint; re-run "
                         f"'python -m sga integerize {d} {d}'")
    return data, record
