"""Real lossless coding of images with an L3C model (L3C §3.4 "Bitcoding"): symbols <-> bytes.

Order as upstream's ``bitcoding.py``: the coarsest level z^(S) under a uniform prior, then z^(S-1), ...,
z^(1) and finally the RGB image, each predicted from the already-(de)coded coarser levels. Within a level
the image is processed in row strips (with a halo covering the decoder's receptive field,
:attr:`l3c.network.MultiscaleNetwork.decoder_halo`, so the strip results equal the whole-image ones up to
float rounding); within a strip channels go c = 0..C-1 (RGB: R, G, B, coupled through the actual values of
the earlier channels), pixels in raster order, and per-symbol pmfs are built in chunks of at most ``chunk``
symbols (:data:`CHUNK`; a file's chunk field is refused below :data:`MIN_CHUNK`). Formats 3 and 4 code each
symbol as its digits (``DMLL.stages``: 8 x 8 x 4 for RGB, i.e. ``x // 32``, ``x // 4 % 8``, ``x % 4``; 5 x 5
for the 25 levels of z), so an RGB symbol costs the mixture CDF at 7 + 7 + 3 edges instead of 255,
vectorised over the chunk and built with one intra-op thread (see ``_one_thread``). Memory is therefore
bounded by a strip, never by all per-symbol CDFs of an image. Encoder and decoder run the *same*
decoder-side code on the same symbols, so their pmfs are bit-identical.

The entropy coder is one of the backends of :mod:`l3c.backends` (``constriction``, default, ~0.004%
overhead; or ``torchac``); the file records which was used.

File: the shared ``.lic`` container (codec "l3c") with sections
``[header ints] + [one stream per (level, channel)] + [arithmetic record]``, levels coarsest first. Header
ints: ``(format, backend id, num_levels, recursive, strip_pixels, chunk, pixel CRC-32)``, format in
:data:`FORMATS`. The readers of the older layouts (6-field headers, no arithmetic record) are in
:mod:`l3c.legacy`.
"""

from __future__ import annotations

import contextlib
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from shared_data import arith
from shared_data.container import Container, encode_varint, pack_ints, unpack_ints
from shared_data.errors import ContainerError
from shared_data.imageio import PadInfo, crop_to_original, pad_to_multiple

from . import legacy
from .backends import (  # noqa: F401 - re-exported: l3c.coding is where callers found them
    BACKEND_IDS,
    BACKENDS,
    DEFAULT_BACKEND,
    Backend,
    BackendUnavailable,
    ConstrictionBackend,
    NullBackend,
    TorchacBackend,
    get_backend,
)
from .network import MultiscaleNetwork, image_to_input

FORMAT = 4                   # 1: dense pmfs (DMLL.pmf); 2: windowed pmfs (DMLL.pmf_windowed); 3: factorised
FORMATS = (1, 2, 3, 4)       # pmfs (DMLL.stages / stage_pmf: digit by digit); 4: format 3's digits from the
FLOAT_FORMAT = 3             # integer decoder path (l3c.integer, portable). All decode; 1-3 are the float path.
PORTABLE_FORMATS = (4,)
CHUNK = 8192                 # symbols per coder call (one torchac stream each)
MIN_CHUNK = 64               # smallest chunk a file may declare: each chunk costs one coder call and a few
#                              torch ops (~0.2 ms), so a forged chunk of 1 would make a decode ~10^4x slower
MAX_CHUNK = 1 << 20
PMF_BATCH = 1024             # rows per pmf computation (keeps the K x edges intermediate in cache)
STRIP_PIXELS = 512 * 768     # pixels (at a level's resolution) per strip; a Kodak image is one strip
MAX_STRIP_PIXELS = 1 << 24


# ---------------------------------------------------------------------------------------------------------
# Strip geometry
# ---------------------------------------------------------------------------------------------------------
def strip_rows(width: int, strip_pixels: int) -> int:
    """Output rows per strip at a level of the given width (a multiple of 16, at least 16)."""
    return max(16, (strip_pixels // max(width, 1)) // 16 * 16)


def _encode_level_strips(net: MultiscaleNetwork, i: int, x_in: torch.Tensor, strip_pixels: int):
    """E^(i+1) on ``x_in (1, C, H, W)`` in row strips of its *input* resolution with the encoder's halo
    (:attr:`MultiscaleNetwork.encoder_halo`; every E^(s) has the same head 3x3, conv 5x5 stride 2 and body),
    so that only one strip's activations are alive: (symbols, next level's input), as one whole-image pass."""
    H, W = x_in.shape[-2:]
    S = strip_rows(W, strip_pixels)
    if S >= H:
        out = net.encode_level(i, x_in)
        return out.symbols, _next_input(net, out)
    halo = net.encoder_halo
    sym = nxt = None  # filled strip by strip (no list + cat: that would hold the level's input twice)
    for r0 in range(0, H, S):
        r1 = min(H, r0 + S)
        a, b = max(0, r0 - halo), min(H, r1 + halo)
        out = net.encode_level(i, x_in[:, :, a:b])
        lo, hi = (r0 - a) // 2, (r1 - a) // 2
        if sym is None:
            sym = out.symbols.new_empty(out.symbols.shape[:2] + (H // 2, W // 2))
        sym[:, :, r0 // 2:r1 // 2] = out.symbols[:, :, lo:hi]
        if i + 1 < net.num_levels:
            f = _next_input(net, out)
            if nxt is None:
                nxt = f.new_empty(f.shape[:2] + (H // 2, W // 2))
            nxt[:, :, r0 // 2:r1 // 2] = f[:, :, lo:hi]
        del out
    return sym, nxt


def _next_input(net: MultiscaleNetwork, out):
    """The input of the next encoder (upstream: F when ``enc.feed_F``, else the bottleneck)."""
    return out.F if (net.cfg.enc.feed_F and out.F is not None) else out.bn


@torch.no_grad()
def run_encoders(net: MultiscaleNetwork, x: torch.Tensor, strip_pixels: int = STRIP_PIXELS) -> list[torch.Tensor]:
    """Symbols of every bottleneck level ``1..num_levels`` for a padded image ``x (1,3,H,W)``.

    Every encoder E^(s) runs in row strips with a halo (:func:`_encode_level_strips`), so the encoder's
    memory is bounded by one strip's activations plus one level's input (issue 17: a 4K encode)."""
    if net.baseline:
        return [e.symbols for e in net.run_encoders(x)]
    H, W = x.shape[-2:]
    if strip_rows(W, strip_pixels) >= H:
        return [e.symbols for e in net.run_encoders(x)]
    out_syms, inp = [], None
    for i in range(net.num_levels):
        src = net.sub_rgb_mean(x) if i == 0 else inp
        sym, inp = _encode_level_strips(net, i, src, strip_pixels)
        del src
        out_syms.append(sym)
    return out_syms


# ---------------------------------------------------------------------------------------------------------
# The shared enc/dec traversal
# ---------------------------------------------------------------------------------------------------------
@dataclass
class _Stats:
    net_s: float = 0.0       # network passes (encoders, decoders, probability heads)
    pmf_s: float = 0.0       # building per-symbol pmfs from the DMLL parameters
    coding_s: float = 0.0    # the entropy coder itself
    est_bits: float = 0.0
    per_level_bits: dict = field(default_factory=dict)


def _code_region(net, level, params, region_sym, coders, mode, stats, chunk, fmt=FORMAT):
    """(De)code one strip of one level on the float path (format 3; the legacy formats 1 and 2 in
    :func:`l3c.legacy.code_dense`). ``region_sym (C, h, w)`` int64: read (enc) or filled (dec)."""
    dm = net.dmll(level)
    C = net.level_channels(level)
    t0 = time.perf_counter()
    pi, mu, log_s, coeffs = dm.split(params, C)
    K = dm.K
    stats.net_s += time.perf_counter() - t0
    h, w = region_sym.shape[1:]
    n = h * w
    for c in range(C):
        t0 = time.perf_counter()
        mu_c = mu[0, c]
        if dm.rgb and c > 0:
            xr = net.symbols_to_target(0, region_sym[0]).float()
            if c == 1:
                mu_c = mu_c + coeffs[0, 0] * xr
            else:
                xg = net.symbols_to_target(0, region_sym[1]).float()
                mu_c = mu_c + coeffs[0, 1] * xr + coeffs[0, 2] * xg
        pi_c = pi[0, c].reshape(K, n).t()
        mu_c = mu_c.reshape(K, n).t()
        ls_c = log_s[0, c].reshape(K, n).t()
        flat = region_sym[c].reshape(n)
        stats.net_s += time.perf_counter() - t0
        if fmt in legacy.DENSE_FORMATS:
            legacy.code_dense(dm, fmt, pi_c, mu_c, ls_c, flat, coders[c], mode, stats, chunk)
            continue
        with _one_thread():
            _code_factorised(dm, pi_c, mu_c, ls_c, flat, coders[c], mode, stats, chunk)


def exact_model(net: MultiscaleNetwork):
    """The model's integer decoder path (``l3c.integer.ExactModel``), or ExactFormatError naming the fix."""
    ex = getattr(net, "exact", None)
    if ex is None:
        from .integer import ExactFormatError

        raise ExactFormatError("stream format 4 (portable integer decoder) needs a converted model, and this "
                               "model has only the float path (formats 1-3); convert it with "
                               "python -m l3c integerize RUN_DIR RUN_DIR")
    return ex


def _code_region_exact(net, ex, level, params, region_sym, coders, mode, stats, chunk):
    """Format 4: (de)code one strip of one level from the integer parameters (``l3c.integer``)."""
    dm = net.dmll(level)
    C = net.level_channels(level)
    t0 = time.perf_counter()
    pi, mu, ls2, cl = ex.split(level, params[0:1], C)
    coeffs = ex.coeff(cl) if dm.rgb else None
    K = dm.K
    stats.net_s += time.perf_counter() - t0
    h, w = region_sym.shape[1:]
    n = h * w
    lo, hi = ex.mu_bounds(level)
    for c in range(C):
        t0 = time.perf_counter()
        mu_c = mu[c]
        if dm.rgb and c > 0:
            mu_c = ex.couple(mu_c, coeffs, c, region_sym).clamp_(lo, hi)
        pi_c = pi[c].reshape(K, n).t()
        mu_c = mu_c.reshape(K, n).t()
        ls_c = ls2[c].reshape(K, n).t()
        flat = region_sym[c].reshape(n)
        stats.net_s += time.perf_counter() - t0
        with _one_thread():
            _code_factorised(dm, pi_c, mu_c, ls_c, flat, coders[c], mode, stats, chunk, ex=ex)


@contextlib.contextmanager
def _one_thread():
    """Format 3 builds its pmfs with one intra-op thread: torch's elementwise kernels compute the vector
    tail of each thread's range with scalar code (e.g. ``std::exp`` vs SLEEF), so with several threads the
    last bits of a pmf would depend on the thread count of the machine; and on a busy 2-core CPU the
    per-op thread barrier of chunk-sized ops cost ~8 ms each (measured: encode pmfs 51 s with 2 threads vs
    1.9 s with 1 on kodim01)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _neg_log2(pmf: np.ndarray, sym: np.ndarray) -> float:
    """Bits of ``sym`` under the (row-normalised) ``pmf`` rows, floored at 2^-24 like the coders."""
    p = pmf[np.arange(sym.shape[0]), sym] / pmf.sum(axis=1)
    return -float(np.log2(np.maximum(p, 2.0 ** -24)).sum())


def _code_factorised(dm, pi_c, mu_c, ls_c, flat, coder, mode, stats, chunk, ex=None):
    """Formats 3 and 4: per chunk, code each symbol as its digits (``DMLL.stages``: 8 x 8 x 4 for RGB, 5 x 5
    for z) each under the pmf of its sub-interval given the earlier digits (``P(x) = P(d_1)
    P(d_2 | d_1) ..``, the dense pmf's distribution, but ``K*sum(m_s - 1)`` sigmoids per symbol instead of
    ``K*(L-1)``). The decoder decodes a chunk's digit before it builds the next stage's pmfs; both sides
    build every pmf with the same code from the same tensors, so they agree bit for bit."""
    radices, spans = dm.stages()
    n = flat.shape[0]
    for s0 in range(0, n, chunk):
        s1 = min(n, s0 + chunk)
        t0 = time.perf_counter()
        base = torch.zeros(s1 - s0, dtype=torch.int64)
        if ex is None:
            prep = dm.mixture_prep(pi_c[s0:s1], mu_c[s0:s1], ls_c[s0:s1])
            lower, upper = torch.zeros(s1 - s0, 1), torch.ones(s1 - s0, 1)
        else:  # format 4: integer CDFs (l3c.integer), lower 0 and upper the total mass of each row
            prep = ex.mixture_prep(pi_c[s0:s1], mu_c[s0:s1], ls_c[s0:s1])
            lower, upper = torch.zeros(s1 - s0, 1, dtype=torch.float64), prep[3]
        sym = flat[s0:s1] if mode == "enc" else None
        bits = 0.0
        for k, (m, span) in enumerate(zip(radices, spans)):
            if ex is None:
                pmf, full = dm.stage_pmf(prep, base, lower, upper, m, span, first=k == 0)
            else:
                pmf, full = ex.stage_pmf(dm, prep, base, lower, upper, m, span, first=k == 0)
            pmf_np = pmf.numpy()
            t1 = time.perf_counter()
            stats.pmf_s += t1 - t0
            if mode == "enc":
                d = torch.div(sym - base, span, rounding_mode="floor")
                d_np = d.numpy()
                coder.encode(d_np, pmf_np)
            else:
                d_np = coder.decode(pmf_np)
                if d_np.shape[0] != s1 - s0 or (d_np < 0).any() or (d_np >= m).any():
                    raise ContainerError("corrupt stream: decoded symbol out of range")
                d = torch.from_numpy(d_np)
            t0 = time.perf_counter()
            stats.coding_s += t0 - t1
            bits += _neg_log2(pmf_np, d_np)
            di = d.unsqueeze(1)
            lower, upper = full.gather(1, di), full.gather(1, di + 1)
            base = base + d * span
        if mode == "dec":
            if (base >= dm.L).any():
                raise ContainerError("corrupt stream: decoded symbol out of range")
            flat[s0:s1] = base
        stats.est_bits += bits
        stats.pmf_s += time.perf_counter() - t0


def _traverse(net: MultiscaleNetwork, syms: list[torch.Tensor], coders: list[list],
              mode: str, strip_pixels: int, chunk: int, stats: _Stats,
              progress: Callable[[str], None] | None = None, fmt: int = FORMAT):
    """Walk levels coarse -> fine, (de)coding ``syms[level] (C,h,w)`` with ``coders[level][c]``."""
    NL = net.num_levels
    # coarsest level: uniform prior
    L_top = net.level_L(NL)
    top = syms[NL]
    n_top = top[0].numel()
    for c in range(top.shape[0]):
        flat = top[c].reshape(-1)
        for s0 in range(0, n_top, chunk):
            s1 = min(n_top, s0 + chunk)
            pmf = np.full((s1 - s0, L_top), 1.0 / L_top, dtype=np.float32)
            t0 = time.perf_counter()
            if mode == "enc":
                coders[NL][c].encode(flat[s0:s1].numpy(), pmf)
            else:
                sym = coders[NL][c].decode(pmf)
                if (sym < 0).any() or (sym >= L_top).any():
                    raise ContainerError("corrupt stream: decoded symbol out of range")
                flat[s0:s1] = torch.from_numpy(sym)
            stats.coding_s += time.perf_counter() - t0
    stats.est_bits += top.numel() * math.log2(L_top)
    fuse = None
    halo = net.decoder_halo
    ex = exact_model(net) if fmt in PORTABLE_FORMATS else None
    for i in reversed(range(NL)):
        if progress:
            progress(f"level {i}")
        bn = syms[i + 1][None] if ex is not None else net.symbols_to_bn(syms[i + 1][None])
        h2, w2 = bn.shape[-2:]
        Ho, Wo = 2 * h2, 2 * w2
        S = strip_rows(Wo, strip_pixels)
        new_fuse = None
        for r0 in range(0, Ho, S):
            r1 = min(Ho, r0 + S)
            a, b = max(0, r0 - halo) // 2, (min(Ho, r1 + halo) + 1) // 2
            t0 = time.perf_counter()
            if ex is not None:
                feats = ex.decode_level(i, bn[:, :, a:b], None if fuse is None else fuse[:, :, a:b])
                params = ex.prob_params(i, feats)[:, :, r0 - 2 * a:r1 - 2 * a]
            else:
                feats = net.decode_level(i, bn[:, :, a:b], None if fuse is None else fuse[:, :, a:b])
                params = net.prob_params(i, feats)[:, :, r0 - 2 * a:r1 - 2 * a]
            if i > 0:
                if new_fuse is None:  # exact path: integers below 2**A_BITS, held as int32 (half the memory)
                    new_fuse = torch.empty(1, feats.shape[1], Ho, Wo,
                                           dtype=torch.int32 if ex is not None else feats.dtype)
                new_fuse[:, :, r0:r1] = feats[:, :, r0 - 2 * a:r1 - 2 * a]
            del feats
            stats.net_s += time.perf_counter() - t0
            before = stats.est_bits
            region = syms[i][:, r0:r1]
            if mode == "dec":
                region = region.clone()
            if ex is not None:
                _code_region_exact(net, ex, i, params, region, coders[i], mode, stats, chunk)
            else:
                _code_region(net, i, params, region, coders[i], mode, stats, chunk, fmt)
            if mode == "dec":
                syms[i][:, r0:r1] = region
            stats.per_level_bits[i] = stats.per_level_bits.get(i, 0.0) + stats.est_bits - before
            del params
        fuse = new_fuse


# ---------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------
@dataclass
class EncodeResult:
    container: Container
    stats: _Stats
    enc_net_s: float


def pad_info(height: int, width: int, multiple: int) -> PadInfo:
    """Where :func:`shared_data.imageio.pad_to_multiple` put an ``height x width`` image inside its zero
    padding to a multiple of ``multiple`` (floor(p/2) before, the rest after, as upstream's ``pad.py``)."""
    return pad_to_multiple(np.zeros((height, width, 0), np.uint8), multiple)[1]


def level_shapes(net: MultiscaleNetwork, Hp: int, Wp: int) -> list[tuple[int, int, int]]:
    """(C, h, w) of every level 0..num_levels for a padded image."""
    return [(net.level_channels(i), Hp >> i, Wp >> i) for i in range(net.num_levels + 1)]


def _lib_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # not installed
        return "none"


def arith_config(**extra) -> dict[str, str]:
    """The arithmetic configuration the float network runs under in this process (recorded in every file
    since stream format 3 + arith section; ``shared_data.arith.describe`` plus torch's own settings)."""
    return arith.describe(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                          torch_capability=torch.backends.cpu.get_cpu_capability(),
                          mkldnn=int(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
                          constriction=_lib_version("constriction"), **extra)


@contextlib.contextmanager
def _threads(n: int | None):
    """Run the network with ``n`` intra-op threads (None: leave torch's setting)."""
    old = torch.get_num_threads()
    if n is not None and n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


def portable_record() -> dict[str, str]:
    """The arithmetic record of a format-4 file: the path and constriction's version (pinned), nothing that
    depends on the machine, its thread count or its torch build."""
    return {"l3c_path": "integer", "constriction": _lib_version("constriction")}


def mismatch_note(hdr: dict) -> str:
    """What differs between the encoder's recorded arithmetic and this process (empty if nothing recorded)."""
    enc = hdr.get("arith")
    if not enc:
        return ""
    return arith.explain(enc, arith_config(**({"l3c_path": enc["l3c_path"]} if "l3c_path" in enc else {})))


@torch.no_grad()
def encode_array(net: MultiscaleNetwork, img: np.ndarray, fingerprint: bytes, backend: str = DEFAULT_BACKEND,
                 strip_pixels: int = STRIP_PIXELS, chunk: int = CHUNK, fmt: int | None = None) -> EncodeResult:
    """Losslessly encode a uint8 ``(H, W, 3)`` image into a :class:`Container` (``fmt``: stream format, see
    :data:`FORMAT`; default 4, the portable integer path, when the model has been converted (``net.exact``),
    else the float format 3; 1 and 2 are kept so that older files can be re-made). ``fingerprint`` is the
    float model's; format 4 files carry the converted model's (:func:`expected_fingerprint`)."""
    if fmt is None:
        fmt = FORMAT if getattr(net, "exact", None) is not None else FLOAT_FORMAT
    if fmt not in FORMATS:
        raise ValueError(f"unknown l3c stream format {fmt}; choose from {FORMATS}")
    if not MIN_CHUNK <= chunk <= MAX_CHUNK:
        raise ValueError(f"chunk {chunk}: must be {MIN_CHUNK}..{MAX_CHUNK} symbols per coder call")
    if not 16 <= strip_pixels <= MAX_STRIP_PIXELS:
        raise ValueError(f"strip_pixels {strip_pixels}: must be 16..{MAX_STRIP_PIXELS}")
    from shared_data.imageio import check_rgb_uint8

    check_rgb_uint8(img)
    if fmt in PORTABLE_FORMATS:
        fingerprint = exact_model(net).fingerprint
    be = backend if isinstance(backend, Backend) else get_backend(backend)
    net.eval()
    H, W = img.shape[:2]
    xp = image_to_input(pad_to_multiple(img, net.pad_multiple)[0])
    t0 = time.perf_counter()
    syms = [xp[0].long()] + [s[0] for s in run_encoders(net, xp, strip_pixels)]
    enc_net_s = time.perf_counter() - t0
    coders = [[be.new_encoder() for _ in range(net.level_channels(i))] for i in range(net.num_levels + 1)]
    stats = _Stats(net_s=enc_net_s)
    _traverse(net, syms, coders, "enc", strip_pixels, chunk, stats, fmt=fmt)
    # 7th field: CRC-32 of the pixels, so a decoder whose network arithmetic differs (other CPU / thread count)
    # fails with a clear error instead of returning a wrong "lossless" image (files without it still decode)
    crc = zlib.crc32(np.ascontiguousarray(img).tobytes()) & 0xFFFFFFFF
    header = pack_ints([fmt, be.id, net.num_levels, net.recursive, strip_pixels, chunk, crc])
    sections = [header]
    for i in reversed(range(net.num_levels + 1)):
        sections += [cd.finish() for cd in coders[i]]
    # last section: the arithmetic record. Float path: the configuration (threads, CPU capability, versions) the
    # network ran under, so a decoder can reproduce the thread count and name what differs. Portable path: its
    # decode depends on none of that, so only the path and the coder's version, and the bytes are the same on
    # every machine (issue 16: golden bytes).
    sections.append(arith.pack(arith_config(l3c_path="float") if fmt not in PORTABLE_FORMATS else portable_record()))
    return EncodeResult(Container("l3c", fingerprint, H, W, tuple(sections)), stats, enc_net_s)


@torch.no_grad()
def estimate_bits(net: MultiscaleNetwork, img: np.ndarray, strip_pixels: int = STRIP_PIXELS, chunk: int = CHUNK,
                  fmt: int | None = None) -> float:
    """The model's rate for ``img`` in bits as :func:`encode_array` would code it (the same pmfs, each
    probability floored at 2^-24, plus the uniform top level), without running an entropy coder."""
    if fmt is None:
        fmt = FORMAT if getattr(net, "exact", None) is not None else FLOAT_FORMAT
    net.eval()
    xp = image_to_input(pad_to_multiple(img, net.pad_multiple)[0])
    syms = [xp[0].long()] + [s[0] for s in run_encoders(net, xp, strip_pixels)]
    null = NullBackend()
    coders = [[null.new_encoder() for _ in range(net.level_channels(i))] for i in range(net.num_levels + 1)]
    stats = _Stats()
    _traverse(net, syms, coders, "enc", strip_pixels, chunk, stats, fmt=fmt)
    return stats.est_bits


def read_header(c: Container) -> dict:
    """The header ints of an l3c file (``ContainerError`` naming a bad field; the 6-field headers of the
    first releases, without the pixel CRC, through :func:`l3c.legacy.header_fields`)."""
    if not c.sections:
        raise ContainerError("l3c file without sections")
    vals = unpack_ints(c.sections[0], max_count=16)
    if len(vals) == 7:
        fmt, bid, nl, rec, sp, ch, crc = vals
    else:
        fmt, bid, nl, rec, sp, ch, crc = legacy.header_fields(vals)
    if fmt not in FORMATS:
        raise ContainerError(f"unknown l3c stream format {fmt} (this decoder knows {FORMATS})")
    if bid not in BACKEND_IDS:
        raise ContainerError(f"unknown entropy-coder backend id {bid} in file")
    if not 16 <= sp <= MAX_STRIP_PIXELS:
        raise ContainerError(f"corrupt l3c header: strip of {sp} pixels (must be 16..{MAX_STRIP_PIXELS})")
    if not MIN_CHUNK <= ch <= MAX_CHUNK:
        raise ContainerError(f"corrupt l3c header: chunk of {ch} symbols (must be {MIN_CHUNK}..{MAX_CHUNK})")
    return {"format": fmt, "backend": BACKEND_IDS[bid], "num_levels": nl, "recursive": rec, "strip_pixels": sp,
            "chunk": ch, "crc": crc}


def expected_fingerprint(net: MultiscaleNetwork, fmt: int, float_fp: bytes) -> bytes:
    """The model fingerprint a file of stream format ``fmt`` must carry: the converted model's for the
    portable format 4 (ExactFormatError naming the conversion when the model has none), else the float one."""
    return exact_model(net).fingerprint if fmt in PORTABLE_FORMATS else float_fp


def check_model(net: MultiscaleNetwork, c: Container, float_fp: bytes, model_dir=None) -> None:
    """Refuse a file the loaded model did not write, naming both formats and the conversion command when the
    file and the model are on different paths (float formats 1-3 vs the portable integer format 4)."""
    fmt = read_header(c)["format"]
    ex = getattr(net, "exact", None)
    where = model_dir or "RUN_DIR"
    if fmt in PORTABLE_FORMATS and ex is None:
        if c.fingerprint == float_fp:
            note = "made from this model after its conversion"
        else:
            note = "from another model"
        from .integer import ExactFormatError

        raise ExactFormatError(f"the file is stream format {fmt} (portable integer decoder, {note}); the model at "
                               f"{where} has only the float path (formats {FORMATS[:3]}): convert it with "
                               f"python -m l3c integerize {where} {where}")
    want = expected_fingerprint(net, fmt, float_fp)
    if c.fingerprint != want:
        if ex is not None and fmt not in PORTABLE_FORMATS and c.fingerprint == ex.fingerprint:
            raise ContainerError(f"the file is float-path stream format {fmt} but carries the fingerprint of this "
                                 f"model's integer conversion (format 4): corrupt header")
        raise ContainerError(f"model fingerprint mismatch: the file (stream format {fmt}) was written by model "
                             f"{c.fingerprint.hex()}, the loaded model is {want.hex()}")


def recorded_arith(net: MultiscaleNetwork, c: Container) -> dict | None:
    """The arithmetic configuration stored in the file's last section (None for files written before it)."""
    info = pad_info(c.height, c.width, net.pad_multiple)
    n_streams = sum(s[0] for s in level_shapes(net, c.height + info.top + info.bottom,
                                               c.width + info.left + info.right))
    return legacy.arith_record(c.sections, n_streams)


@torch.no_grad()
def decode_container(net: MultiscaleNetwork, c: Container) -> tuple[np.ndarray, _Stats, str]:
    """Decode a :class:`Container` (already checked for codec and fingerprint) to a uint8 image."""
    hdr = read_header(c)
    if hdr["num_levels"] != net.num_levels or hdr["recursive"] != net.recursive:
        raise ContainerError(f"file has {hdr['num_levels']} levels (recursive {hdr['recursive']}), the model "
                             f"{net.num_levels} (recursive {net.recursive}): wrong model")
    be = get_backend(hdr["backend"])
    net.eval()
    H, W = c.height, c.width
    m = net.pad_multiple
    info = pad_info(H, W, m)
    shapes = level_shapes(net, H + info.top + info.bottom, W + info.left + info.right)
    hdr["arith"] = recorded_arith(net, c)
    enc_threads = None
    if hdr["arith"] and hdr["arith"].get("torch_threads", "").isdigit():
        enc_threads = int(hdr["arith"]["torch_threads"])
    portable = hdr["format"] in PORTABLE_FORMATS
    if portable:
        exact_model(net)
    # the float path reproduces the encoder's thread count (the integer path does not depend on it)
    threads = arith.threads(default=torch.get_num_threads(), encoded=enc_threads) \
        if enc_threads and not portable else None
    syms = [torch.zeros(s, dtype=torch.int64) for s in shapes]
    coders = [None] * len(shapes)
    k = 1
    for i in reversed(range(len(shapes))):
        coders[i] = [be.new_decoder(c.sections[k + j]) for j in range(shapes[i][0])]
        k += shapes[i][0]
    stats = _Stats()
    with _threads(threads):
        note = "" if portable else mismatch_note(hdr)
        try:
            _traverse(net, syms, coders, "dec", hdr["strip_pixels"], hdr["chunk"], stats, fmt=hdr["format"])
        except MemoryError:
            raise
        except Exception as e:
            # constriction asserts on bad data; with other float arithmetic the stream desynchronises too
            what = str(e) if isinstance(e, ContainerError) else f"corrupt l3c stream ({type(e).__name__}: {e})"
            if note and not note.startswith("encoded under the same"):
                raise ContainerError(f"l3c stream does not decode under this arithmetic ({note}); float-path "
                                     f"files need the encoder's arithmetic (try decode --try-arithmetic), "
                                     f"or the file is corrupt: {what}") from None
            raise ContainerError(what) from None
    xp = syms[0].numpy().astype(np.uint8).transpose(1, 2, 0)  # (Hp, Wp, 3)
    img = np.ascontiguousarray(crop_to_original(xp, info))
    if hdr["crc"] is not None and zlib.crc32(img.tobytes()) & 0xFFFFFFFF != hdr["crc"]:
        if note and not note.startswith("encoded under the same"):
            raise ContainerError(f"decoded pixels do not match the encoder's (pixel CRC mismatch): {note} "
                                 "(float-path files need the encoder's arithmetic; try decode --try-arithmetic)")
        raise ContainerError("decoded pixels do not match the encoder's (pixel CRC mismatch): the file was encoded "
                             "with different network arithmetic (another CPU type or torch thread count"
                             + (f"; {note}" if note else "") + ") or it is corrupt")
    return img, stats, hdr["backend"]


__all__ = ["encode_array", "decode_container", "estimate_bits", "read_header", "BACKENDS", "DEFAULT_BACKEND",
           "BackendUnavailable", "encode_varint"]
