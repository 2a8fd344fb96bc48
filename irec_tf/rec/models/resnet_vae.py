"""``resnet_vae``: the bidirectional ResNet VAE used by iREC for lossless coding (survey §1a; Kingma et al. 2016,
as in HiLLoC). ``num_res_blocks`` = 24 in the paper, 160 deterministic and 32 stochastic filters.

Data x ∈ [−0.5, 0.5] (``(pixel + 0.5)/256 − 0.5``). For an H×W input every level is H/2 × W/2 × 32
(24 × 16×16×32 = 196,608 latent dims for 32×32).

* Inference (bottom-up): first conv 5×5/2 → blocks in reverse order; block i gives q-loc_i, q-logscale_i
  from elu(h) and (except block 0) h ← h + 0.1·conv(elu(conv(elu(h)))).
* Generative (top-down): h₀ = learned vector tiled; block i: t = elu(h); prior N(conv(t), exp(conv(t)));
  posterior N(q_loc_i + conv(t), exp(q_logscale_i + conv(t))) (inference and generative statistics summed);
  z ~ posterior; h ← h + 0.1·conv(elu([conv(t), z])).
* Output: elu(h) → deconv 5×5/2 → 3 channels, clipped to [−0.5 + 1/512, 0.5 − 1/512]; likelihood: the
  discretized logistic with one learned global log-scale and bin 1/256.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .layers import WNConv2D
from .layers import sample_noise as _eps

BIN = 1.0 / 256.0


def gaussian_kl(q_loc, q_scale, p_loc, p_scale):
    return (tf.math.log(p_scale / q_scale) + (tf.square(q_scale) + tf.square(q_loc - p_loc))
            / (2.0 * tf.square(p_scale)) - 0.5)


def to_model_range(pixels):
    """uint8 pixels → x ∈ [−0.5, 0.5] as in the original's datasets.py: clip((p + 0.5)/256, 0, 1) − 0.5."""
    return tf.clip_by_value((tf.cast(pixels, tf.float32) + 0.5) / 256.0, 0.0, 1.0) - 0.5


LIKELIHOOD_FORMS = ("stable", "original")


def discretized_logistic_log_likelihood(x, loc, log_scale, form="stable"):
    """Σ log[σ((⌊x/b⌋b − μ + b)/s) − σ((⌊x/b⌋b − μ)/s) + 1e-7] per image (the training objective).

    ``form="original"`` evaluates it as the original does (σ(hi) − σ(lo) in float32: NaN once the learned
    scale is small); ``"stable"`` (default) takes the same difference on the tail side."""
    s = tf.exp(log_scale)
    xb = tf.floor(x / BIN) * BIN
    if form == "original":
        d = (xb - loc) / s
        p = tf.nn.sigmoid(d + BIN / s) - tf.nn.sigmoid(d)
        return tf.reduce_sum(tf.math.log(p + 1e-7), axis=[1, 2, 3])
    if form != "stable":
        raise ValueError(f"likelihood_form {form!r}: use one of {LIKELIHOOD_FORMS}")
    hi, lo = (xb - loc + BIN) / s, (xb - loc) / s
    # σ(hi) − σ(lo) computed on the side where the sigmoids are small (σ(−lo) − σ(−hi) above the mean):
    # the same value, but float32 no longer rounds it to 0 or below (which gave NaN with small scales)
    p = tf.where(hi + lo > 0, tf.sigmoid(-lo) - tf.sigmoid(-hi), tf.sigmoid(hi) - tf.sigmoid(lo))
    return tf.reduce_sum(tf.math.log(tf.maximum(p, 0.0) + 1e-7), axis=[1, 2, 3])


class ResidualBlock(tf.keras.layers.Layer):
    """One ``BidirectionalResidualBlock``: inference statistics, prior, summed posterior, generative update."""

    def __init__(self, deterministic_filters=160, stochastic_filters=32, first=False, **kw):
        super().__init__(**kw)
        D, S = deterministic_filters, stochastic_filters
        self.first = first
        self.infer_loc = WNConv2D(S, 3, name="infer_q_loc")
        self.infer_logscale = WNConv2D(S, 3, name="infer_q_logscale")
        if not first:
            self.infer_conv1 = WNConv2D(D, 3, name="infer_conv1")
            self.infer_conv2 = WNConv2D(D, 3, name="infer_conv2")
        self.prior_loc = WNConv2D(S, 3, name="prior_loc")
        self.prior_logscale = WNConv2D(S, 3, name="prior_logscale")
        self.post_loc = WNConv2D(S, 3, name="gen_q_loc")
        self.post_logscale = WNConv2D(S, 3, name="gen_q_logscale")
        self.gen_conv1 = WNConv2D(D, 3, name="gen_conv1")
        self.gen_conv2 = WNConv2D(D, 3, name="gen_conv2")

    def infer(self, h):
        t = tf.nn.elu(h)
        q = (self.infer_loc(t), self.infer_logscale(t))
        if not self.first:
            t = self.infer_conv2(tf.nn.elu(self.infer_conv1(t)))
            h = h + 0.1 * t
        return h, q

    def distributions(self, h, q_stats):
        t = tf.nn.elu(h)
        p = (self.prior_loc(t), tf.exp(self.prior_logscale(t)))
        q = (q_stats[0] + self.post_loc(t), tf.exp(q_stats[1] + self.post_logscale(t)))
        return t, p, q

    def generate(self, h, t, z):
        t = self.gen_conv1(t)
        t = self.gen_conv2(tf.nn.elu(tf.concat([t, z], -1)))
        return h + 0.1 * t


class BidirectionalResNetVAE(tf.keras.Model):
    """``call(pixels)`` returns (reconstruction mean in [0,1], log p(x|z) per image, list of per-block KLs)."""

    downsampling = 2

    def __init__(self, num_res_blocks=24, deterministic_filters=160, stochastic_filters=32,
                 lamb=0.1, likelihood_log_scale_init=0.0, likelihood_form="stable", name="resnet_vae", **kw):
        super().__init__(name=name, **kw)
        if likelihood_form not in LIKELIHOOD_FORMS:
            raise ValueError(f"likelihood_form {likelihood_form!r}: use one of {LIKELIHOOD_FORMS}")
        self.likelihood_form = likelihood_form
        self.num_res_blocks, self.lamb = num_res_blocks, lamb
        self.deterministic_filters, self.stochastic_filters = deterministic_filters, stochastic_filters
        self.first_infer_conv = WNConv2D(deterministic_filters, 5, strides=2, name="first_infer_conv")
        self.blocks = [ResidualBlock(deterministic_filters, stochastic_filters, first=(i == 0),
                                     name=f"block_{i}") for i in range(num_res_blocks)]
        self.last_gen_conv = WNConv2D(3, 5, strides=2, transpose=True, name="last_gen_conv")
        self.generative_base = tf.Variable(tf.zeros((deterministic_filters,)), name="generative_base")
        self.likelihood_log_scale = tf.Variable(float(likelihood_log_scale_init), name="likelihood_log_scale")

    def inference_pass(self, x):
        h = self.first_infer_conv(x)
        stats = [None] * self.num_res_blocks
        for i in reversed(range(self.num_res_blocks)):
            h, stats[i] = self.blocks[i].infer(h)
        return stats

    def _base(self, b, hh, ww):
        return tf.tile(tf.reshape(self.generative_base, (1, 1, 1, -1)), [b, hh, ww, 1])

    def output_loc(self, h):
        loc = self.last_gen_conv(tf.nn.elu(h))
        return tf.clip_by_value(loc, -0.5 + 1.0 / 512, 0.5 - 1.0 / 512)

    def call(self, pixels, training=False, noise=None):
        """``noise``: optional list of per-block standard normals for the posterior samples (the parity
        test feeds the original's), or a function ``noise(i, shape)`` giving block i's (distributed
        training: :func:`rec.distribute.replica_noise`)."""
        x = to_model_range(pixels)
        stats = self.inference_pass(x)
        b, hh, ww = tf.shape(stats[0][0])[0], tf.shape(stats[0][0])[1], tf.shape(stats[0][0])[2]
        h = self._base(b, hh, ww)
        kls = []
        for i, (block, q_stats) in enumerate(zip(self.blocks, stats)):
            # the original's very first (init) call samples each block's z from the prior
            init = tf.executing_eagerly() and (not block.prior_loc.built
                                               or float(block.prior_loc.initialized.numpy()) == 0.0)
            t, (pl, ps), (ql, qs) = block.distributions(h, q_stats)
            eps = _eps(noise, i, tf.shape(ql))
            z = pl + ps * eps if init else ql + qs * eps
            if training:  # single-sample empirical KL for training
                kl = (-tf.math.log(qs) - 0.5 * tf.square((z - ql) / qs)
                      + tf.math.log(ps) + 0.5 * tf.square((z - pl) / ps))
            else:
                kl = gaussian_kl(ql, qs, pl, ps)
            kls.append(kl)
            h = block.generate(h, t, z)
        loc = self.output_loc(h)
        ll = discretized_logistic_log_likelihood(x, loc, self.likelihood_log_scale, self.likelihood_form)
        return loc + 0.5, ll, kls

    def free_bits_kl(self, kls, batch_mean=None):
        """Per block: sum over H, W; mean over batch; per-channel max(KL_c, λ); sum over channels.
        ``batch_mean``: the batch mean of the (b, C) per-example sums (distributed training: the global batch's)."""
        total = 0.0
        for kl in kls:
            kc = tf.reduce_mean(tf.reduce_sum(kl, [1, 2]), 0) if batch_mean is None else batch_mean(tf.reduce_sum(kl, [1, 2]))
            total += tf.reduce_sum(tf.maximum(kc, self.lamb))
        return total

    # --- relative entropy coding: 24 levels, each coded given the prior from the levels above ----------
    def rec_encode(self, pixels, coder, progress=None):
        x = to_model_range(pixels)
        stats = self.inference_pass(x)
        h = self._base(1, stats[0][0].shape[1], stats[0][0].shape[2])
        codes, st = [], []
        for i, (block, q_stats) in enumerate(zip(self.blocks, stats)):
            t, (pl, ps), (ql, qs) = block.distributions(h, q_stats)
            z, code, s = coder.encode(ql.numpy(), qs.numpy(), pl.numpy(), ps.numpy(), level=i)
            codes.append(code)
            st.append(s)
            h = block.generate(h, t, tf.constant(z.astype(np.float32)))
            if progress is not None:
                progress(i)
        return self.output_loc(h), codes, st

    def rec_decode(self, codes, coder, height, width):
        h = self._base(1, height // 2, width // 2)
        for i, block in enumerate(self.blocks):
            t = tf.nn.elu(h)
            pl, ps = block.prior_loc(t), tf.exp(block.prior_logscale(t))
            z = coder.decode(pl.numpy(), ps.numpy(), codes[i], level=i)
            h = block.generate(h, t, tf.constant(z.astype(np.float32)))
        return self.output_loc(h)

    # --- the portable path (rec.portable): the generative chain runs in the integer network --------------
    def rec_encode_exact(self, pixels, coder, intnet, progress=None):
        """As :meth:`rec_encode`, with every prior, the deterministic state h and the output mean from
        ``intnet`` (exact) and the float posterior fed with the integer state. Returns (loc_q ·2^ACT_FRAC,
        codes, stats, [ẑ_q per level])."""
        from ..portable import ACT_FRAC

        x = to_model_range(pixels)
        stats = self.inference_pass(x)
        h = intnet.base(stats[0][0].shape[1], stats[0][0].shape[2])
        codes, st, zs = [], [], []
        for i, (block, q_stats) in enumerate(zip(self.blocks, stats)):
            t_q, pl, ps = intnet.block_prior(i, h)
            t = tf.constant((t_q * 2.0 ** -ACT_FRAC).astype(np.float32))
            ql = q_stats[0] + block.post_loc(t)
            qs = tf.exp(q_stats[1] + block.post_logscale(t))
            z_q, code, s = coder.encode(ql.numpy(), qs.numpy(), pl, ps, level=i, exact=True)
            codes.append(code)
            st.append(s)
            zs.append(z_q)
            h = intnet.block_generate(i, h, t_q, z_q)
            if progress is not None:
                progress(i)
        return intnet.output_loc(h), codes, st, zs

    def rec_decode_exact(self, codes, coder, intnet, height, width):
        from ..coding.beam_search import decode_exact

        h = intnet.base(height // 2, width // 2)
        zs = []
        for i in range(self.num_res_blocks):
            t_q, pl, ps = intnet.block_prior(i, h)
            z_q = decode_exact(coder, pl, ps, codes[i], level=i)
            zs.append(z_q)
            h = intnet.block_generate(i, h, t_q, z_q)
        return intnet.output_loc(h), zs

    def num_levels(self):
        return self.num_res_blocks
