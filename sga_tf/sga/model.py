"""The mean-scale hyperprior of Minnen et al. 2018 without context model, as used by Yang et al. 2020 (survey
§1; ``II:main/nn_models.py`` and ``II:main/mbt2018.py``), on tensorflow-compression 2.14.

Transforms (N = M = ``num_filters``)::

    g_a : x (in [0,1]) -> y      4 x [conv 5x5/2, N] with GDN after the first three
    g_s : y -> x_hat            4 x [deconv 5x5/2] with IGDN after the first three, last has 3 channels
    h_a : y -> z                conv 3x3/1 N ReLU, conv 5x5/2 N ReLU, conv 5x5/2 N (no bias); takes y, not |y|
    h_s : z -> (mu, sigma)      deconv 5x5/2 N ReLU, deconv 5x5/2 1.5N ReLU, deconv 3x3/1 2N -> split

Entropy models:

* z: a non-parametric factorized density ("EntropyBottleneck", Ballé et al. 2018, appendix 6.1): tfc's
  ``NoisyDeepFactorized`` (filters (3,3,3), init_scale 10), i.e. the deep-factorized density convolved with
  U(-1/2, 1/2); its density at z is the unit-bin probability P(z) = c(z+1/2) - c(z-1/2).
* y: Gaussian conditional p(y|z) = N(mu, sigma^2) * U(-1/2, 1/2), evaluated as
  Phi((1/2 - |y-mu|)/sigma) - Phi((-1/2 - |y-mu|)/sigma) (tfc 1.3 ``GaussianConditional._likelihood``).
  Both likelihoods are lower-bounded at 1e-9 with the "identity_if_towards" gradient.

GDN flavour (``gdn``, stored in ``args.json``; a checkpoint without the field is ``"simplified"``):

* ``"original"`` (default for new models; ``II:main`` on tfc 1.3, Ballé et al. 2016): y_i = x_i / sqrt(β_i +
  Σ_j γ_ji x_j²), IGDN x_i · sqrt(β_i + Σ_j γ_ji x_j²) — tfc 2's ``GDN(alpha_parameter=2, epsilon_parameter=.5)``.
  β, γ are reparameterized as in tfc 1.3 (square-root, offset 2^-18, β ≥ 1e-6, γ ≥ 0, init β=1, γ=0.1·I).
* ``"simplified"`` (tfc 2.14's defaults, Johnston et al. 2019): x_i / (β_i + Σ_j γ_ji |x_j|). The committed
  zoo/mini models and test fixtures before the fix were trained with it and keep decoding with it.

RDFT kernel parameterization (``rdft``, stored in ``args.json``; no field: ``"tfc2"``): the analysis,
synthesis and hyper-analysis kernels are trained in the real-DFT domain. ``"tfc1"`` (default for new models):
tfc 1.3's orthonormal real-DFT basis, one variable per kernel (``TF1RDFTParameter``), so that Adam takes the
original's steps; ``"tfc2"``: tfc 2's ``RDFTParameter`` (rfft2d real/imag parts), the pre-fix zoo models.

Scale semantics (``scale_semantics``):

* ``"tf1"`` (default; the one the published numbers came from): sigma = max(exp(raw), 0.11) where raw is the
  second half of h_s's output; the range coder uses the smallest entry of the 64-entry scale table
  exp(linspace(log .11, log 256, 64)) that is >= sigma (tfc 1.3 behaviour).
* ``"tf2"`` (``II:tf2``): exp(raw) is a continuous *index* into that table: sigma = scale_fn(clip(exp(raw),
  0, 63)), scale_fn(i) = exp(log .11 + i (log 256 - log .11)/63).

ẑ grid of the hard quantization (``z_grid``, a model attribute, not saved; issue 18, README difference 15):

* ``"integer"`` (default; what every coded file and golden uses): ẑ = round(z).
* ``"median"`` (the originals' M3): ẑ = round(z − m) + m, μ, σ then taken from that ẑ. ``II:main`` (tfc 1.3
  ``EntropyBottleneck`` "dequantize") uses the learned medians m = ``quantiles[:, 0, 1]`` (set ``z_medians``
  from the TF1 checkpoint); with ``z_medians`` None m is tfc 2's ``quantization_offset`` of the prior
  (``II:tf2``'s ``ContinuousBatchedEntropyModel``: the density's median, shifted into [−½, ½]). Model-side
  only: this project's z coder tables are on the integers, so files are written with the integer grid.

Likelihoods of :meth:`MBT2018.rd_terms` (``likelihoods``, a model attribute, not saved): ``"tfc1"`` (default,
``II:main``): P(ỹ|z̃) and P(z̃) in the linear domain, lower-bounded at 1e-9 (tfc 1.3); ``"tfc2"``
(``II:tf2``, set by ``sga.tf2_import``): ``log_prob`` of tfc 2's ``NoisyNormal`` / the noisy prior, no bound. They
differ only where a probability is below 1e-9 (issue 18: 1.8 % of the y bits of the tf2 parity fixture's
training pass, whose σ ≈ 0.12 at initialization).
"""

from __future__ import annotations

import json
import math

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

SCALE_MIN, SCALE_MAX, NUM_SCALES = 0.11, 256.0, 64
LIKELIHOOD_BOUND = 1e-9


def scale_table() -> np.ndarray:
    """exp(linspace(log 0.11, log 256, 64)) — the tfc 1.3 / II scale table."""
    return np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), NUM_SCALES))


GDN_FLAVOURS = ("original", "simplified")
LEGACY_GDN = "simplified"  # what a checkpoint without a "gdn" field was trained with


def check_gdn(gdn: str) -> str:
    if gdn not in GDN_FLAVOURS:
        raise ValueError(f"gdn must be 'original' or 'simplified', got {gdn!r}")
    return gdn


def gdn_layer(name: str, gdn: str, inverse: bool = False):
    """A (I)GDN layer of the given flavour (module docstring)."""
    if check_gdn(gdn) == "original":
        return tfc.GDN(inverse=inverse, alpha_parameter=2, epsilon_parameter=0.5, name=name)
    return tfc.GDN(inverse=inverse, name=name)


RDFT_FLAVOURS = ("tfc1", "tfc2")
LEGACY_RDFT = "tfc2"  # what a checkpoint without an "rdft" field was trained with


def check_rdft(rdft: str) -> str:
    if rdft not in RDFT_FLAVOURS:
        raise ValueError(f"rdft must be 'tfc1' or 'tfc2', got {rdft!r}")
    return rdft


class TF1RDFTParameter(tfc.Parameter):
    """tfc 1.3's RDFT kernel parameterization (``RDFTParameterizer``): one variable ``rdft`` of shape
    (kh·kw, c_in·c_out) holding the kernel's coefficients in the orthonormal real-DFT basis M,
    kernel = reshape(M · rdft). tfc 2's ``RDFTParameter`` stores the (real, imag) parts of rfft2d / √(kh·kw)
    instead: the same kernels, but another basis, so Adam (element-wise) takes different steps in it."""

    def __init__(self, initial_value, name=None):
        super().__init__(name=name)
        from .tf1_import import irdft_matrix

        k = np.asarray(initial_value, np.float64)
        self._shape = tf.TensorShape(k.shape)
        m = irdft_matrix(k.shape[:2])
        self._m = tf.constant(m, tf.float32)
        self.rdft = tf.Variable((m.T @ k.reshape(k.shape[0] * k.shape[1], -1)).astype(np.float32), name="rdft")

    @property
    def shape(self) -> tf.TensorShape:
        return self._shape

    @property
    def dtype(self):
        return tf.float32

    def __call__(self, compute_dtype=None):
        k = tf.reshape(tf.linalg.matmul(self._m, self.rdft), self._shape)
        return k if compute_dtype in (None, tf.float32) else tf.cast(k, compute_dtype)

    def get_config(self):
        return dict(name=self.name, shape=self._shape.as_list())


class _SignalConv2D(tfc.SignalConv2D):
    """``tfc.SignalConv2D`` whose RDFT kernel uses tfc 1.3's parameterization when ``tf1_rdft`` is set."""

    def __init__(self, *args, tf1_rdft: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._tf1_rdft = tf1_rdft

    def build(self, input_shape):
        if self._tf1_rdft and isinstance(self.kernel_parameter, str):
            shape = self.kernel_support + (int(input_shape[-1]), self.filters)
            init = self.kernel_initializer(shape=shape, dtype=self.variable_dtype)
            self.kernel_parameter = TF1RDFTParameter(init.numpy(), name="kernel")
        super().build(input_shape)


def _conv(filters, kernel, down, act, use_bias=True, name=None, rdft="tfc1"):
    return _SignalConv2D(filters, (kernel, kernel), corr=True, strides_down=down, padding="same_zeros",
                         use_bias=use_bias, activation=act, name=name, tf1_rdft=check_rdft(rdft) == "tfc1")


def _deconv(filters, kernel, up, act, use_bias=True, kernel_parameter="rdft", name=None, rdft="tfc1"):
    return _SignalConv2D(filters, (kernel, kernel), corr=False, strides_up=up, padding="same_zeros",
                         use_bias=use_bias, activation=act, kernel_parameter=kernel_parameter, name=name,
                         tf1_rdft=kernel_parameter == "rdft" and check_rdft(rdft) == "tfc1")


class AnalysisTransform(tf.keras.Sequential):
    """g_a (``II:main/nn_models.py: AnalysisTransform``)."""

    def __init__(self, n, gdn: str = "original", rdft: str = "tfc1"):
        super().__init__([
            _conv(n, 5, 2, gdn_layer("gdn_0", gdn), name="layer_0", rdft=rdft),
            _conv(n, 5, 2, gdn_layer("gdn_1", gdn), name="layer_1", rdft=rdft),
            _conv(n, 5, 2, gdn_layer("gdn_2", gdn), name="layer_2", rdft=rdft),
            _conv(n, 5, 2, None, name="layer_3", rdft=rdft),
        ], name="analysis")


class SynthesisTransform(tf.keras.Sequential):
    """g_s (``II:main/nn_models.py: SynthesisTransform``)."""

    def __init__(self, n, gdn: str = "original", rdft: str = "tfc1"):
        super().__init__([
            _deconv(n, 5, 2, gdn_layer("igdn_0", gdn, inverse=True), name="layer_0", rdft=rdft),
            _deconv(n, 5, 2, gdn_layer("igdn_1", gdn, inverse=True), name="layer_1", rdft=rdft),
            _deconv(n, 5, 2, gdn_layer("igdn_2", gdn, inverse=True), name="layer_2", rdft=rdft),
            _deconv(3, 5, 2, None, name="layer_3", rdft=rdft),
        ], name="synthesis")


class HyperAnalysisTransform(tf.keras.Sequential):
    """h_a (``II:main/nn_models.py: HyperAnalysisTransform``); takes y itself."""

    def __init__(self, n, out_channels=None, rdft: str = "tfc1"):
        super().__init__([
            _conv(n, 3, 1, tf.nn.relu, name="layer_0", rdft=rdft),
            _conv(n, 5, 2, tf.nn.relu, name="layer_1", rdft=rdft),
            _conv(out_channels or n, 5, 2, None, use_bias=False, name="layer_2", rdft=rdft),
        ], name="hyper_analysis")


class MBT2018HyperSynthesisTransform(tf.keras.Sequential):
    """h_s (``II:main/nn_models.py: MBT2018HyperSynthesisTransform``); kernels are plain variables
    (tfc 1.3 ``kernel_parameterizer=None``). Outputs 2N channels: (mu, raw scale)."""

    def __init__(self, n):
        super().__init__([
            _deconv(n, 5, 2, tf.nn.relu, kernel_parameter="variable", name="layer_0"),
            _deconv(int(1.5 * n), 5, 2, tf.nn.relu, kernel_parameter="variable", name="layer_1"),
            _deconv(2 * n, 3, 1, None, kernel_parameter="variable", name="layer_2"),
        ], name="hyper_synthesis")


def gaussian_conditional_likelihood(y, mu, sigma):
    """P(y | mu, sigma) of N(mu, sigma^2) convolved with U(-1/2, 1/2), lower-bounded at 1e-9.

    Computed on |y - mu| with the upper tail first, for numerical accuracy (tfc 1.3 ``GaussianConditional``).
    """
    v = tf.abs(y - mu)
    c = tf.constant(-(2 ** -0.5), dtype=y.dtype)

    def cum(t):  # standard normal CDF, 0.5 erfc(-t / sqrt 2)
        return 0.5 * tf.math.erfc(c * t)

    lik = cum((0.5 - v) / sigma) - cum((-0.5 - v) / sigma)
    return tfc.lower_bound(lik, LIKELIHOOD_BOUND)


def config_dict(kind: str, num_filters: int, scale_semantics: str, gdn: str, rdft: str = LEGACY_RDFT) -> dict:
    """The model description that enters the container fingerprint. ``gdn`` / ``rdft`` are listed only when
    they are not the legacy flavours, so files of the pre-fix checkpoints keep their fingerprints."""
    cfg = {"model": kind, "num_filters": num_filters, "scale_semantics": scale_semantics}
    if gdn != LEGACY_GDN:
        cfg["gdn"] = gdn
    if rdft != LEGACY_RDFT:
        cfg["rdft"] = rdft
    return cfg


class MBT2018(tf.keras.Model):
    """Mean-scale hyperprior (M3's model). ``call``-free: the methods below are what training, amortized
    coding and iterative inference share."""

    def __init__(self, num_filters: int, scale_semantics: str = "tf1", gdn: str = "original",
                 rdft: str = "tfc1", prior_filters=(3, 3, 3)):
        """``prior_filters``: the factorized prior's hidden widths (tfc 1.3 ``EntropyBottleneck``: (3, 3, 3);
        ``II:tf2`` uses tfc 2's default (3, 3), ``sga.tf2_import``); not in ``args.json``, so only the default
        can be saved and reloaded."""
        super().__init__(name="mbt2018")
        if scale_semantics not in ("tf1", "tf2"):
            raise ValueError(f"scale_semantics must be 'tf1' or 'tf2', got {scale_semantics!r}")
        self.num_filters = int(num_filters)
        self.scale_semantics = scale_semantics
        self.gdn = check_gdn(gdn)
        self.rdft = check_rdft(rdft)
        # the iterative-inference objective's sigma bound (sga/inference.py): False = the original's scripts
        # (no 0.11 bound); checkpoints without "inference_scale_bound" in args.json load with True (pre-fix)
        self.inference_scale_bound = False
        self.z_grid = "integer"  # "median": the originals' M3 ẑ grid (module docstring, quantize_z)
        self.z_medians = None  # II:main's EntropyBottleneck medians (quantiles[:, 0, 1]); None: tfc 2's offsets
        self.likelihoods = "tfc1"  # rd_terms' likelihoods; "tfc2": II:tf2's (module docstring)
        n = self.num_filters
        self.analysis_transform = AnalysisTransform(n, gdn, rdft)
        self.synthesis_transform = SynthesisTransform(n, gdn, rdft)
        self.hyper_analysis_transform = HyperAnalysisTransform(n, rdft=rdft)
        self.hyper_synthesis_transform = MBT2018HyperSynthesisTransform(n)
        self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(n,), num_filters=tuple(prior_filters), init_scale=10.0)
        self._prior_vars = list(self.hyperprior.trainable_variables)
        self.build_all()

    def config(self) -> dict:
        return config_dict("mbt2018", self.num_filters, self.scale_semantics, self.gdn, self.rdft)

    def config_json(self) -> str:
        return json.dumps(self.config(), sort_keys=True)

    def build_all(self):
        """Create every variable (one tiny forward pass) so that checkpoints and counts are complete."""
        x = tf.zeros((1, 64, 64, 3))
        y = self.analysis_transform(x)
        z = self.hyper_analysis_transform(y)
        self.hyper_synthesis_transform(z)
        self.synthesis_transform(y)

    # --- the pieces -------------------------------------------------------------------------------------
    def scale(self, raw, bound: bool = True):
        """sigma from h_s's raw second half under the chosen semantics (module docstring). ``bound=False``
        (TF1 semantics only): sigma = exp(raw) without the 0.11 lower bound, as the original's inference
        scripts evaluate it (they call tfc 1.3 ``GaussianConditional._likelihood`` on an unbuilt layer)."""
        if self.scale_semantics == "tf1":
            return tfc.lower_bound(tf.exp(raw), SCALE_MIN) if bound else tf.exp(raw)
        idx = tf.clip_by_value(tf.exp(raw), 0.0, NUM_SCALES - 1.0)
        step = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (NUM_SCALES - 1)
        return tf.exp(math.log(SCALE_MIN) + step * idx)

    def side_params(self, z, y_shape, bound: bool = True):
        """(mu, sigma) of p(y|z) = h_s(z), cropped to y's spatial size (``bound``: see :meth:`scale`)."""
        out = self.hyper_synthesis_transform(z)
        out = out[:, :y_shape[1], :y_shape[2], :]
        mu, raw = tf.split(out, 2, axis=-1)
        return mu, self.scale(raw, bound)

    def z_offsets(self):
        """The m of ẑ = round(z − m) + m on the ``"median"`` grid (module docstring), shape (N,)."""
        if self.z_medians is not None:
            return tf.constant(self.z_medians, tf.float32)
        return tf.stop_gradient(tfc.quantization_offset(self.hyperprior))

    def quantize_z(self, z):
        """M3's hard ẑ on the model's ``z_grid``: round(z) (``"integer"``, the default) or round(z − m) + m."""
        if self.z_grid == "integer":
            return tf.round(z)
        if self.z_grid != "median":
            raise ValueError(f"z_grid must be 'integer' or 'median', got {self.z_grid!r}")
        m = self.z_offsets()
        return tf.round(z - m) + m

    def z_likelihood(self, z):
        """Unit-bin probability of z under the factorized hyperprior, bounded below at 1e-9."""
        return tfc.lower_bound(self.hyperprior.prob(z), LIKELIHOOD_BOUND)

    def rd_terms(self, x, y, z, scale_bound: bool = True):
        """Return (x_hat, per-image bits of y, per-image bits of z, mse) for latents y, z (any relaxation).

        x_hat is g_s(y) cropped to x's size (not clipped); mse is over every element, on the [0,1] scale.
        ``scale_bound=False``: sigma without the 0.11 lower bound (the original's inference objective).
        """
        mu, sigma = self.side_params(z, tf.shape(y), scale_bound)
        if self.likelihoods == "tfc2":  # II:tf2: tfc 2's entropy models, log domain, no lower bound
            y_bits = -tf.reduce_sum(tfc.NoisyNormal(loc=mu, scale=sigma).log_prob(y), axis=(1, 2, 3))
            z_bits = -tf.reduce_sum(self.hyperprior.log_prob(z), axis=(1, 2, 3))
        else:
            y_bits = tf.reduce_sum(-tf.math.log(gaussian_conditional_likelihood(y, mu, sigma)), axis=(1, 2, 3))
            z_bits = tf.reduce_sum(-tf.math.log(self.z_likelihood(z)), axis=(1, 2, 3))
        ln2 = tf.constant(math.log(2.0), y.dtype)
        x_hat = self.synthesis_transform(y)[:, :tf.shape(x)[1], :tf.shape(x)[2], :]
        mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat))
        return x_hat, y_bits / ln2, z_bits / ln2, mse


def parameter_count(model: MBT2018) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
