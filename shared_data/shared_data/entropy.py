"""The project's one wrapper around constriction (the maintained Rust entropy coders): symbols with
per-symbol categorical or uniform models <-> little-endian 32-bit words, with every failure of a corrupt
stream turned into a :class:`ContainerError` naming what was being decoded.

    enc = entropy.Encoder()                     # "range" (queue: decode in encode order) or "ans" (stack)
    enc.encode(symbols, probs)                  # probs (n, K) float rows; Categorical(perfect=False)
    enc.encode_uniform(values, size)            # values in [0, size)
    data = enc.finish()                         # bytes, a whole number of 32-bit words
    dec = entropy.Decoder(data, what="y stream")  # ContainerError if len(data) % 4
    symbols = dec.decode(probs); values = dec.decode_uniform(size, n); dec.exhausted()

The coder's output depends only on the integer quantities constriction derives from ``probs``
(``Categorical(perfect=False)`` quantises each row to 24-bit fixed point), so bit-identical probabilities
give bit-identical files on every machine. ANS is a stack: :class:`Encoder` with ``kind="ans"`` buffers
nothing and encodes each call in reverse (``encode_reverse``), so the calls must be made in the reverse of
the decoding order (as with constriction itself).
"""

from __future__ import annotations

import numpy as np

from .errors import ContainerError

try:
    import constriction
except ImportError:  # pragma: no cover - constriction is pinned in every codec environment
    constriction = None

KINDS = ("range", "ans")
_CATEGORICAL = None


def _lib():
    if constriction is None:
        raise ImportError("the entropy coders need the 'constriction' package (pinned in every codec's requirements)")
    return constriction


def categorical():
    """constriction's ``Categorical(perfect=False)`` model family (shared, built once)."""
    global _CATEGORICAL
    if _CATEGORICAL is None:
        _CATEGORICAL = _lib().stream.model.Categorical(perfect=False)
    return _CATEGORICAL


def uniform(size: int):
    """constriction's uniform model over ``[0, size)``."""
    return _lib().stream.model.Uniform(int(size))


def table(probs):
    """A fixed categorical model (one probability vector, float64, ``perfect=False``) for
    :meth:`Encoder.encode_model` / :meth:`Decoder.decode_model` (e.g. HiFiC's scale tables)."""
    return _lib().stream.model.Categorical(np.asarray(probs, dtype=np.float64), perfect=False)


def to_bytes(words: np.ndarray) -> bytes:
    """Compressed words -> bytes (little-endian uint32)."""
    return np.asarray(words, dtype="<u4").tobytes()


def to_words(data: bytes, what: str = "stream", error: type[Exception] = ContainerError) -> np.ndarray:
    """Bytes -> uint32 words; ``error`` naming ``what`` when the length is not a multiple of 4."""
    if len(data) % 4:
        raise error(f"corrupt {what}: {len(data)} bytes is not a whole number of 32-bit words")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


class Encoder:
    """A range (``kind="range"``, constriction's queue coder) or ANS (``"ans"``, stack) encoder."""

    def __init__(self, kind: str = "range"):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        c = _lib()
        self.kind = kind
        self._c = c.stream.queue.RangeEncoder() if kind == "range" else c.stream.stack.AnsCoder()

    def _put(self, symbols, model, *params):
        if self.kind == "range":
            self._c.encode(symbols, model, *params)
        else:
            self._c.encode_reverse(symbols, model, *params)

    def encode(self, symbols, probs, dtype=np.float32) -> None:
        """Code ``symbols[i]`` under row ``probs[i]`` (``dtype``: the probabilities' float type, which the
        coder's quantisation sees; keep what a format was written with)."""
        self._put(np.ascontiguousarray(symbols, dtype=np.int32), categorical(), np.ascontiguousarray(probs, dtype=dtype))

    def encode_model(self, symbols, model) -> None:
        """Code ``symbols`` under one fixed constriction model (e.g. ``uniform(n)``)."""
        self._put(np.ascontiguousarray(symbols, dtype=np.int32), model)

    def encode_uniform(self, values, size: int) -> None:
        self.encode_model(values, uniform(size))

    @property
    def raw(self):
        """The constriction coder itself (for call patterns this wrapper lacks)."""
        return self._c

    def finish(self) -> bytes:
        return to_bytes(self._c.get_compressed())


class Decoder:
    """The decoder of :class:`Encoder`'s bytes; every failure inside constriction (exhausted or invalid
    stream) is a :class:`ContainerError` "corrupt <what>: ..."."""

    def __init__(self, data: bytes, kind: str = "range", what: str = "stream"):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        c = _lib()
        self.kind, self.what = kind, what
        words = to_words(data, what)
        self._c = c.stream.queue.RangeDecoder(words) if kind == "range" else c.stream.stack.AnsCoder(words)

    def _get(self, model, *params):
        try:
            return np.asarray(self._c.decode(model, *params), dtype=np.int64)
        except Exception as e:  # constriction raises (or asserts) on exhausted / invalid data
            raise ContainerError(f"corrupt {self.what}: the entropy decoder failed ({type(e).__name__}: {e})") from None

    def decode(self, probs, dtype=np.float32) -> np.ndarray:
        """One symbol per row of ``probs`` (int64)."""
        return self._get(categorical(), np.ascontiguousarray(probs, dtype=dtype))

    def decode_model(self, model, count: int) -> np.ndarray:
        return self._get(model, int(count))

    def decode_uniform(self, size: int, count: int) -> np.ndarray:
        return self.decode_model(uniform(size), count)

    @property
    def raw(self):
        return self._c

    def exhausted(self) -> bool:
        """Whether the stream may be at its end (``maybe_exhausted`` / ``is_empty``): a decoder that still
        holds data after the last symbol read a file not written for this image."""
        return bool(self._c.maybe_exhausted() if self.kind == "range" else self._c.is_empty())


__all__ = ["Encoder", "Decoder", "categorical", "uniform", "table", "to_bytes", "to_words", "KINDS"]
