"""Iterative inference of the latents (y, z) for one trained model (Yang et al. 2020, survey §3).

One loop serves every method of Table 1; a method is only its *relaxation* (how ŷ, ẑ are made
differentiable during optimization), its *schedule* (learning rate, iterations, temperature, early stopping)
and its *final grid* (where the latents are rounded to before they are range-coded):

=========  ======================================================================  ==========  =====  =======
method     relaxation of v ∈ {y, z}                                                lr          its    grid
=========  ======================================================================  ==========  =====  =======
sga (M1)   stochastic Gumbel-softmax rounding, T(t) = min(max(.5 e^{-1e-3(t-700)},  0.005       2000   integer
           1e-8), .5)  (eq. 7-8 of the paper; ``II:main/sga.py``)
map (A1)   none (continuous v; rate = unit-bin likelihood at v)                     0.005       ≤2000  offset
ste (A2)   round(v) with the identity gradient                                      1e-4        ≤2000  integer
unoise(A3) v + U(-1/2, 1/2)                                                         0.005       2000   offset
danneal    deterministic soft rounding softmax(logits)·[⌊v⌋, ⌈v⌉], same logits as     0.005       2000   integer
(A4)       SGA, T(t) = min(max(e^{-0.004 t}, 1e-8), 0.2)
=========  ======================================================================  ==========  =====  =======

Objective (``rd_loss``): λ·MSE·255² + mean over images of (y_bits + z_bits)/#pixels, MSE over all elements
of the batch, x in [0, 1]; y, z start from amortized inference y₀ = g_a(x), z₀ = h_a(y₀) and are optimized
by Adam (β₁ .9, β₂ .999, ε 1e-8, bias-corrected step size, as ``II:main/adam.py``). MAP and STE stop early:
every 10 iterations the loss at the rounded latents is computed and at the first non-improvement the
previous iterate is restored and the loop stops.

Grids: ``integer`` sends round(y), round(z); ``offset`` sends ẑ = round(z) and ŷ = round(y − μ(ẑ)) + μ(ẑ)
(tfc's "dequantize" rounding with μ from the *rounded* ẑ, so that the decoder can rebuild the grid; the TF1
code used μ of the continuous z, which is not decodable — see README, Differences).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tqdm import tqdm

from .stream import GRID_IDS, METHOD_IDS, METHOD_NAMES  # noqa: F401 - re-exported: the ids written into files


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    table_id: str
    relaxation: str  # sga | danneal | ste | unoise | map | none
    lr: float
    its: int
    grid: str  # integer | offset
    early_stop: bool = False
    temperature: str = "none"  # exp0 | exp | none
    t_rate: float = 0.0
    t_ub: float = 0.5
    t0: float = 0.0
    optimize_y: bool = True  # False: y is held fixed (bits-back q fits: only q(z)'s parameters move)
    relax_z: bool = True  # False: the z variable is not relaxed (bits-back: it holds q's parameters (m, s))
    init: str = "amortized"  # amortized: y0 = g_a(x) | rounded: y0 = round(g_a(x)) (A5, A6); z0 = h_a(y0)
    q_fit: str = ""  # bits-back: the method that fits q(z|ŷ) to the final ŷ (run by encoder AND decoder)

    def temperature_at(self, t):
        """``annealed_temperature`` of ``II:main/utils.py``."""
        if self.temperature == "exp0":
            return min(max(self.t_ub * math.exp(-self.t_rate * (t - self.t0)), 1e-8), self.t_ub)
        if self.temperature == "exp":
            return min(max(math.exp(-self.t_rate * t), 1e-8), self.t_ub)
        return 1.0


METHODS = {
    "sga": Method("sga", "M1", "sga", 0.005, 2000, "integer", temperature="exp0", t_rate=1e-3, t_ub=0.5,
                  t0=700),
    "map": Method("map", "A1", "map", 0.005, 2000, "offset", early_stop=True),
    "ste": Method("ste", "A2", "ste", 1e-4, 2000, "integer", early_stop=True),
    "unoise": Method("unoise", "A3", "unoise", 0.005, 2000, "offset"),
    "danneal": Method("danneal", "A4", "danneal", 0.005, 2000, "integer", temperature="exp", t_rate=4e-3,
                      t_ub=0.2),
    # M3: no iterative inference; latents are the amortized ones on the tfc "dequantize" (offset) grid.
    "m3": Method("m3", "M3", "none", 0.0, 0, "offset"),
    # --- bits-back (model mbt2018_bb; survey §4). The z variable holds q's parameters (m, s) = h_a(·). ---
    # M2 stage 1: SGA on y, joint with (m, s), one reparameterized z sample per step; then stage 2 (q_fit).
    "bb_sga": Method("bb_sga", "M2", "sga", 0.005, 2000, "bitsback", temperature="exp0", t_rate=1e-3, t_ub=0.5,
                     t0=700, relax_z=False, q_fit="bb_sga_q"),
    # M2 stage 2: ŷ fixed, (m, s) re-initialized from h_a(ŷ), the net rate minimized, Adam 0.003, 2000 its.
    "bb_sga_q": Method("bb_sga_q", "M2", "none", 0.003, 2000, "bitsback", optimize_y=False, relax_z=False),
    # A5: ŷ = round(g_a(x)); only q is fitted (Adam 0.005, 1000 its).
    "bb_no_sga": Method("bb_no_sga", "A5", "none", 0.0, 0, "bitsback", relax_z=False, init="rounded",
                        q_fit="bb_no_sga_q"),
    "bb_no_sga_q": Method("bb_no_sga_q", "A5", "none", 0.005, 1000, "bitsback", optimize_y=False, relax_z=False),
    # A6: ŷ = round(g_a(x)), q = N(h_a(ŷ)) without optimization.
    "bb_plain": Method("bb_plain", "A6", "none", 0.0, 0, "bitsback", relax_z=False, init="rounded",
                       q_fit="bb_plain_q"),
    "bb_plain_q": Method("bb_plain_q", "A6", "none", 0.0, 0, "bitsback", optimize_y=False, relax_z=False),
}
BITS_BACK_METHODS = ("bb_sga", "bb_no_sga", "bb_plain")


def with_overrides(method: Method, its=None, lr=None, annealing_rate=None, t0=None,
                   compress_schedule=False) -> Method:
    """A copy of ``method`` with CLI overrides. ``compress_schedule`` (ours, for short runs) keeps the shape
    of the temperature schedule when ``its`` differs from the method's own count: t0 is scaled by
    its/its_orig and the annealing rate by its_orig/its."""
    kw = {}
    if annealing_rate is not None and method.temperature == "exp0":
        kw["t_rate"] = float(annealing_rate)
    if t0 is not None and method.temperature == "exp0":
        kw["t0"] = float(t0)
    if lr is not None:
        kw["lr"] = float(lr)
    if its is not None:
        kw["its"] = int(its)
        if compress_schedule and method.its > 0 and its > 0 and method.temperature != "none":
            f = method.its / float(its)
            kw["t_rate"] = kw.get("t_rate", method.t_rate) * f
            kw["t0"] = kw.get("t0", method.t0) / f
    return dataclasses.replace(method, **kw)


# --- relaxations -------------------------------------------------------------------------------------
def _soft_round_logits(v, temperature):
    """Logits (down, up) of SGA (eq. 8): −atanh(clip(distance))/T for ⌊v⌋ and ⌈v⌉."""
    eps = 1e-5
    vf, vc = tf.floor(v), tf.math.ceil(v)
    down = -tf.math.atanh(tf.clip_by_value(v - vf, -1 + eps, 1 - eps)) / temperature
    up = -tf.math.atanh(tf.clip_by_value(vc - v, -1 + eps, 1 - eps)) / temperature
    return tf.stack([down, up], axis=-1), tf.stack([vf, vc], axis=-1)


def sga_round(v, temperature, seed=None, gumbel=None):
    """Stochastic Gumbel annealing: a RelaxedOneHotCategorical(T, logits) sample r, ṽ = r·[⌊v⌋, ⌈v⌉].

    The sample is softmax((logits + Gumbel)/T), so T enters twice, as in the original. ``gumbel`` (shape
    v.shape + (2,)): use these Gumbel draws instead of sampling (parity tests replay the original's draws).
    """
    logits, grid = _soft_round_logits(v, temperature)
    if gumbel is None:
        r = tfp.distributions.RelaxedOneHotCategorical(temperature, logits=logits).sample(seed=seed)
    else:
        r = tf.nn.softmax((logits + gumbel) / temperature, axis=-1)
    return tf.reduce_sum(r * grid, axis=-1)


def deterministic_soft_round(v, temperature):
    """Deterministic annealing (A4): softmax(logits)·[⌊v⌋, ⌈v⌉] with SGA's logits, no Gumbel noise."""
    logits, grid = _soft_round_logits(v, temperature)
    return tf.reduce_sum(tf.nn.softmax(logits, axis=-1) * grid, axis=-1)


def ste_round(v):
    """round(v) forward, identity backward (``round_with_identity_STE``)."""
    return v + tf.stop_gradient(tf.round(v) - v)


def relax(kind, v, temperature, noise=None):
    """The method's relaxation of v; ``noise`` replays given draws (SGA: Gumbel, U-noise: the uniform)."""
    if kind == "sga":
        return sga_round(v, temperature, gumbel=noise)
    if kind == "danneal":
        return deterministic_soft_round(v, temperature)
    if kind == "ste":
        return ste_round(v)
    if kind == "unoise":
        return v + (tf.random.uniform(tf.shape(v), -0.5, 0.5) if noise is None else noise)
    if kind in ("map", "none"):
        return v
    raise ValueError(f"unknown relaxation {kind!r}")


# --- final grids -------------------------------------------------------------------------------------
def round_latents(model, y, z, grid):
    """Final discrete (ŷ, ẑ) on the method's grid (module docstring)."""
    if grid == "bitsback":  # ŷ on the integer grid; z holds q's parameters, coded by bits-back (bitsback.py)
        return tf.round(y), z
    z_hat = tf.round(z)
    if grid == "integer":
        return tf.round(y), z_hat
    if grid == "offset":
        mu, _ = model.side_params(z_hat, tf.shape(y))
        return tf.round(y - mu) + mu, z_hat
    raise ValueError(f"unknown grid {grid!r}")


# --- the loop ----------------------------------------------------------------------------------------
class IterativeInference:
    """Optimize (y, z) for a batch of same-size images under one method (compiled with ``tf.function``)."""

    def __init__(self, model, lmbda: float, method: Method, jit: bool = True):
        self.model, self.lmbda, self.method = model, float(lmbda), method
        self._step = tf.function(self._step_eager) if jit else self._step_eager
        self._eval = tf.function(self._eval_eager) if jit else self._eval_eager

    def _rd(self, x, y, z, seed):
        # the bits-back model samples z ~ q(z|·) inside rd_terms (seeded); MBT2018 has no randomness there
        if getattr(self.model, "is_bits_back", False):
            return self.model.rd_terms(x, y, z, seed=seed)
        # sigma bound of the objective: the original's scripts have none; pre-fix checkpoints keep 0.11
        return self.model.rd_terms(x, y, z, scale_bound=getattr(self.model, "inference_scale_bound", True))

    def objective(self, x, y, z, seed=None, num_pixels=None):
        """rd_loss = λ·MSE·255² + mean over images of bits/#pixels (also returns the parts). For a method that
        holds y fixed (bits-back q fits) the objective is the (net) rate alone and x may be None."""
        if num_pixels is None:
            num_pixels = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
        if not self.method.optimize_y:
            y_bits, z_bits, back, _ = self.model.bits(y, z, seed=seed)
            bpp = tf.reduce_mean(y_bits + z_bits - back) / num_pixels
            return bpp, bpp, tf.constant(0.0)
        _, y_bits, z_bits, mse = self._rd(x, y, z, seed)
        bpp = tf.reduce_mean(y_bits + z_bits) / num_pixels
        return self.lmbda * mse * 255.0 ** 2 + bpp, bpp, mse

    def _step_eager(self, x, y, z, state, t, lr, temperature, seed, num_pixels, noise=(None, None)):
        """One Adam step of the relaxed objective; ``state`` = (m_y, v_y, m_z, v_z); ``noise`` = given draws
        for (y, z) (parity tests), default: sampled."""
        m = self.method
        with tf.GradientTape() as tape:
            tape.watch([y, z])
            y_t = relax(m.relaxation, y, temperature, noise[0]) if m.optimize_y else y
            z_t = relax(m.relaxation, z, temperature, noise[1]) if m.relax_z else z
            loss, _, _ = self.objective(x, y_t, z_t, seed=seed, num_pixels=num_pixels)
        gy, gz = tape.gradient(loss, [y, z])
        if not m.optimize_y:
            gy = tf.zeros_like(y)
        b1, b2, eps = 0.9, 0.999, 1e-8
        t1 = tf.cast(t + 1, tf.float32)
        lr_t = lr * tf.sqrt(1.0 - b2 ** t1) / (1.0 - b1 ** t1)
        my, vy, mz, vz = state
        my = b1 * my + (1 - b1) * gy
        vy = b2 * vy + (1 - b2) * tf.square(gy)
        mz = b1 * mz + (1 - b1) * gz
        vz = b2 * vz + (1 - b2) * tf.square(gz)
        if m.optimize_y:
            y = y - lr_t * my / (tf.sqrt(vy) + eps)
        z = z - lr_t * mz / (tf.sqrt(vz) + eps)
        return y, z, (my, vy, mz, vz), loss

    def _eval_eager(self, x, y, z, num_pixels):
        y_hat, z_hat = round_latents(self.model, y, z, self.method.grid)
        loss, bpp, mse = self.objective(x, y_hat, z_hat, seed=tf.constant([7, 7], tf.int64), num_pixels=num_pixels)
        return loss, bpp, mse

    def init_latents(self, x, y_init=None):
        """y0 = g_a(x) (``amortized``), round(g_a(x)) (``rounded``) or ``y_init``; z0 = h_a(y0)."""
        if y_init is not None:
            y = tf.convert_to_tensor(y_init, tf.float32)
        else:
            y = self.model.analysis_transform(x)
            if self.method.init == "rounded":
                y = tf.round(y)
        z = self.model.hyper_analysis_transform(y)
        return y, z

    def run(self, x, progress=True, record=None, y_init=None, num_pixels=None, seed=None):
        """Optimize and return the final continuous (y, z) and a trajectory list of dicts.

        ``y_init`` starts from given latents (bits-back q fits: x may then be None and ``num_pixels`` gives
        the image size); ``seed`` (int) fixes the stateless seeds of the per-step z samples of the bits-back
        model (the q fit must be reproducible by the decoder), default: a fresh random one."""
        x = None if x is None else tf.convert_to_tensor(x, tf.float32)
        y, z = self.init_latents(x, y_init)
        m = self.method
        if m.its <= 0 or (m.relaxation == "none" and m.optimize_y):
            return y, z, []
        if num_pixels is None:
            num_pixels = int(x.shape[1]) * int(x.shape[2])
        npx = tf.constant(float(num_pixels), tf.float32)
        if seed is None:
            seed = int(np.random.randint(0, 2 ** 31 - 1))
        state = (tf.zeros_like(y), tf.zeros_like(y), tf.zeros_like(z), tf.zeros_like(z))
        lr = tf.constant(m.lr, tf.float32)
        trajectory = []
        best = None
        prev = (y, z)
        if m.early_stop:
            best = float(self._eval(x, y, z, npx)[0])
        bar = tqdm(range(m.its), desc=f"{m.name} ({m.table_id})", disable=not progress, leave=False)
        for t in bar:
            temp = tf.constant(m.temperature_at(t), tf.float32)
            step_seed = tf.constant([seed, t], tf.int64)
            y, z, state, loss = self._step(x, y, z, state, tf.constant(t, tf.int64), lr, temp, step_seed, npx)
            if (t + 1) % 10 == 0 and record is not False:
                rounded = self._eval(x, y, z, npx)
                rec = {"it": t + 1, "T": float(temp), "rd_loss": float(loss),
                       "rd_loss_after_rounding": float(rounded[0])}
                trajectory.append(rec)
                bar.set_postfix(loss=f"{rec['rd_loss']:.4f}", rounded=f"{rec['rd_loss_after_rounding']:.4f}")
                if m.early_stop:
                    if rec["rd_loss_after_rounding"] >= best:
                        y, z = prev
                        break
                    best, prev = rec["rd_loss_after_rounding"], (y, z)
        bar.close()
        if not np.all(np.isfinite(y.numpy())) or not np.all(np.isfinite(z.numpy())):
            raise FloatingPointError(f"{m.name}: latents became non-finite during optimization")
        return y, z, trajectory
