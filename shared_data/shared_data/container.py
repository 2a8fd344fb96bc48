"""The compressed-file container all five codecs write (``.lic`` files).

Layout (all integers little-endian; ``varint`` = unsigned LEB128, at most 10 bytes)::

    offset  size  field
    0       4     magic  b"LIC\\x89"
    4       1     format version (this module writes VERSION)
    5       1     codec id (CODEC_IDS)
    6       8     model fingerprint (first 8 bytes of SHA-256 over config + weights; see fingerprint())
    14      4     original image height (uint32)
    18      4     original image width  (uint32)
    22      1     number of payload sections n (0..MAX_SECTIONS)
    23      ...   n varints: the byte length of each section
    ...     ...   the sections' bytes, in order
    end-4   4     CRC-32 (zlib) of every byte before it

A single-image file with up to 8 sections of < 2 MiB each has a header of at most 23 + 8·3 = 47 bytes
(plus the 4-byte CRC trailer). Sections are opaque to the container; each codec documents its own
(e.g. "y strings", "z strings", a small varint header with latent shapes).

Every problem a reader can meet raises :class:`ContainerError` with a message naming it; a forged header
can never make the reader allocate more than the file's own size.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import weakref
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ContainerError

MAGIC = b"LIC\x89"
VERSION = 1
MAX_SECTIONS = 64
MAX_SIDE = 1 << 20  # 1,048,576 pixels per side
MAX_PIXELS = 1 << 32
FINGERPRINT_BYTES = 8
_FIXED = struct.Struct("<4sBB8sIIB")  # 23 bytes
_CRC = struct.Struct("<I")

#: Codec ids are stable forever: a new codec appends, none is ever renumbered.
CODEC_IDS = {"cpm": 1, "sga": 2, "l3c": 3, "hific": 4, "irec": 5, "test": 255}
_CODEC_NAMES = {v: k for k, v in CODEC_IDS.items()}


@dataclass(frozen=True)
class Container:
    """One compressed image: which codec and model made it, the original size, and its payload sections."""

    codec: str
    fingerprint: bytes
    height: int
    width: int
    sections: tuple[bytes, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if self.codec not in CODEC_IDS:
            raise ValueError(f"unknown codec {self.codec!r}; known: {sorted(CODEC_IDS)}")
        if len(self.fingerprint) != FINGERPRINT_BYTES:
            raise ValueError(f"fingerprint must be {FINGERPRINT_BYTES} bytes, got {len(self.fingerprint)}")
        _check_size(self.height, self.width, ValueError)
        if len(self.sections) > MAX_SECTIONS:
            raise ValueError(f"at most {MAX_SECTIONS} sections, got {len(self.sections)}")
        object.__setattr__(self, "sections", tuple(bytes(s) for s in self.sections))


def _check_size(h: int, w: int, exc: type[Exception]) -> None:
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE and h * w <= MAX_PIXELS):
        raise exc(f"absurd image size {h}x{w} (each side must be 1..{MAX_SIDE})")


def encode_varint(n: int) -> bytes:
    """Unsigned LEB128."""
    if n < 0:
        raise ValueError(f"varint must be non-negative, got {n}")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


#: id() of each section object :func:`read` returned -> "<path>: section <i>", while its Container lives (the
#: Container holds the section, so the id cannot be reused meanwhile; see :func:`_remember`).
_SOURCES: dict[int, str] = {}


def _remember(c: Container, path: Path) -> None:
    ids = []
    for i, sec in enumerate(c.sections):
        if len(sec) > 1:  # CPython shares b"" and 1-byte objects: never tag those
            _SOURCES[id(sec)] = f"{path}: section {i}"
            ids.append(id(sec))
    if ids:
        weakref.finalize(c, _forget, ids)


def _forget(ids: list[int]) -> None:
    for i in ids:
        _SOURCES.pop(i, None)


def _where(buf) -> str:
    src = _SOURCES.get(id(buf))
    return f"{src}: " if src else ""


def decode_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Read one varint at ``pos``; return ``(value, new_pos)``. Raises ContainerError on truncation."""
    value = shift = 0
    for i in range(10):
        if pos + i >= len(buf):
            raise ContainerError(f"{_where(buf)}truncated file: a length field runs past the end")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise ContainerError(f"{_where(buf)}corrupt length field (varint longer than 10 bytes)")


def pack_ints(values: Iterable[int]) -> bytes:
    """Varint-encode a list of non-negative ints (count first): a compact section for shapes and flags."""
    values = list(values)
    return encode_varint(len(values)) + b"".join(encode_varint(v) for v in values)


def unpack_ints(buf: bytes, max_count: int = 4096) -> list[int]:
    """Inverse of :func:`pack_ints`; raises ContainerError on anything malformed."""
    n, pos = decode_varint(buf, 0)
    if n > max_count or n > len(buf):
        raise ContainerError(f"{_where(buf)}corrupt integer section: {n} values announced in {len(buf)} bytes")
    out = []
    for _ in range(n):
        v, pos = decode_varint(buf, pos)
        out.append(v)
    if pos != len(buf):
        raise ContainerError(f"{_where(buf)}corrupt integer section: {len(buf) - pos} trailing bytes")
    return out


def fingerprint(config: bytes | str, weights: Iterable[bytes | memoryview] = ()) -> bytes:
    """8-byte model fingerprint: SHA-256 over the config text and every weight buffer, in order.

    Codecs pass e.g. the canonical JSON of their config and ``w.tobytes()`` of each variable sorted by name,
    so a file written by one model is refused by another instead of decoding to garbage.
    """
    h = hashlib.sha256()
    cfg = config.encode() if isinstance(config, str) else bytes(config)
    h.update(len(cfg).to_bytes(8, "little"))
    h.update(cfg)
    for w in weights:
        mv = memoryview(w).cast("B")
        h.update(len(mv).to_bytes(8, "little"))
        h.update(mv)
    return h.digest()[:FINGERPRINT_BYTES]


def pack(c: Container) -> bytes:
    """Serialise a :class:`Container` to bytes."""
    head = _FIXED.pack(MAGIC, VERSION, CODEC_IDS[c.codec], c.fingerprint, c.height, c.width, len(c.sections))
    body = head + b"".join(encode_varint(len(s)) for s in c.sections) + b"".join(c.sections)
    return body + _CRC.pack(zlib.crc32(body) & 0xFFFFFFFF)


def header_size(c: Container) -> int:
    """Bytes of container overhead (header + length fields + CRC) for ``c``."""
    return _FIXED.size + sum(len(encode_varint(len(s))) for s in c.sections) + _CRC.size


def unpack(data: bytes, codec: str | None = None, model_fingerprint: bytes | None = None) -> Container:
    """Parse bytes written by :func:`pack`.

    ``codec`` and ``model_fingerprint``, when given, must match the file's; otherwise ContainerError says
    which codec / model wrote it.
    """
    data = bytes(data)
    if len(data) < 4 or data[:4] != MAGIC:
        if len(data) < 4 and MAGIC.startswith(data):
            raise ContainerError(f"truncated file: {len(data)} bytes, not even the magic")
        raise ContainerError(f"not a compressed-image container (magic {data[:4]!r}, expected {MAGIC!r})")
    if len(data) < 5:
        raise ContainerError(f"truncated file: {len(data)} bytes")
    if data[4] != VERSION:
        raise ContainerError(f"unknown container format version {data[4]} (this reader knows {VERSION})")
    if len(data) < _FIXED.size + _CRC.size:
        raise ContainerError(f"truncated file: {len(data)} bytes, the header alone needs {_FIXED.size + 4}")
    _, _, codec_id, fp, h, w, n = _FIXED.unpack_from(data, 0)
    # Check the CRC before trusting any length: a corrupt byte anywhere is reported as such.
    (crc,) = _CRC.unpack_from(data, len(data) - 4)
    body = data[:-4]
    if zlib.crc32(body) & 0xFFFFFFFF != crc:
        # Distinguish "cut short" from "bytes changed" where the declared lengths make that possible.
        declared = _declared_length(body, n)
        if declared is not None and declared > len(data):
            raise ContainerError(f"truncated file: {len(data)} bytes, the header declares {declared}")
        raise ContainerError("CRC-32 mismatch: the file is corrupt or truncated")
    name = _CODEC_NAMES.get(codec_id)
    if name is None:
        raise ContainerError(f"unknown codec id {codec_id} in file")
    if codec is not None and name != codec:
        raise ContainerError(f"codec mismatch: the file was written by {name!r}, this decoder is {codec!r}")
    if model_fingerprint is not None and fp != bytes(model_fingerprint):
        raise ContainerError(f"model fingerprint mismatch: the file was written by model {fp.hex()}, "
                             f"the loaded model is {bytes(model_fingerprint).hex()}")
    _check_size(h, w, ContainerError)
    if n > MAX_SECTIONS:
        raise ContainerError(f"corrupt header: {n} sections (at most {MAX_SECTIONS})")
    pos, lengths = _FIXED.size, []
    for _ in range(n):
        ln, pos = decode_varint(body, pos)
        lengths.append(ln)
    if pos + sum(lengths) != len(body):
        raise ContainerError(f"corrupt header: sections declare {pos + sum(lengths)} bytes, "
                             f"the file holds {len(body)}")
    sections = []
    for ln in lengths:
        sections.append(body[pos:pos + ln])
        pos += ln
    return Container(name, fp, h, w, tuple(sections))


def _declared_length(body: bytes, n: int) -> int | None:
    try:
        pos, total = _FIXED.size, 0
        for _ in range(min(n, MAX_SECTIONS)):
            ln, pos = decode_varint(body, pos)
            total += ln
        return pos + total + _CRC.size
    except ContainerError:
        return None


def write(path: str | os.PathLike, c: Container) -> int:
    """Write ``c`` atomically to ``path``; return the file size in bytes."""
    from .imageio import atomic_write_bytes

    data = pack(c)
    atomic_write_bytes(path, data)
    return len(data)


def read(path: str | os.PathLike, codec: str | None = None,
         model_fingerprint: bytes | None = None) -> Container:
    """Read and check a container file (see :func:`unpack`).

    Every error names ``path``. A ContainerError that :func:`unpack_ints` / :func:`decode_varint` raise later
    on one of the returned section objects (while the codec parses it, the Container still alive) names the
    file and section too (``x.lic: section 0: truncated file: ...``); wrap the codec's own payload checks in
    :func:`reading` to give its errors the same prefix.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ContainerError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ContainerError(f"{path}: is a directory") from None
    except OSError as e:
        raise ContainerError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        c = unpack(data, codec=codec, model_fingerprint=model_fingerprint)
    except ContainerError as e:
        raise ContainerError(f"{path}: {e}") from None
    _remember(c, path)
    return c


@contextlib.contextmanager
def reading(path: str | os.PathLike):
    """``with reading(path): decode(read(path))`` — a ContainerError raised inside (by the codec's payload
    parser too) that does not name ``path`` yet is re-raised as ``"<path>: <message>"``, same type."""
    try:
        yield Path(path)
    except ContainerError as e:
        if str(e).startswith(str(path)):
            raise
        try:
            err = type(e)(f"{path}: {e}")
        except TypeError:  # a subclass with another constructor
            err = ContainerError(f"{path}: {e}")
        raise err from None
