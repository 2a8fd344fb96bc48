"""Image ⇄ ``.lic`` container with a CPM model (codec id "cpm").

Container sections: ``[pack_ints([format, C, h, w, crc32(symbols)]), range-coder payload]`` plus, in
float-path files, the encoder's arithmetic configuration. Stream formats: **3** (portable, the default for a converted model): the symbols are coded under
the exact integer context model (``cpm.integer``), so the file decodes to the same symbols on every IEEE-754
machine; **2** (float path, ``--float``): the float32 NumPy context model, decodable only under the same
arithmetic (BLAS kernel, ...) as the encoder's — its third section (``shared_data.arith`` record, ~150
bytes, absent in older format-2 files) lets the decoder reproduce the thread counts and name what differs; **1**: session-1
files without the CRC. The image is zero-padded to a multiple of 8 (split ⌊p/2⌋ before, rest after, as the
original's val protocol); the decoder crops back to the original size stored in the container header. The
CRC-32 of the coded symbols makes a desynchronised range decoder fail clearly instead of returning a wrong image.
"""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from shared_data import arith
from shared_data import container as cont
from shared_data.imageio import crop_to_original, pad_to_multiple, read_image, write_png

from . import arithcfg, integer
from .coding import CodingError, ContextModelInt, ContextModelNumpy, decode_symbols, encode_symbols
from .config import AE_KEYS, PC_KEYS, Config, ConfigError, check_keys, load_ae_config, load_pc_config
from .model import CPM, SUBSAMPLING

FORMAT = 3          # portable: integer context model
FORMAT_FLOAT = 2    # float32 context model (needs the encoder's arithmetic)
FORMATS = {1: "format 1 (float context model, no CRC)", 2: "format 2 (float context model)",
           3: "format 3 (portable, integer context model)"}
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = PACKAGE_ROOT / "zoo" / "mini"


SIZED_CRC = 1 << 32  # flag of the header's CRC value: the CRC also covers the image's H x W (files since issue 17)


def symbols_crc(symbols: np.ndarray, size: tuple[int, int] | None = None) -> int:
    """CRC-32 of the (C, h, w) symbol volume as uint8 bytes (L <= 256), C order.

    With ``size`` = (H, W) the CRC starts from the image size and the value carries :data:`SIZED_CRC`, so a
    container whose H x W was changed (e.g. 32x32 -> 31x32, same padded size, CRC-32 trailer recomputed) fails
    the check instead of decoding to a differently cropped image; older files (value < 2**32) are checked over
    the symbols only."""
    crc = zlib.crc32(struct.pack("<II", *size)) if size is not None else 0
    crc = zlib.crc32(np.ascontiguousarray(symbols, dtype=np.uint8).tobytes(), crc) & 0xFFFFFFFF
    return crc | SIZED_CRC if size is not None else crc


class ModelLoadError(ValueError):
    """A model directory is missing files or holds weights that do not fit its config."""


def _config_from_values(values: dict, name: str, keys, kind) -> Config:
    vals = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return check_keys(Config(vals, name=name, text=""), keys, kind)


def save_model(model: CPM, out_dir: str | os.PathLike, ae_name: str, pc_name: str, extra: dict | None = None):
    """Write ``config.json`` (effective config values) and ``weights.npz`` (original variable names)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"ae_config": ae_name, "pc_config": pc_name, "ae": model.ae_config.values(),
            "pc": model.pc_config.values(), **(extra or {})}
    tmp = out / ".weights.tmp.npz"
    np.savez(tmp, **model.numpy_weights())
    os.replace(tmp, out / "weights.npz")
    from shared_data.imageio import atomic_write_bytes
    atomic_write_bytes(out / "config.json", (json.dumps(meta, indent=1, sort_keys=True, default=list) + "\n").encode())


def load_model(model_dir: str | os.PathLike = DEFAULT_MODEL) -> Codec:
    d = Path(model_dir)
    if not (d / "config.json").is_file() or not (d / "weights.npz").is_file():
        raise ModelLoadError(f"{d}: not a cpm model directory (needs config.json and weights.npz)")
    try:
        meta = json.loads((d / "config.json").read_text())
        ae = _config_from_values(meta["ae"], meta.get("ae_config", "ae"), AE_KEYS, "autoencoder")
        pc = _config_from_values(meta["pc"], meta.get("pc_config", "pc"), PC_KEYS, "probclass")
    except (KeyError, ValueError, ConfigError) as e:
        raise ModelLoadError(f"{d}/config.json: unusable ({e})") from None
    if not hasattr(ae, "arch_param_n"):
        object.__setattr__(ae, "arch_param_n", 128)
    model = CPM(ae, pc)
    try:
        with np.load(d / "weights.npz") as z:
            model.load_weights({k: z[k] for k in z.files})
    except (ValueError, OSError) as e:
        raise ModelLoadError(f"{d}/weights.npz: {e}") from None
    try:
        ipc = integer.load(d, meta)
    except (ValueError, OSError) as e:
        raise ModelLoadError(str(e)) from None
    codec = Codec(model, ipc, model_dir=d)
    if ipc is not None and ipc.meta.get("source_fingerprint") != codec.fingerprint.hex():
        raise ModelLoadError(f"{d}: {integer.INT_FILE} was converted from other float weights (fingerprint "
                             f"{ipc.meta.get('source_fingerprint')}, weights.npz is {codec.fingerprint.hex()}: "
                             f"trained further?); rerun `python -m cpm integerize {d} {d}`")
    return codec


def load_from_configs(ae_path, pc_path) -> Codec:
    return Codec(CPM(load_ae_config(ae_path), load_pc_config(pc_path)))


@dataclass
class EncodeResult:
    num_bytes: int
    bits_estimated: float   # cross-entropy of the coded symbols under the context model (same probs)
    symbols: np.ndarray
    padded_shape: tuple
    enc_s: float


class Codec:
    """A model's encoder/decoder. ``ipc`` (from ``integerize``) enables the portable format 3, which is then
    the default (``portable=True``); without it only the float format 2 can be written."""

    def __init__(self, model: CPM, ipc: integer.IntegerPC | None = None, model_dir=None):
        self.model = model
        self.model_dir = model_dir
        self.cm = ContextModelNumpy(model)
        w = model.numpy_weights()
        cfg = model.ae_config.canonical() + "\n--\n" + model.pc_config.canonical()
        self.fingerprint = cont.fingerprint(cfg, [w[k].tobytes() for k in sorted(w)])
        self.ipc = ipc
        self.icm = None
        self.fingerprint_int = None
        if ipc is not None:
            self.icm = ContextModelInt(model.L, bool(model.pc_config.use_centers_for_padding), ipc)
            float_part = [w[k].tobytes() for k in sorted(w) if not k.startswith("probclass3d")]
            self.fingerprint_int = cont.fingerprint(cfg + "\n--integer--\n" + ipc.canonical(),
                                                    float_part + ipc.buffers())
        self.portable = ipc is not None
        self._enc = tf.function(lambda x: self.model.encode(x, training=False).symbols, reduce_retracing=True)
        self._dec = tf.function(lambda q: self.model.decode(q, training=False), reduce_retracing=True)

    # --- network halves ---------------------------------------------------------------------------
    def symbols_of(self, padded: np.ndarray) -> np.ndarray:
        """uint8 (H,W,3), H,W multiples of 8 -> int (C, H/8, W/8) symbols."""
        s = self._enc(tf.constant(padded[None].astype(np.float32)))[0].numpy()
        return np.ascontiguousarray(s.transpose(2, 0, 1))

    def reconstruct(self, symbols: np.ndarray) -> np.ndarray:
        """(C,h,w) symbols -> uint8 (8h, 8w, 3); float output truncated by a cast, as the original val.py."""
        q = self.model.centers.numpy()[symbols.transpose(1, 2, 0)][None]
        x = self._dec(tf.constant(q)).numpy()[0]
        return x.astype(np.uint8)

    def estimate_bits(self, symbols: np.ndarray) -> float:
        """Cross-entropy estimate Σ bitcost from the TF full-volume pass (the original's bpp)."""
        q = self.model.centers.numpy()[symbols.transpose(1, 2, 0)][None]
        bc = self.model.bitcost(tf.constant(q), tf.constant(symbols.transpose(1, 2, 0)[None].astype(np.int64)))
        return float(tf.reduce_sum(bc).numpy())

    # --- files -----------------------------------------------------------------------------------
    def _mode(self, portable: bool | None) -> bool:
        portable = self.portable if portable is None else portable
        if portable and self.icm is None:
            where = self.model_dir or "DIR"
            raise cont.ContainerError(
                f"model {where} has only the float context model, which cannot write the portable {FORMATS[3]}; "
                f"convert it with `python -m cpm integerize {where} OUT` (or encode the float {FORMATS[2]} "
                f"with --float)")
        return portable

    def encode_array(self, img: np.ndarray, portable: bool | None = None) -> tuple[cont.Container, EncodeResult]:
        """Format 3 (exact integer context model) if ``portable`` (default: the model has one), else 2."""
        portable = self._mode(portable)
        t0 = time.perf_counter()
        padded, _ = pad_to_multiple(img, SUBSAMPLING, mode="constant", split="center")
        symbols = self.symbols_of(padded)
        payload, bits = encode_symbols(self.icm if portable else self.cm, symbols)
        C, h, w = symbols.shape
        fmt, fp = (FORMAT, self.fingerprint_int) if portable else (FORMAT_FLOAT, self.fingerprint)
        sections = (cont.pack_ints([fmt, C, h, w, symbols_crc(symbols, img.shape[:2])]), payload)
        if not portable:  # format 3 needs no record: its probabilities do not depend on the arithmetic
            sections += (arith.pack(arithcfg.here("float")),)
        c = cont.Container("cpm", fp, img.shape[0], img.shape[1], sections)
        n = len(cont.pack(c))
        return c, EncodeResult(n, bits, symbols, padded.shape, time.perf_counter() - t0)

    def encode_file(self, in_path, out_path, portable: bool | None = None) -> EncodeResult:
        img = read_image(in_path)
        c, res = self.encode_array(img, portable)
        cont.write(out_path, c)
        return res

    @staticmethod
    def file_format(c: cont.Container) -> int:
        """The cpm stream format of a container (1, 2 or 3), from its first section."""
        if len(c.sections) not in (2, 3):
            raise cont.ContainerError(f"cpm file must have 2 or 3 sections, has {len(c.sections)}")
        head = cont.unpack_ints(c.sections[0])
        if not head or head[0] not in FORMATS:
            raise cont.ContainerError(f"cpm header {head}: unknown stream format (this decoder knows 1, 2, 3)")
        return head[0]

    @staticmethod
    def arith_record(c: cont.Container, path=None) -> dict[str, str]:
        """The encoder's arithmetic configuration (empty for files written before it was recorded)."""
        return arith.unpack(c.sections[2], path=path) if len(c.sections) == 3 else {}

    def check_model(self, c: cont.Container, path=None) -> int:
        """Refuse a file this model cannot decode, naming both formats (and the conversion command) or the
        fingerprints; returns the file's stream format."""
        fmt = self.file_format(c)
        where = f"{path}: " if path is not None else ""
        if fmt == FORMAT:
            if self.icm is None:
                m = self.model_dir or "DIR"
                raise cont.ContainerError(
                    f"{where}the file is cpm {FORMATS[3]}, but model {m} has only the float context model "
                    f"({FORMATS[2]}); convert it with `python -m cpm integerize {m} OUT` and decode with --model OUT")
            want = self.fingerprint_int
        else:
            want = self.fingerprint
            if c.fingerprint == self.fingerprint_int:
                raise cont.ContainerError(f"{where}inconsistent file: {FORMATS[fmt]} under the fingerprint of the "
                                          f"integer context model")
        if c.fingerprint != want:
            raise cont.ContainerError(f"{where}model fingerprint mismatch: the file ({FORMATS[fmt]}) was written by "
                                      f"model {c.fingerprint.hex()}, the loaded model is {want.hex()}")
        return fmt

    def decode_symbols(self, c: cont.Container, path=None) -> np.ndarray:
        """The (C, h, w) symbols of a file (format 3: exact; formats 1-2: the float context model)."""
        fmt = self.check_model(c, path)
        head = cont.unpack_ints(c.sections[0])
        Hp, Wp = c.height + (-c.height) % SUBSAMPLING, c.width + (-c.width) % SUBSAMPLING
        expected = [self.model.C, Hp // SUBSAMPLING, Wp // SUBSAMPLING]
        n_sec = {1: (2,), 2: (2, 3), 3: (2,)}[fmt]
        if len(head) != (4 if fmt == 1 else 5) or head[1:4] != expected or len(c.sections) not in n_sec:
            raise cont.ContainerError(f"cpm header {head} ({len(c.sections)} sections) does not match the "
                                      f"model/image (expected {FORMATS[fmt]} and C, h, w = {expected})")
        record = self.arith_record(c, path)
        try:
            symbols = decode_symbols(self.icm if fmt == FORMAT else self.cm, c.sections[1], tuple(expected))
            failure = None
        except CodingError as e:
            failure = str(e)
        if failure is None and fmt >= 2 and symbols_crc(
                symbols, (c.height, c.width) if head[4] >= SIZED_CRC else None) != head[4]:
            failure = "decoded symbols fail the CRC check: the range decoder lost sync"
        if failure is not None:
            where = f"{path}: " if path is not None else ""
            if fmt == FORMAT:
                raise cont.ContainerError(f"{where}corrupt cpm payload: {failure} (portable {FORMATS[3]}: the "
                                          f"integer context model is exact, so the file itself is damaged)")
            here = arithcfg.here("float")
            diffs = arith.mismatches(record, here) if record else []
            if record and [d for d in diffs if d[0] != "python"]:
                raise cont.ContainerError(
                    f"{where}cpm {FORMATS[fmt]} does not decode under this machine's arithmetic ({failure}): "
                    f"{arith.explain(record, here)}; retry with `decode --try-arithmetic`, or re-encode as the "
                    f"portable {FORMATS[3]}")
            note = "" if record else " (no arithmetic record: a file written before it was stored)"
            raise cont.ContainerError(f"{where}corrupt cpm payload: {failure}{note} (or a machine whose float "
                                      f"arithmetic gives other probabilities)")
        return symbols

    def decode_container(self, c: cont.Container, path=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns (image cropped to the original size, padded reconstruction, symbols)."""
        symbols = self.decode_symbols(c, path)
        Hp, Wp = c.height + (-c.height) % SUBSAMPLING, c.width + (-c.width) % SUBSAMPLING
        rec = self.reconstruct(symbols)
        ph, pw = Hp - c.height, Wp - c.width
        img = rec[ph // 2: ph // 2 + c.height, pw // 2: pw // 2 + c.width]
        return np.ascontiguousarray(img), rec, symbols

    def decode_file(self, in_path, out_path) -> np.ndarray:
        c = cont.read(in_path, codec="cpm")
        img, _, _ = self.decode_container(c, in_path)
        write_png(out_path, img)
        return img


__all__ = ["Codec", "load_model", "save_model", "load_from_configs", "ModelLoadError", "DEFAULT_MODEL",
           "crop_to_original"]
