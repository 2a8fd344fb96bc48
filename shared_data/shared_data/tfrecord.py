"""TFRecord files without TensorFlow: framing, masked CRC-32C and the ``tf.train.Example`` wire format.

A TFRecord file is a sequence of records, each framed as::

    uint64  length              (little-endian)
    uint32  masked_crc32c(length bytes)
    byte    data[length]
    uint32  masked_crc32c(data)

with ``masked_crc(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2**32)`` over CRC-32C (Castagnoli,
polynomial 0x1EDC6F41, reflected 0x82F63B78). CPM's training pipeline reads records whose payload is a
serialized ``tf.train.Example`` with one feature ``image/encoded`` holding the JPEG bytes; that is all
:func:`encode_example` writes (bytes features only) and all :func:`decode_example` accepts.

CRC-32C is computed in pure Python (slicing-by-8 tables); it runs at a few MB/s, which is why shards are packed
in parallel, one shard per task.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from .container import encode_varint  # protobuf varints are unsigned LEB128, as in the container
from .errors import DatasetError
from .imageio import atomic_write_bytes

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


def _make_tables() -> list[list[int]]:
    t0 = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[n] >> 8) ^ t0[prev[n] & 0xFF] for n in range(256)])
    return tables


_T = _make_tables()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``; pass a previous result as ``crc`` to continue a running CRC."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    c = crc ^ 0xFFFFFFFF
    mv = memoryview(data).cast("B")
    n = len(mv)
    i = 0
    end8 = n - (n % 8)
    # slicing-by-8: fold eight bytes per step
    for (a, b, cc, d, e, f, g, h) in struct.iter_unpack("8B", mv[:end8]) if end8 else ():
        c ^= a | (b << 8) | (cc << 16) | (d << 24)
        c = (t7[c & 0xFF] ^ t6[(c >> 8) & 0xFF] ^ t5[(c >> 16) & 0xFF] ^ t4[c >> 24]
             ^ t3[e] ^ t2[f] ^ t1[g] ^ t0[h])
    i = end8
    while i < n:
        c = (c >> 8) ^ t0[(c ^ mv[i]) & 0xFF]
        i += 1
    return c ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate the CRC-32C right by 15 bits and add 0xa282ead8."""
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


class TFRecordError(DatasetError):
    """A TFRecord file is truncated or fails a CRC check; the message names the file and the record."""


def frame_record(data: bytes) -> bytes:
    """One framed record (length, its masked CRC, data, the data's masked CRC)."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + bytes(data) + struct.pack("<I", masked_crc32c(data))


def write_records(path: str | os.PathLike, records: Iterable[bytes]) -> int:
    """Write all ``records`` to ``path`` atomically; returns the file size in bytes."""
    blob = b"".join(frame_record(r) for r in records)
    atomic_write_bytes(path, blob)
    return len(blob)


def read_records(path: str | os.PathLike, check_crc: bool = True) -> Iterator[bytes]:
    """Yield each record's data from a TFRecord file, checking both CRCs unless ``check_crc`` is False."""
    path = Path(path)
    with open(path, "rb") as f:
        index = 0
        while True:
            head = f.read(12)
            if not head:
                return
            if len(head) < 12:
                raise TFRecordError(f"{path}: record {index}: truncated header ({len(head)} of 12 bytes)")
            length, lcrc = struct.unpack("<QI", head)
            if check_crc and masked_crc32c(head[:8]) != lcrc:
                raise TFRecordError(f"{path}: record {index}: length CRC mismatch (corrupt file)")
            if length > 1 << 34:
                raise TFRecordError(f"{path}: record {index}: absurd length {length}")
            data = f.read(length)
            tail = f.read(4)
            if len(data) < length or len(tail) < 4:
                raise TFRecordError(f"{path}: record {index}: truncated data")
            if check_crc and masked_crc32c(data) != struct.unpack("<I", tail)[0]:
                raise TFRecordError(f"{path}: record {index}: data CRC mismatch (corrupt file)")
            yield data
            index += 1


# --- protobuf wire format of tf.train.Example with bytes features -------------------------------------

def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited (wire type 2) field."""
    return encode_varint((tag << 3) | 2) + encode_varint(len(payload)) + payload


def encode_example(features: dict[str, bytes | list[bytes]]) -> bytes:
    """Serialize ``tf.train.Example(features=Features(feature={key: Feature(bytes_list=BytesList(value=...))}))``.

    Map entries are written in sorted key order (what protobuf's deterministic serialization does).
    """
    entries = b""
    for key in sorted(features):
        values = features[key]
        if isinstance(values, (bytes, bytearray, memoryview)):
            values = [bytes(values)]
        bytes_list = b"".join(_field(1, bytes(v)) for v in values)        # BytesList.value = 1
        feature = _field(1, bytes_list)                                   # Feature.bytes_list = 1
        entry = _field(1, key.encode("utf-8")) + _field(2, feature)       # map entry: key = 1, value = 2
        entries += _field(1, entry)                                       # Features.feature = 1
    return _field(1, entries)                                             # Example.features = 1


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    result = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise TFRecordError("malformed protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        tag, wire = key >> 3, key & 7
        if wire == 2:
            n, pos = _read_varint(buf, pos)
            if pos + n > len(buf):
                raise TFRecordError("malformed protobuf: field runs past the end")
            yield tag, wire, buf[pos:pos + n]
            pos += n
        elif wire == 0:
            v, pos = _read_varint(buf, pos)
            yield tag, wire, v
        elif wire == 5:
            yield tag, wire, buf[pos:pos + 4]
            pos += 4
        elif wire == 1:
            yield tag, wire, buf[pos:pos + 8]
            pos += 8
        else:
            raise TFRecordError(f"malformed protobuf: wire type {wire}")


def decode_example(data: bytes) -> dict[str, list[bytes]]:
    """Parse a serialized ``tf.train.Example``; returns its bytes features (other feature kinds are refused)."""
    out: dict[str, list[bytes]] = {}
    for tag, wire, features in _fields(data):
        if tag != 1 or wire != 2:
            continue
        for etag, ewire, entry in _fields(features):
            if etag != 1 or ewire != 2:
                continue
            key, feature = None, b""
            for ftag, _, v in _fields(entry):
                if ftag == 1:
                    key = bytes(v).decode("utf-8")
                elif ftag == 2:
                    feature = bytes(v)
            values: list[bytes] = []
            for kind, _, lst in _fields(feature):
                if kind != 1:
                    raise TFRecordError(f"feature {key!r}: only bytes_list features are supported")
                values.extend(bytes(v) for vtag, _, v in _fields(lst) if vtag == 1)
            out[key] = values
    return out
