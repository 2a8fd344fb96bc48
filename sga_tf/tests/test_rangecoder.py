"""sga.rangecoder (issue 17): the bounded port of tfc 2.14.1's range decoder gives tfc's own results (values and
the finalize flag) on valid strings, escapes included, and on damaged strings where tfc returns; where tfc's
Elias-gamma loop would never return, it refuses in bounded time."""
import numpy as np
import pytest
import tensorflow as tf
from sga import coding, rangecoder
from tensorflow_compression.python.ops import gen_ops


@pytest.fixture(scope="module")
def tables():
    cdf, offs, n = coding._y_tables()
    return cdf, offs, n, rangecoder.rows(cdf.numpy())


def _tfc_decode(cdf, data, idx):
    h = gen_ops.create_range_decoder(tf.constant([data]), cdf)
    h, v = gen_ops.entropy_decode_index(h, idx.reshape(1, -1), [idx.size], tf.int32)
    return v.numpy().ravel().astype(np.int64), bool(gen_ops.entropy_decode_finalize(h).numpy().all())


def test_matches_tfc_on_valid_and_damaged_strings(tables):
    cdf, offs, n, rows = tables
    rng = np.random.default_rng(0)
    compared = escapes = 0
    for t in range(60):
        m = int(rng.integers(1, 1500))
        idx = rng.integers(0, n, m).astype(np.int32)
        sym = np.round(rng.standard_t(2, m) * rng.choice([0.5, 3.0, 30.0, 3000.0])).astype(np.int64)
        data = coding.Coder._range_encode(cdf, offs, idx, sym + offs[idx])
        got, ok = rangecoder.decode_index(data, rows, idx)
        assert ok and np.array_equal(got, sym), t
        want, ok_tfc = _tfc_decode(cdf, data, idx)
        assert ok_tfc and np.array_equal(got, want)
        escapes += int(np.sum((sym < 0) | (sym > 40)))
        for bad in (data[: len(data) * 3 // 4], bytes(rng.integers(0, 256, len(data), dtype=np.uint8)),
                    data + b"\x01", data[:-1]):
            try:
                g, o = rangecoder.decode_index(bad, rows, idx)
            except rangecoder.RangeDecodeError:
                continue  # tfc's own decoder may not return on this one: not run
            w, o_tfc = _tfc_decode(cdf, bad, idx)
            assert np.array_equal(g, w) and o == o_tfc, t
            compared += 1
    assert escapes > 100 and compared > 100


def test_endless_escape_is_refused(tables):
    """The first value of a string at the escape bin's lower bound, then nothing: value = base after the escape
    symbol, and the zero fill decodes 0 bits forever — tfc's OverflowDecode would never return; the port
    stops after the longest Elias-gamma prefix a valid stream can have."""
    rows = tables[3]
    row = next(i for i, (p, c) in enumerate(rows) if p == -16)
    low = rows[row][1][-2]  # the escape bin is the last interval [c[-2], 2^16)
    data = bytes([low >> 8, low & 0xFF])  # value = low << 16 = base + size * c[-2] / 2^16
    with pytest.raises(rangecoder.RangeDecodeError, match="Elias-gamma prefix"):
        rangecoder.decode_index(data, rows, np.array([row], np.int32))


def test_bad_tables_and_indexes_are_refused(tables):
    rows = tables[3]
    with pytest.raises(rangecoder.RangeDecodeError, match="index out of range"):
        rangecoder.decode_index(b"\x00", rows, np.array([len(rows)]))
    with pytest.raises(rangecoder.RangeDecodeError, match="must start with 0"):
        rangecoder.rows(np.array([16, 1, 65536], np.int32))
