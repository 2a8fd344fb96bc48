"""Bits-back coding of (ŷ, z) with a real ANS stack (constriction) into the shared container (survey §4).

The hyper-latent z is not transmitted for free: it is *decoded* from the ANS stack under the posterior
q(z|ŷ) (consuming bits that are already there), then ŷ and z are *encoded* under the priors; the decoder pops
z and ŷ and re-encodes z under q, which restores the borrowed bits. The net cost of z is
−log₂ p(z) + log₂ q(z) instead of −log₂ p(z).

Encoder, per image (batch size 1, so that the decoder can repeat every float computation bit for bit):

1. q = (m, s) = q_fit(ŷ): the method's deterministic fit of q(z|ŷ) (A6: h_a(ŷ); A5: Adam .005, 1000 its from
   h_a(ŷ); M2 stage 2: Adam .003, 2000 its from h_a(ŷ); seeded stateless z samples).
2. **pop** k ~ q on the grid z = k / Z_DENSITY (Z_DENSITY = 4, the original's): a ``QuantizedGaussian`` over
   the integers k in [−R_z, R_z] with mean 4m and std 4e^{s/2} (unit bins in k = bins of width 1/4 in z; the
   model is leaky: every k in range has a nonzero probability).
3. **push** ŷ under p(ŷ|z) = N(μ, σ²) * U(−½, ½) with (μ, σ) = h_s(k/4): a ``QuantizedGaussian`` over the
   integers in [−R_y, R_y] (its unit bins are exactly the convolution with U(−½, ½); σ ≥ 0.11 as in training).
4. **push** k under p(z): per channel a ``Categorical`` over k in [−R_z, R_z] with probabilities ∝ the
   flexible prior's *density* at k/4 (bounded below at 1e-9; constriction keeps every bin nonzero).

The grid widths cancel: bits(z) − bits back ≈ −log₂(p(z)/4) + log₂(q(z)/4). R_y and R_z are the smallest of
``RANGES`` covering the data (stored in the header). The net z cost is the information content the paper
reports (``est_z_bpp − est_bpp_back``) up to the discretization and the 24-bit fixed-point models.

**Side information and chains.** Bits-back needs bits on the stack before the first pop. In a stream of images
these are the previously coded images: ``encode_chain`` codes several images into ONE stack, image i
borrowing from the words of images 0..i−1, and the decoder, which decodes the last image first, gets each
earlier image's words back when it re-encodes z under q. Image 0 borrows from a public pseudo-random word
sequence (``seed_words``: 10 + #z words of 32 bits with the top bit set, seeded with ``SEED``; the original
seeded 10 + #z words from RandomState(1234)); the bottom of the final stack that still equals that sequence is
not stored (the header keeps the length of the common prefix). So a file holds exactly

    8·|payload| = Σ_i net_bits_i + startup_bits,   net_bits_i = bits pushed for image i − bits it borrowed,

measured on the real stack (``AnsCoder.num_bits``), where ``startup_bits`` are the seed bits image 0 borrowed
(what the original subtracts as "side-information bits": net size = file bits − side-information bits). A
single image is a chain of one: its file decodes on its own but does not realize the saving (its borrowed bits
are public noise). After decoding, the decoder checks that the stack **is** the seed sequence again (every
borrowed bit was recovered).

Container (codec ``"sga"``): sections = (header varints [FORMAT_BB, method id, grid id, y_h, y_w, z_h, z_w,
prefix words, q-fit iterations, #images, (symbol CRC-32,) (R_y index, R_z index) per image], ANS words
little-endian uint32[, arithmetic config]). Formats: 2 (float path, no CRC, no config; still decodes), 4 (float
path + the encoder's arithmetic configuration + a CRC-32 of every ŷ and k of the chain: a decoder whose float
h_s / q fit differs fails naming both configurations instead of returning wrong images), 6 (portable: as 4, with
μ, σ from the integer h_s of an integerized model and the stored prior densities, ``sga.portable``).
New files' symbol CRC also covers the image H x W (flag bit 2^32, ``sga.stream.SIZED_CRC``).

**What is portable (format 6).** Popping k under p(z) (stored table) and ŷ under p(ŷ|k) (integer h_s; σ from
the stored decimal exp table) is exact, so a single-image file decodes to the same ŷ on every machine. The q
fit that re-pushes k (to give the borrowed bits back) stays float — A6's h_a(ŷ) and A5/M2's Adam iterations —
so in a chain of several images, the earlier images are only recovered where that float q fit reproduces
the encoder's bit for bit; elsewhere the symbol CRC fails and the error names both arithmetic configurations
(never a wrong image). A single-image file then only loses the ``recovered`` check (a warning).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from shared_data import container as lic
from shared_data import entropy

from . import arith_config
from .inference import GRID_IDS, METHOD_IDS, METHOD_NAMES, METHODS, IterativeInference
from .stream import (
    CODEC,
    RANGES,
    SIZED_CRC,
    Z_DENSITY,
    SGAArithmeticError,
    SGAFormatError,
    check_fingerprint,
    choose_portable,
    crc_matches,
    model_fingerprints,
    read_checked,
    symbol_crc,
)

FORMAT_BB_LEGACY = 2  # float path, no CRC / config (decode only)
FORMAT_BB = 4  # float path + arithmetic config + symbol CRC
FORMAT_BB_PORTABLE = 6  # integer h_s + stored prior densities (sga.portable)
SEED = 1234
Q_FIT_SEED = 20201206  # base of the stateless seeds of the q fit's per-step z samples


def seed_words(n: int) -> np.ndarray:
    """The public side-information sequence: n uint32 words with the top bit set."""
    rng = np.random.default_rng(SEED)
    return rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32) | np.uint32(1 << 31)


def _pick_range(need: float, what: str) -> int:
    for i, r in enumerate(RANGES):
        if r >= need:
            return i
    raise ValueError(f"{what} needs a symbol range of ±{need:.0f}, more than the coder's ±{RANGES[-1]}")


class BitsBackCoder:
    """Bits-back ANS coder for one :class:`sga.model_bb.MBT2018BB`."""

    def __init__(self, model, lmbda: float = 0.0, portable: bool | None = None):
        import constriction  # the ANS stack itself: bits-back pops and pushes on one stack (seeded, unsealed),
        # a pattern shared_data.entropy's Encoder/Decoder pair does not cover; its models and word I/O are used

        if not getattr(model, "is_bits_back", False):
            raise ValueError("bits-back coding needs the bits-back model (mbt2018_bb), not a plain mbt2018 model")
        self.model, self.lmbda = model, float(lmbda)
        self.cs = constriction.stream
        self.portable = choose_portable(model, portable)
        self.integer = (getattr(model, "integer_data", None) or (None, None))[0]
        self.float_fingerprint, self.portable_fingerprint = model_fingerprints(model)
        self.fingerprint = self.portable_fingerprint if self.portable else self.float_fingerprint
        self._fits = {}
        self._prior_tables = {}

    def read(self, path, model_dir=None) -> lic.Container:
        return read_checked(path, self.float_fingerprint, self.portable_fingerprint, model_dir)

    # --- pieces both sides compute identically ---------------------------------------------------------
    def q_its(self, method: str, its=None) -> int:
        """Iterations of the method's q fit: its own count, or ``its`` (shortened runs) if it has any."""
        own = METHODS[METHODS[method].q_fit].its
        return own if (its is None or own == 0) else int(its)

    def q_fit(self, y_hat, method: str, num_pixels: int, its=None):
        """(m, s) float64 arrays of q(z|ŷ) for one image (1,h,w,N), by the method's deterministic fit."""
        name = METHODS[method].q_fit
        its = self.q_its(method, its)
        key = (name, its)
        if key not in self._fits:
            from .inference import with_overrides

            self._fits[key] = IterativeInference(self.model, self.lmbda, with_overrides(METHODS[name], its=its))
        _, q, _ = self._fits[key].run(None, progress=False, record=False, y_init=y_hat, num_pixels=num_pixels,
                                      seed=Q_FIT_SEED)
        m, s = np.split(q.numpy().astype(np.float64), 2, axis=-1)
        return m, s

    def _side(self, k, y_shape, portable=False):
        if portable:  # exact: integer h_s on k (= z·4, two fractional bits), σ from the decimal exp table
            from .portable import IN_FRAC, OUT_FRAC, hs_int, sigma_exact

            assert (1 << IN_FRAC) == Z_DENSITY
            mu_q, raw_q = hs_int(self.integer, np.asarray(k, np.float64), y_shape)
            return mu_q * (1.0 / (1 << OUT_FRAC)), sigma_exact(self.integer, raw_q)
        z = tf.constant(k.astype(np.float32) / Z_DENSITY)
        mu, sigma = self.model.side_params(z, y_shape)
        return mu.numpy().astype(np.float64), sigma.numpy().astype(np.float64)

    def _prior_probs(self, r_idx, z_shape, portable=False):
        """Per element, the categorical over k in [−R, R] ∝ p(k/4) (rows in raster order, channel last);
        portable: sliced from the densities stored at conversion (the same float32 values, never recomputed)."""
        if portable:
            dens = self.integer["prior_density"]
            c, r = dens.shape[1] // 2, RANGES[r_idx]
            table = np.ascontiguousarray(dens[:, c - r:c + r + 1].astype(np.float64))
            return np.tile(table, (int(np.prod(z_shape[:-1])), 1))
        if r_idx not in self._prior_tables:
            r = RANGES[r_idx]
            k = np.arange(-r, r + 1, dtype=np.float32) / Z_DENSITY
            n = self.model.num_filters
            dens = self.model.z_density(tf.constant(np.repeat(k[:, None], n, 1))).numpy()
            self._prior_tables[r_idx] = np.ascontiguousarray(dens.T.astype(np.float64))  # (N, 2R+1)
        table = self._prior_tables[r_idx]
        n_pos = int(np.prod(z_shape[:-1]))
        return np.tile(table, (n_pos, 1))

    def _q_model(self, m, s):
        mean = (Z_DENSITY * m).ravel()
        std = (Z_DENSITY * np.exp(0.5 * s)).ravel()
        return mean, std

    # --- encode / decode ------------------------------------------------------------------------------
    def encode(self, y_hat, method: str, height: int, width: int, q_its=None):
        """One image: ``encode_chain`` of a single ŷ (1,h,w,N). Returns (Container, info of that image)."""
        c, infos = self.encode_chain([y_hat], method, height, width, q_its)
        return c, infos[0]

    def encode_chain(self, y_hats, method: str, height: int, width: int, q_its=None):
        """Bits-back code images of one size into ONE ANS stack (a chain): image i borrows its bits from the
        stack that holds images 0..i−1 (image 0 from the public seed sequence), exactly as a stream of images
        would. Returns (Container, per-image info): q (m, s), z (= k/4), ``net_bits`` (the growth of the real
        stack by that image: bits pushed − bits borrowed), ``pushed_bits``, ``borrowed_bits``. The file's
        size is 8·(header) + Σ net_bits + ``startup_bits`` (the seed bits image 0 borrowed; info[0])."""
        q_its = self.q_its(method, q_its)
        shape = np.asarray(y_hats[0]).shape
        zh, zw, n = -(-shape[1] // 4), -(-shape[2] // 4), self.model.num_filters
        seed = seed_words(10 + zh * zw * n)
        ans = self.cs.stack.AnsCoder(seed.copy(), seal=False)
        infos, ranges, syms = [], [], []
        for y_hat in y_hats:
            y_hat = np.asarray(y_hat, np.float32)
            if y_hat.shape != shape or not np.array_equal(y_hat, np.round(y_hat)):
                raise ValueError("every y_hat of a chain must have the same shape and lie on the integer grid")
            m, s = self.q_fit(y_hat, method, height * width, q_its)  # 1. q(z|ŷ)
            mean, std = self._q_model(m, s)
            rz = _pick_range(float(np.max(np.abs(mean) + 6.0 * std)) + 1.0, "z")
            ry = _pick_range(float(np.max(np.abs(y_hat))), "y")
            b0 = ans.num_bits()
            qmodel = self.cs.model.QuantizedGaussian(-RANGES[rz], RANGES[rz])
            k = ans.decode(qmodel, mean, std).astype(np.int32).reshape(m.shape)  # 2. pop z ~ q (borrow)
            b1 = ans.num_bits()
            mu, sigma = self._side(k, y_hat.shape, self.portable)
            ymodel = self.cs.model.QuantizedGaussian(-RANGES[ry], RANGES[ry])
            ans.encode_reverse(y_hat.astype(np.int32).ravel(), ymodel, mu.ravel(), sigma.ravel())  # 3. ŷ|z
            ans.encode_reverse((k + RANGES[rz]).astype(np.int32).ravel(), entropy.categorical(),
                               self._prior_probs(rz, k.shape, self.portable))  # 4. z
            b2 = ans.num_bits()
            ranges += [ry, rz]
            syms += [y_hat, k]
            infos.append({"q": (m, s), "z": k.astype(np.float32) / Z_DENSITY, "net_bits": b2 - b0,
                          "pushed_bits": b2 - b1, "borrowed_bits": b0 - b1})
        words = ans.get_compressed()
        lim = min(len(words), len(seed))
        diff = np.nonzero(words[:lim] != seed[:lim])[0]
        prefix = int(diff[0]) if diff.size else lim
        head = lic.pack_ints([FORMAT_BB_PORTABLE if self.portable else FORMAT_BB, METHOD_IDS[method], GRID_IDS["bitsback"], shape[1], shape[2], zh, zw,
                              prefix, q_its, len(y_hats), symbol_crc(*syms, size=(height, width))] + ranges)
        payload = entropy.to_bytes(words[prefix:])
        infos[0]["startup_bits"] = 8 * len(payload) - sum(i["net_bits"] for i in infos)
        cfg = arith_config.pack(arith_config.describe())
        return lic.Container(CODEC, self.fingerprint, int(height), int(width), (head, payload, cfg)), infos

    def decode_chain(self, c: lic.Container, path=None):
        """Return ([ŷ_i (1,h,w,N) float32], [z_i], method, recovered). ``recovered`` is True when, after the
        last (= first coded) image, re-encoding z under q rebuilt exactly the public seed sequence, i.e.
        every borrowed bit came back. Format 4: a symbol-CRC mismatch raises SGAArithmeticError."""
        head = lic.unpack_ints(c.sections[0], max_count=2 * 4096 + 11) if c.sections else []
        fmt = head[0] if head else None
        nsec = {FORMAT_BB_LEGACY: 2, FORMAT_BB: 3, FORMAT_BB_PORTABLE: 3}
        if fmt not in nsec or len(head) < 12:
            raise SGAFormatError(f"unknown bits-back payload header {head[:2]} (this decoder reads bits-back "
                                 f"formats {sorted(nsec)})")
        if len(c.sections) != nsec[fmt]:
            raise SGAFormatError(f"expected {nsec[fmt]} sections for bits-back format {fmt}, found {len(c.sections)}")
        portable = fmt == FORMAT_BB_PORTABLE
        if portable and self.integer is None:
            check_fingerprint(c, fmt, self.float_fingerprint, None, path)
        cfg = arith_config.unpack(c.sections[2], path) if fmt != FORMAT_BB_LEGACY else None
        _, mid, gid, yh, yw, zh, zw, prefix, q_its, count = head[:10]
        crc = head[10] if fmt != FORMAT_BB_LEGACY else None
        ranges = head[11:] if fmt != FORMAT_BB_LEGACY else head[10:]
        if METHOD_NAMES.get(mid) not in ("bb_sga", "bb_no_sga", "bb_plain") or gid != GRID_IDS["bitsback"]:
            raise SGAFormatError(f"method id {mid} / grid id {gid} is not a bits-back method")
        if not (yh == -(-c.height // 16) and yw == -(-c.width // 16) and zh == -(-yh // 4)
                and zw == -(-yw // 4)):
            raise SGAFormatError(f"latent shapes {yh}x{yw}/{zh}x{zw} do not fit a {c.height}x{c.width} image")
        if (count < 1 or len(ranges) != 2 * count or max(ranges) >= len(RANGES) or len(c.sections[1]) % 4
                or q_its > 100000):
            raise SGAFormatError("corrupt bits-back header or payload length")
        method = METHOD_NAMES[mid]
        n = self.model.num_filters
        seed = seed_words(10 + zh * zw * n)
        if prefix > len(seed):
            raise SGAFormatError(f"side-information prefix {prefix} longer than the seed ({len(seed)} words)")
        words = np.concatenate([seed[:prefix], entropy.to_words(c.sections[1], "bits-back ANS payload", SGAFormatError)])
        if len(words) == 0 or words[-1] == 0:
            raise SGAFormatError("corrupt ANS payload (empty or unsealed stack)")
        y_hats, zs, ks = [], [], []
        try:
            ans = self.cs.stack.AnsCoder(words, seal=False)
            for i in reversed(range(count)):
                ry, rz = ranges[2 * i], ranges[2 * i + 1]
                k = (ans.decode(entropy.categorical(),
                                self._prior_probs(rz, (1, zh, zw, n), portable))
                     .astype(np.int32) - RANGES[rz]).reshape(1, zh, zw, n)
                mu, sigma = self._side(k, (1, yh, yw, n), portable)
                ymodel = self.cs.model.QuantizedGaussian(-RANGES[ry], RANGES[ry])
                y_hat = ans.decode(ymodel, mu.ravel(), sigma.ravel()).astype(np.float32).reshape(1, yh, yw, n)
                m, s = self.q_fit(y_hat, method, c.height * c.width, q_its)
                mean, std = self._q_model(m, s)
                ans.encode_reverse(k.ravel(), self.cs.model.QuantizedGaussian(-RANGES[rz], RANGES[rz]), mean, std)
                y_hats.insert(0, y_hat)
                ks.insert(0, k)
                zs.insert(0, k.astype(np.float32) / Z_DENSITY)
            rest = ans.get_compressed()
        except (ValueError, RuntimeError, OverflowError, IndexError) as e:
            if cfg is not None and (count > 1 or not portable):
                raise SGAArithmeticError(arith_config.mismatch_message(
                    path, cfg, f"ANS decoding failed ({str(e).splitlines()[0][:80]})", portable)) from None
            raise SGAFormatError(f"corrupt ANS payload ({str(e).splitlines()[0][:200]})") from None
        if crc is not None and not crc_matches(crc, c.height, c.width,
                                               *[a for pair in zip(y_hats, ks, strict=True) for a in pair]):
            what = "bits-back symbol CRC mismatch" + (f" (or the image size {c.height}x{c.width} was altered)"
                                                      if crc & SIZED_CRC else "")
            raise SGAArithmeticError(arith_config.mismatch_message(path, cfg, what, portable))
        return y_hats, zs, method, bool(np.array_equal(rest, seed))

    def decode_latents(self, c: lic.Container, path=None):
        """One-image file: (ŷ, z, method, recovered)."""
        y_hats, zs, method, recovered = self.decode_chain(c, path)
        if len(y_hats) != 1:
            raise SGAFormatError(f"this file holds a chain of {len(y_hats)} images; use decode_chain")
        return y_hats[0], zs[0], method, recovered

    def reconstruct(self, y_hat, height, width) -> np.ndarray:
        x_hat = self.model.synthesis_transform(tf.constant(y_hat, tf.float32))[0, :height, :width, :]
        return np.round(np.clip(x_hat.numpy(), 0.0, 1.0) * 255.0).astype(np.uint8)

    def decode(self, c: lic.Container, path=None):
        y_hat, _, method, recovered = self.decode_latents(c, path)
        return self.reconstruct(y_hat, c.height, c.width), method, recovered
