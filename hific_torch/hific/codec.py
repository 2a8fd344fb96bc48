"""The HiFiC codec: the :class:`shared_data.codec.Codec` protocol and the file format behind it.

    from hific.codec import load_codec
    codec = load_codec()                    # zoo/mini/hific_mini.pt (integerized: portable files)
    container = codec.encode(image)         # uint8 (H, W, 3) -> shared_data.container.Container
    image_hat = codec.decode(container)     # -> uint8 (H, W, 3) of the original size
    bits = codec.estimate_bits(image)       # -log2 of the coded probabilities, no coding

Options of :func:`load_codec` (stored on the codec): ``float_path=True`` writes float-path files (layout 2)
even with an integerized model (``python -m hific encode --float``); ``tile`` bounds E's and G's memory
(latent pixels; None = automatic above 4 MP; not in the file); ``device`` runs E and G there (the
hyperprior and the coder always run on the CPU, so a GPU encode decodes on a CPU).

The file (codec id ``hific`` in the shared container; Mentzer et al. 2020 with Ballé et al. 2018's
hyperprior, coded as Minnen et al. 2018's mean-scale model). Section 0 holds varint integers, the first the
stream layout (:mod:`hific.portable`):

* layout 3, portable: ``[3, hp, wp, crc]``, the arithmetic record, the z stream, the y stream, coded with the
  exact integer h_s and tables of an integerized model (Ballé, Johnston, Minnen 2019); the default;
* layout 2, float path: the same four sections, h_s in float32 (decodes where the float h_s agrees);
* layout 1, legacy float path: ``[1, hp, wp]``, z, y (read only).

``hp, wp`` is the padded size (a multiple of 64); ``crc`` a CRC-32 over the layout, sizes, record and decoded
symbols, so a decode that chose other tables is refused instead of returning a wrong image. Symbols
(round(z - median), round(y - mu)) are range-coded with escapes by :mod:`hific.coding`. The fingerprint of
a portable file is the model's portable fingerprint (weights + integer block), of a float file the float one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from shared_data import arith
from shared_data import container as ctr
from shared_data.errors import ContainerError, ImageError, LicError, ModelError
from shared_data.imageio import PadInfo, check_rgb_uint8, crop_to_original

from .checkpoints import DEFAULT_MODEL, is_checkpoint, load_checkpoint
from .coding import decode_rows, decode_symbols, encode_rows, encode_symbols
from .model import HiFiC
from .portable import (
    CONVERT_COMMAND,
    LAYOUT_FLOAT,
    LAYOUT_LEGACY,
    LAYOUT_NAMES,
    LAYOUT_PORTABLE,
    arith_config,
    pack_config,
    symbol_crc,
    unpack_config,
)

CODEC_ID = "hific"
#: The layout :func:`encode_image` writes with an integerized model.
SECTION_LAYOUT = LAYOUT_PORTABLE

__all__ = ["CODEC_ID", "DEFAULT_MODEL", "HiFiCCodec", "is_model", "model_file", "load_codec", "encode_image",
           "decode_image", "check_file", "SECTION_LAYOUT"]


# ---- the file format -----------------------------------------------------------------------------------
def _use_portable(model: HiFiC, portable: bool | None) -> bool:
    if portable is None:
        return model.is_portable()
    if portable and not model.is_portable():
        raise ContainerError(f"the model is float-only: portable files need an integerized model "
                             f"({CONVERT_COMMAND})")
    return bool(portable)


def mixture_rows(model: HiFiC, z_sym: torch.Tensor, z_hat: torch.Tensor, use_int: bool):
    """-LMM coding rows: exact from the integer h_s + head (portable), else the float rows."""
    if use_int:
        from .portable import mixture_rows as int_rows
        params_q = model.portable.hyper_synthesis(model, z_sym)["mixture"]
        return int_rows(model.portable, params_q, model.cfg.latent_channels, model.cfg.mixture_components)
    return model.mixture.coding_rows(model._hyper_synthesis_cpu()[0](z_hat))


@torch.no_grad()
def encode_image(model: HiFiC, img: np.ndarray, tile: int | None = None,
                 portable: bool | None = None) -> tuple[ctr.Container, dict]:
    """uint8 (H, W, 3) -> (Container, info); info holds the symbols, layout and coder seconds.

    ``portable`` (default: whether the model is integerized) selects the exact integer h_s and tables
    (layout 3) or the float path (layout 2). ``tile`` (latent pixels; None = automatic above 4 MP, 0 =
    never) bounds the encoder's memory; the latents are then coded as one stream, exactly as without
    tiling (tiling is not in the file)."""
    check_rgb_uint8(img)
    model.eval()
    use_int = _use_portable(model, portable)
    z_tab, y_tab = model._coding_tables(use_int)
    padded, pad = model._pad(img)
    x = torch.from_numpy(np.ascontiguousarray(padded)).permute(2, 0, 1)[None].float().div(255.0)
    x = x.to(model._device())
    y = model.encode_latents(x, model._tile_for(*padded.shape[:2], tile))
    z = model.hyper_analysis(y).cpu().float()
    z_sym, z_hat = model.hyper_density.round(z)
    _, c, zh, zw = z_sym.shape
    z_ids = np.broadcast_to(np.arange(c)[None, :, None, None], z_sym.shape)
    if model.cfg.use_latent_mixture_model:
        y_sym = torch.round(y.cpu().float())
        rows = mixture_rows(model, z_sym, z_hat, use_int)
        tc = time.perf_counter()
        z_bytes = encode_symbols(z_sym.numpy().astype(np.int64), z_ids, z_tab)
        y_bytes = encode_rows(y_sym.numpy().astype(np.int64), rows)
    else:
        if use_int:
            mean, idx = model.portable.mean_and_indexes(model, z_sym)
        else:
            mean, idx = model._mean_scale_indexes(z_hat)
        y_sym = torch.round(y.cpu().float() - mean)
        tc = time.perf_counter()
        z_bytes = encode_symbols(z_sym.numpy().astype(np.int64), z_ids, z_tab)
        y_bytes = encode_symbols(y_sym.numpy().astype(np.int64), idx.numpy(), y_tab)
    coding_s = time.perf_counter() - tc
    layout = LAYOUT_PORTABLE if use_int else LAYOUT_FLOAT
    cfg_bytes = pack_config(arith_config("portable" if use_int else "float"))
    hp, wp = padded.shape[:2]
    crc = symbol_crc(layout, pad.height, pad.width, hp, wp, cfg_bytes, z_sym.to(torch.int64),
                     y_sym.to(torch.int64))
    header = ctr.pack_ints([layout, hp, wp, crc])
    fp = model.portable_fingerprint() if use_int else model.fingerprint()
    cont = ctr.Container(CODEC_ID, fp, pad.height, pad.width, (header, cfg_bytes, z_bytes, y_bytes))
    info = {"y_sym": y_sym, "z_sym": z_sym, "padded_shape": padded.shape[:2], "coding_s": coding_s,
            "layout": layout}
    return cont, info


def _float_mismatch(enc_cfg: dict) -> str:
    return ("a float-path file: the float h_s here may have chosen other coding tables than the encoder's ("
            + arith.explain(enc_cfg, arith_config("float")) + "), or the file is corrupt (the container CRC "
            "passed); retry with `decode --try-arithmetic`, and write portable files (integerized model)")


def check_file(model: HiFiC, cont: ctr.Container) -> tuple[int, dict[str, str]]:
    """Codec, layout and model checks of a container; returns (layout, the encoder's arithmetic config).

    A portable file for a float-only model, or a file of another model, names both formats / models and
    the conversion command."""
    if cont.codec != CODEC_ID:
        raise ContainerError(f"codec mismatch: the file was written by {cont.codec!r}, this is 'hific'")
    if len(cont.sections) not in (3, 4) or not cont.sections:
        raise ContainerError(f"corrupt hific file: {len(cont.sections)} sections, expected 3 or 4")
    head = ctr.unpack_ints(cont.sections[0], max_count=16)
    layout = head[0] if head else -1
    want = {LAYOUT_LEGACY: (3, 3), LAYOUT_FLOAT: (4, 4), LAYOUT_PORTABLE: (4, 4)}.get(layout)
    if want is None or (len(head), len(cont.sections)) != want:
        raise ContainerError(f"corrupt or unknown hific section header {head[:8]} "
                             f"({len(cont.sections)} sections)")
    float_fp = model.fingerprint()
    if layout == LAYOUT_PORTABLE:
        if not model.is_portable():
            raise ContainerError(
                f"the file is a {LAYOUT_NAMES[layout]} HiFiC file (model {cont.fingerprint.hex()}); the "
                f"loaded model {float_fp.hex()} is float-only (decodes {LAYOUT_NAMES[LAYOUT_FLOAT]} files): "
                f"convert the model that wrote it with `{CONVERT_COMMAND}`")
        if cont.fingerprint != model.portable_fingerprint():
            raise ContainerError(f"model fingerprint mismatch: the file was written by portable model "
                                 f"{cont.fingerprint.hex()}, the loaded model is "
                                 f"{model.portable_fingerprint().hex()} (float {float_fp.hex()})")
    elif cont.fingerprint != float_fp:
        hint = ""
        if model.is_portable() and cont.fingerprint == model.portable_fingerprint():
            hint = " (the file claims this model's portable fingerprint but a float layout)"
        raise ContainerError(f"model fingerprint mismatch: the file ({LAYOUT_NAMES[layout]}) was written "
                             f"by model {cont.fingerprint.hex()}, the loaded model is {float_fp.hex()}"
                             + (f" (portable {model.portable_fingerprint().hex()})" if model.is_portable()
                                else "") + hint)
    enc_cfg = unpack_config(cont.sections[1]) if layout != LAYOUT_LEGACY else {}
    return layout, enc_cfg


@torch.no_grad()
def decode_image(model: HiFiC, cont: ctr.Container, tile: int | None = None) -> tuple[np.ndarray, dict]:
    """Container -> (uint8 (H, W, 3), info). Raises ContainerError on anything malformed, and when the decoded
    symbols fail the stored CRC (layouts 2, 3). ``tile`` as in :func:`encode_image` (the decoder's choice; it
    changes memory, not the result beyond float rounding)."""
    model.eval()
    layout, enc_cfg = check_file(model, cont)
    head = ctr.unpack_ints(cont.sections[0], max_count=16)
    hp, wp = head[1], head[2]
    exp_h, exp_w = model._padded_size(cont.height, cont.width)
    if (hp, wp) != (exp_h, exp_w):
        raise ContainerError(f"corrupt hific header: padded size {hp}x{wp} does not match the image "
                             f"size {cont.height}x{cont.width}")
    use_int = layout == LAYOUT_PORTABLE
    z_sec, y_sec = cont.sections[-2], cont.sections[-1]
    z_tab, y_tab = model._coding_tables(use_int)
    c_z, c_y = model.cfg.hyper_channels, model.cfg.latent_channels
    zh, zw = hp // 64, wp // 64
    z_ids = np.broadcast_to(np.arange(c_z)[None, :, None, None], (1, c_z, zh, zw))
    tc = time.perf_counter()
    z_int = decode_symbols(z_sec, z_ids, z_tab)
    z_sym = torch.from_numpy(z_int).float()
    coding_s = time.perf_counter() - tc
    med = model.hyper_density.centres.cpu().reshape(1, -1, 1, 1)
    if model.cfg.use_latent_mixture_model:
        shape = (1, c_y, hp // 16, wp // 16)
        rows = mixture_rows(model, torch.from_numpy(z_int), z_sym + med, use_int)
        tc = time.perf_counter()
        try:
            y_int = decode_rows(y_sec, rows, int(np.prod(shape))).reshape(shape)
        except ContainerError as e:
            if layout != LAYOUT_FLOAT:
                raise
            raise ContainerError(f"{e}; {_float_mismatch(enc_cfg)}") from None
        coding_s += time.perf_counter() - tc
        mean = None
    else:
        if use_int:
            mean, idx = model.portable.mean_and_indexes(model, torch.from_numpy(z_int))
        else:
            mean, idx = model._mean_scale_indexes(z_sym + med)
        if tuple(idx.shape) != (1, c_y, hp // 16, wp // 16):
            raise ContainerError("internal shape mismatch while decoding")
        tc = time.perf_counter()
        try:
            y_int = decode_symbols(y_sec, idx.numpy(), y_tab)
        except ContainerError as e:
            if layout != LAYOUT_FLOAT:
                raise
            raise ContainerError(f"{e}; {_float_mismatch(enc_cfg)}") from None
        coding_s += time.perf_counter() - tc
    if layout != LAYOUT_LEGACY:
        crc = symbol_crc(layout, cont.height, cont.width, hp, wp, cont.sections[1], z_int, y_int)
        if crc != head[3]:
            if use_int:
                raise ContainerError("corrupt hific file: the decoded symbols do not match the stored "
                                     "CRC-32 (the payload was altered; the portable path is exact)")
            raise ContainerError("the decoded symbols do not match the stored CRC-32; " + _float_mismatch(enc_cfg))
    y_sym = torch.from_numpy(y_int).float()
    y_hat = (y_sym if mean is None else y_sym + mean).to(model._device())
    x_hat = model.synthesize(y_hat, model._tile_for(hp, wp, tile)).clamp(0, 1)
    out = (x_hat[0].permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
    img = crop_to_original(out, PadInfo(cont.height, cont.width, 0, hp - cont.height, 0, wp - cont.width))
    return np.ascontiguousarray(img), {"y_sym": y_sym, "z_sym": z_sym, "coding_s": coding_s,
                                       "layout": layout, "config": enc_cfg}


# ---- the protocol ----------------------------------------------------------------------------------------
class HiFiCCodec:
    """One loaded HiFiC model as a :class:`shared_data.codec.Codec` (lossy).

    ``fingerprint`` is what the files this codec writes carry: the portable fingerprint of an integerized
    model (layout 3), else (or with ``float_path``) the float one (layout 2). :meth:`decode` reads every
    layout of this model (a portable model also reads its float-path files)."""

    codec_id = CODEC_ID
    lossless = False

    def __init__(self, model: HiFiC, path: Path | None = None, float_path: bool = False,
                 tile: int | None = None):
        if float_path is False and not model.is_portable():
            float_path = True
        self.model, self.path, self.float_path, self.tile = model, path, bool(float_path), tile
        self.portable = not self.float_path
        self.fingerprint = model.portable_fingerprint() if self.portable else model.fingerprint()

    def __repr__(self) -> str:
        kind = "portable" if self.portable else "float path"
        return f"HiFiCCodec({self.path or 'in-memory model'}, {kind}, {self.fingerprint.hex()})"

    def encode(self, image: np.ndarray) -> ctr.Container:
        try:
            check_rgb_uint8(image)
        except ValueError as e:
            raise ImageError(str(e)) from None
        return encode_image(self.model, image, tile=self.tile, portable=self.portable)[0]

    def decode(self, container: ctr.Container) -> np.ndarray:
        try:
            return decode_image(self.model, container, tile=self.tile)[0]
        except LicError:
            raise
        except Exception as e:  # noqa: BLE001 - every decode failure is a ContainerError (a bug otherwise)
            raise ContainerError(f"corrupt hific file: decoding failed ({type(e).__name__}: {e})") from None

    def check(self, container: ctr.Container) -> tuple[int, dict[str, str]]:
        """(layout, the encoder's arithmetic record) of a file of this model; ContainerError otherwise."""
        return check_file(self.model, container)

    def estimate_bits(self, image: np.ndarray) -> float:
        try:
            check_rgb_uint8(image)
        except ValueError as e:
            raise ImageError(str(e)) from None
        return float(self.model.estimate_bits(image))


def model_file(path: str | os.PathLike | None = None) -> Path:
    """The checkpoint a model path names: a file itself; a folder its ``hific_<folder name>.pt`` (``zoo/mini``
    -> ``hific_mini.pt``), else its one hific checkpoint; None the default model. ModelError otherwise."""
    if path is None:
        return DEFAULT_MODEL
    p = Path(path)
    if p.is_dir():
        named = p / f"hific_{p.name}.pt"
        if named.is_file():
            return named
        found = sorted(q for q in p.glob("*.pt") if is_checkpoint(q))
        if len(found) == 1:
            return found[0]
        if not found:
            raise ModelError(f"{p}: no hific checkpoint (*.pt) in this folder")
        raise ModelError(f"{p}: {len(found)} hific checkpoints in this folder "
                         f"({', '.join(q.name for q in found)}) and none named hific_{p.name}.pt; name the file")
    if not p.exists():
        raise ModelError(f"{p}: no such model directory or checkpoint")
    return p


def is_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a hific_torch checkpoint, or a folder holding one (reads the archive's index
    and its small pickle, never the weights)."""
    try:
        return is_checkpoint(model_file(path))
    except ModelError:
        return False


def load_codec(path: str | os.PathLike | None = None, *, float_path: bool = False, tile: int | None = None,
               device: str = "cpu") -> HiFiCCodec:
    """Load a model (file, folder, or None = :data:`DEFAULT_MODEL`) as a :class:`HiFiCCodec`."""
    f = model_file(path)
    model, _ = load_checkpoint(f, device=device)
    return HiFiCCodec(model, f, float_path=float_path, tile=tile)
