"""The CVPR 2018 autoencoder, importance map ("heatmap"), quantizer and 3D context model ("probclass").

Every trainable and BatchNorm variable lives in one ordered dict keyed by the original TF1/slim variable
names (``autoencoder/encoder/h1/weights``, ``.../h1/BatchNorm/gamma``, ``probclass3d/logits/conv3d_conv0_mask/
weights`` ...), so checkpoints, fingerprints and the importer of the released checkpoints all share one
naming. Layout is NHWC (TF's CPU convolutions do not run NCHW); the bottleneck channel axis is last.

Paper references: Mentzer et al., "Conditional Probability Models for Deep Image Compression", CVPR 2018.
Eq. numbers refer to that paper.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .config import Config

#: Fixed input normalisation ("FIXED"): per-channel mean/variance of the original's training data.
MEAN = np.array([121.85369873, 113.58860779, 100.63715363], dtype=np.float32)
VAR = np.array([4746.37695312, 4454.13964844, 4812.234375], dtype=np.float32)
SUBSAMPLING = 8
BN_DECAY, BN_EPS = 0.9, 1e-5
AE_SCOPE, ENC, DEC = "autoencoder", "autoencoder/encoder", "autoencoder/decoder"
PC_SCOPE = "probclass3d/logits"


def _xavier(shape, fan_in, fan_out, rng):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


# --- masks of the 3D context model (Sec. 3.2, Fig. 3) -------------------------------------------------

def first_mask(k: int = 3) -> np.ndarray:
    """DHW mask of the first masked conv: the current symbol and everything after it is excluded."""
    m = np.ones((k // 2 + 1, k, k), np.float32)
    m[-1, k // 2, k // 2:] = 0
    m[-1, k // 2 + 1:, :] = 0
    return m


def other_mask(k: int = 3) -> np.ndarray:
    """DHW mask of the later masked convs: like :func:`first_mask` but the centre is kept."""
    m = np.ones((k // 2 + 1, k, k), np.float32)
    m[-1, k // 2, k // 2 + 1:] = 0
    m[-1, k // 2 + 1:, :] = 0
    return m


@dataclass
class EncoderOutput:
    qbar: tf.Tensor      # straight-through quantized bottleneck (Eq. 4): qhard forward, qsoft backward
    qhard: tf.Tensor     # nearest-center values
    symbols: tf.Tensor   # int64 center indices, what the context model predicts and what is coded
    z: tf.Tensor         # masked bottleneck before quantization
    heatmap: tf.Tensor   # 3D importance mask m (Eq. 8), NHWC with C channels


class CPM(tf.Module):
    """Autoencoder + quantizer + probclass for one (ae_config, pc_config) pair."""

    def __init__(self, ae_config: Config, pc_config: Config, seed: int = 1234):
        super().__init__(name="cpm")
        self.ae_config, self.pc_config = ae_config, pc_config
        self.C = int(ae_config.num_chan_bn)
        self.L = int(ae_config.num_centers)
        self.B = int(ae_config.arch_param_B)
        self.n = int(ae_config.arch_param_n)
        self.K = int(pc_config.kernel_size)
        self.k = int(pc_config.arch_param__k)
        if not ae_config.heatmap:
            raise NotImplementedError("heatmap = False is not implemented (every released config uses it)")
        if ae_config.normalization != "FIXED":
            raise NotImplementedError(f"normalization {ae_config.normalization!r} not implemented")
        rng = np.random.RandomState(seed)
        self.vars: OrderedDict[str, tf.Variable] = OrderedDict()
        self._trainable: dict[str, bool] = {}
        #: training-mode BN moments: None = this batch's (tf.nn.moments); tf.distribute training sets a function
        #: x -> (mean, var, count) over the global batch (cpm.train_loop.sync_moments)
        self.batch_moments = None
        self._build(rng)
        self.first_mask = tf.constant(first_mask(self.K)[..., None, None])
        self.other_mask = tf.constant(other_mask(self.K)[..., None, None])

    # --- variables ---------------------------------------------------------------------------------
    def _var(self, name, value, trainable=True):
        # BN moving statistics are assigned inside the (replica-context) train step: under tf.distribute every
        # replica computes the same cross-replica moments, so the first replica's update is the update
        # (ignored without a strategy)
        agg = tf.VariableAggregation.NONE if trainable else tf.VariableAggregation.ONLY_FIRST_REPLICA
        v = tf.Variable(value, name=name.replace("/", "__"), trainable=trainable, aggregation=agg)
        self.vars[name] = v
        self._trainable[name] = trainable
        return v

    def _conv_vars(self, scope, kh, kw, cin, cout, rng, transpose=False):
        shape = (kh, kw, cout, cin) if transpose else (kh, kw, cin, cout)
        # slim's xavier for conv2d_transpose uses the (h, w, out, in) shape as given
        fan_in, fan_out = kh * kw * shape[2], kh * kw * shape[3]
        self._var(f"{scope}/weights", _xavier(shape, fan_in, fan_out, rng))
        self._var(f"{scope}/BatchNorm/beta", np.zeros(cout, np.float32))
        self._var(f"{scope}/BatchNorm/gamma", np.ones(cout, np.float32))
        self._var(f"{scope}/BatchNorm/moving_mean", np.zeros(cout, np.float32), trainable=False)
        self._var(f"{scope}/BatchNorm/moving_variance", np.ones(cout, np.float32), trainable=False)

    def _res_vars(self, scope, rng):
        for i in (1, 2):
            self._conv_vars(f"{scope}/conv{i}", 3, 3, self.n, self.n, rng)

    def _build(self, rng):
        n, C = self.n, self.C
        self._conv_vars(f"{ENC}/h1", 5, 5, 3, n // 2, rng)
        self._conv_vars(f"{ENC}/h2", 5, 5, n // 2, n, rng)
        for b in range(self.B):
            for i in (1, 2, 3):
                self._res_vars(f"{ENC}/res_block_enc_{b}/enc_{b}_{i}", rng)
        self._res_vars(f"{ENC}/res_block_enc_final", rng)
        self._conv_vars(f"{ENC}/to_bn", 5, 5, n, C + 1, rng)
        lo, hi = self.ae_config.centers_initial_range
        # original: random_uniform(-2, 2, seed=666) -> unsorted centers
        self._var(f"{ENC}/centers", np.random.RandomState(666).uniform(lo, hi, self.L).astype(np.float32))
        self._conv_vars(f"{DEC}/from_bn", 3, 3, C, n, rng, transpose=True)
        for b in range(self.B):
            for i in (1, 2, 3):
                self._res_vars(f"{DEC}/res_block_dec_{b}/dec_{b}_{i}", rng)
        self._res_vars(f"{DEC}/dec_after_res", rng)
        self._conv_vars(f"{DEC}/h12", 5, 5, n, n // 2, rng, transpose=True)
        self._conv_vars(f"{DEC}/h13", 5, 5, n // 2, 3, rng, transpose=True)
        D, K, k = self.K // 2 + 1, self.K, self.k
        for name, cin, cout in (("conv3d_conv0_mask", 1, k), ("res1/conv3d_conv1_mask", k, k),
                                ("res1/conv3d_conv2_mask", k, k), ("conv3d_conv2_mask", k, self.L)):
            fan_in, fan_out = D * K * K * cin, D * K * K * cout
            self._var(f"{PC_SCOPE}/{name}/weights", _xavier((D, K, K, cin, cout), fan_in, fan_out, rng))
            self._var(f"{PC_SCOPE}/{name}/biases", np.zeros(cout, np.float32))

    @property
    def centers(self) -> tf.Variable:
        return self.vars[f"{ENC}/centers"]

    def ae_variables(self):
        """Variables of Adam_AE: every trainable non-probclass variable (including the centers)."""
        return [v for k, v in self.vars.items() if self._trainable[k] and k.startswith(AE_SCOPE)]

    def pc_variables(self):
        return [v for k, v in self.vars.items() if self._trainable[k] and k.startswith("probclass3d")]

    def numpy_weights(self) -> OrderedDict[str, np.ndarray]:
        return OrderedDict((k, v.numpy()) for k, v in self.vars.items())

    def load_weights(self, weights: dict) -> None:
        missing = sorted(set(self.vars) - set(weights))
        unexpected = sorted(set(weights) - set(self.vars))
        if missing or unexpected:
            raise ValueError(f"weights do not fit this model: missing {missing[:5]}{'...' if len(missing) > 5 else ''}"
                             f", unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        for k, v in self.vars.items():
            w = np.asarray(weights[k])
            if tuple(w.shape) != tuple(v.shape):
                raise ValueError(f"weights do not fit this model: {k} has shape {w.shape}, expected {tuple(v.shape)}")
            v.assign(w.astype(np.float32))

    # --- building blocks ---------------------------------------------------------------------------
    def _bn(self, x, scope, training):
        """slim.batch_norm(decay 0.9, eps 1e-5, scale=True); batch moments in training, moving ones else."""
        g, b = self.vars[f"{scope}/BatchNorm/gamma"], self.vars[f"{scope}/BatchNorm/beta"]
        mm, mv = self.vars[f"{scope}/BatchNorm/moving_mean"], self.vars[f"{scope}/BatchNorm/moving_variance"]
        if training and self.batch_moments is not None:  # tf.distribute: moments of the global batch
            mean, var, cnt = self.batch_moments(x)
            var_unbiased = var * cnt / tf.maximum(cnt - 1.0, 1.0)
            mm.assign(mm * BN_DECAY + mean * (1 - BN_DECAY))
            mv.assign(mv * BN_DECAY + var_unbiased * (1 - BN_DECAY))
        elif training:
            mean, var = tf.nn.moments(x, axes=[0, 1, 2])
            # slim's fused batch norm updates the moving variance with the unbiased (Bessel) estimate
            cnt = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
            var_unbiased = var * cnt / tf.maximum(cnt - 1.0, 1.0)
            mm.assign(mm * BN_DECAY + mean * (1 - BN_DECAY))
            mv.assign(mv * BN_DECAY + var_unbiased * (1 - BN_DECAY))
        else:
            mean, var = mm, mv
        return tf.nn.batch_normalization(x, mean, var, b, g, BN_EPS)

    def _conv(self, x, scope, stride, training, act=True):
        x = tf.nn.conv2d(x, self.vars[f"{scope}/weights"], stride, "SAME")
        x = self._bn(x, scope, training)
        return tf.nn.relu(x) if act else x

    def _deconv(self, x, scope, training, act=True):
        w = self.vars[f"{scope}/weights"]
        s = tf.shape(x)
        out_shape = tf.stack([s[0], s[1] * 2, s[2] * 2, w.shape[2]])
        x = tf.nn.conv2d_transpose(x, w, out_shape, 2, "SAME")
        x = self._bn(x, scope, training)
        return tf.nn.relu(x) if act else x

    def _residual_block(self, x, scope, training, act=True):
        """conv-BN-ReLU, conv-BN, + x (no ReLU after the add); both convs linear if act=False."""
        h = self._conv(x, f"{scope}/conv1", 1, training, act=act)
        h = self._conv(h, f"{scope}/conv2", 1, training, act=False)
        return h + x

    # --- autoencoder (Sec. 3.1) --------------------------------------------------------------------
    def encode(self, x, training: bool) -> EncoderOutput:
        """x: float32 (N,H,W,3) in 0..255, H and W multiples of 8."""
        net = (x - MEAN) / np.sqrt(VAR + 1e-10)
        net = self._conv(net, f"{ENC}/h1", 2, training)
        net = self._conv(net, f"{ENC}/h2", 2, training)
        r0 = net
        for b in range(self.B):
            rb = net
            for i in (1, 2, 3):
                net = self._residual_block(net, f"{ENC}/res_block_enc_{b}/enc_{b}_{i}", training)
            net = net + rb
        net = self._residual_block(net, f"{ENC}/res_block_enc_final", training, act=False) + r0
        net = self._conv(net, f"{ENC}/to_bn", 2, training, act=False)
        heatmap = heatmap3d(net)
        z = heatmap * net[..., 1:]
        qsoft, qhard, symbols = quantize(z, self.centers, sigma=1.0)
        qbar = qsoft + tf.stop_gradient(qhard - qsoft)
        return EncoderOutput(qbar, qhard, symbols, z, heatmap)

    def decode(self, q, training: bool):
        """q: (N,h,w,C) quantized bottleneck -> reconstruction in 0..255 (float, clipped, not rounded)."""
        net = self._deconv(q, f"{DEC}/from_bn", training)
        r0 = net
        for b in range(self.B):
            rb = net
            for i in (1, 2, 3):
                net = self._residual_block(net, f"{DEC}/res_block_dec_{b}/dec_{b}_{i}", training)
            net = net + rb
        net = self._residual_block(net, f"{DEC}/dec_after_res", training, act=False) + r0
        net = self._deconv(net, f"{DEC}/h12", training)
        net = self._deconv(net, f"{DEC}/h13", training, act=False)
        net = net * np.sqrt(VAR + 1e-10) + MEAN
        return tf.clip_by_value(net, 0.0, 255.0)

    # --- context model (Sec. 3.2) ------------------------------------------------------------------
    @property
    def num_pc_layers(self) -> int:
        return 4  # conv0 + res1 (2 convs) + conv2

    @property
    def context_size(self) -> int:
        return self.num_pc_layers * (self.K - 1) + 1

    def pc_logits(self, q):
        """q: (N,h,w,C) -> logits (N,C,h,w,L). The volume is padded with centers[0] (use_centers_for_padding)."""
        pad = self.context_size // 2
        pad_value = self.centers[0] if self.pc_config.use_centers_for_padding else 0.0
        vol = tf.transpose(q, [0, 3, 1, 2])  # N C h w  (C is the depth of the 3D volume)
        vol = tf.pad(vol, [[0, 0], [pad, 0], [pad, pad], [pad, pad]], constant_values=pad_value)
        net = vol[..., None]  # NDHWC with one feature
        p = PC_SCOPE

        def c3(x, name, mask, act):
            w = self.vars[f"{p}/{name}/weights"] * mask
            y = tf.nn.conv3d(x, w, [1] * 5, "VALID") + self.vars[f"{p}/{name}/biases"]
            return tf.nn.relu(y) if act else y

        net = c3(net, "conv3d_conv0_mask", self.first_mask, True)
        res_in = net
        net = c3(net, "res1/conv3d_conv1_mask", self.other_mask, True)
        net = c3(net, "res1/conv3d_conv2_mask", self.other_mask, False)
        net = net + res_in[:, 2:, 2:-2, 2:-2, :]
        # the original conv3d helper defaults to ReLU, so the logits are non-negative (kept on purpose)
        return c3(net, "conv3d_conv2_mask", self.other_mask, True)

    def bitcost(self, q, symbols):
        """Bits per symbol, (N,C,h,w): softmax cross-entropy of the PC logits, in base 2 (Eq. 7)."""
        logits = self.pc_logits(q)
        labels = tf.transpose(symbols, [0, 3, 1, 2])
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        return ce * np.float32(np.log2(np.e))


def heatmap3d(bottleneck):
    """Importance mask (Eq. 8): y = sigmoid(channel 0)·C, m[c] = clip(y − c, 0, 1) for c < C."""
    C = bottleneck.shape[-1] - 1
    y = tf.sigmoid(bottleneck[..., :1]) * float(C)
    c = tf.range(C, dtype=tf.float32)
    return tf.clip_by_value(y - c, 0.0, 1.0)


def quantize(x, centers, sigma=1.0):
    """Soft/hard quantization to L centers (Eq. 3): returns (qsoft, qhard, symbols)."""
    dist = tf.square(x[..., None] - centers)
    phi_soft = tf.nn.softmax(-sigma * dist, axis=-1)
    qsoft = tf.reduce_sum(phi_soft * centers, axis=-1)
    symbols = tf.argmin(dist, axis=-1)  # = argmax softmax(-1e7·dist), i.e. nearest center
    qhard = tf.gather(centers, symbols)
    return qsoft, qhard, symbols
