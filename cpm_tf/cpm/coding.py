"""Symbols ⇄ bytes under the 3D context model, with an exact wavefront scheme (no per-symbol network runs).

The masked 3D convolutions (Sec. 3.2) make the logits of symbol (c, y, x) depend only on symbols that come
earlier in the coding order (channel-major, then rows, then columns), within a (5, 9, 9) context. Every tap
of every masked layer points to a position with a smaller value of the *time*

    t(c, y, x) = 4·c + 2·y + x

(previous-channel taps: −4 + 2·dy + dx ≤ −1; row above: −2 + dx ≤ −1; left neighbour: −1; the centre tap of
the later layers: 0, computed earlier in the same step). So all symbols with the same t can be decoded
together once every smaller t is known. We keep every layer's activations in one padded frame and, for
t = t_min … t_max, compute layer 1..4 at exactly the positions with that t (each activation is computed once:
the total work equals one full pass of the context model), then code the symbols at t with constriction's
range coder under ``softmax(logits)``.

The encoder runs the *same* step sequence (identical shapes and operations). With the float32 model
(``ContextModelNumpy``, stream format 2) the probabilities are bit-identical to the decoder's only on the same
machine and library versions (BLAS kernels decide the last bits); with the integer model (``ContextModelInt``,
format 3, ``cpm.integer``) every value is an exact integer, so they are bit-identical on every IEEE-754 machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shared_data import entropy, exact
from shared_data.errors import ContainerError

from .model import CPM, PC_SCOPE, first_mask, other_mask

_LAYERS = ("conv3d_conv0_mask", "res1/conv3d_conv1_mask", "res1/conv3d_conv2_mask", "conv3d_conv2_mask")
PAD = 4  # context_size // 2 for kernel_size 3 and 4 layers
RING = 8  # steps of activations kept: the current one and the 7 a tap can reach back


class CodingError(ContainerError):
    """The payload cannot be decoded (corrupt, truncated or written by another model)."""


@dataclass
class _Layer:
    w: np.ndarray        # (ntaps*cin, cout), masked taps only
    b: np.ndarray        # (cout,)
    offs: np.ndarray     # (ntaps,) flat offsets into the frame
    relu: bool
    residual_from: int | None


class ContextModelNumpy:
    """The probclass network evaluated incrementally in NumPy (float32) for exact encode/decode."""

    def __init__(self, model: CPM):
        if model.K != 3:
            raise NotImplementedError("the exact wavefront coder assumes kernel_size = 3 (res_shallow)")
        w = model.numpy_weights()
        self.L = model.L
        self.centers = w["autoencoder/encoder/centers"].astype(np.float32)
        self.pad_value = self.centers[0] if model.pc_config.use_centers_for_padding else np.float32(0)
        masks = [first_mask(3)] + [other_mask(3)] * 3
        self.taps = [np.argwhere(m > 0) for m in masks]  # (ntaps, 3): kd, ky, kx
        self.weights = []
        for name, taps in zip(_LAYERS, self.taps):
            W = w[f"{PC_SCOPE}/{name}/weights"]  # D H W in out
            Wt = np.stack([W[kd, ky, kx] for kd, ky, kx in taps])  # ntaps, in, out
            self.weights.append((np.ascontiguousarray(Wt.reshape(-1, W.shape[-1])).astype(np.float32),
                                 w[f"{PC_SCOPE}/{name}/biases"].astype(np.float32)))
        self.k = self.weights[0][0].shape[1]

    def _plan(self, C, h, w):
        """Per layer, the (d, y) rows of its anchor region sorted by ``4d + 2y`` (so the anchors of one time
        step t, whose x = t − 4d − 2y lies in the region, are one contiguous slice), plus the step count and
        the largest number of layer-1 anchors in one step (the ring buffer's block size)."""
        Dp, Hp, Wp = C + PAD, h + 2 * PAD, w + 2 * PAD
        layers, plans = [], []
        for li, (taps, (W, b)) in enumerate(zip(self.taps, self.weights), start=1):
            # tap (kd, ky, kx) of an anchor a reads the previous layer at a + (kd-1, ky-1, kx-1)
            offs = ((taps[:, 0] - 1) * Hp + (taps[:, 1] - 1)) * Wp + (taps[:, 2] - 1)
            layers.append(_Layer(W, b, offs.astype(np.int64), relu=li in (1, 2, 4),
                                 residual_from=1 if li == 3 else None))
            d, y = np.meshgrid(np.arange(li, Dp), np.arange(li, Hp - li), indexing="ij")
            base = (4 * d + 2 * y).ravel()
            order = np.argsort(base, kind="stable")
            plans.append((li, base[order], order.astype(np.int64), ((d * Hp + y) * Wp).ravel(), base))
        t_min = 7                                          # layer 1's first anchor (1, 1, 1)
        t_max = 4 * (Dp - 1) + 2 * (Hp - 2) + (Wp - 2)    # layer 1's last anchor: every t between occurs
        li, bs = plans[0][:2]
        t = np.arange(t_min, t_max + 1)
        per_step = np.searchsorted(bs, t - li, "right") - np.searchsorted(bs, t - (Wp - li), "right")
        return (Dp, Hp, Wp), layers, plans, (t_min, len(t), int(per_step.max()))

    @staticmethod
    def _anchors(plan, t, Wp):
        """Frame indices of one layer's anchors with time t, in increasing frame order (as a stable argsort
        of t over the whole frame would list them)."""
        li, bs, order, rowflat, base = plan
        lo, hi = np.searchsorted(bs, [t - (Wp - li), t - li], "right")
        sel = np.sort(order[lo:hi])
        return rowflat[sel] + (t - base[sel])

    # --- numerics (float32 here; ContextModelInt overrides them with exact integer arithmetic) -------
    dtype = np.float32

    def _symbol_values(self, syms):
        return self.centers[syms]

    def _layer(self, li, layer, X, A, idx):
        out = X @ layer.w + layer.b
        if layer.relu:
            np.maximum(out, 0, out=out)
        if layer.residual_from is not None:
            out += np.take(A[layer.residual_from], idx, axis=0)
        return out

    def _probs(self, out):
        """(probabilities handed to constriction, log2-probability function for the estimate)."""
        logits = out.astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        p64 = np.exp(logits)
        norm = p64.sum(axis=1, keepdims=True)
        return (p64 / norm).astype(np.float32), (logits - np.log(norm)) / np.log(2)

    def run(self, C, h, w, symbols=None, decoder=None, encoder=None, keep_logits=False):
        """Evaluate the context model step by step. With ``symbols`` (C,h,w): return the (C,h,w,L) probs
        in coding order and (if ``encoder``) encode; with ``decoder``: decode and return the symbols.

        Memory (issue 17): the frame holds only the symbols (int16, ~2 bytes per position); the k-channel
        activations of layers 1–3 live in a ring of :data:`RING` steps (a tap reaches at most 7 steps
        back: t(−1, −1, −1) = −7), addressed through a per-position row index. The gathered inputs, the
        matrix products and their shapes are those of a full-frame evaluation, so the probabilities are too."""
        (Dp, Hp, Wp), layers, plans, (t_min, nsteps, block) = self._plan(C, h, w)
        N = Dp * Hp * Wp
        if self.L >= np.iinfo(np.int16).max:
            raise NotImplementedError(f"{self.L} centers: the coder keeps symbols as int16")
        # symbol L stands for the padding value (centers[0] or 0), so the frame needs no float copy
        values = np.append(np.asarray(self._symbol_values(np.arange(self.L)), self.dtype),
                           self.dtype(self.pad_value)).astype(self.dtype)
        sym_frame = np.full(N, self.L, np.int16)
        if symbols is not None:
            sym_frame.reshape(Dp, Hp, Wp)[PAD:, PAD:-PAD, PAD:-PAD] = symbols
        zero_row = RING * block
        row_of = np.full(N, zero_row, np.int32)  # ring row of each layer-1 anchor (zero_row: never computed)
        ring = [None] + [np.zeros((zero_row + 1, self.k), self.dtype) for _ in range(3)]
        cost = 0.0
        all_logits = np.zeros((N, self.L), self.dtype) if keep_logits else None
        for s in range(nsteps):
            t = t_min + s
            blk = (s % RING) * block
            out = None
            for li, layer in enumerate(layers):
                idx = self._anchors(plans[li], t, Wp)
                if idx.size == 0:
                    continue
                if li == 0:
                    row_of[idx] = np.arange(blk, blk + idx.size, dtype=np.int32)
                    for r in ring[1:]:
                        r[blk:blk + block] = 0
                    X = values[sym_frame[(idx[:, None] + layer.offs[None, :]).ravel()]].reshape(idx.size, -1)
                else:
                    X = ring[li][row_of[(idx[:, None] + layer.offs[None, :]).ravel()]].reshape(idx.size, -1)
                out = self._layer(li, layer, X, ring, row_of[idx])
                if li < 3:
                    ring[li + 1][row_of[idx]] = out
            if idx.size == 0:
                continue
            if keep_logits:
                all_logits[idx] = out
            p, log2p = self._probs(out)
            if decoder is not None:  # shared_data.entropy.Decoder: ContainerError on exhausted/invalid data
                syms = decoder.decode(p, dtype=p.dtype).astype(np.int32)
                sym_frame[idx] = syms
            else:
                syms = sym_frame[idx].astype(np.int64)
                cost -= float(log2p[np.arange(idx.size), syms].sum())
                if encoder is not None:
                    encoder.encode(syms.astype(np.int32), p, dtype=p.dtype)
        out_syms = sym_frame.reshape(Dp, Hp, Wp)[PAD:, PAD:-PAD, PAD:-PAD].astype(np.int32)
        if keep_logits:
            return out_syms, cost, all_logits.reshape(Dp, Hp, Wp, self.L)[PAD:, PAD:-PAD, PAD:-PAD]
        return out_syms, cost


class ContextModelInt(ContextModelNumpy):
    """The same wavefront schedule in exact integer arithmetic (stream format 3, ``cpm.integer``).

    Every array holds integers in float64 below 2^53 (bound checked at conversion), so the BLAS products
    are exact whatever the kernel or summation order; requantisation is floor((acc + 2^(s-1)) · 2^-s);
    the softmax is a decimal-computed integer table normalised by one IEEE division per entry. The
    probabilities handed to constriction are therefore bit-identical on every IEEE-754 machine."""

    dtype = np.float64

    def __init__(self, L: int, use_centers_for_padding: bool, ipc):
        from .integer import LAYERS, masked_taps
        m = ipc.meta
        self.meta = m
        self.L = L
        cq = ipc.arrays["centers_q"]
        if cq.shape != (L,):
            raise ValueError(f"integer context model has {cq.shape[0]} centers, the model {L}")
        self.centers = cq.astype(np.float64)
        self.pad_value = self.centers[0] if use_centers_for_padding else 0.0
        self.taps = masked_taps(3)
        fi, fw, fa, fl = m["frac_in"], m["frac_w"], m["frac_act"], m["frac_logit"]
        self.shifts = [fi + fw - fa, fw, fw, fa + fw - fl]
        # the round-half-up constant 2^(s-1) of exact.rshift_round is folded into the (integer) bias
        self.weights = [(ipc.arrays[f"{n}/taps_q"].astype(np.float64),
                         ipc.arrays[f"{n}/biases_q"].astype(np.float64) + float(1 << (s - 1) if s > 0 else 0))
                        for n, s in zip(LAYERS, self.shifts)]
        self.inv = [2.0 ** -s for s in self.shifts]
        self.k = self.weights[0][0].shape[1]
        self.frac_logit, self.prob_frac = fl, m["prob_frac"]
        # exact.softmax_weights' table, built once: weight(d) = max(round(exp(-d / 2^fl) * 2^pf), 1), d <= span
        self.span = int(math.ceil((self.prob_frac + 1) * math.log(2) * (1 << fl)))
        tab = exact.table("exp", -self.span, 0, fl, self.prob_frac)[::-1]
        self.exp_weights = np.maximum(tab, 1).astype(np.float64)

    def _layer(self, li, layer, X, A, idx):
        out = X @ layer.w       # exact: integers, every partial sum < 2^53 (bound checked at conversion)
        out += layer.b          # bias + 2^(s-1)
        out *= self.inv[li]     # division by 2^s: exact
        np.floor(out, out=out)  # = exact.rshift_round(X @ W + b, s)
        if layer.relu:
            np.maximum(out, 0, out=out)
        if layer.residual_from is not None:
            out += np.take(A[layer.residual_from], idx, axis=0)
        return out

    def softmax_weights(self, logits_q):
        """= ``exact.softmax_weights(logits_q, frac_logit, prob_frac)`` (integer logits held in float64)."""
        d = np.max(logits_q, axis=1, keepdims=True) - logits_q
        np.minimum(d, self.span, out=d)
        return self.exp_weights[d.astype(np.int64)]

    def _probs(self, out):
        w = self.softmax_weights(out)
        p = w / np.sum(w, axis=1, keepdims=True)  # = exact.normalise(w): exact sums, one IEEE division each
        return p, np.log2(p)


def encode_symbols(cm: ContextModelNumpy, symbols: np.ndarray) -> tuple[bytes, float]:
    """Range-code a (C,h,w) int symbol volume; returns (bytes, ideal bits under the coded probabilities)."""
    C, h, w = symbols.shape
    enc = entropy.Encoder("range")
    symbols = np.asarray(symbols)
    if symbols.size and (symbols.min() < 0 or symbols.max() >= cm.L):
        raise ValueError(f"symbols outside 0..{cm.L - 1}")
    _, bits = cm.run(C, h, w, symbols=symbols, encoder=enc)  # any integer dtype: no int64 copy of a huge volume
    return enc.finish(), bits


def decode_symbols(cm: ContextModelNumpy, data: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """The (C,h,w) symbols of a payload; :class:`ContainerError` (naming the entropy decoder's failure, a
    length that is not whole 32-bit words, or data left over) for one that is not of this model and shape."""
    dec = entropy.Decoder(data, "range", what="range-coder words")
    syms, _ = cm.run(*shape, decoder=dec)
    if not dec.exhausted():
        raise CodingError("payload has data left after the last symbol (corrupt or not written for this image)")
    return syms
