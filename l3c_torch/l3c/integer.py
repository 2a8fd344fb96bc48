"""The portable (integer) decoder path of stream format 4: every value that feeds the entropy coder is an
exact integer computation, so files decode bit-exactly on any IEEE-754 machine, thread count or torch CPU
kernel set (Ballé, Johnston, Minnen 2019, "Integer networks for data compression with latent-variable
models"; rules in ``shared_data.exact``).

What is integer (L3C §3, Fig. 2; everything between the decoded symbols and the probabilities):

* each D^(s) (``EDSRDec``: conv1x1 head, + F^(s+1), ResBlocks with ReLU, global skip, conv3x3 + PixelShuffle)
  and each probability head (three atrous 3x3 convs, concat, conv1x1) run on integer activations held in
  float64 tensors: ``|x| < 2**A_BITS`` with ``a_frac`` fractional bits (chosen from the activation ranges
  measured on calibration crops, 8x margin), weights ``round(w * 2**f)`` with ``f`` per layer from the
  layer's largest weight (``W_BITS`` bits), biases at the accumulator's fractional bits. Every partial sum
  of a float64 convolution of such integers is an integer below ``2**53`` (checked per layer at
  conversion: ``exact.check_bound``), hence exact whatever the summation order; requantisation is
  ``exact.rshift_round`` (a power-of-two multiply and floor) and a clamp.
* the decoder input is the symbol index itself (the level value ``-1 + 2k/(L-1)``, and the RGB baselines'
  mean shift, are folded into the head conv); the last conv1x1 outputs the DMLL parameters at ``P_FRAC``
  fractional bits with the means in bin units (``(mu - x_min) / bin``) and the scales as
  ``log2(s / bin)`` (the clamp ``log s >= -7`` carried over).
* the DMLL (eqs. (4)-(6)): mixture weights from an exp table (``exact.table``: an integer softmax,
  weights ``round(exp(l - max l) * 2**16)``, at least 1), ``1/s = 2**-n * MANT[f]`` from a 4096-entry
  mantissa table, ``t = (edge - mu) / s`` computed as one exact product ``d * MANT * 2**-k`` and floored to
  ``SIG_FRAC`` bits, the logistic CDF from a sigmoid table (cell midpoints, 30-bit values), the mixture
  CDF ``sum_k w_k sigma_k`` an integer below ``2**50``, the RGB coupling coefficients (sigmoid, as upstream)
  from the same table. A stage's pmf is the integer CDF differences divided by their integer sum — one
  correctly rounded IEEE division per entry, then a correctly rounded float32 conversion: bit-identical
  everywhere. Tables are computed once at conversion with 40-digit decimal arithmetic and stored in the
  model file.

The encoders E^(s) stay float (they only choose the symbols, which the file stores).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shared_data import exact
from shared_data.container import fingerprint as container_fingerprint
from shared_data.errors import ContainerError, ModelError

VERSION = 1
W_BITS = 16            # largest |weight| of a layer -> 2**16
A_BITS = 26            # |activation| < 2**26 (clamped); the last conv's parameters < 2**27
P_FRAC = 16            # fractional bits of the DMLL parameters
PROB_BLOCK_PIXELS = 1 << 16   # pixels per row block of the probability head (memory, not the result)
SIG_FRAC = 11          # t = (edge - mu)/s resolution of the sigmoid table
SIG_RANGE = 20         # the table covers t in [-20, 20)
SIG_OUT = 30           # sigmoid values * 2**30
EXP_FRAC = 8           # mixture-logit resolution of the softmax table
EXP_OUT = 16           # softmax weights * 2**16
MANT_FRAC = 12         # log2 s resolution
MANT_OUT = 20          # 2**-f mantissa * 2**20
LS2_MAX = 24           # log2(s / bin) clamped above (flat beyond 2**24 bins)
MU_MARGIN = 1024       # means clamped into [-1024, L - 1 + 1024] bins
MARGIN_BITS = 3        # activation range headroom over the calibration maximum (8x)
EXACT_FILE = "exact.pt"


class ExactFormatError(ContainerError):
    """A file and a model disagree about the integer path (a format-4 file for a model without it, ...)."""


def _pow2(s: torch.Tensor) -> torch.Tensor:
    """2**-s for integer-valued ``s`` (float64, exact: a table of Python powers of two)."""
    return _POW2[s.long().clamp_(0, 127)]


_POW2 = torch.tensor([2.0 ** -k for k in range(128)], dtype=torch.float64)


def requant(acc: torch.Tensor, shift: int, bound: int) -> torch.Tensor:
    """``clamp(rshift_round(acc, shift), -(bound-1), bound-1)`` on float64 integers (exact)."""
    if shift > 0:
        acc = torch.floor((acc + float(1 << (shift - 1))) * (1.0 / float(1 << shift)))
    elif shift < 0:
        acc = acc * float(1 << -shift)
    return acc.clamp_(-(bound - 1), bound - 1)


@dataclass
class ILayer:
    """One integer conv: ``requant(conv2d(x, w) + b, shift)``; w, b float64 tensors holding integers."""

    name: str
    w: torch.Tensor
    b: torch.Tensor
    shift: int
    stride: int
    padding: int
    dilation: int
    bound: int = 1 << A_BITS

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        acc = F.conv2d(x, self.w, self.b, self.stride, self.padding, self.dilation)
        return requant(acc, self.shift, self.bound)

    def state(self) -> dict:
        return {"w": self.w.to(torch.int32) if self.w.abs().max() < 2 ** 31 else self.w.long(),
                "b": self.b.long(), "meta": torch.tensor([self.shift, self.stride, self.padding, self.dilation,
                                                          self.bound], dtype=torch.int64)}

    @staticmethod
    def from_state(name: str, st: dict) -> ILayer:
        m = [int(v) for v in st["meta"]]
        return ILayer(name, st["w"].double(), st["b"].double(), m[0], m[1], m[2], m[3], m[4])


def convert_conv(name: str, conv: nn.Conv2d, out_frac: int, x_max: int, in_scale=None, in_offset=None,
                 out_scale=None, out_offset=None, bound: int = 1 << A_BITS) -> ILayer:
    """Fixed-point version of a float conv whose integer input ``x`` means ``in_scale[i] * x + in_offset[i]``
    and whose output should be ``out_scale[o] * conv + out_offset[o]`` at ``out_frac`` fractional bits.

    The accumulator's fractional bits ``F`` are chosen so the largest |weight| is about ``2**W_BITS``;
    ``exact.check_bound`` refuses the layer (naming it) if ``sum |w_q| * x_max + |b_q|`` could reach 2**53.
    ``in_offset`` is only allowed for unpadded convs (a zero-padded input would not mean the offset)."""
    w = conv.weight.detach().double().cpu()
    b = conv.bias.detach().double().cpu() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    cout, cin = w.shape[:2]
    a_in = torch.ones(cin, dtype=torch.float64) if in_scale is None else torch.as_tensor(in_scale, dtype=torch.float64)
    if in_offset is not None:
        if conv.padding not in (0, (0, 0)):
            raise exact.IntegerizeError(f"layer {name!r}: an input offset needs an unpadded conv")
        b = b + (w * torch.as_tensor(in_offset, dtype=torch.float64).view(1, -1, 1, 1)).sum(dim=(1, 2, 3))
    w = w * a_in.view(1, -1, 1, 1)
    if out_scale is not None:
        s = torch.as_tensor(out_scale, dtype=torch.float64)
        w, b = w * s.view(-1, 1, 1, 1), b * s
    if out_offset is not None:
        b = b + torch.as_tensor(out_offset, dtype=torch.float64)
    wmax = float(w.abs().max())
    if not math.isfinite(wmax):
        raise exact.IntegerizeError(f"layer {name!r}: non-finite weights")
    F_acc = W_BITS - (math.ceil(math.log2(wmax)) if wmax > 0 else 0)
    w_q = exact.to_fixed(w.numpy(), F_acc)
    b_q = exact.to_fixed(b.numpy(), F_acc)
    exact.check_bound(name, exact.accumulator_bound(w_q, x_max, b_q, out_axis=0))
    st = conv.stride[0] if isinstance(conv.stride, tuple) else conv.stride
    pd = conv.padding[0] if isinstance(conv.padding, tuple) else conv.padding
    dl = conv.dilation[0] if isinstance(conv.dilation, tuple) else conv.dilation
    return ILayer(name, torch.from_numpy(w_q).double(), torch.from_numpy(b_q).double(), F_acc - out_frac,
                  int(st), int(pd), int(dl), bound)


class ExactModel:
    """The integer decoders D^(s), probability heads and DMLL tables of one float model (format 4)."""

    def __init__(self, layers: dict[str, ILayer], tables: dict[str, torch.Tensor], meta: dict, net):
        self.layers, self.tables, self.meta = layers, tables, meta
        self.a_frac = int(meta["a_frac"])
        self.sig = tables["sigmoid"]
        self.expw = tables["exp"]
        self.mant = tables["mant"]
        self.net = net
        self.baseline = net.baseline
        self.fingerprint = self._fingerprint(net)

    # ---- decoder / heads ----
    def decode_level(self, i: int, sym: torch.Tensor, fuse: torch.Tensor | None) -> torch.Tensor:
        """D^(i+1) on symbol indices ``sym (1, C, h, w)`` (+ the coarser decoder's integer output)."""
        j = self.net.net_index(i)
        p = f"dec{j}."
        L = self.layers
        bound = 1 << A_BITS
        x = L[p + "head"](sym.double())
        if fuse is not None and self.net.cfg.dec.skip:
            x = (x + fuse).clamp_(-(bound - 1), bound - 1)
        y = x
        for r in range(self.net.cfg.dec.num_blocks):
            h = L[f"{p}body{r}.c1"](y).clamp_(min=0)
            y = (L[f"{p}body{r}.c2"](h) + y).clamp_(-(bound - 1), bound - 1)
        y = (L[p + "body_out"](y) + x).clamp_(-(bound - 1), bound - 1)
        return F.pixel_shuffle(L[p + "tail"](y), 2)

    def prob_params(self, i: int, feats: torch.Tensor) -> torch.Tensor:
        """Integer DMLL parameters ``(1, P*C*K, h, w)`` at P_FRAC bits (mu in bins, log2 of s in bins)."""
        j = self.net.net_index(i)
        p = f"clf{j}."
        atrous = [self.layers[f"{p}atrous{r}"] for r in range(3)]
        lin = self.layers[p + "lin"]
        H, W = feats.shape[-2:]
        rows = max(1, PROB_BLOCK_PIXELS // max(W, 1))
        if rows >= H:
            return lin(torch.cat([a(feats) for a in atrous], dim=1))
        # row blocks with a halo of the widest dilated tap: integer sums, so exactly the whole-strip result,
        # with one block's 3·Cf concatenated activations alive instead of the strip's (issue 17: 4K memory)
        halo = max(a.dilation * (a.w.shape[-2] // 2) for a in atrous)
        out = None
        for r0 in range(0, H, rows):
            r1 = min(H, r0 + rows)
            a0, b0 = max(0, r0 - halo), min(H, r1 + halo)
            blk = feats[:, :, a0:b0]
            y = lin(torch.cat([a(blk) for a in atrous], dim=1))[:, :, r0 - a0:r1 - a0]
            if out is None:
                out = y.new_empty(y.shape[:2] + (H, W))
            out[:, :, r0:r1] = y
            del blk, y
        return out

    def split(self, level: int, params: torch.Tensor, C: int):
        """-> logit_pi, mu (clamped), log2 s (clamped), coeff logits; each ``(C, K, h, w)``."""
        dm = self.net.dmll(level)
        _, Kp, H, W = params.shape
        p = params.reshape(dm.P, C, dm.K, H, W)
        mu = p[1].clamp(*self.mu_bounds(level))
        ls = p[2].clamp(float(self.ls2_min(level)), float(LS2_MAX << P_FRAC))
        return p[0], mu, ls, (p[3] if dm.rgb else None)

    def mu_bounds(self, level: int) -> tuple[float, float]:
        L = self.net.dmll(level).L
        return float(-MU_MARGIN << P_FRAC), float((L - 1 + MU_MARGIN) << P_FRAC)

    def ls2_min(self, level: int) -> int:
        """The float model's ``log s >= -7`` as ``log2(s / bin)`` at P_FRAC bits (rounded up)."""
        dm = self.net.dmll(level)
        from .dmll import LOG_SCALES_MIN

        return math.ceil((LOG_SCALES_MIN - math.log(dm.bin)) / math.log(2) * (1 << P_FRAC))

    # ---- DMLL ----
    def coeff(self, c_logit: torch.Tensor) -> torch.Tensor:
        """sigmoid of the coupling logits at SIG_OUT bits (the table's cell holding the logit)."""
        V = SIG_RANGE << SIG_FRAC
        i = torch.floor(c_logit * (1.0 / (1 << (P_FRAC - SIG_FRAC)))).clamp_(-V, V - 1).add_(V)
        return self.sig[i.long()]

    def couple(self, mu_c: torch.Tensor, coeffs: torch.Tensor, c: int, sym: torch.Tensor) -> torch.Tensor:
        """RGB coupling (upstream): mu_G += c_0 x_R, mu_B += c_1 x_R + c_2 x_G, exactly (x = 0..255)."""
        xr = sym[0].double().unsqueeze(0)
        if c == 1:
            acc = coeffs[0] * xr
        else:
            acc = coeffs[1] * xr + coeffs[2] * sym[1].double().unsqueeze(0)
        return mu_c + requant(acc, SIG_OUT - P_FRAC, 1 << 52)

    def mixture_prep(self, pi: torch.Tensor, mu: torch.Tensor, ls2: torch.Tensor):
        """``(n, K)`` integer parameters -> (integer weights, exact 2**-k * MANT factors, mu, total mass)."""
        d = pi.amax(dim=1, keepdim=True) - pi
        span = len(self.expw) - 1
        w = self.expw[torch.floor(d * (1.0 / (1 << (P_FRAC - EXP_FRAC)))).clamp_(0, span).long()]
        lq = torch.floor(ls2 * (1.0 / (1 << (P_FRAC - MANT_FRAC))))
        n = torch.floor(lq * (1.0 / (1 << MANT_FRAC)))
        f = (lq - n * (1 << MANT_FRAC)).long()
        A = self.mant[f] * _pow2(n + (P_FRAC + MANT_OUT - SIG_FRAC))
        total = w.sum(dim=1, keepdim=True) * float(1 << SIG_OUT)
        return w, A, mu, total

    def mixture_cdf(self, prep, edges: torch.Tensor) -> torch.Tensor:
        """Integer mixture CDF ``sum_k w_k T[floor((e - mu_k) / s_k * 2**SIG_FRAC)]`` at bin-unit edges given
        at P_FRAC bits, ``(E,)`` shared or ``(n, E)``; every step exact (products < 2**48, sums < 2**50)."""
        w, A, mu, _ = prep
        e = edges.view(1, 1, -1) if edges.dim() == 1 else edges.unsqueeze(1)
        V = SIG_RANGE << SIG_FRAC
        t = e - mu.unsqueeze(2)
        t.mul_(A.unsqueeze(2))
        torch.floor_(t)
        t.clamp_(-V, V - 1).add_(V)
        s = self.sig[t.long()]
        s.mul_(w.unsqueeze(2))
        return s.sum(dim=1)

    def stage_pmf(self, dm, prep, base, lower, upper, m: int, span: int, first: bool = False):
        """Format 4's stage (``DMLL.stage_pmf`` on integer CDFs): the pmf ``(n, m)`` float32 of the ``m``
        sub-intervals of ``[base, base + m*span)`` and the integer CDF ``(n, m+1)`` at their boundaries."""
        i = torch.arange(m, dtype=torch.float64)
        partial = math.prod(dm.stages()[0]) > dm.L
        start = (span * i).unsqueeze(0) if first else base.double().unsqueeze(1) + span * i.unsqueeze(0)
        if m > 1:
            pos = start[:, 1:]
            e = (2.0 * (pos[0] if first else pos) - 1.0) * float(1 << (P_FRAC - 1))
            inner = self.mixture_cdf(prep, e)
            if not first:
                inner = torch.minimum(torch.maximum(inner, lower), upper)
            if partial:
                inner = torch.where(pos >= dm.L, upper, inner)
            full = torch.cat([lower.expand(inner.shape[0], 1), inner, upper.expand(inner.shape[0], 1)], dim=1)
        else:
            full = torch.cat([lower, upper], dim=1)
        pmf = torch.clamp(full[:, 1:] - full[:, :-1], min=0.0)
        real = start < dm.L
        if partial:
            pmf = pmf * real
        total = pmf.sum(dim=1, keepdim=True)
        empty = total == 0
        realf = real.double().expand_as(pmf)
        pmf = torch.where(empty, realf / realf.sum(dim=1, keepdim=True), pmf / torch.where(empty, 1.0, total))
        return pmf.float(), full

    # ---- identity / storage ----
    def _fingerprint(self, net) -> bytes:
        """Format-4 model fingerprint: the float model's (its encoders make the symbols) + every integer
        tensor and table + the conversion metadata, so a re-conversion with other settings is another model."""
        from .model_io import model_fingerprint

        parts = [model_fingerprint(net)]
        for k in sorted(self.layers):
            st = self.layers[k].state()
            parts += [k.encode(), st["w"].numpy().tobytes(), st["b"].numpy().tobytes(), st["meta"].numpy().tobytes()]
        for k in sorted(self.tables):
            parts += [k.encode(), self.tables[k].long().numpy().tobytes()]
        meta = "|".join(f"{k}={self.meta[k]}" for k in sorted(self.meta))
        return container_fingerprint(f"l3c-exact-v{VERSION}|{meta}", parts)

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        obj = {"version": VERSION, "meta": dict(self.meta),
               "layers": {k: v.state() for k, v in self.layers.items()},
               "tables": {k: v.long() for k, v in self.tables.items()}}
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(obj, tmp)
        os.replace(tmp, path)

    @staticmethod
    def load(path: str | os.PathLike, net, float_fp: bytes) -> ExactModel:
        from .model_io import load_weights_only

        obj = load_weights_only(path, "integer model")
        if not isinstance(obj, dict) or obj.get("version") != VERSION:
            raise ModelError(f"{path}: not an l3c integer model of version {VERSION}")
        meta = obj["meta"]
        if meta.get("source") != float_fp.hex():
            raise ModelError(f"{path}: converted from float model {meta.get('source')}, but the checkpoint beside "
                             f"it is {float_fp.hex()}; re-run python -m l3c integerize")
        layers = {k: ILayer.from_state(k, v) for k, v in obj["layers"].items()}
        tables = {k: v.double() for k, v in obj["tables"].items()}
        return ExactModel(layers, tables, meta, net)


# ---------------------------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------------------------
def make_tables() -> dict[str, torch.Tensor]:
    """The DMLL tables (40-digit decimal arithmetic, correctly rounded; stored in the model file)."""
    import decimal

    V = SIG_RANGE << SIG_FRAC
    # sigmoid at cell midpoints (i + 1/2) / 2**SIG_FRAC, i = -V .. V-1 (the index is floor(t * 2**SIG_FRAC))
    mid = exact.table("sigmoid", -2 * V, 2 * V, SIG_FRAC + 1, SIG_OUT)[1::2]
    assert len(mid) == 2 * V
    span = int(math.ceil((EXP_OUT + 1) * math.log(2) * (1 << EXP_FRAC)))
    expw = np.maximum(exact.table("exp", -span, 0, EXP_FRAC, EXP_OUT)[::-1], 1)
    ctx = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)
    with decimal.localcontext(ctx):
        ln2 = decimal.Decimal(2).ln()
        mant = [int(((-(decimal.Decimal(f) / (1 << MANT_FRAC)) * ln2).exp() * (1 << MANT_OUT))
                    .to_integral_value(rounding=decimal.ROUND_HALF_EVEN)) for f in range(1 << MANT_FRAC)]
    return {"sigmoid": torch.from_numpy(mid.copy()).double(), "exp": torch.from_numpy(expw.copy()).double(),
            "mant": torch.tensor(mant, dtype=torch.float64)}


@torch.no_grad()
def activation_range(net, images: list[np.ndarray]) -> float:
    """Largest |activation| inside the decoders and probability heads (not their parameter outputs) over
    a float forward pass of each calibration image."""
    from shared_data.imageio import pad_to_multiple

    from .network import AtrousProbabilityClassifier, EDSRDec, ResBlock, image_to_input

    top = [0.0]
    skip = set()
    mods = []
    for j in range(net.num_scales):
        skip.add(net.prob_clfs[j].atrous.lin)
        for m in list(net.nets[j].dec.modules()) + list(net.prob_clfs[j].modules()):
            if isinstance(m, (nn.Conv2d, ResBlock, EDSRDec, AtrousProbabilityClassifier)) and m not in skip:
                mods.append(m)
    hooks = [m.register_forward_hook(lambda _m, _i, out: top.__setitem__(0, max(top[0], float(out.abs().max()))))
             for m in mods if not isinstance(m, AtrousProbabilityClassifier)]
    try:
        for img in images:
            net(image_to_input(pad_to_multiple(img, net.pad_multiple)[0]), hard=True)
    finally:
        for h in hooks:
            h.remove()
    return top[0]


def integerize(net, images: list[np.ndarray], float_fp: bytes, calib_name: str = "?") -> ExactModel:
    """Convert a float model's decoders and heads to the integer path (format 4); raises
    ``exact.IntegerizeError`` naming a layer whose accumulator bound reaches 2**53."""
    net.eval()
    amax = activation_range(net, images)
    a_frac = A_BITS - MARGIN_BITS - max(0, math.ceil(math.log2(max(amax, 1e-9))))
    X = 1 << A_BITS
    layers: dict[str, ILayer] = {}
    cfg = net.cfg
    sa = 2.0 ** -a_frac
    for j in range(net.num_scales):
        dec, p = net.nets[j].dec, f"dec{j}."
        C = dec.head.in_channels
        if net.baseline:
            from .network import RGB_MEAN

            scale, off, xmax = [1.0] * C, [-255.0 * m for m in RGB_MEAN], 255
        else:
            lv = net.nets[0].enc.q.levels.detach().double()
            step = (float(lv[-1]) - float(lv[0])) / (len(lv) - 1)
            if not torch.allclose(lv, float(lv[0]) + step * torch.arange(len(lv), dtype=torch.float64), atol=1e-6):
                raise exact.IntegerizeError("quantizer levels are not equally spaced; cannot fold them")
            scale, off, xmax = [step] * C, [float(lv[0])] * C, len(lv) - 1
        layers[p + "head"] = convert_conv(p + "head", dec.head, a_frac, xmax, scale, off)
        body = list(dec.body)
        for r in range(cfg.dec.num_blocks):
            c1, c2 = body[r].body[0], body[r].body[2]
            layers[f"{p}body{r}.c1"] = convert_conv(f"{p}body{r}.c1", c1, a_frac, X, [sa] * c1.in_channels)
            layers[f"{p}body{r}.c2"] = convert_conv(f"{p}body{r}.c2", c2, a_frac, X, [sa] * c2.in_channels)
        last = body[-1]
        layers[p + "body_out"] = convert_conv(p + "body_out", last, a_frac, X, [sa] * last.in_channels)
        tail = dec.tail[0]
        layers[p + "tail"] = convert_conv(p + "tail", tail, a_frac, X, [sa] * tail.in_channels)
        clf, q = net.prob_clfs[j].atrous, f"clf{j}."
        for r, a in enumerate(clf.atrous):
            layers[f"{q}atrous{r}"] = convert_conv(f"{q}atrous{r}", a, a_frac, X, [sa] * a.in_channels)
        dm = net.dmll(0 if j == 0 else 1)
        Cl = 3 if j == 0 else cfg.q.C
        o_s, o_o = [], []
        for pp in range(dm.P):
            for _ in range(Cl * dm.K):
                if pp == 1:      # mean -> bins
                    o_s.append(1.0 / dm.bin), o_o.append(-dm.x_min / dm.bin)
                elif pp == 2:    # log s -> log2(s / bin)
                    o_s.append(1.0 / math.log(2)), o_o.append(-math.log(dm.bin) / math.log(2))
                else:
                    o_s.append(1.0), o_o.append(0.0)
        layers[q + "lin"] = convert_conv(q + "lin", clf.lin, P_FRAC, X, [sa] * clf.lin.in_channels, None, o_s, o_o,
                                         bound=1 << (A_BITS + 1))
    meta = {"a_frac": a_frac, "act_max": f"{amax:.4g}", "calib": calib_name, "source": float_fp.hex(),
            "w_bits": W_BITS, "a_bits": A_BITS, "p_frac": P_FRAC, "sig": f"{SIG_FRAC}/{SIG_RANGE}/{SIG_OUT}",
            "exp": f"{EXP_FRAC}/{EXP_OUT}", "mant": f"{MANT_FRAC}/{MANT_OUT}"}
    return ExactModel(layers, make_tables(), meta, net)


def calibration_images(max_images: int = 6, crop: int = 128) -> tuple[list[np.ndarray], str]:
    """Centre crops of Kodak ($KODAK_DIR) or else of the training photos ($TRAIN_DIR); a synthetic image if
    neither is there. Returns (images, description)."""
    from shared_data.imageio import read_image

    from .data import default_dir, resolve_glob

    for var in ("KODAK_DIR", "TRAIN_DIR"):
        try:
            files = resolve_glob(str(default_dir(var)))
        except Exception:  # missing directory
            files = []
        if files:
            step = max(1, len(files) // max_images)
            out = []
            for f in files[::step][:max_images]:
                im = read_image(f)
                h, w = im.shape[:2]
                t, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
                out.append(np.ascontiguousarray(im[t:t + crop, left:left + crop]))
            return out, f"{var} {len(out)} centre crops {crop}"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    base = np.stack([128 + 60 * np.sin(xx / 7 + c) * np.cos(yy / 9 - c) for c in range(3)], axis=2)
    return [np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)], "synthetic 64x64"
