"""The shared container: golden bytes, round trips, and every documented failure (incl. a fuzz run)."""

import random

import pytest

from shared_data import container as C
from shared_data.container import Container, ContainerError

FP = bytes.fromhex("0123456789abcdef")

# A tiny file pinned byte for byte: any change to the layout must bump VERSION and update this.
GOLDEN = Container("l3c", FP, 7, 13, (b"\x01\x02", b"", b"xyz"))
GOLDEN_HEX = (
    "4c494389"          # magic
    "01"                # version
    "03"                # codec id (l3c)
    "0123456789abcdef"  # fingerprint
    "07000000"          # height
    "0d000000"          # width
    "03"                # three sections
    "020003"            # their lengths
    "0102" "78797a"     # payloads
)


def test_golden_bytes():
    data = C.pack(GOLDEN)
    body = bytes.fromhex(GOLDEN_HEX)
    import zlib

    assert data == body + zlib.crc32(body).to_bytes(4, "little")
    assert data.hex()[-8:] == "613d6398"  # the CRC itself, pinned
    assert C.unpack(data) == GOLDEN


def test_header_at_most_64_bytes_for_single_image():
    c = Container("sga", FP, 512, 768, (b"\x00" * 40_000, b"\x00" * 900, b"\x00" * 12))
    assert C.header_size(c) <= 64
    assert len(C.pack(c)) == C.header_size(c) + 40_912


def test_round_trip_file_is_atomic(tmp_path):
    c = Container("cpm", FP, 3, 4, (b"a" * 1000,))
    p = tmp_path / "x.lic"
    n = C.write(p, c)
    assert n == p.stat().st_size
    assert C.read(p, codec="cpm", model_fingerprint=FP) == c
    assert [f.name for f in tmp_path.iterdir()] == ["x.lic"]  # no temp file left behind


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: b"PNG!" + d[4:], "not a compressed-image container"),
        (lambda d: d[:4] + b"\x09" + d[5:], "unknown container format version 9"),
        (lambda d: d[:-1], "truncated file: 34 bytes, the header declares 35"),
        (lambda d: d[:10], "truncated"),
        (lambda d: d[:2], "truncated"),
        (lambda d: b"", "truncated"),
        (lambda d: d[:-6] + bytes([d[-6] ^ 1]) + d[-5:], "CRC-32 mismatch"),
    ],
)
def test_documented_errors(mutate, message):
    with pytest.raises(ContainerError, match=message):
        C.unpack(mutate(C.pack(GOLDEN)))


def _repack(body: bytes) -> bytes:
    import zlib

    return body + zlib.crc32(body).to_bytes(4, "little")


def test_codec_and_model_mismatch():
    data = C.pack(GOLDEN)
    with pytest.raises(ContainerError, match="codec mismatch: the file was written by 'l3c'"):
        C.unpack(data, codec="cpm")
    with pytest.raises(ContainerError, match="model fingerprint mismatch"):
        C.unpack(data, codec="l3c", model_fingerprint=b"\xff" * 8)


def test_forged_sizes_do_not_allocate():
    body = bytearray(bytes.fromhex(GOLDEN_HEX))
    # absurd image size
    forged = bytes(body[:14]) + (0xFFFFFFFF).to_bytes(4, "little") + bytes(body[18:])
    with pytest.raises(ContainerError, match="absurd image size"):
        C.unpack(_repack(forged))
    # a section claiming 2**60 bytes
    huge = bytes(body[:22]) + b"\x01" + C.encode_varint(2**60) + b"abc"
    with pytest.raises(ContainerError, match="corrupt header"):
        C.unpack(_repack(huge))
    # too many sections
    many = bytes(body[:22]) + b"\xff"
    with pytest.raises(ContainerError):
        C.unpack(_repack(many))
    with pytest.raises(ContainerError, match="unknown codec id 77"):
        C.unpack(_repack(bytes(body[:5]) + b"\x4d" + bytes(body[6:])))


def test_missing_file(tmp_path):
    with pytest.raises(ContainerError, match="no such file"):
        C.read(tmp_path / "nope.lic")


def test_varints_and_int_sections():
    for v in [0, 1, 127, 128, 300, 2**32, 2**63]:
        assert C.decode_varint(C.encode_varint(v), 0) == (v, len(C.encode_varint(v)))
    assert C.unpack_ints(C.pack_ints([3, 0, 2**40])) == [3, 0, 2**40]
    with pytest.raises(ContainerError):
        C.unpack_ints(C.pack_ints([1, 2])[:-1])
    with pytest.raises(ContainerError):
        C.unpack_ints(b"\x80" * 11)
    with pytest.raises(ContainerError, match="announced"):
        C.unpack_ints(C.encode_varint(10**6) + b"\x00")


def test_fingerprint_depends_on_config_and_weights():
    a = C.fingerprint("cfg", [b"\x00\x01"])
    assert len(a) == 8
    assert a != C.fingerprint("cfg2", [b"\x00\x01"])
    assert a != C.fingerprint("cfg", [b"\x00\x02"])
    assert a != C.fingerprint("cfg", [b"\x00", b"\x01"])  # buffer boundaries matter
    assert a == C.fingerprint(b"cfg", [bytearray(b"\x00\x01")])


def test_fuzz_mutations_and_truncations_only_raise_container_error():
    """>= 2,000 random byte flips, insertions, deletions and truncations: ContainerError or a valid parse."""
    rng = random.Random(1234)
    base = C.pack(Container("hific", FP, 512, 768, (bytes(range(256)) * 3, b"\x00" * 17, b"z")))
    outcomes = {"error": 0, "parsed": 0}
    for i in range(2500):
        d = bytearray(base)
        kind = i % 5
        if kind == 0:
            d = d[: rng.randrange(len(d))]
        elif kind == 1:
            for _ in range(rng.randint(1, 4)):
                d[rng.randrange(len(d))] = rng.randrange(256)
        elif kind == 2:
            pos = rng.randrange(len(d))
            d[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == 3:
            pos = rng.randrange(len(d))
            del d[pos : pos + rng.randint(1, 8)]
        else:  # mutate the header and fix the CRC, so the structural checks (not the CRC) must catch it
            body = bytearray(d[:-4])
            body[rng.randrange(min(40, len(body)))] = rng.randrange(256)
            d = bytearray(_repack(bytes(body)))
        try:
            c = C.unpack(bytes(d))
        except ContainerError:
            outcomes["error"] += 1
        else:
            outcomes["parsed"] += 1
            assert 1 <= c.height and 1 <= c.width and sum(map(len, c.sections)) < len(d)
    assert outcomes["error"] > 2000
