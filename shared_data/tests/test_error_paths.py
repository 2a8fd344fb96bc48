"""Errors met while reading or writing a file name that file: container sections parsed after read(), the
codec's own payload checks under reading(), and atomic writes onto an existing folder."""

import gc
import os

import numpy as np
import pytest

from shared_data import container as C
from shared_data.container import Container, ContainerError
from shared_data.imageio import atomic_write_bytes, write_png

FP = bytes.fromhex("0123456789abcdef")


def _file(tmp_path, sections):
    p = tmp_path / "x.lic"
    C.write(p, Container("test", FP, 4, 5, sections))
    return p


def test_section_errors_after_read_name_the_file(tmp_path):
    p = _file(tmp_path, (b"\x02\x81", b"payload"))     # 2 ints announced, the first cut: a valid container
    c = C.read(p)
    assert c.sections == (b"\x02\x81", b"payload") and c == Container("test", FP, 4, 5, (b"\x02\x81", b"payload"))
    assert type(c.sections[0]) is bytes and C.pack(c) == p.read_bytes()   # plain bytes: numpy, TF, torch see bytes
    assert np.frombuffer(c.sections[1], np.uint8).tobytes() == b"payload" and np.array(c.sections[1]).dtype == "S7"
    with pytest.raises(ContainerError) as e:
        C.unpack_ints(c.sections[0])
    assert str(e.value) == f"{p}: section 0: truncated file: a length field runs past the end"
    with pytest.raises(ContainerError, match=rf"^{p}: section 1: corrupt integer section"):
        C.unpack_ints(c.sections[1])
    # bytes not from a file keep the message text exactly
    with pytest.raises(ContainerError, match="^truncated file: a length field runs past the end$"):
        C.unpack_ints(b"\x02\x81")
    with pytest.raises(ContainerError, match="^truncated file"):   # a copy is not the file's section
        C.unpack_ints(bytes(bytearray(c.sections[0])))
    sec = c.sections[0]
    del c
    gc.collect()
    with pytest.raises(ContainerError, match="^truncated file"):   # forgotten once its Container is gone
        C.unpack_ints(sec)


def test_reading_prefixes_codec_errors_once(tmp_path):
    p = _file(tmp_path, (b"\x01\x07",))

    def decode(c):
        if C.unpack_ints(c.sections[0]) != [8]:
            raise ContainerError("test header does not match the model")

    with pytest.raises(ContainerError) as e, C.reading(p):
        decode(C.read(p))
    assert str(e.value) == f"{p}: test header does not match the model"
    with pytest.raises(ContainerError) as e, C.reading(p):   # already named: not prefixed twice
        C.read(tmp_path / "missing.lic")
    assert str(e.value).count("missing.lic") == 1


def test_read_errors_name_the_file(tmp_path):
    p = _file(tmp_path, (b"abc",))
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(ContainerError, match=rf"^{p}: truncated file"):
        C.read(p)
    with pytest.raises(ContainerError, match=rf"^{tmp_path}: is a directory"):
        C.read(tmp_path)


@pytest.mark.parametrize("write", [
    lambda p: atomic_write_bytes(p, b"x"),
    lambda p: C.write(p, Container("test", FP, 1, 1, ())),
    lambda p: write_png(p, np.zeros((2, 2, 3), np.uint8)),
])
def test_writing_onto_a_folder_names_the_target(tmp_path, write):
    target = tmp_path / "out.lic"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as e:
        write(target)
    assert e.value.filename == str(target) and ".tmp" not in str(e.value), str(e.value)
    assert os.listdir(tmp_path) == ["out.lic"] and not os.listdir(target)   # no temp file left


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_folder_names_the_target(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(PermissionError) as e:
            atomic_write_bytes(d / "f.bin", b"x")
        assert e.value.filename == str(d / "f.bin") and ".tmp" not in str(e.value)
    finally:
        d.chmod(0o700)
