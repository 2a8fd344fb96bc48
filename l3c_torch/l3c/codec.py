"""L3C as the project's one codec interface (:class:`shared_data.codec.Codec`): a loaded run directory that
encodes ``uint8 (H, W, 3)`` images to lossless ``.lic`` containers and back (Mentzer et al. 2019, §3.4)::

    from l3c.codec import load_codec
    codec = load_codec()                            # zoo/mini; load_codec("RUN_DIR", backend="torchac")
    c = codec.encode(img); assert (codec.decode(c) == img).all()

Options (stored on the codec): ``backend`` (``"constriction"``, default, or ``"torchac"``; the decoder
reads the backend from the file), ``float_path`` (write the float stream format 3 instead of the portable
integer format 4, which is the default when the model has ``exact.pt``), ``itr`` (the checkpoint's
iteration; -1 the last), ``strip_pixels`` and ``chunk`` (:mod:`l3c.coding`). Every refusal is a
:class:`shared_data.errors.LicError`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from shared_data.container import Container
from shared_data.errors import ContainerError, ImageError, LicError, ModelError

from .model_io import CKPT_RE, DEFAULT_MODEL, list_ckpts

CODEC_ID = "l3c"

__all__ = ["CODEC_ID", "DEFAULT_MODEL", "L3CCodec", "is_model", "load_codec"]


def is_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like an l3c run directory (``config_ms.cf`` + ``ckpts/ckpt_N.pt``) or one of its
    checkpoints; looks at the file names only."""
    p = Path(path)
    if p.is_file():
        return bool(CKPT_RE.search(p.name)) and p.parent.name == "ckpts" and (p.parent.parent / "config_ms.cf").is_file()
    return p.is_dir() and (p / "config_ms.cf").is_file() and bool(list_ckpts(p))


class L3CCodec:
    """One loaded L3C model (``net``: :class:`l3c.network.MultiscaleNetwork`, with ``net.exact`` when
    converted). ``fingerprint`` is the one the files this codec writes carry (the integer model's for
    format 4, else the float model's)."""

    codec_id = CODEC_ID
    lossless = True

    def __init__(self, net, float_fingerprint: bytes, model_dir: Path, itr: int, backend: str = "constriction",
                 float_path: bool = False, strip_pixels: int | None = None, chunk: int | None = None):
        from . import coding

        if backend not in coding.BACKENDS:
            raise ModelError(f"unknown l3c backend {backend!r}; choose from {sorted(coding.BACKENDS)}")
        self.net, self.float_fingerprint, self.model_dir, self.itr = net, float_fingerprint, model_dir, itr
        self.backend, self.float_path = backend, bool(float_path)
        self.strip_pixels = coding.STRIP_PIXELS if strip_pixels is None else int(strip_pixels)
        self.chunk = coding.CHUNK if chunk is None else int(chunk)
        self.format = coding.FLOAT_FORMAT if (float_path or net.exact is None) else coding.FORMAT
        self.fingerprint = coding.expected_fingerprint(net, self.format, float_fingerprint)

    def __repr__(self):
        return f"L3CCodec({self.model_dir}, itr {self.itr}, format {self.format}, {self.backend})"

    @staticmethod
    def _check(image) -> np.ndarray:
        from shared_data.imageio import check_rgb_uint8

        try:
            return check_rgb_uint8(image)
        except ValueError as e:
            raise ImageError(str(e)) from None

    def encode(self, image: np.ndarray) -> Container:
        """A lossless container of ``image`` (stream format :attr:`format`)."""
        from .coding import encode_array

        self._check(image)
        return encode_array(self.net, image, self.float_fingerprint, self.backend, self.strip_pixels, self.chunk,
                            fmt=self.format).container

    def encode_with_stats(self, image: np.ndarray):
        """:func:`l3c.coding.encode_array`'s result (container, timings, estimated bits per level)."""
        from .coding import encode_array

        self._check(image)
        return encode_array(self.net, image, self.float_fingerprint, self.backend, self.strip_pixels, self.chunk,
                            fmt=self.format)

    def decode(self, container: Container) -> np.ndarray:
        """The image of a container this model wrote (any stream format the model can decode: 4 with
        ``exact.pt``, the float formats 1-3 always); a ContainerError naming the problem otherwise."""
        from .coding import check_model, decode_container

        if container.codec != CODEC_ID:
            raise ContainerError(f"the file is a {container.codec} file, not an l3c one")
        check_model(self.net, container, self.float_fingerprint, self.model_dir)
        try:
            return decode_container(self.net, container)[0]
        except (LicError, MemoryError):
            raise
        except Exception as e:  # anything else from torch / numpy on a forged payload
            raise ContainerError(f"corrupt l3c stream ({type(e).__name__}: {e})") from None

    def estimate_bits(self, image: np.ndarray) -> float:
        """The model's rate in bits for ``image`` (the coded pmfs, no entropy coder run)."""
        from .coding import estimate_bits

        self._check(image)
        return estimate_bits(self.net, image, self.strip_pixels, self.chunk, fmt=self.format)


def load_codec(path: str | os.PathLike | None = None, backend: str = "constriction", float_path: bool = False,
               itr: int = -1, strip_pixels: int | None = None, chunk: int | None = None) -> L3CCodec:
    """Load a run directory (default :data:`DEFAULT_MODEL`, the committed ``zoo/mini``) or a checkpoint
    ``RUN/ckpts/ckpt_N.pt`` as an :class:`L3CCodec` (``ModelError`` naming the path otherwise)."""
    from .model_io import load_model

    p = DEFAULT_MODEL if path is None else Path(path)
    if p.is_file():
        m = CKPT_RE.search(p.name)
        if not m or p.parent.name != "ckpts":
            raise ModelError(f"{p}: not an l3c run directory or RUN/ckpts/ckpt_NNNNNNNNNN.pt checkpoint")
        p, itr = p.parent.parent, int(m.group(1))
    net, fp, itr = load_model(p, itr, float_only=float_path)
    return L3CCodec(net, fp, p, itr, backend, float_path, strip_pixels, chunk)
