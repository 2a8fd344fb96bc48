"""Range coder with escapes: exact round trips, golden bytes, corrupt streams."""


import numpy as np
import pytest
from hific.coding import TableSet, decode_symbols, encode_symbols

from shared_data import golden
from shared_data.container import ContainerError

from ._golden import GOLDEN


def small_tables():
    p0 = np.array([0.1, 0.2, 0.4, 0.2, 0.09, 0.01])  # 5 symbols + escape
    p1 = np.array([0.5, 0.3, 0.15, 0.05])              # 3 symbols + escape
    return TableSet([p0, p1], [-2, 0])


def test_round_trip_with_escapes_of_every_magnitude():
    rng = np.random.default_rng(0)
    t = small_tables()
    ids = rng.integers(0, 2, size=500)
    sym = rng.integers(-3, 4, size=500)
    sym[::7] = rng.integers(-2 ** 40, 2 ** 40, size=len(sym[::7]))  # far out of range: multi-chunk escapes
    sym[3], sym[5], sym[9] = 3, -3, 2 ** 16 + 5
    data = encode_symbols(sym, ids, t)
    assert np.array_equal(decode_symbols(data, ids, t), sym)


def test_in_range_costs_close_to_model_bits():
    rng = np.random.default_rng(1)
    p = np.array([0.1, 0.2, 0.4, 0.2, 0.1 - 1e-6, 1e-6])
    t = TableSet([p], [-2])
    sym = rng.choice(5, size=20000, p=p[:5] / p[:5].sum()) - 2
    ids = np.zeros_like(sym)
    bits = 8 * len(encode_symbols(sym, ids, t))
    ideal = -np.log2(p[sym + 2]).sum()
    assert ideal <= bits <= ideal * 1.01 + 64


def test_golden_bytes():
    t = small_tables()
    sym = np.array([0, 1, -1, 2, -2, 7, 0, 1, 2, 0])
    ids = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    data = encode_symbols(sym, ids, t)
    golden.check(GOLDEN / "coding_small_tables.bin", data, "hific")  # 8 bytes: 4442409aaeeb6179


def test_corrupt_streams_raise_container_error():
    t = small_tables()
    ids = np.zeros(50, dtype=np.int64)
    with pytest.raises(ContainerError, match="32-bit words"):
        decode_symbols(b"\x01\x02\x03", ids, t)
    # random words decode to *something* or fail inside the coder -- never crash with another exception
    for seed in range(5):
        junk = np.random.default_rng(seed).integers(0, 2 ** 32, size=3, dtype=np.uint64).astype("<u4").tobytes()
        try:
            decode_symbols(junk, ids, t)
        except ContainerError:
            pass
