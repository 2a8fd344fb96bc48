"""The sga stream layer below both coders (:mod:`sga.coding`: range-coded formats, :mod:`sga.bitsback`: bits-back
formats): the format numbers, the error classes, the symbol CRC, the model fingerprints and the fingerprint
check of a container. Framework-free (NumPy only); it imports neither coder, so the coders do not import each
other (issue 16: the former ``bitsback`` <-> ``coding`` cycle). :mod:`sga.codec` picks the coder for a model.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from shared_data import container as lic
from shared_data.errors import ContainerError, ModelError

CODEC = "sga"
#: method and grid ids written into the container (stable forever)
METHOD_IDS = {"m3": 0, "sga": 1, "map": 2, "ste": 3, "unoise": 4, "danneal": 5, "bb_sga": 6, "bb_no_sga": 7,
              "bb_plain": 8}
METHOD_NAMES = {v: k for k, v in METHOD_IDS.items()}
GRID_IDS = {"integer": 0, "offset": 1, "bitsback": 2}
FORMAT_LEGACY = 1  # float path, 3 sections, no CRC (decode only)
FORMAT = 3  # float path + arithmetic config + symbol CRC
FORMAT_PORTABLE = 5  # integer h_s, stored tables (sga.portable) + arithmetic config + symbol CRC
FORMAT_NAMES = {FORMAT_LEGACY: "float-path format 1", FORMAT: "float-path format 3",
                FORMAT_PORTABLE: "portable format 5", 2: "float-path bits-back format 2",
                4: "float-path bits-back format 4", 6: "portable bits-back format 6"}
PORTABLE_FORMATS = (FORMAT_PORTABLE, 6)

# bits-back grids (sga.bitsback; also the ranges of the portable prior densities, sga.portable)
Z_DENSITY = 4
RANGES = (31, 63, 127, 255, 511, 1023, 2047, 4095)
INTEGER_NAME = "integer.npz"


class SGAFormatError(ContainerError):
    """An .lic file with codec "sga" whose payload cannot be decoded by this model."""


class SGAArithmeticError(SGAFormatError):
    """A float-path file decoded to other symbols than were encoded (its stored CRC does not match): the
    decoder's floating-point arithmetic differs from the encoder's. The message names both configurations."""


SIZED_CRC = 1 << 32  # flag bit of a stored symbol CRC that also covers the image H x W (files since issue 17)


def symbol_crc(*arrays, size=None) -> int:
    """CRC-32 of integer symbol arrays (as little-endian int32, in order). ``size`` = (H, W): the CRC starts
    from the image size and carries the :data:`SIZED_CRC` flag, so a file whose container size was changed
    (and its container CRC recomputed) is refused instead of decoding to a cropped/padded image."""
    crc = zlib.crc32(struct.pack("<II", int(size[0]), int(size[1]))) if size is not None else 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(np.asarray(a, np.int64).astype("<i4")).tobytes(), crc)
    return crc | SIZED_CRC if size is not None else crc


def crc_matches(stored: int, height: int, width: int, *arrays) -> bool:
    """A stored symbol CRC against the decoded symbols: sized (files since issue 17: the flag bit is set) or
    symbols-only (older files, which keep decoding)."""
    return stored == symbol_crc(*arrays, size=(height, width) if stored & SIZED_CRC else None)


class NotIntegerizedError(ModelError):
    """Portable coding was asked of a float-only model (no ``integer.npz``; ``python -m sga integerize``)."""


def integer_fingerprint_parts(data: dict, record: dict) -> tuple[str, list[bytes]]:
    """The conversion record (JSON) and the integer arrays (sorted by name) that the portable fingerprint covers."""
    return json.dumps(record, sort_keys=True), [np.ascontiguousarray(data[k]).tobytes() for k in sorted(data)]


def model_fingerprints(model):
    """(float fingerprint, portable fingerprint or None): config + weights; the portable one also covers the
    integer data and the conversion record (``sga.portable``)."""
    weights = [v.numpy().tobytes() for v in sorted(model.variables, key=lambda v: v.name)]
    fp = lic.fingerprint(model.config_json(), weights)
    integ = getattr(model, "integer_data", None)
    if integ is None:
        return fp, None
    rec, parts = integer_fingerprint_parts(*integ)
    return fp, lic.fingerprint(model.config_json() + rec, weights + parts)


def choose_portable(model, portable):
    """Resolve the coder's mode: default portable iff the model is integerized; portable=True on a float-only
    model is a clear error naming the conversion command."""
    integ = getattr(model, "integer_data", None)
    if portable is None:
        return integ is not None
    if portable and integ is None:
        raise NotIntegerizedError(f"this model is float-only (no {INTEGER_NAME}); convert it with "
                                  "'python -m sga integerize MODEL OUT' for portable files")
    return bool(portable)



def check_fingerprint(c: lic.Container, fmt, float_fp, portable_fp, path=None, model_dir=None):
    """Accept a float-path file by the float fingerprint and a portable file by the portable one; a portable
    file read by a float-only model names both formats and the conversion command."""
    where = f"{path}: " if path is not None else ""
    model = f"model {model_dir}" if model_dir is not None else "this model"
    if fmt in PORTABLE_FORMATS:
        if portable_fp is None:
            raise SGAFormatError(f"{where}{FORMAT_NAMES[fmt]} (integerized model) file, but {model} is float-only "
                                 "(reads float-path formats 1-4); convert it with 'python -m sga integerize "
                                 "MODEL OUT' and decode with --model OUT")
        want = portable_fp
    else:
        want = float_fp
    if c.fingerprint != want:
        raise ContainerError(f"{where}model fingerprint mismatch: file {c.fingerprint.hex()}, "
                                 f"{model} {want.hex()} ({FORMAT_NAMES.get(fmt, f'format {fmt}')}); "
                                 "decode with the model that wrote it")


def file_format(c: lic.Container):
    try:
        head = lic.unpack_ints(c.sections[0], max_count=2 * 4096 + 11) if c.sections else []
    except ValueError:
        return None
    return head[0] if head else None


def read_checked(path, float_fp, portable_fp, model_dir=None) -> lic.Container:
    c = lic.read(path, codec=CODEC)
    check_fingerprint(c, file_format(c), float_fp, portable_fp, path, model_dir)
    return c
