"""iREC: relative entropy coding of one latent level with the beam-search sampler (Flamich et al. 2020, §3).

Given the posterior q = N(μ_q, σ_q²) and the prior (coding distribution) p = N(μ_p, σ_p²) of one
stochastic level (diagonal Gaussians, any shape), :meth:`BeamSearchCoder.encode` returns a sample ẑ that
the decoder rebuilds *exactly* from p, the shared seed and a list of small integers (the indices):

1. **Blocks.** The flattened dimensions are permuted by a seeded permutation and cut into blocks of
   ``block_size`` (the last one shorter); blocks are coded independently (``Coder.split/merge``).
2. **Partitioning.** A block with KL(q‖p) = KL_b nats gets K_b = max(1, ⌈KL_b / Ω⌉) auxiliary variables
   a_k ~ N(0, v_k) with Σ_k a_k = z − μ_p, Ω = ``kl_per_partition``. The variances follow the original's
   extrapolated ratios: for i = K−1 … 0 (the coding order), v_i = r_i·(σ_p² − Σ_{j>i} v_j),
   r_i = (i+1)^(−0.78646…), r_0 = 1.
3. **Targets.** For the cumulative sum A_k = Σ_{j≤k} a_j with variance V = Σ_{j≤k} v_j the target is
   q_aux(A) = N((μ_q−μ_p)V/σ_p², σ_q²V²/σ_p⁴ + V(σ_p²−V)/σ_p²) and the coding distribution p_aux(A) = N(0, V).
4. **Candidates.** Each step draws N_s = int(exp(Ω·(1+ε))) candidates a_k ~ N(0, v_k) from the shared
   counter-based RNG (:mod:`rec.coding.rng`), keyed by (seed, level, step); one draw per step is shared by
   all blocks of the level and all beams.
5. **Beam search.** B = ``n_beams`` partial sums are kept; each step scores the N_s·B extensions by the
   log importance weight Σ_dims [log q_aux(A) − log p_aux(A)] and keeps the best B (greedy, α = ∞).
   The output is the best beam's index path (one index in [0, N_s) per auxiliary variable).

Everything runs in float64 numpy; the decoder's sums are the encoder's sums, operation for operation, so
the decoded latent equals the encoded one bit for bit.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from shared_data.exact import rshift_round

from . import rng

#: The original's ``AUX_RATIO_POWER_LAW``: extrapolated auxiliary variance ratios r_i = (i+1)^(-p).
AUX_RATIO_POWER_LAW = 0.7864636765648174


def num_samples(kl_per_partition: float, extra_samples: float) -> int:
    """N_s = int(exp(Ω·(1+ε))): 20 for Ω=3, ε=0; 36 for Ω=3, 1+ε=1.2."""
    return int(math.exp(kl_per_partition * extra_samples))


def aux_fractions(k: int) -> np.ndarray:
    """Fractions v/σ_p² of the K auxiliary variances (sum 1) in *coding order*: the first coded variable
    is i = K−1 (v = r_{K−1}σ_p²), the last is i = 0, which takes all the remaining variance."""
    f = np.zeros(k, dtype=np.float64)
    remaining = 1.0
    for step, i in enumerate(range(k - 1, -1, -1)):
        r = 1.0 if i == 0 else (i + 1.0) ** (-AUX_RATIO_POWER_LAW)
        f[step] = r * remaining
        remaining -= f[step]
    return f


#: Fixed-point fraction bits of the portable path's latents, prior means and scales (z_q = z · 2^Z_FRAC).
Z_FRAC = 16
#: Fraction bits of √(v_k/σ_p²) in the portable path.
SQF_FRAC = 30


@functools.lru_cache(maxsize=4096)
def _sqrt_fractions_exact(k: int) -> tuple[int, ...]:
    import decimal

    with decimal.localcontext(decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)):
        D = decimal.Decimal
        p = D(repr(AUX_RATIO_POWER_LAW))
        remaining, out = D(1), []
        for i in range(k - 1, -1, -1):
            r = D(1) if i == 0 else (D(i) + 1) ** (-p)
            f = r * remaining
            remaining -= f
            out.append(int((f.sqrt() * D(2) ** SQF_FRAC).to_integral_value(rounding=decimal.ROUND_HALF_EVEN)))
        return tuple(out)


def sqrt_fractions_q(k: int) -> np.ndarray:
    """round(√f_k · 2^SQF_FRAC) for :func:`aux_fractions` (coding order), from 40-digit decimal arithmetic:
    the portable path's candidate standard deviations are rshift(√f_k,q · σ_p,q), identical everywhere."""
    return np.array(_sqrt_fractions_exact(int(k)), dtype=np.int64)


def gaussian_kl(q_loc, q_scale, p_loc, p_scale) -> np.ndarray:
    """Elementwise KL(N(μ_q,σ_q²) ‖ N(μ_p,σ_p²)) in nats."""
    q_loc, q_scale, p_loc, p_scale = (np.asarray(a, np.float64) for a in (q_loc, q_scale, p_loc, p_scale))
    return (np.log(p_scale / q_scale) + (q_scale ** 2 + (q_loc - p_loc) ** 2) / (2 * p_scale ** 2) - 0.5)


@dataclass(frozen=True)
class LevelCode:
    """What the decoder needs for one level besides the prior: K_b per block and the indices, block-major."""

    num_aux: np.ndarray  # (n_blocks,) int64
    indices: np.ndarray  # (sum(num_aux),) int64, block 0's indices first


@dataclass(frozen=True)
class LevelStats:
    kl_nats: float            # KL(q‖p) of the level (the ideal code length)
    code_nats: float          # Σ_b K_b · ln N_s: the length of the indices under uniform coding
    log_weight: float         # log q(ẑ)/p(ẑ) summed over blocks, of the chosen sample


class BeamSearchCoder:
    """Relative entropy coder with the beam-search sampler; one instance per (seed, hyper-parameters).

    ``kl_per_partition`` = Ω (nats), ``extra_samples`` = 1+ε, ``n_beams`` = B, ``block_size`` = dims per
    block, ``seed`` = the shared seed (``compression_seed``). Encoding needs all five; decoding needs only
    ``seed``, ``block_size`` and N_s, which the file stores.
    """

    def __init__(self, kl_per_partition: float = 3.0, block_size: int = 1000, n_beams: int = 10,
                 extra_samples: float = 1.0, seed: int = 42, n_samples: int | None = None,
                 chunk_elems: int = 4_000_000):
        if kl_per_partition <= 0 or block_size < 1 or n_beams < 1 or extra_samples <= 0:
            raise ValueError("kl_per_partition, extra_samples must be > 0; block_size, n_beams >= 1")
        self.kl_per_partition = float(kl_per_partition)
        self.block_size = int(block_size)
        self.n_beams = int(n_beams)
        self.extra_samples = float(extra_samples)
        self.seed = int(seed)
        self.n_samples = int(n_samples) if n_samples else num_samples(kl_per_partition, extra_samples)
        if self.n_samples < 2:
            raise ValueError(f"need at least 2 candidates per step, got {self.n_samples} "
                             f"(exp(kl_per_partition * extra_samples) < 2)")
        self.chunk_elems = int(chunk_elems)

    # --- blocks ---------------------------------------------------------------------------------------
    def _split(self, level: int, n: int, *arrays, pad_values, dtype=np.float64):
        """Permute flattened arrays and lay them out as (n_blocks, block_size), padding the last block."""
        perm = rng.permutation(self.seed, level, n)
        nb = -(-n // self.block_size)
        out = []
        for a, pv in zip(arrays, pad_values):
            flat = np.asarray(a, dtype).reshape(-1)[perm]
            buf = np.full(nb * self.block_size, pv, dtype=dtype)
            buf[:n] = flat
            out.append(buf.reshape(nb, self.block_size))
        mask = np.zeros(nb * self.block_size, dtype=bool)
        mask[:n] = True
        return perm, nb, mask.reshape(nb, self.block_size), out

    def _merge(self, perm: np.ndarray, blocks: np.ndarray, shape) -> np.ndarray:
        n = perm.size
        flat = np.empty(n, dtype=blocks.dtype)
        flat[perm] = blocks.reshape(-1)[:n]
        return flat.reshape(shape)

    def _candidates(self, level: int, step: int, nb: int, p_var: np.ndarray, frac: np.ndarray, b0: int = 0):
        """Step ``step``'s candidates for blocks ``b0 .. b0+nb-1`` (``p_var``, ``frac``: theirs):
        (nb, N_s, block_size) with variance f_k(b)·σ_p²."""
        eps = rng.candidate_normals(self.seed, level, step, nb, self.n_samples, self.block_size, b0)
        return eps * np.sqrt(frac[:, None, None] * p_var[:, None, :])

    def _candidates_int(self, level: int, step: int, nb: int, sig_q: np.ndarray, sqf: np.ndarray, b0: int = 0):
        """Portable path: integer candidates (nb, N_s, block_size) at Z_FRAC, a = rshift(ε_q · sd_q) with
        sd_q = rshift(√f_k,q · σ_q): integer arithmetic only, the same bits on every machine."""
        eps = rng.candidate_normals_int(self.seed, level, step, nb, self.n_samples, self.block_size, b0)
        sd = rshift_round(sqf[:, None] * sig_q, SQF_FRAC)
        return rshift_round(eps * sd[:, None, :], rng.EPS_FRAC)

    # --- encode ---------------------------------------------------------------------------------------
    def encode(self, q_loc, q_scale, p_loc, p_scale, level: int = 0, progress=None, exact: bool = False):
        """Code one level. Returns (ẑ float64 with q_loc's shape, :class:`LevelCode`, :class:`LevelStats`).

        ``exact`` (the portable path): ``p_loc``/``p_scale`` are int64 fixed-point values (·2^Z_FRAC) from
        the integer network, the candidates are integers (:meth:`_candidates_int`) and ẑ is returned as
        int64 ·2^Z_FRAC. The search itself stays float64: candidates / 2^Z_FRAC and their partial sums
        are exactly representable, so the searched candidates are exactly the decoder's."""
        shape = np.shape(q_loc)
        if not (np.shape(q_scale) == np.shape(p_loc) == np.shape(p_scale) == shape):
            raise ValueError("q_loc, q_scale, p_loc, p_scale must have the same shape")
        n = int(np.prod(shape))
        if exact:
            perm, nb, _, (mp_q, sp_q) = self._split(level, n, p_loc, p_scale, pad_values=(0, 1 << Z_FRAC),
                                                    dtype=np.int64)
            p_loc = np.asarray(p_loc, np.float64) * 2.0 ** -Z_FRAC
            p_scale = np.asarray(p_scale, np.float64) * 2.0 ** -Z_FRAC
        perm, nb, mask, (mq, sq, mp, sp) = self._split(level, n, q_loc, q_scale, p_loc, p_scale,
                                                       pad_values=(0.0, 1.0, 0.0, 1.0))
        if not (np.all(np.isfinite(mq)) and np.all(sq > 0) and np.all(sp > 0) and np.all(np.isfinite(mp))):
            raise ValueError("posterior/prior parameters must be finite with positive scales")
        kl = np.where(mask, gaussian_kl(mq, sq, mp, sp), 0.0)
        kl_blocks = kl.sum(axis=1)
        num_aux = np.maximum(1, np.ceil(kl_blocks / self.kl_per_partition)).astype(np.int64)
        kmax = int(num_aux.max())
        # cumulative variance fractions F[b, k] and step fractions f[b, k]
        f = np.zeros((nb, kmax))
        for b in range(nb):
            f[b, :num_aux[b]] = aux_fractions(int(num_aux[b]))
        cumf = np.cumsum(f, axis=1)
        for b in range(nb):
            cumf[b, num_aux[b] - 1:] = 1.0  # the last cumulative variance is exactly σ_p²
        dq = mq - mp
        p_var = sp ** 2
        q_var = sq ** 2
        B, N = self.n_beams, self.n_samples
        A = np.zeros((nb, B, self.block_size))
        valid = np.zeros((nb, B), dtype=bool)
        valid[:, 0] = True
        hist = np.zeros((nb, B, kmax), dtype=np.int64)
        chunk = max(1, self.chunk_elems // (B * N * self.block_size))
        steps = range(kmax)
        if progress is not None:
            steps = progress(steps)
        if exact:
            sqf = np.zeros((nb, kmax), np.int64)
            for b in range(nb):
                sqf[b, :num_aux[b]] = sqrt_fractions_q(int(num_aux[b]))
        for k in steps:
            # contiguous ranges of `chunk` blocks: their candidates are drawn per range (rng's counters make
            # any range equal to drawing all blocks at once), so one range's, not all blocks', are alive
            for b0 in range(0, nb, chunk):
                b1 = min(nb, b0 + chunk)
                bi = b0 + np.nonzero(num_aux[b0:b1] > k)[0]
                if not bi.size:
                    continue
                if exact:
                    cand_r = self._candidates_int(level, k, b1 - b0, sp_q[b0:b1], sqf[b0:b1, k], b0) * 2.0 ** -Z_FRAC
                else:
                    cand_r = self._candidates(level, k, b1 - b0, p_var[b0:b1], f[b0:b1, k], b0)
                F = cumf[bi, k][:, None]                            # (c,1)
                t_mean = dq[bi] * F                                   # target mean
                t_var = q_var[bi] * F ** 2 + p_var[bi] * F * (1.0 - F)
                c_var = p_var[bi] * F                                 # coding variance
                m = mask[bi]
                # log q_aux(S) - log p_aux(S) = a·S² + b·S + const, S = A + c (dims masked)
                qa = np.where(m, -0.5 / t_var + 0.5 / c_var, 0.0)
                lb = np.where(m, t_mean / t_var, 0.0)
                const = np.where(m, -0.5 * t_mean ** 2 / t_var - 0.5 * np.log(t_var) + 0.5 * np.log(c_var),
                                 0.0).sum(axis=1)
                Ab = A[bi]                                            # (c,B,d)
                cb = cand_r[bi - b0]                                  # (c,N,d)
                sA = ((qa[:, None] * Ab + lb[:, None]) * Ab).sum(-1)  # (c,B)
                sC = ((qa[:, None] * cb + lb[:, None]) * cb).sum(-1)  # (c,N)
                cross = 2.0 * np.einsum("cbd,cnd->cbn", Ab * qa[:, None], cb)
                score = sA[:, :, None] + sC[:, None, :] + cross + const[:, None, None]
                score = np.where(valid[bi][:, :, None], score, -np.inf).reshape(len(bi), B * N)
                order = np.argsort(-score, axis=1, kind="stable")[:, :B]
                parent, idx = order // N, order % N
                new_valid = np.take_along_axis(score, order, axis=1) > -np.inf
                rows = np.arange(len(bi))[:, None]
                A[bi] = Ab[rows, parent] + cb[rows, idx]
                h = hist[bi][rows, parent]
                h[:, :, k] = idx
                hist[bi] = h
                valid[bi] = new_valid
        chosen = A[:, 0]
        indices = np.concatenate([hist[b, 0, :num_aux[b]] for b in range(nb)])
        # log weight of the chosen sample under the final targets (= q/p of the latent)
        lw = np.where(mask, _log_normal(chosen, dq, q_var) - _log_normal(chosen, 0.0, p_var), 0.0).sum()
        if exact:
            z = mp_q + np.rint(chosen * 2.0 ** Z_FRAC).astype(np.int64)   # exact: chosen is a dyadic sum
        else:
            z = mp + chosen
        sample = self._merge(perm, z, shape)
        code = LevelCode(num_aux=num_aux, indices=indices)
        stats = LevelStats(kl_nats=float(kl_blocks.sum()),
                           code_nats=float(num_aux.sum() * math.log(N)), log_weight=float(lw))
        return sample, code, stats

    # --- decode ---------------------------------------------------------------------------------------
    def decode(self, p_loc, p_scale, code: LevelCode, level: int = 0) -> np.ndarray:
        """Rebuild ẑ from the prior, the shared seed and the level's indices."""
        shape = np.shape(p_loc)
        n = int(np.prod(shape))
        perm, nb, mask, (mp, sp) = self._split(level, n, p_loc, p_scale, pad_values=(0.0, 1.0))
        num_aux = np.asarray(code.num_aux, np.int64)
        if num_aux.shape != (nb,) or np.any(num_aux < 1):
            raise ValueError(f"level {level}: the code has {num_aux.size} blocks, the model's latent needs {nb}")
        if code.indices.size != num_aux.sum():
            raise ValueError(f"level {level}: {code.indices.size} indices for {num_aux.sum()} auxiliary variables")
        if code.indices.size and (code.indices.min() < 0 or code.indices.max() >= self.n_samples):
            raise ValueError(f"level {level}: an index is outside [0, {self.n_samples})")
        kmax = int(num_aux.max())
        f = np.zeros((nb, kmax))
        for b in range(nb):
            f[b, :num_aux[b]] = aux_fractions(int(num_aux[b]))
        starts = np.concatenate([[0], np.cumsum(num_aux)[:-1]])
        p_var = sp ** 2
        A = np.zeros((nb, self.block_size))
        for k in range(kmax):
            for b in np.nonzero(num_aux > k)[0]:
                j = int(code.indices[starts[b] + k])
                eps = rng.candidate_normal(self.seed, level, k, int(b), j, self.n_samples, self.block_size)
                # the same elementwise expression as _candidates, so the sums match the encoder's bit for bit
                cand = eps * np.sqrt(f[b, k] * p_var[b])
                A[b] = A[b] + cand
        return self._merge(perm, mp + A, shape)


def decode_exact(coder: BeamSearchCoder, p_loc_q, p_scale_q, code: LevelCode, level: int = 0) -> np.ndarray:
    """Portable path: rebuild ẑ (int64 ·2^Z_FRAC) from the integer prior, the seed and the indices —
    integer arithmetic only (:meth:`BeamSearchCoder._candidates_int`, one candidate at a time)."""
    self = coder
    shape = np.shape(p_loc_q)
    n = int(np.prod(shape))
    perm, nb, _, (mp, sp) = self._split(level, n, p_loc_q, p_scale_q, pad_values=(0, 1 << Z_FRAC), dtype=np.int64)
    num_aux = _check_code(self, code, nb, level)
    starts = np.concatenate([[0], np.cumsum(num_aux)[:-1]])
    A = np.zeros((nb, self.block_size), np.int64)
    for b in range(nb):
        sqf = sqrt_fractions_q(int(num_aux[b]))
        for k in range(int(num_aux[b])):
            j = int(code.indices[starts[b] + k])
            eps = rng.candidate_normal_int(self.seed, level, k, b, j, self.n_samples, self.block_size)
            sd = rshift_round(sqf[k] * sp[b], SQF_FRAC)
            A[b] += rshift_round(eps * sd, rng.EPS_FRAC)
    return self._merge(perm, mp + A, shape)


def _check_code(self, code: LevelCode, nb: int, level: int) -> np.ndarray:
    num_aux = np.asarray(code.num_aux, np.int64)
    if num_aux.shape != (nb,) or np.any(num_aux < 1):
        raise ValueError(f"level {level}: the code has {num_aux.size} blocks, the model's latent needs {nb}")
    if code.indices.size != num_aux.sum():
        raise ValueError(f"level {level}: {code.indices.size} indices for {num_aux.sum()} auxiliary variables")
    if code.indices.size and (code.indices.min() < 0 or code.indices.max() >= self.n_samples):
        raise ValueError(f"level {level}: an index is outside [0, {self.n_samples})")
    return num_aux


def _log_normal(x, mean, var):
    return -0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)
