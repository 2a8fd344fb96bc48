"""The portable (integer) network: everything the iREC decoder recomputes, exact on every IEEE-754 machine.

Integer networks after Ballé, Johnston & Minnen (2019): what feeds the relative entropy coder — the priors
p(z), p(y|ẑ) (lossy) and p(z_i|z_{<i}) of every ResNet-VAE level plus its residual model p(x|ẑ) (lossless) —
is recomputed by the decoder, and the candidates it regenerates from the shared seed must equal the
encoder's bit for bit (Flamich et al. 2020, §3). :func:`integerize` converts a trained float model once:

* activations are integers with ``ACT_FRAC`` fraction bits, clipped to ±ACT_MAX at every conv input;
  weights ``round(w·2^W_FRAC)``, biases ``round(b·2^(ACT_FRAC+W_FRAC))``; every conv runs in TF float64
  on integer-valued tensors with its worst-case accumulator checked < 2^53 at conversion time
  (:func:`shared_data.exact.check_bound`, naming the layer), so the sums are exact whatever the summation
  order, thread count, vector width or kernel library; requantisation is ``rshift_round``;
* ELU, softplus, exp and the logistic CDF are integer-indexed tables computed with 40-digit decimal
  arithmetic (:func:`shared_data.exact.table`) and stored in the model file;
* prior means and scales leave the network as int64 ·2^Z_FRAC and go to the exact sampler
  (:meth:`rec.coding.beam_search.BeamSearchCoder.encode` with ``exact=True``,
  :func:`rec.coding.beam_search.decode_exact`).

The encoder's posterior and beam search, and the lossy synthesis g_s, stay float (they choose indices /
draw the picture; neither feeds the entropy coder).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from shared_data import exact
from shared_data.errors import ModelError

from .coding.beam_search import Z_FRAC

VERSION = 1
ACT_FRAC = 12                     # activations: value · 2^12
W_FRAC = 16                       # weights: value · 2^16
ACT_MAX = 1 << (ACT_FRAC + 11)    # |activation| ≤ 2048 at a conv input
ELU_LO = -10 << ACT_FRAC          # exp(x) − 1 below −10 is −1 at 2^−12 resolution
SP_LO, SP_HI = -16 << ACT_FRAC, 16 << ACT_FRAC   # softplus table range (outside: 0 / identity)
EXP_LO, EXP_HI = -16 << ACT_FRAC, 6 << ACT_FRAC  # exp table range for the ResNet VAE's prior scales
SIG_FRAC, CDF_FRAC = 10, 20       # logistic CDF: argument ·2^10 → probability ·2^20
SIG_LO, SIG_HI = -16 << SIG_FRAC, 16 << SIG_FRAC
INV_S_FRAC = 16                   # 1/s of the discretized logistic ·2^16
LOC_MAX = (1 << ACT_FRAC) // 2 - (1 << ACT_FRAC) // 512   # clip of the lossless mean: 0.5 − 1/512
PREFIX = "int/"


class PortableError(ModelError):
    """A model without (or with an unusable) integer network was asked for the portable path."""


def params() -> dict:
    return {"version": VERSION, "act_frac": ACT_FRAC, "w_frac": W_FRAC, "z_frac": Z_FRAC, "act_max": ACT_MAX,
            "cdf_frac": CDF_FRAC, "sig_frac": SIG_FRAC}


# --- conversion -------------------------------------------------------------------------------------------
_FLOAT_FNS = {"exp": np.exp, "softplus": lambda x: np.logaddexp(0.0, x), "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x))}


def table(fn: str, lo: int, hi: int, in_frac: int, out_frac: int) -> np.ndarray:
    """Exactly :func:`shared_data.exact.table` (correctly rounded decimal values), faster: a float64 estimate
    is kept where it is at least 10⁻⁶ away from a rounding boundary (float64 errors here are < 10⁻⁹), every
    other entry is recomputed with the 40-digit decimal table."""
    x = np.arange(lo, hi + 1, dtype=np.float64) * 2.0 ** -in_frac
    v = _FLOAT_FNS[fn](x) * 2.0 ** out_frac
    out = np.floor(v + 0.5)
    close = np.nonzero(np.abs(v - np.floor(v) - 0.5) < 1e-6)[0]
    for i in close:
        out[i] = exact.table(fn, lo + int(i), lo + int(i), in_frac, out_frac)[0]
    return out.astype(np.int64)


def _conv_entry(name, layer, kernel, bias, out_axis, scale=1.0) -> dict[str, np.ndarray]:
    w_q = exact.to_fixed(np.asarray(kernel, np.float64) * scale, W_FRAC)
    b = np.zeros(w_q.shape[out_axis]) if bias is None else np.asarray(bias, np.float64) * scale
    b_q = exact.to_fixed(b, ACT_FRAC + W_FRAC)
    exact.check_bound(name, exact.accumulator_bound(w_q, ACT_MAX, b_q, out_axis=out_axis))
    return {f"{PREFIX}{name}/w": w_q, f"{PREFIX}{name}/b": b_q}


def _signal(name, layer, scale=1.0):
    return _conv_entry(name, layer, layer.kernel.numpy(), layer.bias.numpy() if layer.use_bias else None,
                       2 if layer.mode == "up" else 3, scale)


def _wn(name, layer, scale=1.0):
    return _conv_entry(name, layer, layer._kernel().numpy(), layer.bias.numpy(), 2 if layer.transpose else 3,
                       scale)


def integerize(model, config: dict) -> dict[str, np.ndarray]:
    """The integer network of a trained float model: fixed-point weights and decimal tables (int64 arrays,
    keyed ``int/...``). Raises :class:`shared_data.exact.IntegerizeError` naming a layer whose accumulator
    could reach 2^53."""
    out: dict[str, np.ndarray] = {}
    out[PREFIX + "tab/elu"] = table("exp", ELU_LO, 0, ACT_FRAC, ACT_FRAC)
    if config["model"] == "resnet_vae":
        out[PREFIX + "tab/exp"] = table("exp", EXP_LO, EXP_HI, ACT_FRAC, Z_FRAC)
        out[PREFIX + "tab/sigmoid"] = table("sigmoid", SIG_LO, SIG_HI, SIG_FRAC, CDF_FRAC)
        out[PREFIX + "base"] = exact.to_fixed(model.generative_base.numpy(), ACT_FRAC)
        log_s = float(model.likelihood_log_scale.numpy())
        out[PREFIX + "inv_s"] = np.array([round(np.exp(-log_s) * 2.0 ** INV_S_FRAC)], np.int64)
        if not 1 <= out[PREFIX + "inv_s"][0] < 1 << 30:
            raise exact.IntegerizeError(f"likelihood_log_scale {log_s:.3g} is outside the portable range")
        for i, blk in enumerate(model.blocks):
            for key in ("prior_loc", "prior_logscale", "gen_conv1"):
                out.update(_wn(f"block_{i}/{key}", getattr(blk, key)))
            out.update(_wn(f"block_{i}/gen_conv2", blk.gen_conv2, scale=0.1))   # h + 0.1·conv(...)
        out.update(_wn("last_gen_conv", model.last_gen_conv))
    else:
        out[PREFIX + "tab/softplus"] = table("softplus", SP_LO, SP_HI, ACT_FRAC, Z_FRAC)
        out[PREFIX + "prior_base"] = exact.to_fixed(model.prior_base.numpy(), ACT_FRAC)
        for name in ("prior_conv", "prior_loc", "prior_scale", "hyper_syn_loc", "hyper_syn_scale"):
            out.update(_signal(name, getattr(model, name)))
        for i, layer in enumerate(model.hyper_synthesis):
            out.update(_signal(f"hyper_synthesis_{i}", layer))
    return {k: np.asarray(v, np.int64) for k, v in out.items()}


# --- the integer forward pass ------------------------------------------------------------------------------
class IntNet:
    """Integer forward pass of an integerised model (arrays from :func:`integerize`)."""

    def __init__(self, model, arrays: dict[str, np.ndarray], cfg: dict):
        if cfg.get("version") != VERSION or cfg.get("act_frac") != ACT_FRAC or cfg.get("w_frac") != W_FRAC \
                or cfg.get("z_frac") != Z_FRAC:
            raise PortableError(f"integer network version {cfg} is not this decoder's {params()}")
        self.model, self.a = model, arrays

    def _conv(self, name, layer, x):
        """One conv on int64 activations at ACT_FRAC: exact float64 conv, then rshift_round by W_FRAC."""
        w = tf.constant(self.a[f"{PREFIX}{name}/w"].astype(np.float64))
        b = tf.constant(self.a[f"{PREFIX}{name}/b"].astype(np.float64))
        xt = tf.constant(np.clip(x, -ACT_MAX, ACT_MAX).astype(np.float64))
        if hasattr(layer, "apply_with"):
            acc = layer.apply_with(xt, w, b)
        else:
            acc = layer.conv_with(xt, w, b)
        return exact.rshift_round(acc.numpy().astype(np.int64), W_FRAC)

    def elu(self, x):
        return np.where(x >= 0, x, exact.lookup(self.a[PREFIX + "tab/elu"], ELU_LO, x) - (1 << ACT_FRAC))

    def softplus_z(self, x):
        """softplus(x) ·2^Z_FRAC, at least 1 (the float model adds 1e-7, below the resolution 2^-16)."""
        sp = exact.lookup(self.a[PREFIX + "tab/softplus"], SP_LO, x)
        return np.maximum(np.where(x > SP_HI, x << (Z_FRAC - ACT_FRAC), sp), 1)

    def exp_z(self, x):
        return np.maximum(exact.lookup(self.a[PREFIX + "tab/exp"], EXP_LO, x), 1)

    @staticmethod
    def to_z(x):
        return x << (Z_FRAC - ACT_FRAC)

    @staticmethod
    def from_z(z):
        return exact.rshift_round(np.asarray(z, np.int64), Z_FRAC - ACT_FRAC)

    # lossy ---------------------------------------------------------------------------------------------
    def prior_z(self, hz: int, wz: int):
        m = self.model
        h = np.tile(self.a[PREFIX + "prior_base"], (1, hz, wz, 1))
        h = self.elu(self._conv("prior_conv", m.prior_conv, h))
        return self.to_z(self._conv("prior_loc", m.prior_loc, h)), \
            self.softplus_z(self._conv("prior_scale", m.prior_scale, h))

    def prior_y(self, z_q):
        m = self.model
        h = self.from_z(z_q)
        for i, layer in enumerate(m.hyper_synthesis):
            h = np.maximum(self._conv(f"hyper_synthesis_{i}", layer, h), 0)
        return self.to_z(self._conv("hyper_syn_loc", m.hyper_syn_loc, h)), \
            self.softplus_z(self._conv("hyper_syn_scale", m.hyper_syn_scale, h))

    # lossless ------------------------------------------------------------------------------------------
    def base(self, hh: int, ww: int):
        return np.tile(self.a[PREFIX + "base"].reshape(1, 1, 1, -1), (1, hh, ww, 1))

    def block_prior(self, i: int, h):
        blk = self.model.blocks[i]
        t = self.elu(h)
        loc = self.to_z(self._conv(f"block_{i}/prior_loc", blk.prior_loc, t))
        return t, loc, self.exp_z(self._conv(f"block_{i}/prior_logscale", blk.prior_logscale, t))

    def block_generate(self, i: int, h, t, z_q):
        blk = self.model.blocks[i]
        t1 = self._conv(f"block_{i}/gen_conv1", blk.gen_conv1, t)
        u = self.elu(np.concatenate([t1, self.from_z(z_q)], -1))
        return h + self._conv(f"block_{i}/gen_conv2", blk.gen_conv2, u)

    def output_loc(self, h):
        """The mean of p(x|ẑ) in model units ·2^ACT_FRAC, clipped to ±(0.5 − 1/512) as the float model."""
        loc = self._conv("last_gen_conv", self.model.last_gen_conv, self.elu(h))
        return np.clip(loc, -LOC_MAX, LOC_MAX)

    def pixel_weights(self, loc_q):
        """(n,) integer means → (n, 256) integer weights ≥ 1 of pixel values 0..255: differences of the
        tabulated logistic CDF σ((e_j − μ)/s)·2^20 at the bin edges e_j = (j − 128)/256, outer bins to ±∞."""
        loc_q = np.asarray(loc_q, np.int64).reshape(-1, 1)
        edges = (np.arange(1, 256, dtype=np.int64) - 128) << (ACT_FRAC - 8)
        u = exact.rshift_round((edges[None, :] - loc_q) * int(self.a[PREFIX + "inv_s"][0]),
                               ACT_FRAC + INV_S_FRAC - SIG_FRAC)
        cdf = exact.lookup(self.a[PREFIX + "tab/sigmoid"], SIG_LO, u)
        n = loc_q.shape[0]
        cdf = np.concatenate([np.zeros((n, 1), np.int64), cdf, np.full((n, 1), 1 << CDF_FRAC, np.int64)], 1)
        return np.maximum(np.diff(cdf, axis=1), 1)

    def pixel_probabilities(self, loc_q):
        """Float64 probabilities for constriction: one correctly rounded division per entry (exact.normalise)."""
        return exact.normalise(self.pixel_weights(loc_q))


def split_arrays(weights: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """(float weights, integer-network arrays) of a weights.npz."""
    fl = {k: v for k, v in weights.items() if not k.startswith(PREFIX)}
    return fl, {k: v for k, v in weights.items() if k.startswith(PREFIX)}
