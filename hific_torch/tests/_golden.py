"""Committed golden files (tests/golden/), through the one convention :mod:`shared_data.golden`: a missing file
FAILS its test; ``HIFIC_UPDATE_GOLDEN=1`` (or ``LIC_UPDATE_GOLDEN=1``) rewrites the ones the current code can
write. ``legacy_layout1.*`` was written by the layout-1 encoder (before stream layout 2) and cannot be
regenerated.

A hific file's section 1 is the encoder's arithmetic record (this machine's ISA, torch threads, set thread
variables: ``hific.portable.arith_config``), covered by the symbol CRC in section 0. Both describe the machine,
not the coded image, so :func:`check_file` pins every other byte: the file written here, with the golden
file's record and CRC in their place, must equal the golden file byte for byte."""

import hashlib
import json
from pathlib import Path

import numpy as np

from shared_data import container as ctr
from shared_data import golden

GOLDEN = Path(__file__).resolve().parent / "golden"
PKG = "hific"
UPDATE = golden.update_requested(PKG)


def synthetic(h: int = 40, w: int = 56) -> np.ndarray:
    """The deterministic image the golden files encode (no randomness, any machine)."""
    yy, xx = np.indices((h, w))
    return np.stack([(xx * 4) % 256, (yy * 6) % 256, ((xx + yy) * 3) % 256], -1).astype(np.uint8)


def symbols_digest(z_sym, y_sym) -> str:
    h = hashlib.sha256()
    for s in (z_sym, y_sym):
        a = s.numpy() if hasattr(s, "numpy") else np.asarray(s)
        h.update(np.ascontiguousarray(a.astype("<i8")).tobytes())
    return h.hexdigest()


def need(path: Path) -> Path:
    """``path`` if it exists; the shared convention's failure (naming the update variable) otherwise."""
    if not path.is_file():
        raise AssertionError(f"golden file {path} is missing: the bytes it pins are unchecked (rerun with "
                             "HIFIC_UPDATE_GOLDEN=1 to write it, and commit it)")
    return path


def read_json(path: Path) -> dict:
    return json.loads(need(path).read_text())


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")


def with_record_of(c: ctr.Container, ref: ctr.Container) -> ctr.Container:
    """``c`` with ``ref``'s arithmetic record (section 1) and the CRC that covers it (4th int of section 0)."""
    head = ctr.unpack_ints(c.sections[0], max_count=16)
    ref_head = ctr.unpack_ints(ref.sections[0], max_count=16)
    if len(c.sections) != 4 or len(ref.sections) != 4 or len(head) != 4 or len(ref_head) != 4:
        return c
    return ctr.Container(c.codec, c.fingerprint, c.height, c.width,
                         (ctr.pack_ints([*head[:3], ref_head[3]]), ref.sections[1], *c.sections[2:]))


def check_file(path: Path, c: ctr.Container) -> None:
    """golden.check of the file ``c`` (see the module docstring: the machine's record is the golden's)."""
    if not golden.update_requested(PKG) and path.is_file():
        c = with_record_of(c, ctr.unpack(path.read_bytes(), codec="hific"))
    golden.check(path, ctr.pack(c), PKG)
