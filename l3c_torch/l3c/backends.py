"""The entropy-coder backends of L3C behind one interface (:class:`Backend`): ``constriction`` (range coder fed
float32 pmfs through :mod:`shared_data.entropy`; the default) and ``torchac`` (upstream's arithmetic coder
family, PyPI 0.9.3, 16-bit CDFs; JIT-compiles a C++ extension on first use, so it is imported at the first
coded symbol). A file records which one wrote it (header field ``backend id``)."""

from __future__ import annotations

import numpy as np
import torch

from shared_data import entropy
from shared_data.container import decode_varint, pack_ints
from shared_data.errors import ContainerError, LicError


class BackendUnavailable(LicError, RuntimeError):
    """The requested entropy coder cannot be used here (not installed / cannot compile)."""


# ---------------------------------------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------------------------------------
class Backend:
    """One entropy coder: per-stream encoders/decoders fed (symbols, float32 pmf rows)."""

    name = "?"
    id = -1

    def new_encoder(self):
        raise NotImplementedError

    def new_decoder(self, data: bytes):
        raise NotImplementedError


class ConstrictionBackend(Backend):
    """constriction's queue (range) coder with ``Categorical(perfect=False)`` models from float32 pmfs
    (:class:`shared_data.entropy.Encoder` / ``Decoder``, kind ``"range"``)."""

    name, id = "constriction", 0

    def new_encoder(self):
        return entropy.Encoder("range")

    def new_decoder(self, data: bytes):
        return entropy.Decoder(data, "range", what="l3c constriction stream")


class NullBackend(Backend):
    """No entropy coding: the traversal computes every pmf and the model's bits (``estimate_bits``)."""

    name, id = "none", -1

    def new_encoder(self):
        return _NullEnc()


class _NullEnc:
    def encode(self, sym, pmf):
        pass

    def finish(self) -> bytes:
        return b""


class TorchacBackend(Backend):
    """torchac 0.9.3 (PyPI): one arithmetic-coded byte string per chunk, from float CDFs (L+1 entries)."""

    name, id = "torchac", 1

    def __init__(self):
        self._lib = None  # imported on first use: torchac JIT-compiles a C++ extension (a minute, once), so a
        # file whose torchac stream header is corrupt is refused before that (tests/test_codec_protocol fuzz)

    @property
    def _t(self):
        if self._lib is None:
            try:
                import torchac
            except Exception as e:  # compile failures surface as ImportError/RuntimeError/OSError/CalledProcess
                raise BackendUnavailable(
                    "torchac could not be imported/compiled: it JIT-compiles a C++ extension on first import "
                    "and needs a C++ compiler (g++ >= 5) and ninja (pip install ninja; apt install g++). "
                    f"Use --backend constriction instead. Cause: {type(e).__name__}: {e}") from None
            self._lib = torchac
        return self._lib

    @staticmethod
    def _cdf(pmf: np.ndarray) -> torch.Tensor:
        p = torch.from_numpy(np.ascontiguousarray(pmf, dtype=np.float32))
        cdf = torch.cat([torch.zeros(p.shape[0], 1), torch.cumsum(p, dim=1)], dim=1)
        cdf = cdf / cdf[:, -1:]
        cdf[:, -1] = 1.0
        return cdf

    def new_encoder(self):
        self._t  # noqa: B018 - an encoder always needs torchac: fail before any work
        return _TEnc(self)

    def new_decoder(self, data: bytes):
        return _TDec(self, data)  # checks the stream's own header first; torchac loads at the first symbol


class _TEnc:
    def __init__(self, b):
        self.b, self.parts = b, []

    def encode(self, sym, pmf):
        s = torch.from_numpy(np.ascontiguousarray(sym, dtype=np.int16))
        self.parts.append(self.b._t.encode_float_cdf(self.b._cdf(pmf), s, check_input_bounds=True))

    def finish(self) -> bytes:
        return pack_ints([len(p) for p in self.parts]) + b"".join(self.parts)


class _TDec:
    def __init__(self, b, data: bytes):
        self.b = b
        n, pos = decode_varint(data, 0)
        if n > len(data):
            raise ContainerError("corrupt torchac stream header")
        lens = []
        for _ in range(n):
            ln, pos = decode_varint(data, pos)
            lens.append(ln)
        if pos + sum(lens) != len(data):
            raise ContainerError("corrupt torchac stream: chunk lengths do not add up")
        self.parts, self.i = [], 0
        for ln in lens:
            self.parts.append(data[pos:pos + ln])
            pos += ln

    def decode(self, pmf):
        if self.i >= len(self.parts):
            raise ContainerError("corrupt torchac stream: fewer chunks than symbols need")
        out = self.b._t.decode_float_cdf(self.b._cdf(pmf), self.parts[self.i])
        self.i += 1
        return out.numpy().astype(np.int64)


BACKENDS: dict[str, type[Backend]] = {"constriction": ConstrictionBackend, "torchac": TorchacBackend}
BACKEND_IDS = {cls.id: name for name, cls in BACKENDS.items()}
DEFAULT_BACKEND = "constriction"


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {sorted(BACKENDS)}")
    return BACKENDS[name]()
