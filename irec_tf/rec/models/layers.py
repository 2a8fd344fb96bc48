"""Layers of the two iREC models.

* :class:`WNConv2D` — the weight-normalized ``ReparameterizedConv2D`` of the ResNet VAE (Salimans & Kingma
  2016): kernel = l2-normalize(V over h, w, in) · exp(log_scale) + bias, "same" padding, with the original's
  data-dependent init (output standardized ×0.1: bias = −mean·s, log_scale = log(s)/3) *and its quirks*: the
  forward pass uses exp(log_scale), not exp(3·log_scale), and the init call's own output adds the bias to
  the standardized output once more (non-transposed convs).
* :class:`SignalConv2D` — the lossy model's convolution (the original's clone of tensorflow-compression's
  layer): reflect padding, zero bias, VarianceScaling init, RDFT kernel parameterization and the centred,
  reflect-padded up-convolution (``flavour="original"``); ``flavour="legacy"`` keeps this project's earlier
  layer (plain kernel, SAME zero-padded ``conv2d_transpose``) for the models trained with it.
* :class:`GDN` — generalized divisive normalization (Ballé et al. 2016) with β = 1, γ = 0.1·I at init,
  reparameterization offset 2⁻¹⁸ and β_min = 1e-6; ``inverse=True`` gives IGDN.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

_OFFSET = 2.0 ** -18
_PEDESTAL = _OFFSET ** 2


def sample_noise(noise, i, shape):
    """The i-th reparameterisation's standard normals: ``tf.random.normal`` (``noise`` None, the default),
    ``noise[i]`` (given arrays: the parity tests) or ``noise(i, shape)`` (a function: distributed training)."""
    if noise is None:
        return tf.random.normal(shape)
    return noise(i, shape) if callable(noise) else noise[i]


class WNConv2D(tf.keras.layers.Layer):
    """Weight-normalized (transposed) convolution with data-dependent initialization."""

    def __init__(self, filters, kernel_size=3, strides=1, transpose=False, **kw):
        super().__init__(**kw)
        self.filters, self.k, self.s, self.transpose = filters, kernel_size, strides, transpose

    def build(self, input_shape):
        cin = int(input_shape[-1])
        shape = (self.k, self.k, self.filters, cin) if self.transpose else (self.k, self.k, cin, self.filters)
        self.v = self.add_weight("v", shape, initializer=tf.keras.initializers.RandomNormal(0.0, 0.05))
        self.log_scale = self.add_weight("log_scale", (self.filters,), initializer="zeros")
        self.bias = self.add_weight("bias", (self.filters,), initializer="zeros")
        self.initialized = self.add_weight("initialized", (), initializer="zeros", trainable=False,
                                           dtype=tf.float32)

    def _kernel(self):
        axis = [0, 1, 3] if self.transpose else [0, 1, 2]
        scale = tf.exp(self.log_scale)
        if self.transpose:
            scale = tf.reshape(scale, (1, 1, -1, 1))
        return tf.math.l2_normalize(self.v, axis=axis) * scale

    def _conv(self, x):
        return self.conv_with(x, self._kernel(), self.bias)

    def conv_with(self, x, w, bias):
        """The layer's convolution with explicit kernel/bias (the portable path runs it in float64 on
        integers, so the float and integer networks share one definition of padding and strides)."""
        if self.transpose:
            b = tf.shape(x)[0]
            h, wd = x.shape[1] * self.s, x.shape[2] * self.s
            if h is None:
                h, wd = tf.shape(x)[1] * self.s, tf.shape(x)[2] * self.s
            y = tf.nn.conv2d_transpose(x, w, tf.stack([b, h, wd, self.filters]), self.s, padding="SAME")
        else:
            y = tf.nn.conv2d(x, w, self.s, padding="SAME")
        return y + bias

    def call(self, x):
        if tf.executing_eagerly() and float(self.initialized.numpy()) == 0.0:
            # data-dependent init on the first (eager) call, as the original's ReparameterizedConv2D(Transpose):
            # y = conv(x, v/‖v‖) (log_scale = 0, bias = 0 before), s = 0.1/√(var + 1e-10), bias = −mean·s,
            # log_scale = log(s)/3 (the quirk: later calls use exp(log_scale)); this call returns (y − mean)·s,
            # plus (non-transposed only, as there) the new bias once more
            y = self._conv(x)
            mean, var = tf.nn.moments(y, axes=[0, 1, 2])
            s = 0.1 / tf.sqrt(var + 1e-10)
            self.bias.assign(-mean * s)
            self.log_scale.assign(tf.math.log(s) / 3.0)
            self.initialized.assign(1.0)
            out = (y - mean) * s
            return out if self.transpose else out + self.bias
        return self._conv(x)


FLAVOURS = ("original", "legacy")


def irdft_matrix(shape) -> np.ndarray:
    """The inverse real-DFT basis of tensorflow-compression's ``spectral_ops.irdft_matrix`` (Ballé et al.
    2018's kernel parameterization, which the original's ``SignalConv2D`` copies): an orthogonal
    (k·k) × (k·k) matrix M with kernel = reshape(M @ coefficients)."""
    from scipy.fftpack import rfft

    shape = tuple(int(s) for s in shape)
    size = int(np.prod(shape))
    m = np.identity(size, dtype=np.float64).reshape((size,) + shape)
    for axis in range(len(shape)):
        m = rfft(m, axis=axis + 1)
        sl = [slice(None)] * (len(shape) + 1)
        sl[axis + 1] = slice(1, None) if shape[axis] % 2 == 1 else slice(1, -1)
        m[tuple(sl)] *= np.sqrt(2)
    return (m / np.sqrt(size)).reshape(size, size)


class SignalConv2D(tf.keras.layers.Layer):
    """k×k convolution; ``down``: stride-2 with reflect padding; ``up``: stride-2 transposed.

    ``flavour="original"`` (new models) follows the original's ``signal_convolution.py`` (a clone of tfc's
    ``SignalConv2D``): the kernel is stored in the (k, k, in, out) layout, as RDFT coefficients when ``rdft``
    and k > 1 (initialised so that the spatial kernel is VarianceScaling), and the up-convolution reflect-pads
    its input by 1 and runs the transposed convolution centred on the kernel (tfc's ``same_padding_for_kernel``
    with explicit padding). ``flavour="legacy"`` is this project's earlier layer (plain kernel, up-convolution
    = ``conv2d_transpose`` with SAME zero padding), kept so that the committed zoo models decode unchanged.
    ``initializer``: ``"variance_scaling"`` (SignalConv) or ``"glorot_uniform"`` (the original's plain Keras
    ``Conv2D``, used for its 1×1 posterior combiners)."""

    def __init__(self, filters, kernel_size=5, mode="same", use_bias=True, flavour="legacy", rdft=True,
                 initializer="variance_scaling", **kw):
        super().__init__(**kw)
        if mode not in ("same", "down", "up"):
            raise ValueError(mode)
        if flavour not in FLAVOURS:
            raise ValueError(f"layer flavour {flavour!r}: use one of {FLAVOURS}")
        self.filters, self.k, self.mode, self.use_bias = filters, kernel_size, mode, use_bias
        self.flavour, self.initializer = flavour, initializer
        self.rdft = bool(rdft) and flavour == "original" and kernel_size > 1

    def build(self, input_shape):
        cin = int(input_shape[-1])
        k = self.k
        if self.flavour == "legacy":
            shape = (k, k, self.filters, cin) if self.mode == "up" else (k, k, cin, self.filters)
            self._kernel_var = self.add_weight("kernel", shape,
                                               initializer=tf.keras.initializers.VarianceScaling())
        else:
            shape = (k, k, cin, self.filters)  # the original's layout in every mode
            init = (tf.keras.initializers.VarianceScaling() if self.initializer == "variance_scaling"
                    else tf.keras.initializers.get(self.initializer))
            if self.rdft:
                self._irdft = tf.constant(irdft_matrix((k, k)), tf.float32)

                def rdft_init(s, dtype=None):
                    k0 = tf.reshape(init(shape), (k * k, cin * self.filters))
                    return tf.linalg.matmul(self._irdft, k0, transpose_a=True)

                self._kernel_var = self.add_weight("kernel_rdft", (k * k, cin * self.filters),
                                                   initializer=rdft_init)
            else:
                self._kernel_var = self.add_weight("kernel", shape, initializer=init)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), initializer="zeros")

    @property
    def kernel(self):
        """The spatial kernel in the layout :meth:`apply_with` takes ((k, k, out, in) for ``up``)."""
        if self.flavour == "legacy":
            return self._kernel_var
        w = self._kernel_var
        if self.rdft:
            w = tf.reshape(tf.linalg.matmul(self._irdft, w), (self.k, self.k, -1, self.filters))
        return tf.transpose(w, [0, 1, 3, 2]) if self.mode == "up" else w

    def call(self, x):  # the casts are no-ops in float32; under a mixed policy the kernel follows x
        bias = tf.cast(self.bias, x.dtype) if self.use_bias else None
        return self.apply_with(x, tf.cast(self.kernel, x.dtype), bias)

    @staticmethod
    def _pad(x, pads, mode="REFLECT"):
        small = x.shape[1] is not None and min(x.shape[1], x.shape[2]) <= max(max(p) for p in pads)
        # reflect needs more rows than the padding; tiny maps (2×2 at the hyper heads of a 64×64 image,
        # 1×1 ẑ) mirror symmetrically instead
        return tf.pad(x, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]], mode="SYMMETRIC" if small else mode)

    def apply_with(self, x, kernel, bias=None):
        """The layer's operation with explicit kernel/bias (shared by the float and the integer network)."""
        p = self.k // 2
        if self.mode == "up" and self.flavour == "legacy":
            s = tf.shape(x)
            y = tf.nn.conv2d_transpose(x, kernel, tf.stack([s[0], s[1] * 2, s[2] * 2, self.filters]), 2,
                                       padding="SAME")
        elif self.mode == "up":
            # tfc's same_padding_for_kernel(k, corr=False, strides_up=2), reflect pre-padding, then the
            # transposed convolution with explicit padding (prepad·2 + k//2, prepad·2 + (k−1)//2): output 2·n
            pre = (((self.k - 1) // 2 - 1) // 2 + 1, (self.k // 2 - 1) // 2 + 1)
            x = self._pad(x, (pre, pre))
            crop = (pre[0] * 2 + self.k // 2, pre[1] * 2 + (self.k - 1) // 2)
            s = tf.shape(x)
            out = [s[0], s[1] * 2 + self.k - 1 - sum(crop), s[2] * 2 + self.k - 1 - sum(crop), self.filters]
            y = tf.nn.conv2d_transpose(x, kernel, tf.stack(out), 2,
                                       padding=[[0, 0], list(crop), list(crop), [0, 0]])
        else:
            if p:
                x = self._pad(x, ((p, p), (p, p)))
            y = tf.nn.conv2d(x, kernel, 2 if self.mode == "down" else 1, padding="VALID")
        if bias is not None:
            y = y + bias
        return y


class GDN(tf.keras.layers.Layer):
    """y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²) (IGDN multiplies); nonnegative reparameterization of β, γ."""

    def __init__(self, inverse=False, **kw):
        super().__init__(**kw)
        self.inverse = inverse

    def build(self, input_shape):
        c = int(input_shape[-1])
        self.beta_p = self.add_weight("beta", (c,), initializer=tf.keras.initializers.Constant(
            (1.0 + _PEDESTAL) ** 0.5))
        self.gamma_p = self.add_weight("gamma", (c, c), initializer=lambda shape, dtype=None: tf.sqrt(
            0.1 * tf.eye(shape[0]) + _PEDESTAL))

    def call(self, x):
        beta_bound = (1e-6 + _PEDESTAL) ** 0.5
        beta = tf.square(tf.maximum(self.beta_p, beta_bound)) - _PEDESTAL
        gamma = tf.square(tf.maximum(self.gamma_p, _OFFSET)) - _PEDESTAL
        c = gamma.shape[0]
        beta, gamma = tf.cast(beta, x.dtype), tf.cast(gamma, x.dtype)  # no-ops in float32
        norm = tf.nn.conv2d(tf.square(x), tf.reshape(gamma, (1, 1, c, c)), 1, "VALID") + beta
        return x * tf.sqrt(norm) if self.inverse else x * tf.math.rsqrt(norm)
