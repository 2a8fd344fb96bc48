"""Layers of the two iREC models.

* :class:`WNConv2D` — the weight-normalized ``ReparameterizedConv2D`` of the ResNet VAE (Salimans & Kingma
  2016): kernel = l2-normalize(V over h, w, in) · exp(log_scale) + bias, "same" padding, with the original's
  data-dependent init (output standardized ×0.1: bias = −mean·s, log_scale = log(s)/3) *and its quirk*: the
  forward pass uses exp(log_scale), not exp(3·log_scale).
* :class:`SignalConv2D` — the lossy model's convolution: reflect padding for the downsampling convs, zero
  bias, VarianceScaling init (a clone of tensorflow-compression's layer without the RDFT parameterization).
* :class:`GDN` — generalized divisive normalization (Ballé et al. 2016) with β = 1, γ = 0.1·I at init,
  reparameterization offset 2⁻¹⁸ and β_min = 1e-6; ``inverse=True`` gives IGDN.
"""

from __future__ import annotations

import tensorflow as tf

_OFFSET = 2.0 ** -18
_PEDESTAL = _OFFSET ** 2


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
            # data-dependent init on the first (eager) call
            y = self._conv(x)
            mean, var = tf.nn.moments(y, axes=[0, 1, 2])
            s = 0.1 / tf.sqrt(var + 1e-8)
            self.bias.assign(-mean * s)
            self.log_scale.assign(tf.math.log(s) / 3.0)  # the original's quirk: forward uses exp(log_scale)
            self.initialized.assign(1.0)
        return self._conv(x)


class SignalConv2D(tf.keras.layers.Layer):
    """k×k convolution; ``down``: stride-2 with reflect padding; ``up``: stride-2 transposed ("same")."""

    def __init__(self, filters, kernel_size=5, mode="same", use_bias=True, **kw):
        super().__init__(**kw)
        if mode not in ("same", "down", "up"):
            raise ValueError(mode)
        self.filters, self.k, self.mode, self.use_bias = filters, kernel_size, mode, use_bias

    def build(self, input_shape):
        cin = int(input_shape[-1])
        shape = (self.k, self.k, self.filters, cin) if self.mode == "up" else (self.k, self.k, cin, self.filters)
        self.kernel = self.add_weight("kernel", shape, initializer=tf.keras.initializers.VarianceScaling())
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), initializer="zeros")

    def call(self, x):
        return self.apply_with(x, self.kernel, self.bias if self.use_bias else None)

    def apply_with(self, x, kernel, bias=None):
        """The layer's operation with explicit kernel/bias (shared by the float and the integer network)."""
        p = self.k // 2
        if self.mode == "up":
            s = tf.shape(x)
            y = tf.nn.conv2d_transpose(x, kernel, tf.stack([s[0], s[1] * 2, s[2] * 2, self.filters]), 2,
                                       padding="SAME")
        else:
            if p:
                small = x.shape[1] is not None and min(x.shape[1], x.shape[2]) <= p
                # reflect needs more than p rows; tiny maps (2×2 at the hyper heads of a 64×64 image) mirror
                # symmetrically instead
                x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="SYMMETRIC" if small else "REFLECT")
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
        norm = tf.nn.conv2d(tf.square(x), tf.reshape(gamma, (1, 1, c, c)), 1, "VALID") + beta
        return x * tf.sqrt(norm) if self.inverse else x * tf.math.rsqrt(norm)
