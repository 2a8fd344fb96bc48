"""TFRecord framing and tf.train.Example encoding written without TensorFlow, checked on known vectors."""

import struct

import pytest

from shared_data import tfrecord as tr


def test_crc32c_known_vectors():
    # RFC 3720 (iSCSI) appendix B.4 and the classic check value.
    assert tr.crc32c(b"123456789") == 0xE3069283
    assert tr.crc32c(bytes(32)) == 0x8A9136AA
    assert tr.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert tr.crc32c(bytes(range(32))) == 0x46DD794E
    assert tr.crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C
    # running CRC over pieces equals one pass, for every split point (covers the 8-byte fast path)
    data = bytes(range(256)) * 3
    for cut in (0, 1, 7, 8, 9, 100, len(data)):
        assert tr.crc32c(data[cut:], tr.crc32c(data[:cut])) == tr.crc32c(data)


def test_masked_crc_formula():
    c = tr.crc32c(b"abc")
    assert tr.masked_crc32c(b"abc") == ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert tr.masked_crc32c(b"") == 0xA282EAD8  # crc32c(b"") == 0


def test_frame_layout_and_round_trip(tmp_path):
    rec = tr.frame_record(b"hello")
    assert rec[:8] == struct.pack("<Q", 5)
    assert struct.unpack("<I", rec[8:12])[0] == tr.masked_crc32c(rec[:8])
    assert rec[12:17] == b"hello"
    assert struct.unpack("<I", rec[17:])[0] == tr.masked_crc32c(b"hello")
    payloads = [b"", b"x", bytes(range(256)) * 40]
    p = tmp_path / "a.tfrecord"
    size = tr.write_records(p, payloads)
    assert size == p.stat().st_size == sum(16 + len(x) for x in payloads)
    assert list(tr.read_records(p)) == payloads


def test_corruption_and_truncation_are_named(tmp_path):
    p = tmp_path / "a.tfrecord"
    tr.write_records(p, [b"first", b"second record"])
    blob = bytearray(p.read_bytes())
    blob[len(tr.frame_record(b"first")) + 14] ^= 1  # flip a bit inside record 1's data
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(bytes(blob))
    with pytest.raises(tr.TFRecordError, match="record 1: data CRC mismatch"):
        list(tr.read_records(bad))
    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(tr.TFRecordError, match="record 1: truncated"):
        list(tr.read_records(cut))


def test_example_wire_format_golden():
    # tf.train.Example(features={"image/encoded": bytes_list ["abc"]}) serialized by protobuf:
    golden = bytes.fromhex("0a1a0a180a0d696d6167652f656e636f64656412070a050a03616263")
    assert tr.encode_example({"image/encoded": b"abc"}) == golden
    assert tr.decode_example(golden) == {"image/encoded": [b"abc"]}
    big = bytes(300)  # length needs a 2-byte varint
    assert tr.decode_example(tr.encode_example({"k": [big, b"y"]})) == {"k": [big, b"y"]}


def test_byte_identical_to_tensorflow_writer(tmp_path):
    # Golden: sha256 of the file that TensorFlow 2.14.1's tf.io.TFRecordWriter wrote for these three
    # tf.train.Example(features={"image/encoded": bytes_list [payload]}) records (SerializeToString()).
    import hashlib

    payloads = [b"", b"abc", bytes(range(256)) * 100]
    p = tmp_path / "ours.tfrecord"
    tr.write_records(p, [tr.encode_example({"image/encoded": b}) for b in payloads])
    assert hashlib.sha256(p.read_bytes()).hexdigest() == \
        "1c59334187028274294c35ae23d53786e47320d276293661908250e87018f32a"
