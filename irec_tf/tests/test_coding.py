"""Relative entropy coding: determinism, exact decoding, code length vs KL, index coding of any index."""

import math

import numpy as np
import pytest
from rec.coding import BeamSearchCoder, aux_fractions, gaussian_kl, make_sampler, num_samples, rng
from rec.coding.beam_search import LevelCode
from rec.coding.index_coding import decode_levels, encode_levels
from rec.fileformat import IrecFileError


def _dists(shape, seed=0, shift=0.5):
    rs = np.random.RandomState(seed)
    p_loc = rs.randn(*shape) * 0.3
    p_scale = np.exp(rs.randn(*shape) * 0.2)
    q_loc = p_loc + rs.randn(*shape) * shift
    q_scale = p_scale * np.exp(-np.abs(rs.randn(*shape)) * 0.5)
    return q_loc, q_scale, p_loc, p_scale


def test_num_samples_matches_paper_settings():
    assert num_samples(3.0, 1.0) == 20
    assert num_samples(3.0, 1.2) == 36


def test_aux_fractions_sum_to_one_and_follow_power_law():
    f = aux_fractions(6)
    assert f.sum() == pytest.approx(1.0)
    assert f[0] == pytest.approx(6 ** -0.7864636765648174)  # the first coded variable is i = K-1
    assert aux_fractions(1).tolist() == [1.0]


def test_rng_is_counter_based_and_pinned():
    a = rng.standard_normals(42, rng.PURPOSE_CANDIDATES, 1, 5, (3, 4))
    b = rng.standard_normals(42, rng.PURPOSE_CANDIDATES, 1, 5, (3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, rng.standard_normals(42, rng.PURPOSE_CANDIDATES, 1, 6, (3, 4)))
    assert not np.array_equal(a, rng.standard_normals(43, rng.PURPOSE_CANDIDATES, 1, 5, (3, 4)))
    np.random.seed(0)  # global state must not matter
    np.testing.assert_array_equal(a, rng.standard_normals(42, rng.PURPOSE_CANDIDATES, 1, 5, (3, 4)))
    # golden words: Philox-4x64-10's raw output is fixed by the algorithm
    assert int(rng.raw_words(42, 2, 0, 0, 1)[0]) == 6384099098527994110
    np.testing.assert_allclose(rng.standard_normals(42, 2, 0, 0, (3,)),
                               [-0.39591814983141155, -1.9836209965232054, 1.2745215097288096], rtol=1e-12)
    assert sorted(rng.permutation(42, 0, 10).tolist()) == list(range(10))


def test_candidates_of_a_block_range_equal_all_blocks():
    """The encoder draws candidates a range of blocks at a time (issue 17: bounded memory); any range gives
    the numbers of drawing all blocks at once, float and integer."""
    full = rng.candidate_normals(3, 1, 2, 7, 5, 10)
    full_i = rng.candidate_normals_int(3, 1, 2, 7, 5, 10)
    for b0, n in ((0, 3), (2, 4), (6, 1)):
        np.testing.assert_array_equal(rng.candidate_normals(3, 1, 2, n, 5, 10, first_block=b0), full[b0:b0 + n])
        np.testing.assert_array_equal(rng.candidate_normals_int(3, 1, 2, n, 5, 10, first_block=b0),
                                      full_i[b0:b0 + n])


def test_chunked_search_equals_one_chunk():
    """The search over contiguous block ranges (small ``chunk_elems``) picks exactly the samples and indices
    of one range holding every block."""
    q_loc, q_scale, p_loc, p_scale = _dists((1, 6, 6, 20))
    big = BeamSearchCoder(3.0, 50, 3, 1.0, seed=5, chunk_elems=10 ** 9)
    small = BeamSearchCoder(3.0, 50, 3, 1.0, seed=5, chunk_elems=1)
    za, ca, _ = big.encode(q_loc, q_scale, p_loc, p_scale, level=1)
    zb, cb, _ = small.encode(q_loc, q_scale, p_loc, p_scale, level=1)
    np.testing.assert_array_equal(za, zb)
    np.testing.assert_array_equal(ca.indices, cb.indices)


@pytest.mark.parametrize("n_beams,extra", [(1, 1.0), (4, 1.2)])
def test_encode_decode_exact_and_deterministic(n_beams, extra):
    q_loc, q_scale, p_loc, p_scale = _dists((3, 5, 5, 16))
    coder = BeamSearchCoder(kl_per_partition=3.0, block_size=300, n_beams=n_beams, extra_samples=extra, seed=7)
    z1, code1, st1 = coder.encode(q_loc, q_scale, p_loc, p_scale, level=2)
    z2, code2, _ = coder.encode(q_loc, q_scale, p_loc, p_scale, level=2)
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_array_equal(code1.indices, code2.indices)
    decoder = BeamSearchCoder(block_size=300, seed=7, n_samples=coder.n_samples)
    zd = decoder.decode(p_loc, p_scale, code1, level=2)
    np.testing.assert_array_equal(zd, z1)  # bit-exact
    assert code1.indices.max() < coder.n_samples
    assert st1.kl_nats == pytest.approx(gaussian_kl(q_loc, q_scale, p_loc, p_scale).sum())
    # K_b = ceil(KL_b / Ω): the index code is within one partition per block of the KL
    nb = code1.num_aux.size
    assert st1.kl_nats <= code1.num_aux.sum() * 3.0 + 1e-9 <= st1.kl_nats + 3.0 * nb
    # a different seed or level gives a different sample
    z3, _, _ = BeamSearchCoder(3.0, 300, n_beams, extra, seed=8).encode(q_loc, q_scale, p_loc, p_scale, level=2)
    assert not np.array_equal(z1, z3)


def test_sample_is_pulled_towards_the_posterior():
    q_loc, q_scale, p_loc, p_scale = _dists((2000,), seed=1, shift=1.0)
    z, _, st = BeamSearchCoder(3.0, 1000, 10, 1.2, seed=3).encode(q_loc, q_scale, p_loc, p_scale)
    err_q = np.mean((z - q_loc) ** 2)   # an exact sample from q would give E = mean(σ_q²)
    err_p = np.mean((p_loc - q_loc) ** 2)
    assert err_q < 1.3 * np.mean(q_scale ** 2) and err_q < 0.7 * err_p
    assert st.log_weight > 0


def test_wrong_code_is_refused():
    q_loc, q_scale, p_loc, p_scale = _dists((500,))
    coder = BeamSearchCoder(3.0, 100, 2, 1.0, seed=1)
    _, code, _ = coder.encode(q_loc, q_scale, p_loc, p_scale)
    with pytest.raises(ValueError, match="blocks"):
        coder.decode(p_loc[:300], p_scale[:300], code)
    bad = LevelCode(code.num_aux, code.indices.copy())
    bad.indices[0] = coder.n_samples
    with pytest.raises(ValueError, match="outside"):
        coder.decode(p_loc, p_scale, bad)


def test_index_coding_any_index_and_close_to_ideal():
    rs = np.random.RandomState(0)
    n_s = 36  # the original's coder only handled indices 0..19
    codes = [LevelCode(np.array([40, 41, 39]), rs.randint(0, n_s, 120)),
             LevelCode(np.array([5]), rs.randint(0, n_s, 5))]
    header, data = encode_levels(codes, n_s)
    back = decode_levels(header, data, [3, 1], n_s)
    for a, b in zip(codes, back):
        np.testing.assert_array_equal(a.num_aux, b.num_aux)
        np.testing.assert_array_equal(a.indices, b.indices)
    ideal_bits = 125 * math.log2(n_s) + 3 * math.log2(3)
    assert len(data) * 8 <= ideal_bits + 64  # ANS: at most ~2 words of overhead
    assert len(data) * 8 >= ideal_bits - 1
    with pytest.raises(IrecFileError):
        decode_levels(header, data, [3], n_s)


def test_other_samplers_are_absent_not_faked():
    assert make_sampler("beam_search") is BeamSearchCoder
    with pytest.raises(NotImplementedError):
        make_sampler("rejection")
