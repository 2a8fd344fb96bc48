"""Image ⇄ ``.lic`` container with a CPM model (codec id "cpm").

Container sections: ``[pack_ints([FORMAT, C, h, w, crc32(symbols)]), range-coder payload]``. The image is
zero-padded to a multiple of 8 (split ⌊p/2⌋ before, rest after, as the original's val protocol); the decoder
crops back to the original size stored in the container header. The CRC-32 of the coded symbols (format 2)
lets the decoder *detect* a desynchronised range decoder (e.g. a machine whose float arithmetic gives other
probabilities, see README "Limits") instead of returning a wrong image; format-1 files (no CRC) still decode.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from shared_data import container as cont
from shared_data.imageio import crop_to_original, pad_to_multiple, read_image, write_png

from .coding import CodingError, ContextModelNumpy, decode_symbols, encode_symbols
from .config import AE_KEYS, PC_KEYS, Config, ConfigError, check_keys, load_ae_config, load_pc_config
from .model import CPM, SUBSAMPLING

FORMAT = 2
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = PACKAGE_ROOT / "zoo" / "mini"


def symbols_crc(symbols: np.ndarray) -> int:
    """CRC-32 of the (C, h, w) symbol volume as uint8 bytes (L <= 256), C order."""
    return zlib.crc32(np.ascontiguousarray(symbols, dtype=np.uint8).tobytes()) & 0xFFFFFFFF


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
    return Codec(model)


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
    def __init__(self, model: CPM):
        self.model = model
        self.cm = ContextModelNumpy(model)
        w = model.numpy_weights()
        cfg = model.ae_config.canonical() + "\n--\n" + model.pc_config.canonical()
        self.fingerprint = cont.fingerprint(cfg, [w[k].tobytes() for k in sorted(w)])
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
    def encode_array(self, img: np.ndarray) -> tuple[cont.Container, EncodeResult]:
        t0 = time.perf_counter()
        padded, _ = pad_to_multiple(img, SUBSAMPLING, mode="constant", split="center")
        symbols = self.symbols_of(padded)
        payload, bits = encode_symbols(self.cm, symbols)
        C, h, w = symbols.shape
        c = cont.Container("cpm", self.fingerprint, img.shape[0], img.shape[1],
                           (cont.pack_ints([FORMAT, C, h, w, symbols_crc(symbols)]), payload))
        n = len(cont.pack(c))
        return c, EncodeResult(n, bits, symbols, padded.shape, time.perf_counter() - t0)

    def encode_file(self, in_path, out_path) -> EncodeResult:
        img = read_image(in_path)
        c, res = self.encode_array(img)
        cont.write(out_path, c)
        return res

    def decode_container(self, c: cont.Container) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns (image cropped to the original size, padded reconstruction, symbols)."""
        if len(c.sections) != 2:
            raise cont.ContainerError(f"cpm file must have 2 sections, has {len(c.sections)}")
        head = cont.unpack_ints(c.sections[0])
        Hp, Wp = c.height + (-c.height) % SUBSAMPLING, c.width + (-c.width) % SUBSAMPLING
        expected = [self.model.C, Hp // SUBSAMPLING, Wp // SUBSAMPLING]
        if not (len(head) == 4 and head[0] == 1 or len(head) == 5 and head[0] == 2) or head[1:4] != expected:
            raise cont.ContainerError(f"cpm header {head} does not match the model/image (expected format 1 or 2 "
                                      f"and C, h, w = {expected})")
        try:
            symbols = decode_symbols(self.cm, c.sections[1], tuple(expected))
        except CodingError as e:
            raise cont.ContainerError(f"corrupt cpm payload: {e}") from None
        if head[0] == 2 and symbols_crc(symbols) != head[4]:
            raise cont.ContainerError("decoded symbols fail the CRC check: the range decoder lost sync (a corrupt "
                                      "payload, or a machine whose float arithmetic gives other probabilities)")
        rec = self.reconstruct(symbols)
        ph, pw = Hp - c.height, Wp - c.width
        img = rec[ph // 2: ph // 2 + c.height, pw // 2: pw // 2 + c.width]
        return np.ascontiguousarray(img), rec, symbols

    def decode_file(self, in_path, out_path) -> np.ndarray:
        c = cont.read(in_path, codec="cpm", model_fingerprint=self.fingerprint)
        img, _, _ = self.decode_container(c)
        write_png(out_path, img)
        return img


__all__ = ["Codec", "load_model", "save_model", "load_from_configs", "ModelLoadError", "DEFAULT_MODEL",
           "crop_to_original"]
