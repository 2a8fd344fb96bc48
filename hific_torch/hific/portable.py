"""Portable HiFiC files: an exact integer hyper-synthesis, integer coding tables, the stream-format sections.

What feeds the entropy coder must be identical on every machine (issue 15). For HiFiC that is

* the scale-table index of every element of y, chosen from h_s's σ (Minnen et al. 2018 mean-scale prior as
  used by Mentzer et al. 2020), and μ, which the generator needs to form ŷ = round(y − μ) + μ;
* the coding tables of y (64 scales) and of the hyper-latent z (the factorized prior, Ballé et al. 2018).

:func:`integerize` converts a trained model after training (Ballé, Johnston, Minnen 2019, "Integer networks
for data compression with latent-variable models"): h_s weights become fixed-point integers, activations
are integers with ``ACT_FRAC`` fractional bits held in float64 (every sum of products is an integer below
2^53, checked per layer at conversion, so a float64 convolution is exact whatever its summation order,
vector width or thread count), requantisation is a round-half-up right shift, ReLU is exact, and the
scale index is the number of integer thresholds ⌈√(s_i s_{i+1})·2^f⌉ at or below the integer σ (nearest
table scale in log space, as the float path's rounding). The tables become integer frequencies whose
probabilities ``count / Σ count`` are one correctly rounded IEEE division each. Everything is stored in the
model file (``portable.*`` buffers), hashed into the portable model fingerprint; nothing is recomputed
from a float network at decode time. E and G stay float (the generator's output is not entropy coded).

Stream layouts (section 0 is varint ints, first the layout):

* 1 — the original float path: ``[1, hp, wp]``, z, y (still decodes, never written);
* 2 — float path with records: ``[2, hp, wp, crc]``, arithmetic config, z, y;
* 3 — portable: ``[3, hp, wp, crc]``, arithmetic config, z, y, coded with the integer model.

``crc`` is a CRC-32 over the layout, the sizes, the arithmetic-config bytes and the decoded integer symbols:
a decoder whose float h_s chose other tables (layout 2 on another machine), and a payload altered with the
container CRC recomputed, are refused instead of returning a wrong image.
"""

from __future__ import annotations

import copy
import math
import struct
import zlib

import numpy as np
import torch
from torch import nn

from shared_data import arith
from shared_data import container as ctr
from shared_data.exact import IntegerizeError, accumulator_bound, check_bound, to_fixed

LAYOUT_LEGACY, LAYOUT_FLOAT, LAYOUT_PORTABLE = 1, 2, 3
LAYOUT_NAMES = {LAYOUT_LEGACY: "float path, layout 1 (no records)", LAYOUT_FLOAT: "float path (layout 2)",
                LAYOUT_PORTABLE: "portable integer path (layout 3)"}
#: version of the portable block layout inside the model file
PORTABLE_VERSION = 1
#: fractional bits of h_s activations (and of μ, σ), of h_s weights, and the activation clip 2^ACT_CLIP_BITS
ACT_FRAC, WEIGHT_FRAC, ACT_CLIP_BITS = 10, 14, 24
#: |z symbol| is clipped to this before h_s (only ever reached by absurd or forged files)
Z_CLIP = 1 << 13
#: coding-table frequencies: round(p · 2^TABLE_BITS), at least 1
TABLE_BITS = 24
CONVERT_COMMAND = "python -m hific integerize CKPT OUT"


# ---- the arithmetic-config section ------------------------------------------------------------------
#: fixed preset dictionary for the raw-deflated config section (a format constant: never change it)
_ZDICT = (b"env.ATEN_CPU_CAPABILITY=default\nenv.LIC_THREADS=\nenv.MKL_ENABLE_INSTRUCTIONS=\n"
          b"env.MKL_NUM_THREADS=\nenv.OMP_NUM_THREADS=\nenv.ONEDNN_MAX_CPU_ISA=\nenv.OPENBLAS_CORETYPE=\n"
          b"env.OPENBLAS_NUM_THREADS=\nenv.TF_ENABLE_ONEDNN_OPTS=\nisa=avx512\nisa=avx2\nmachine=x86_64\n"
          b"mkldnn=1\nnumpy=1.26.4\npath=float\npath=portable\npython=3.11.\ntorch=2.14.1+cu130\n"
          b"torch_capability=AVX2\ntorch_capability=AVX512\ntorch_threads=")


def arith_config(path: str) -> dict[str, str]:
    """This process's arithmetic configuration (shared_data.arith.describe plus torch's own keys)."""
    return arith.describe(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                          torch_capability=torch.backends.cpu.get_cpu_capability(),
                          mkldnn=int(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
                          path=path)


def pack_config(cfg: dict[str, str]) -> bytes:
    """arith.pack, raw-deflated with a fixed preset dictionary (≈ 15 bytes for a default environment)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _ZDICT)
    return c.compress(arith.pack(cfg)) + c.flush()


def unpack_config(data: bytes, where: str = "") -> dict[str, str]:
    """Inverse of :func:`pack_config`; anything malformed raises ContainerError."""
    d = zlib.decompressobj(-15, _ZDICT)
    try:
        text = d.decompress(bytes(data), arith.MAX_PACKED + 1)
    except zlib.error as e:
        raise ctr.ContainerError(f"{where}corrupt hific arithmetic-config section ({e})") from None
    if len(text) > arith.MAX_PACKED or d.unconsumed_tail or not d.eof or d.unused_data:
        raise ctr.ContainerError(f"{where}corrupt hific arithmetic-config section")
    return arith.unpack(text, path=where.rstrip(": ") or None)


def symbol_crc(layout: int, h: int, w: int, hp: int, wp: int, config: bytes, z_sym, y_sym) -> int:
    """CRC-32 over the layout, sizes, config bytes and the int64 little-endian symbols (z, then y)."""
    crc = zlib.crc32(struct.pack("<5Q", layout, h, w, hp, wp))
    crc = zlib.crc32(bytes(config), crc)
    for s in (z_sym, y_sym):
        a = s.numpy() if isinstance(s, torch.Tensor) else np.asarray(s)
        crc = zlib.crc32(np.ascontiguousarray(a.astype("<i8")).tobytes(), crc)
    return crc & 0xFFFFFFFF


# ---- exact integer ops in torch float64 --------------------------------------------------------------
def rshift_round(acc: torch.Tensor, shift: int) -> torch.Tensor:
    """floor((acc + 2^(shift-1)) / 2^shift) on float64 integers < 2^53: exact (shared_data.exact's rule)."""
    if shift <= 0:
        return acc * float(1 << -shift)
    return torch.floor((acc + float(1 << (shift - 1))) * (1.0 / float(1 << shift)))


def int_probabilities(counts: np.ndarray) -> np.ndarray:
    """float64 probabilities ``count / Σ count`` of integer counts (exact sum, one rounded division each)."""
    c = np.asarray(counts, dtype=np.int64)
    return c.astype(np.float64) / float(int(c.sum()))


def frequencies(pmf: np.ndarray) -> np.ndarray:
    """Integer frequencies ``max(1, round(p · 2^TABLE_BITS))`` of a float table row (conversion time only)."""
    p = np.asarray(pmf, dtype=np.float64)
    return np.maximum(np.rint(p * float(1 << TABLE_BITS)), 1).astype(np.int64)


# ---- the integer h_s --------------------------------------------------------------------------------
def _branches(model) -> dict[str, list[nn.Module]]:
    """Float h_s branches as layer lists: {"mean": [...], "scale": [...]} or {"mixture": [..., head]}."""
    if model.cfg.use_latent_mixture_model:
        return {"mixture": [*model.hyper_synthesis_mixture.net, model.mixture_head]}
    return {"mean": list(model.hyper_synthesis_mean.net), "scale": list(model.hyper_synthesis_scale.net)}


def _layer_names(model) -> dict[str, list[str]]:
    if model.cfg.use_latent_mixture_model:
        return {"mixture": [f"hyper_synthesis_mixture.net.{i}" for i in range(5)] + ["mixture_head"]}
    return {b: [f"hyper_synthesis_{b}.net.{i}" for i in range(5)] for b in ("mean", "scale")}


class PortableHyper(nn.Module):
    """The integer form of h_s and of the coding tables (every tensor an int64 buffer, see module doc)."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        super().__init__()
        for k in sorted(tensors):
            v = tensors[k]
            if not isinstance(v, torch.Tensor) or v.dtype not in (torch.int32, torch.int64):
                raise TypeError(f"portable entry {k!r} is not an int32/int64 tensor")
            self.register_buffer(k, v.clone())
        self._exec = None
        self._tables = None

    @property
    def settings(self) -> tuple[int, int, int, int, int]:
        v = [int(x) for x in self.meta.cpu()]
        return tuple(v[:5])  # version, act_frac, weight_frac, clip_bits, table_bits

    def executors(self, model) -> dict[str, list[nn.Module]]:
        """float64 copies of the h_s layers carrying the integer weights (built once per model)."""
        if self._exec is None:
            out = {}
            for b, layers in _branches(model).items():
                ex = []
                for i, layer in enumerate(layers):
                    if isinstance(layer, nn.ReLU):
                        ex.append(None)
                        continue
                    m = copy.deepcopy(layer).to("cpu", torch.float64)
                    with torch.no_grad():
                        m.weight.copy_(getattr(self, f"{b}{i}_w").to(torch.float64))
                        m.bias.copy_(getattr(self, f"{b}{i}_b").to(torch.float64))
                    m.requires_grad_(False)
                    ex.append(m)
                out[b] = ex
            self._exec = out
        return self._exec

    @torch.no_grad()
    def hyper_synthesis(self, model, z_sym: torch.Tensor) -> dict[str, torch.Tensor]:
        """Integer h_s of the integer z symbols: {branch: float64 integers with ACT_FRAC fractional bits}."""
        _, fa, fw, clip_bits, _ = self.settings
        clip = float(1 << clip_bits)
        z = z_sym.to("cpu", torch.float64).clamp(-Z_CLIP, Z_CLIP)
        x0 = z * float(1 << fa) + self.med_q.cpu().to(torch.float64).reshape(1, -1, 1, 1)
        out = {}
        for b, layers in self.executors(model).items():
            x = x0
            for m in layers:
                if m is None:
                    x = x.clamp_min(0.0)
                else:
                    x = rshift_round(m(x), fw).clamp(-clip, clip)
            out[b] = x
        return out

    def mean_and_indexes(self, model, z_sym: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ (float32, exact: an integer / 2^ACT_FRAC) and the scale-table indexes (int64)."""
        fa = self.settings[1]
        o = self.hyper_synthesis(model, z_sym)
        thresholds = self.thresholds.cpu().to(torch.float64)
        idx = torch.searchsorted(thresholds, o["scale"].contiguous(), right=True)
        return (o["mean"] * (1.0 / float(1 << fa))).to(torch.float32), idx.to(torch.int64)

    def coding_tables(self):
        """(z TableSet, y TableSet) from the integer frequencies."""
        if self._tables is None:
            from .coding import TableSet
            zf, zl = self.z_freq.cpu().numpy(), self.z_len.cpu().numpy()
            z_tab = TableSet([int_probabilities(zf[c, :int(zl[c]) + 1]) for c in range(len(zl))],
                             [int(o) for o in self.z_off.cpu()])
            yf, yr = self.y_freq.cpu().numpy(), self.y_radius.cpu().numpy()
            y_tab = TableSet([int_probabilities(yf[i, :2 * int(r) + 2]) for i, r in enumerate(yr)],
                             [-int(r) for r in yr])
            self._tables = (z_tab, y_tab)
        return self._tables


def integerize(model, act_frac: int = ACT_FRAC, weight_frac: int = WEIGHT_FRAC,
               clip_bits: int = ACT_CLIP_BITS) -> PortableHyper:
    """Build the portable block of a trained model (tables must be built). Raises IntegerizeError naming
    the layer whose worst-case accumulator reaches 2^53, and NotImplementedError for the -LMM."""
    from .entropy import scale_table

    if model.cfg.use_latent_mixture_model and model.cfg.likelihood_type != "logistic":
        raise NotImplementedError("a portable -LMM needs --likelihood_type logistic (its CDF comes from an exact "
                                  "sigmoid table; there is no exact Gaussian-CDF table); use the float path")
    if not model.tables_ready():
        raise IntegerizeError("the model has no coding tables (call model.update() first)")
    t = {"meta": torch.tensor([PORTABLE_VERSION, act_frac, weight_frac, clip_bits, TABLE_BITS])}
    med = model.hyper_density.centres.detach().cpu().double().numpy()
    t["med_q"] = torch.from_numpy(to_fixed(med, act_frac))
    x_max = Z_CLIP * (1 << act_frac) + int(np.abs(t["med_q"].numpy()).max())
    names = _layer_names(model)
    for b, layers in _branches(model).items():
        x_in = x_max
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.ReLU):
                continue
            w = layer.weight.detach().cpu().double().numpy()
            w_q = to_fixed(w, weight_frac)
            b_q = to_fixed(layer.bias.detach().cpu().double().numpy(), weight_frac + act_frac)
            out_axis = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
            check_bound(names[b][i], accumulator_bound(w_q, x_in, b_q, out_axis=out_axis))
            t[f"{b}{i}_w"] = torch.from_numpy(w_q)
            t[f"{b}{i}_b"] = torch.from_numpy(b_q)
            x_in = 1 << clip_bits
    table = scale_table().numpy()
    t["thresholds"] = torch.tensor([math.ceil(math.sqrt(float(table[i]) * float(table[i + 1])) * (1 << act_frac))
                                    for i in range(len(table) - 1)], dtype=torch.int64)
    d = model.hyper_density
    pm = d.pmfs.detach().cpu().double().numpy()
    lengths = d.lengths.cpu().numpy()
    zf = np.zeros(pm.shape, dtype=np.int64)
    for c in range(d.channels):
        n = int(lengths[c]) + 1
        zf[c, :n] = frequencies(pm[c, :n])
    t["z_freq"], t["z_len"], t["z_off"] = torch.from_numpy(zf), d.lengths.clone(), d.offsets.clone()
    cnd = model.conditional
    py = cnd.pmfs.detach().cpu().double().numpy()
    yf = np.zeros(py.shape, dtype=np.int64)
    for i, r in enumerate(cnd.radii.cpu().numpy()):
        n = 2 * int(r) + 2
        yf[i, :n] = frequencies(py[i, :n])
    t["y_freq"], t["y_radius"] = torch.from_numpy(yf), cnd.radii.clone()
    if model.cfg.use_latent_mixture_model:
        t.update(_lmm_tables(act_frac))
    return PortableHyper({k: _narrow(v) for k, v in t.items()})


def _narrow(v: torch.Tensor) -> torch.Tensor:
    """int32 storage where every value fits (weights, frequencies): a smaller model file, same integers."""
    if v.numel() and int(v.abs().max()) < (1 << 31) - 1:
        return v.to(torch.int32)
    return v.to(torch.int64)


def integerize_file(src, dst, act_frac: int = ACT_FRAC, weight_frac: int = WEIGHT_FRAC,
                    clip_bits: int = ACT_CLIP_BITS) -> tuple[str, str]:
    """``python -m hific integerize CKPT OUT``: load, add the portable block, save atomically. Returns the
    (float, portable) fingerprints in hex. The float weights stay (training, ``--float`` files, old files)."""
    from .checkpoints import load_checkpoint, save_checkpoint

    model, ck = load_checkpoint(src)
    model.portable = integerize(model, act_frac, weight_frac, clip_bits)
    model._fingerprint = None
    keep = {k: ck[k] for k in ("step", "model_type", "train_config") if k in ck}
    keep["integerized"] = {"act_frac": act_frac, "weight_frac": weight_frac, "clip_bits": clip_bits,
                           "table_bits": TABLE_BITS, "version": PORTABLE_VERSION,
                           "float_fingerprint": model.fingerprint().hex()}
    save_checkpoint(dst, model, keep)
    return model.fingerprint().hex(), model.portable_fingerprint().hex()


# ---- the -LMM (logistic mixture) rows from integers -----------------------------------------------------
#: log-scale range of the mixture components (the port's bound -3 below; above, scales are capped at e^6)
LMM_LOG_SCALE_MIN, LMM_LOG_SCALE_MAX = -3, 6
#: sigmoid table: argument with SIG_IN_FRAC fractional bits, |t| <= SIG_RANGE, value with TABLE_BITS bits
SIG_IN_FRAC, SIG_RANGE = 8, 24
#: 1/s with INV_FRAC fractional bits; mixture weights (softmax) with PI_FRAC bits
INV_FRAC, PI_FRAC = 16, 16


def _lmm_tables(act_frac: int) -> dict[str, torch.Tensor]:
    """exp(±l) over the clipped log-scale grid and the logistic CDF (sigmoid), correctly rounded decimal
    tables (shared_data.exact.table), stored in the model file."""
    from shared_data.exact import table

    lo, hi = LMM_LOG_SCALE_MIN << act_frac, LMM_LOG_SCALE_MAX << act_frac
    return {"lmm_inv": torch.from_numpy(table("exp", -hi, -lo, act_frac, INV_FRAC)[::-1].copy()),  # exp(-l)
            "lmm_scale": torch.from_numpy(table("exp", lo, hi, act_frac, act_frac)),               # exp(+l)
            "lmm_sig": torch.from_numpy(table("sigmoid", -(SIG_RANGE << SIG_IN_FRAC), SIG_RANGE << SIG_IN_FRAC,
                                              SIG_IN_FRAC, TABLE_BITS))}


def mixture_rows(p: PortableHyper, params_q: torch.Tensor, channels: int, components: int, chunk: int = 8192):
    """The -LMM coding rows from integer parameters (B, 3·C·K, H, W) with ACT_FRAC fractional bits: the same
    window / escape layout as ``MixtureConditional.coding_rows`` (raster order of (B, C, H, W)), computed
    with int64 arithmetic and tables only, so the encoder's and decoder's rows are bit-identical."""
    from shared_data.exact import rdiv_round, softmax_weights

    from .entropy import MIXTURE_MAX_RADIUS

    fa = p.settings[1]
    one = 1 << fa
    a = params_q.detach().cpu().to(torch.float64).numpy().astype(np.int64)
    b, _, h, w = a.shape
    a = a.reshape(b, 3, channels, components, h, w).transpose(1, 0, 2, 4, 5, 3).reshape(3, -1, components)
    logits, means = a[0], a[1]
    lo, hi = LMM_LOG_SCALE_MIN << fa, LMM_LOG_SCALE_MAX << fa
    ls = np.clip(a[2], lo, hi) - lo
    inv_tab, scale_tab, sig = (getattr(p, n).cpu().numpy().astype(np.int64) for n in ("lmm_inv", "lmm_scale", "lmm_sig"))
    pis = softmax_weights(logits, in_frac=fa, out_frac=PI_FRAC, axis=1)             # (n, K) integers >= 1
    total = pis.sum(1)
    centre = rdiv_round((pis * means).sum(1), total * one)                          # round(sum pi mu)
    spread = (np.abs(means - centre[:, None] * one) + 8 * scale_tab[ls]).max(1) if len(centre) else np.zeros(0)
    radius = int(min(MIXTURE_MAX_RADIUS, max(2, -(-int(spread.max()) // one) if len(spread) else 2)))
    grid = np.arange(-radius, radius + 1, dtype=np.int64)
    inv = inv_tab[ls]                                                                # (n, K), INV_FRAC bits
    shift = fa + INV_FRAC - SIG_IN_FRAC
    t_max = SIG_RANGE << SIG_IN_FRAC
    for s in range(0, len(centre), chunk):
        c, m, iv, pi = centre[s:s + chunk], means[s:s + chunk], inv[s:s + chunk], pis[s:s + chunk]
        d = ((c[:, None] + grid[None, :]) * one)[:, :, None] - m[:, None, :]       # (n, 2R+1, K), fa bits

        def cdf(x, iv=iv):
            t = (x * iv[:, None, :] + (1 << (shift - 1))) >> shift
            return sig[np.clip(t, -t_max, t_max) + t_max]

        pmf = cdf(d + one // 2) - cdf(d - one // 2)                                  # TABLE_BITS bits, >= 0
        rows = (pmf * pi[:, None, :]).sum(2)                                         # < 2^(16+24+2)
        esc = np.maximum((total[s:s + chunk] << TABLE_BITS) - rows.sum(1), 1)
        counts = np.maximum(np.concatenate([rows, esc[:, None]], axis=1), 1)
        yield c - radius, counts.astype(np.float64) / counts.sum(1, keepdims=True).astype(np.float64)
