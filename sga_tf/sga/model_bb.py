"""The bits-back variant of the mean-scale hyperprior (``II:main/mbt2018_bb.py`` + ``learned_prior.py``; survey
§1 "Bits-back variant").

Generative model  z -> ỹ -> x  with

* p(z): Ballé's flexible density ("BMSHJ2018Prior", dims (3,3,3), init_scale 10): per channel a monotone
  CDF built from softplus matrices, biases and tanh factors; its **density** is the derivative of the CDF
  (no unit-bin integration), lower-bounded at 1e-9. Here: ``tfc.DeepFactorized`` (the same construction;
  its ``prob`` differentiates the CDF).
* p(ỹ|z) = N(μ, σ²) * U(−½, ½) with (μ, log σ) = h_s(z), σ ≥ 0.11 (tfc 1.3 ``GaussianConditional``) and, only
  during training, σ ≤ √10 (``variance_upperbound = 1e1``).
* p(x|ỹ) via g_s (the distortion term).

Inference model: q(ỹ|x) = U(y−½, y+½) with y = g_a(x), and a Gaussian posterior on the hyper-latent,
q(z|x) = N(m, e^{s}) with (m, s) = h_a(y) (h_a has 2N outputs). Net rate (bits, eq. of §4):

    −log₂ p(ỹ|z) − log₂ p(z) + log₂ q(z|·),   z = m + e^{s/2} ε,  ε ~ N(0, I).

g_a, g_s and h_s are the classes of :mod:`sga.model`; only h_a's output width and the prior differ.
"""

from __future__ import annotations

import json
import math

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from .model import (
    LIKELIHOOD_BOUND,
    SCALE_MIN,
    AnalysisTransform,
    HyperAnalysisTransform,
    MBT2018HyperSynthesisTransform,
    SynthesisTransform,
    check_gdn,
    check_rdft,
    config_dict,
    gaussian_conditional_likelihood,
)

VARIANCE_UPPER_BOUND = 1e1
LOG_2PI = math.log(2.0 * math.pi)


def log_normal_pdf(z, mean, logvar):
    """log N(z; mean, e^{logvar}) element-wise (nats)."""
    return -0.5 * (LOG_2PI + logvar + tf.square(z - mean) * tf.exp(-logvar))


class MBT2018BB(tf.keras.Model):
    """Bits-back mean-scale hyperprior (the model behind M2, A5, A6)."""

    is_bits_back = True

    def __init__(self, num_filters: int, scale_semantics: str = "tf1", gdn: str = "original",
                 rdft: str = "tfc1"):
        super().__init__(name="mbt2018_bb")
        if scale_semantics != "tf1":
            raise ValueError("the bits-back model is defined with the TF1 scale semantics (sigma = exp(raw)) only")
        self.num_filters = int(num_filters)
        self.scale_semantics = scale_semantics
        self.gdn = check_gdn(gdn)
        self.rdft = check_rdft(rdft)
        n = self.num_filters
        self.analysis_transform = AnalysisTransform(n, gdn, rdft)
        self.synthesis_transform = SynthesisTransform(n, gdn, rdft)
        self.hyper_analysis_transform = HyperAnalysisTransform(n, out_channels=2 * n, rdft=rdft)
        self.hyper_synthesis_transform = MBT2018HyperSynthesisTransform(n)
        self.hyperprior = tfc.DeepFactorized(batch_shape=(n,), num_filters=(3, 3, 3), init_scale=10.0)
        self._prior_vars = list(self.hyperprior.trainable_variables)
        self.training_bound = False  # σ ≤ √10 (set by the training loop only)
        self.build_all()

    def config(self) -> dict:
        return config_dict("mbt2018_bb", self.num_filters, self.scale_semantics, self.gdn, self.rdft)

    def config_json(self) -> str:
        return json.dumps(self.config(), sort_keys=True)

    def build_all(self):
        y = self.analysis_transform(tf.zeros((1, 64, 64, 3)))
        q = self.hyper_analysis_transform(y)
        self.hyper_synthesis_transform(q[..., :self.num_filters])
        self.synthesis_transform(y)

    def scale(self, raw):
        sigma = tfc.lower_bound(tf.exp(raw), SCALE_MIN)
        if self.training_bound:
            sigma = tfc.upper_bound(sigma, VARIANCE_UPPER_BOUND ** 0.5)
        return sigma

    def side_params(self, z, y_shape):
        out = self.hyper_synthesis_transform(z)[:, :y_shape[1], :y_shape[2], :]
        mu, raw = tf.split(out, 2, axis=-1)
        return mu, self.scale(raw)

    def posterior(self, y):
        """(m, s) of q(z|·) = N(m, e^s) from h_a(y), concatenated on the channel axis (2N channels)."""
        return self.hyper_analysis_transform(y)

    def split_posterior(self, q):
        return tf.split(q, 2, axis=-1)

    def z_density(self, z):
        """p(z): the flexible prior's density (derivative of its CDF), lower-bounded at 1e-9."""
        return tfc.lower_bound(self.hyperprior.prob(z), LIKELIHOOD_BOUND)

    def bits(self, y, q, seed=None, eps=None):
        """Per-image (y bits, z bits, bits back) for latents y and posterior parameters q = (m, s), with one
        reparameterized sample z = m + e^{s/2} ε (``seed``: stateless seed, shape [2]). Also returns z."""
        m, s = self.split_posterior(q)
        if eps is None:
            eps = (tf.random.normal(tf.shape(m)) if seed is None
                   else tf.random.stateless_normal(tf.shape(m), seed=seed))
        z = m + tf.exp(0.5 * s) * eps
        ln2 = tf.constant(math.log(2.0), y.dtype)
        back = tf.reduce_sum(-log_normal_pdf(z, m, s), axis=(1, 2, 3)) / ln2
        z_bits = tf.reduce_sum(-tf.math.log(self.z_density(z)), axis=(1, 2, 3)) / ln2
        mu, sigma = self.side_params(z, tf.shape(y))
        y_bits = tf.reduce_sum(-tf.math.log(gaussian_conditional_likelihood(y, mu, sigma)), axis=(1, 2, 3)) / ln2
        return y_bits, z_bits, back, z

    def rd_terms(self, x, y, q, seed=None):
        """(x_hat, y bits, net z bits = z bits − bits back, mse): the interface of :meth:`MBT2018.rd_terms`,
        so the shared inference loop optimizes (y, q) of this model unchanged."""
        y_bits, z_bits, back, _ = self.bits(y, q, seed=seed)
        x_hat = self.synthesis_transform(y)[:, :tf.shape(x)[1], :tf.shape(x)[2], :]
        mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat))
        return x_hat, y_bits, z_bits - back, mse


def parameter_count(model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
