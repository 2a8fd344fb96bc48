"""Image ⇄ ``.lic`` container with a CPM model (codec id "cpm"): this sub-project's implementation of the
project's codec protocol (:class:`shared_data.codec.Codec`: ``load_codec(path, portable=...)``, ``encode``,
``decode``, ``estimate_bits``).

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
from shared_data.errors import ContainerError, ImageError, ModelError
from shared_data.imageio import check_rgb_uint8, pad_to_multiple, read_image, write_png
from shared_data.tiling import tiles

from . import arithcfg, integer
from .coding import ContextModelInt, ContextModelNumpy, decode_symbols, encode_symbols
from .config import AE_KEYS, PC_KEYS, Config, ConfigError, check_keys, load_ae_config, load_pc_config
from .model import CPM, SUBSAMPLING

CODEC_ID = "cpm"

FORMAT = 3          # portable: integer context model
FORMAT_FLOAT = 2    # float32 context model (needs the encoder's arithmetic)
FORMATS = {1: "format 1 (float context model, no CRC)", 2: "format 2 (float context model)",
           3: "format 3 (portable, integer context model)"}
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = PACKAGE_ROOT / "zoo" / "mini"


#: Tiling (issue 17, bounded memory): an image of more than TILE_ABOVE padded pixels (2^22, 2048x2048) runs
#: through the analysis and synthesis transforms in tiles of TILE x TILE symbols (8·TILE pixels a side) plus a
#: margin of at least the receptive field on each side, cropped after the network: up to float rounding in
#: the convolutions the symbols and the reconstruction are the untiled ones. Smaller images (the goldens,
#: Kodak, the zoo references) take the untiled path unchanged. The context model needs no tiles: it keeps
#: only a few steps of activations (cpm.coding.RING), and the file format does not depend on the tiling.
TILE_ABOVE = 1 << 22
TILE = 128


def encoder_margin(B: int) -> int:
    """Symbols of context each side of an analysis tile: the one-sided receptive field in pixels, bounded by
    Σ (k − 1) · stride-product over h1 (5×5/2), h2 (5×5/2), the 2(3B+1) 3×3 convs of the residual blocks
    and to_bn (5×5/2), rounded up to symbols, plus one."""
    px = 4 * 1 + 4 * 2 + 2 * (3 * B + 1) * 2 * 4 + 4 * 4
    return -(-px // SUBSAMPLING) + 1


def decoder_margin(B: int) -> int:
    """Symbols of context each side of a synthesis tile: from_bn (3×3 transposed, ±1.5 symbols), the
    2(3B+1) 3×3 convs at 1/4 scale (±1/2 symbol each), h12 / h13 (5×5 transposed, ±1 and ±1/2), plus two."""
    return 3 + (3 * B + 1) + 2


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


def is_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a cpm model directory (``config.json`` with ``ae`` / ``pc`` values and
    ``weights.npz``); reads only the small JSON file."""
    d = Path(path)
    if not (d / "config.json").is_file() or not (d / "weights.npz").is_file():
        return False
    try:
        meta = json.loads((d / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and isinstance(meta.get("ae"), dict) and isinstance(meta.get("pc"), dict)


def load_codec(path: str | os.PathLike | None = None, portable: bool | None = None) -> Codec:
    """The model directory ``path`` (None: :data:`DEFAULT_MODEL`, the committed zoo/mini) as a codec.

    ``portable`` (the CLI's ``--float`` is ``portable=False``): True writes the portable stream format 3
    (exact integer context model; the default when the model has one, as zoo/mini has), False the float-path
    format 2. Decoding reads every format whatever the option. :class:`ModelError` naming the directory for
    a missing / corrupt model, a stale integer conversion, or ``portable=True`` on a float-only model."""
    d = Path(DEFAULT_MODEL if path is None else path)
    if not (d / "config.json").is_file() or not (d / "weights.npz").is_file():
        raise ModelError(f"{d}: not a cpm model directory (needs config.json and weights.npz)")
    try:
        meta = json.loads((d / "config.json").read_text())
        ae = _config_from_values(meta["ae"], meta.get("ae_config", "ae"), AE_KEYS, "autoencoder")
        pc = _config_from_values(meta["pc"], meta.get("pc_config", "pc"), PC_KEYS, "probclass")
    except (KeyError, TypeError, AttributeError, ValueError, ConfigError) as e:
        raise ModelError(f"{d}/config.json: unusable ({e})") from None
    if not hasattr(ae, "arch_param_n"):
        object.__setattr__(ae, "arch_param_n", 128)
    model = CPM(ae, pc)
    try:
        with np.load(d / "weights.npz") as z:
            model.load_weights({k: z[k] for k in z.files})
    except (ValueError, OSError, KeyError) as e:
        raise ModelError(f"{d}/weights.npz: {e}") from None
    try:
        ipc = integer.load(d, meta)
    except (ValueError, OSError, KeyError) as e:
        raise ModelError(str(e)) from None
    codec = Codec(model, ipc, model_dir=d, portable=portable)
    if ipc is not None and ipc.meta.get("source_fingerprint") != codec.fingerprint_float.hex():
        raise ModelError(f"{d}: {integer.INT_FILE} was converted from other float weights (fingerprint "
                         f"{ipc.meta.get('source_fingerprint')}, weights.npz is {codec.fingerprint_float.hex()}: "
                         f"trained further?); rerun `python -m cpm integerize {d} {d}`")
    return codec


def load_from_configs(ae_path, pc_path) -> Codec:
    """A freshly initialised (untrained) model of two config files, float path only (tests, benchmarks)."""
    return Codec(CPM(load_ae_config(ae_path), load_pc_config(pc_path)))


@dataclass
class EncodeResult:
    num_bytes: int
    bits_estimated: float   # cross-entropy of the coded symbols under the context model (same probs)
    symbols: np.ndarray
    padded_shape: tuple
    enc_s: float


class Codec:
    """A model's encoder/decoder (:class:`shared_data.codec.Codec`). ``ipc`` (from ``integerize``) enables the
    portable format 3, which is then the default (``portable``); without it only the float format 2 can be
    written. ``fingerprint`` is what the files of the chosen format carry: ``fingerprint_int`` (format 3)
    or ``fingerprint_float`` (format 2: SHA-256 of the config values and all float weights)."""

    codec_id = CODEC_ID
    lossless = False

    def __init__(self, model: CPM, ipc: integer.IntegerPC | None = None, model_dir=None,
                 portable: bool | None = None):
        self.model = model
        self.model_dir = model_dir
        self.cm = ContextModelNumpy(model)
        w = model.numpy_weights()
        cfg = model.ae_config.canonical() + "\n--\n" + model.pc_config.canonical()
        self.fingerprint_float = cont.fingerprint(cfg, [w[k].tobytes() for k in sorted(w)])
        self.ipc = ipc
        self.icm = None
        self.fingerprint_int = None
        if ipc is not None:
            self.icm = ContextModelInt(model.L, bool(model.pc_config.use_centers_for_padding), ipc)
            float_part = [w[k].tobytes() for k in sorted(w) if not k.startswith("probclass3d")]
            self.fingerprint_int = cont.fingerprint(cfg + "\n--integer--\n" + ipc.canonical(),
                                                    float_part + ipc.buffers())
        if portable and ipc is None:
            where = model_dir or "DIR"
            raise ModelError(f"model {where} has only the float context model, which cannot write the portable "
                             f"{FORMATS[3]}; convert it with `python -m cpm integerize {where} OUT` (or encode the "
                             f"float {FORMATS[2]} with --float)")
        self.portable = ipc is not None if portable is None else bool(portable)
        self.tile_above, self.tile = TILE_ABOVE, TILE
        self.enc_margin, self.dec_margin = encoder_margin(model.B), decoder_margin(model.B)
        self._enc = tf.function(lambda x: self.model.encode(x, training=False).symbols, reduce_retracing=True)
        self._dec = tf.function(lambda q: self.model.decode(q, training=False), reduce_retracing=True)

    @property
    def fingerprint(self) -> bytes:
        """The 8 bytes every container this codec writes carries (its default format's fingerprint)."""
        return self.fingerprint_int if self.portable else self.fingerprint_float

    # --- the codec protocol (shared_data.codec.Codec) ----------------------------------------------
    def encode(self, image: np.ndarray) -> cont.Container:
        """uint8 (H, W, 3) -> a container of this codec's format (:attr:`portable`)."""
        return self.encode_array(_checked(image))[0]

    def decode(self, container: cont.Container) -> np.ndarray:
        """A cpm container (any format this model can read) -> uint8 (H, W, 3) of the original size."""
        if container.codec != CODEC_ID:
            raise ContainerError(f"a {container.codec} file, not cpm")
        return self.decode_container(container)[0]

    def estimate_bits(self, image: np.ndarray) -> float:
        """The model's rate for ``image``: Σ −log2 P of its symbols under the TF context model (the original's
        bpp · pixels), the same padding as :meth:`encode`, no coding."""
        padded, _ = pad_to_multiple(_checked(image), SUBSAMPLING, mode="constant", split="center")
        return self.bits_of_symbols(self.symbols_of(padded))

    # --- network halves ---------------------------------------------------------------------------
    def symbols_of(self, padded: np.ndarray) -> np.ndarray:
        """uint8 (H,W,3), H,W multiples of 8 -> int (C, H/8, W/8) symbols; above :attr:`tile_above` padded
        pixels the analysis transform runs on overlapping tiles (:func:`tiles`, margin :attr:`enc_margin`)."""
        H, W = padded.shape[:2]
        if H * W <= self.tile_above:
            s = self._enc(tf.constant(padded[None].astype(np.float32)))[0].numpy()
            return np.ascontiguousarray(s.transpose(2, 0, 1))
        out = np.empty((self.model.C, H // SUBSAMPLING, W // SUBSAMPLING), np.int16)  # L <= 2^15 (coding)
        for core, win in tiles(H // SUBSAMPLING, W // SUBSAMPLING, self.tile, self.enc_margin):
            (y0, y1, x0, x1), (a0, a1, b0, b1) = core, win
            x = padded[a0 * SUBSAMPLING:a1 * SUBSAMPLING, b0 * SUBSAMPLING:b1 * SUBSAMPLING]
            s = self._enc(tf.constant(x[None].astype(np.float32)))[0].numpy()
            out[:, y0:y1, x0:x1] = s[y0 - a0:y1 - a0, x0 - b0:x1 - b0].transpose(2, 0, 1)
        return out

    def reconstruct(self, symbols: np.ndarray) -> np.ndarray:
        """(C,h,w) symbols -> uint8 (8h, 8w, 3); float output truncated by a cast, as the original val.py.
        Above :attr:`tile_above` pixels the synthesis transform runs on overlapping tiles (margin
        :attr:`dec_margin`)."""
        C, h, w = symbols.shape
        centers = self.model.centers.numpy()
        if h * w * SUBSAMPLING ** 2 <= self.tile_above:
            x = self._dec(tf.constant(centers[symbols.transpose(1, 2, 0)][None])).numpy()[0]
            return x.astype(np.uint8)
        out = np.empty((h * SUBSAMPLING, w * SUBSAMPLING, 3), np.uint8)
        S = SUBSAMPLING
        for (y0, y1, x0, x1), (a0, a1, b0, b1) in tiles(h, w, self.tile, self.dec_margin):
            q = centers[symbols[:, a0:a1, b0:b1].transpose(1, 2, 0)][None]
            x = self._dec(tf.constant(q)).numpy()[0]
            out[y0 * S:y1 * S, x0 * S:x1 * S] = x[(y0 - a0) * S:(y1 - a0) * S, (x0 - b0) * S:(x1 - b0) * S]
        return out

    def bits_of_symbols(self, symbols: np.ndarray) -> float:
        """Cross-entropy estimate Σ bitcost from the TF full-volume pass (the original's bpp)."""
        q = self.model.centers.numpy()[symbols.transpose(1, 2, 0)][None]
        bc = self.model.bitcost(tf.constant(q), tf.constant(symbols.transpose(1, 2, 0)[None].astype(np.int64)))
        return float(tf.reduce_sum(bc).numpy())

    # --- files -----------------------------------------------------------------------------------
    def _mode(self, portable: bool | None) -> bool:
        portable = self.portable if portable is None else portable
        if portable and self.icm is None:
            where = self.model_dir or "DIR"
            raise ModelError(
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
        fmt, fp = (FORMAT, self.fingerprint_int) if portable else (FORMAT_FLOAT, self.fingerprint_float)
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
            raise ContainerError(f"cpm file must have 2 or 3 sections, has {len(c.sections)}")
        head = cont.unpack_ints(c.sections[0])
        if not head or head[0] not in FORMATS:
            raise ContainerError(f"cpm header {head}: unknown stream format (this decoder knows 1, 2, 3)")
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
                raise ContainerError(
                    f"{where}the file is cpm {FORMATS[3]}, but model {m} has only the float context model "
                    f"({FORMATS[2]}); convert it with `python -m cpm integerize {m} OUT` and decode with --model OUT")
            want = self.fingerprint_int
        else:
            want = self.fingerprint_float
            if c.fingerprint == self.fingerprint_int:
                raise ContainerError(f"{where}inconsistent file: {FORMATS[fmt]} under the fingerprint of the "
                                          f"integer context model")
        if c.fingerprint != want:
            raise ContainerError(f"{where}model fingerprint mismatch: the file ({FORMATS[fmt]}) was written by "
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
            raise ContainerError(f"cpm header {head} ({len(c.sections)} sections) does not match the "
                                      f"model/image (expected {FORMATS[fmt]} and C, h, w = {expected})")
        record = self.arith_record(c, path)
        try:
            symbols = decode_symbols(self.icm if fmt == FORMAT else self.cm, c.sections[1], tuple(expected))
            failure = None
        except ContainerError as e:  # the entropy decoder (shared_data.entropy) or coding.CodingError
            failure = str(e)
        if failure is None and fmt >= 2 and symbols_crc(
                symbols, (c.height, c.width) if head[4] >= SIZED_CRC else None) != head[4]:
            failure = "decoded symbols fail the CRC check: the range decoder lost sync"
        if failure is not None:
            where = f"{path}: " if path is not None else ""
            if fmt == FORMAT:
                raise ContainerError(f"{where}corrupt cpm payload: {failure} (portable {FORMATS[3]}: the "
                                          f"integer context model is exact, so the file itself is damaged)")
            here = arithcfg.here("float")
            diffs = arith.mismatches(record, here) if record else []
            if record and [d for d in diffs if d[0] != "python"]:
                raise ContainerError(
                    f"{where}cpm {FORMATS[fmt]} does not decode under this machine's arithmetic ({failure}): "
                    f"{arith.explain(record, here)}; retry with `decode --try-arithmetic`, or re-encode as the "
                    f"portable {FORMATS[3]}")
            note = "" if record else " (no arithmetic record: a file written before it was stored)"
            raise ContainerError(f"{where}corrupt cpm payload: {failure}{note} (or a machine whose float "
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


def _checked(image) -> np.ndarray:
    try:
        return check_rgb_uint8(np.asarray(image))
    except ValueError as e:
        raise ImageError(f"cpm encoder: {e}") from None


__all__ = ["CODEC_ID", "DEFAULT_MODEL", "Codec", "is_model", "load_codec", "save_model", "load_from_configs"]
