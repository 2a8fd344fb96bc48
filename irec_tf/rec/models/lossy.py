"""``large_level_2_vae``: the two-level lossy VAE of iREC (``Large2LevelVAE``; survey §1b).

Shapes for an H×W input (H, W multiples of 64): y (level 1) is H/16 × W/16 × N, z (level 2) is
H/64 × W/64 × M, with N = ``level_1_filters`` (196) and M = ``level_2_filters`` (128). Input x ∈ [0, 1].

* q(y|x) stats: [conv5×5/2↓ N, GDN]×3 → heads conv5×5/2↓ N (loc_x, logscale_x)
* q(z|x):        conv3×3 M, ReLU; conv5×5/2↓ M, ReLU; heads conv5×5/2↓ M without bias (loc, softplus scale)
* p(z):          learned ``prior_base`` tiled → conv3×3 M, ELU → loc conv3×3 M; scale softplus(conv3×3 M)
* p(y|z):        deconv5×5/2↑ M, ReLU ×2 → heads deconv3×3 N (loc_p, softplus scale_p)
* q(y|x,z):      loc = conv1×1 N(elu[loc_x, loc_p]); scale = softplus(conv1×1 N(elu[logscale_x, logscale_p]))
* p(x|y):        [deconv5×5/2↑ N, IGDN]×3 → deconv5×5/2↑ 3 (not clipped; clipped to [0,1] for metrics)

The rate is KL₁ + KL₂ (analytic Gaussian KLs), the loss β·distortion + (KL₁+KL₂)/(H·W·ln 2).

Coding an image of more than :data:`TILE_ABOVE` padded pixels runs q(y|x)'s analysis and p(x|y)'s synthesis
on overlapping tiles (:mod:`shared_data.tiling`; issue 17, bounded memory): the rest works at 1/16 or 1/64
scale and stays whole.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .layers import GDN, SignalConv2D
from .layers import sample_noise as _eps

SCALE_EPS = 1e-7

#: Tiling: above TILE_ABOVE padded pixels (2^22, 2048x2048) the analysis and synthesis transforms run on tiles
#: of TILE x TILE level-1 latents (16·TILE pixels a side) grown by ENC_MARGIN / DEC_MARGIN latents each side
#: and cropped after the network. Their receptive fields are ±30 px (four 5×5/2↓ convolutions: 2·(1+2+4+8)) and
#: about ±2.3 latents (four 5×5/2↑, each ±1.25 input cells, plus the reflect padding of the original's
#: up-convolution), so a margin of 4 latents gives the untiled values up to float rounding
#: (tests/test_tiling.py; a margin of 0 does not). Smaller images (goldens, Kodak, zoo references) are untiled.
TILE_ABOVE = 1 << 22
TILE = 64
ENC_MARGIN = 4
DEC_MARGIN = 4


def _softplus(x):
    return tf.nn.softplus(x) + SCALE_EPS


def gaussian_kl(q_loc, q_scale, p_loc, p_scale):
    return (tf.math.log(p_scale / q_scale) + (tf.square(q_scale) + tf.square(q_loc - p_loc))
            / (2.0 * tf.square(p_scale)) - 0.5)


def _f32(*ts):
    return tuple(tf.cast(t, tf.float32) for t in ts)


class Large2LevelVAE(tf.keras.Model):
    """Two-level VAE; ``call`` returns (x̂, KL₁, KL₂) with KLs summed per image and averaged over the batch."""

    downsampling = 64

    def __init__(self, level_1_filters=196, level_2_filters=128, layer_flavour="original",
                 name="large_level_2_vae", **kw):
        super().__init__(name=name, **kw)
        N, M = level_1_filters, level_2_filters
        self.level_1_filters, self.level_2_filters = N, M
        self.layer_flavour = layer_flavour
        self.tile_above, self.tile, self.enc_margin, self.dec_margin = TILE_ABOVE, TILE, ENC_MARGIN, DEC_MARGIN

        def conv(filters, k, mode, name, use_bias=True, rdft=True, initializer="variance_scaling"):
            return SignalConv2D(filters, k, mode, use_bias=use_bias, flavour=layer_flavour, rdft=rdft,
                                initializer=initializer, name=name)

        self.analysis = [conv(N, 5, "down", f"analysis_conv_{i}") for i in range(3)]
        self.analysis_gdn = [GDN(name=f"analysis_gdn_{i}") for i in range(3)]
        self.analysis_loc = conv(N, 5, "down", "analysis_loc")
        self.analysis_logscale = conv(N, 5, "down", "analysis_logscale")
        self.hyper_analysis = [conv(M, 3, "same", "hyper_analysis_0"), conv(M, 5, "down", "hyper_analysis_1")]
        self.hyper_loc = conv(M, 5, "down", "hyper_analysis_loc", use_bias=False)
        self.hyper_scale = conv(M, 5, "down", "hyper_analysis_scale", use_bias=False)
        self.prior_conv = conv(M, 3, "same", "prior_conv")
        self.prior_loc = conv(M, 3, "same", "prior_loc")
        self.prior_scale = conv(M, 3, "same", "prior_scale")
        # the original's hyper-synthesis has dft_kernel_parametrization=False; its heads are stride-1
        # "convolutions" (corr=False), i.e. correlations with the flipped kernel (import_original flips)
        self.hyper_synthesis = [conv(M, 5, "up", f"hyper_synthesis_{i}", rdft=False) for i in range(2)]
        self.hyper_syn_loc = conv(N, 3, "same", "hyper_synthesis_loc", rdft=False)
        self.hyper_syn_scale = conv(N, 3, "same", "hyper_synthesis_scale", rdft=False)
        # the original's 1×1 combiners are plain Keras Conv2D (glorot_uniform)
        comb = "glorot_uniform" if layer_flavour == "original" else "variance_scaling"
        self.post_loc = conv(N, 1, "same", "posterior_loc", initializer=comb)
        self.post_scale = conv(N, 1, "same", "posterior_scale", initializer=comb)
        self.synthesis = [conv(N, 5, "up", f"synthesis_conv_{i}") for i in range(3)]
        self.synthesis_igdn = [GDN(inverse=True, name=f"synthesis_igdn_{i}") for i in range(3)]
        self.synthesis_out = conv(3, 5, "up", "synthesis_out")
        # the original initialises the learned level-2 prior input at zeros; legacy models drew N(0, 0.1²)
        base = (tf.zeros((1, 1, 1, M)) if layer_flavour == "original"
                else tf.random.normal((1, 1, 1, M), stddev=0.1))
        self.prior_base = tf.Variable(base, name="prior_base")

    # --- the pieces -----------------------------------------------------------------------------------
    def infer_y_stats(self, x):
        h = x
        for conv, gdn in zip(self.analysis, self.analysis_gdn):
            h = gdn(conv(h))
        return self.analysis_loc(h), self.analysis_logscale(h)

    def posterior_z(self, loc_x):
        h = tf.nn.relu(self.hyper_analysis[0](loc_x))
        h = tf.nn.relu(self.hyper_analysis[1](h))
        return self.hyper_loc(h), _softplus(self.hyper_scale(h))

    def prior_z(self, batch, hz, wz):
        h = tf.tile(self.prior_base, [batch, hz, wz, 1])
        h = tf.nn.elu(self.prior_conv(h))
        return self.prior_loc(h), _softplus(self.prior_scale(h))

    def prior_y(self, z):
        h = z
        for conv in self.hyper_synthesis:
            h = tf.nn.relu(conv(h))
        loc_p, logscale_p = self.hyper_syn_loc(h), self.hyper_syn_scale(h)
        return loc_p, logscale_p, _softplus(logscale_p)

    def posterior_y(self, loc_x, logscale_x, loc_p, logscale_p):
        loc = self.post_loc(tf.nn.elu(tf.concat([loc_x, loc_p], -1)))
        scale = _softplus(self.post_scale(tf.nn.elu(tf.concat([logscale_x, logscale_p], -1))))
        return loc, scale

    def synthesize(self, y):
        h = y
        for conv, igdn in zip(self.synthesis, self.synthesis_igdn):
            h = igdn(conv(h))
        return self.synthesis_out(h)

    # --- the pieces on huge images: overlapping tiles (coding only; training sees crops) -------------------
    def analysis_stats(self, x):
        """:meth:`infer_y_stats` of a (1, H, W, 3) image, on tiles above :attr:`tile_above` pixels."""
        from shared_data.tiling import run_tiled

        H, W = int(x.shape[1]), int(x.shape[2])
        if H * W <= self.tile_above:
            return self.infer_y_stats(x)
        loc, logscale = run_tiled(lambda t: tuple(v.numpy() for v in self.infer_y_stats(tf.constant(t))),
                                  np.asarray(x), (H // 16, W // 16), self.tile, self.enc_margin, in_scale=16)
        return tf.constant(loc), tf.constant(logscale)

    def synthesize_image(self, y):
        """:meth:`synthesize` of (1, h, w, N) latents, on tiles above :attr:`tile_above` output pixels."""
        from shared_data.tiling import run_tiled

        h, w = int(y.shape[1]), int(y.shape[2])
        if h * w * 256 <= self.tile_above:
            return self.synthesize(y)
        (x_hat,) = run_tiled(lambda t: self.synthesize(tf.constant(t)).numpy(), np.asarray(y), (h, w), self.tile,
                             self.dec_margin, out_scale=16)
        return tf.constant(x_hat)

    # --- training / ideal pass ------------------------------------------------------------------------
    def call(self, x, training=False, noise=None):
        """``noise``: optional (ε_z, ε_y) standard normals for the two reparameterised samples (the
        parity test feeds the original's), or a function ``noise(i, shape)`` giving the i-th of them
        (distributed training: :func:`rec.distribute.replica_noise`)."""
        # _f32: float32 outputs of each piece (no-ops in float32; under a mixed bf16 policy, training only,
        # the convolutions compute in bf16 and the samples and KLs stay float32)
        loc_x, logscale_x = _f32(*self.infer_y_stats(x))
        qz_loc, qz_scale = _f32(*self.posterior_z(loc_x))
        b, hz, wz = tf.shape(qz_loc)[0], tf.shape(qz_loc)[1], tf.shape(qz_loc)[2]
        pz_loc, pz_scale = _f32(*self.prior_z(b, hz, wz))
        z = qz_loc + qz_scale * _eps(noise, 0, tf.shape(qz_loc))
        loc_p, logscale_p, scale_p = _f32(*self.prior_y(z))
        qy_loc, qy_scale = _f32(*self.posterior_y(loc_x, logscale_x, loc_p, logscale_p))
        y = qy_loc + qy_scale * _eps(noise, 1, tf.shape(qy_loc))
        (x_hat,) = _f32(self.synthesize(y))
        kl1 = tf.reduce_mean(tf.reduce_sum(gaussian_kl(qy_loc, qy_scale, loc_p, scale_p), [1, 2, 3]))
        kl2 = tf.reduce_mean(tf.reduce_sum(gaussian_kl(qz_loc, qz_scale, pz_loc, pz_scale), [1, 2, 3]))
        return x_hat, kl1, kl2

    # --- relative entropy coding (sequential over levels: z first, then y given ẑ) ---------------------
    def rec_encode(self, x, coder, progress=None):
        """Code one image x (1, H, W, 3) ∈ [0,1]. Returns (x̂, [LevelCode z, LevelCode y], [LevelStats …])."""
        loc_x, logscale_x = self.analysis_stats(x)
        qz_loc, qz_scale = self.posterior_z(loc_x)
        pz_loc, pz_scale = self.prior_z(1, qz_loc.shape[1], qz_loc.shape[2])
        z, code_z, st_z = coder.encode(qz_loc.numpy(), qz_scale.numpy(), pz_loc.numpy(), pz_scale.numpy(),
                                       level=0, progress=progress)
        z = tf.constant(z.astype(np.float32))
        loc_p, logscale_p, scale_p = self.prior_y(z)
        qy_loc, qy_scale = self.posterior_y(loc_x, logscale_x, loc_p, logscale_p)
        y, code_y, st_y = coder.encode(qy_loc.numpy(), qy_scale.numpy(), loc_p.numpy(), scale_p.numpy(),
                                       level=1, progress=progress)
        x_hat = self.synthesize_image(tf.constant(y.astype(np.float32)))
        return x_hat, [code_z, code_y], [st_z, st_y]

    def rec_decode(self, codes, coder, height, width):
        """Inverse of :meth:`rec_encode` for a padded H×W image (multiples of 64)."""
        hz, wz = height // 64, width // 64
        pz_loc, pz_scale = self.prior_z(1, hz, wz)
        z = coder.decode(pz_loc.numpy(), pz_scale.numpy(), codes[0], level=0)
        loc_p, _, scale_p = self.prior_y(tf.constant(z.astype(np.float32)))
        y = coder.decode(loc_p.numpy(), scale_p.numpy(), codes[1], level=1)
        return self.synthesize_image(tf.constant(y.astype(np.float32)))

    # --- the portable path: priors from the integer network, exact integer samples (rec.portable) -----
    def rec_encode_exact(self, x, coder, intnet, progress=None):
        """As :meth:`rec_encode`, but p(z) and p(y|ẑ) come from ``intnet`` and ẑ, ŷ are int64 ·2^Z_FRAC.
        The posteriors stay float (they only steer the search). Returns (x̂, codes, stats, [ẑ_q, ŷ_q])."""
        loc_x, logscale_x = self.analysis_stats(x)
        qz_loc, qz_scale = self.posterior_z(loc_x)
        pz_loc, pz_scale = intnet.prior_z(qz_loc.shape[1], qz_loc.shape[2])
        z_q, code_z, st_z = coder.encode(qz_loc.numpy(), qz_scale.numpy(), pz_loc, pz_scale, level=0,
                                         progress=progress, exact=True)
        loc_p, logscale_p, _ = self.prior_y(_dequant(z_q))
        qy_loc, qy_scale = self.posterior_y(loc_x, logscale_x, loc_p, logscale_p)
        py_loc, py_scale = intnet.prior_y(z_q)
        y_q, code_y, st_y = coder.encode(qy_loc.numpy(), qy_scale.numpy(), py_loc, py_scale, level=1,
                                         progress=progress, exact=True)
        return self.synthesize_image(_dequant(y_q)), [code_z, code_y], [st_z, st_y], [z_q, y_q]

    def rec_decode_exact(self, codes, coder, intnet, height, width):
        """Inverse of :meth:`rec_encode_exact`: (x̂ from the float synthesis, [ẑ_q, ŷ_q] exact)."""
        from ..coding.beam_search import decode_exact

        pz_loc, pz_scale = intnet.prior_z(height // 64, width // 64)
        z_q = decode_exact(coder, pz_loc, pz_scale, codes[0], level=0)
        py_loc, py_scale = intnet.prior_y(z_q)
        y_q = decode_exact(coder, py_loc, py_scale, codes[1], level=1)
        return self.synthesize_image(_dequant(y_q)), [z_q, y_q]

    def num_levels(self):
        return 2


def _dequant(v_q):
    from ..coding.beam_search import Z_FRAC

    return tf.constant((np.asarray(v_q, np.float64) * 2.0 ** -Z_FRAC).astype(np.float32))
