"""The one codec interface of the project (framework-free), in the manner of CompressAI's / tfc's single
``compress`` / ``decompress`` API.

Every sub-project implements :class:`Codec` in ``<pkg>/codec.py`` (``cpm``, ``sga``, ``l3c``, ``hific``,
``rec``) and exposes there ``CODEC_ID``, ``DEFAULT_MODEL``, ``is_model(path) -> bool`` and
``load_codec(path=None, **options) -> Codec``. Users and tools go through :func:`load_codec`::

    from shared_data.codec import load_codec, compress, decompress
    codec = load_codec("cpm_tf/zoo/mini")            # or a .lic file (its codec, default model), or None
    data = compress(codec, image)                    # uint8 (H, W, 3) -> the bytes of a .lic file
    assert decompress(codec, data).shape == image.shape
    bits = codec.estimate_bits(image)                # the model's rate, no entropy coding

``encode`` / ``decode`` work on :class:`shared_data.container.Container` objects (codec id, model fingerprint,
original size, payload sections); :func:`compress` / :func:`decompress` add the container's bytes and checks.
Every refusal is a :class:`shared_data.errors.LicError` (bad file: ``ContainerError``; bad model:
``ModelError``; bad image: ``ImageError``).

Each sub-project lives in its own environment (TensorFlow or PyTorch), so :func:`load_codec` finds the
codecs importable in this process; across environments the common interface is the CLI of the same shape,
``python -m <pkg> encode|decode|info`` (:mod:`shared_data.cli`), which :mod:`shared_eval.demo` drives.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from . import container as cont
from .errors import ContainerError, ModelError

#: container codec id -> (Python package, sub-project folder).
PACKAGES = {"cpm": ("cpm", "cpm_tf"), "sga": ("sga", "sga_tf"), "l3c": ("l3c", "l3c_torch"),
            "hific": ("hific", "hific_torch"), "irec": ("rec", "irec_tf")}


@runtime_checkable
class Codec(Protocol):
    """One loaded model of one codec.

    ``codec_id``: the container's codec name (``"cpm"``, ``"sga"``, ``"l3c"``, ``"hific"``, ``"irec"``).
    ``fingerprint``: the 8 bytes every container this model writes carries (SHA-256 of config + weights).
    ``lossless``: whether ``decode(encode(x))`` equals ``x`` exactly.
    """

    codec_id: str
    fingerprint: bytes
    lossless: bool

    def encode(self, image: np.ndarray) -> cont.Container:
        """``uint8 (H, W, 3)`` -> a container (raises ``ImageError`` for another array)."""

    def decode(self, container: cont.Container) -> np.ndarray:
        """A container of this codec and model -> ``uint8 (H, W, 3)`` of the original size; ``ContainerError``
        (message naming the problem) for a file of another model or a payload that does not decode."""

    def estimate_bits(self, image: np.ndarray) -> float:
        """The model's rate for ``image`` in bits (-log2 of the coded probabilities), without coding."""


def compress(codec: Codec, image: np.ndarray) -> bytes:
    """``codec.encode`` as the bytes of a ``.lic`` file."""
    from .imageio import check_rgb_uint8
    try:
        check_rgb_uint8(image)
    except ValueError as e:
        from .errors import ImageError
        raise ImageError(str(e)) from None
    return cont.pack(codec.encode(image))


def decompress(codec: Codec, data: bytes, path: str | os.PathLike | None = None) -> np.ndarray:
    """The image of a ``.lic`` file's bytes; every ``ContainerError`` names ``path`` when given."""
    if path is None:
        return codec.decode(cont.unpack(data, codec=codec.codec_id))
    with cont.reading(path):
        return codec.decode(cont.unpack(data, codec=codec.codec_id))


def installed() -> list[str]:
    """The codec ids whose package this process can import (one per sub-project environment)."""
    return [cid for cid, (pkg, _) in PACKAGES.items() if importlib.util.find_spec(pkg) is not None]


def _module(codec_id: str):
    if codec_id not in PACKAGES:
        raise ModelError(f"unknown codec {codec_id!r}; known: {', '.join(PACKAGES)}")
    pkg, folder = PACKAGES[codec_id]
    if importlib.util.find_spec(pkg) is None:
        raise ModelError(f"codec {codec_id!r} is not installed in this environment (its package {pkg!r} is "
                         f"{folder}/; run it with {folder}/.venv/bin/python, built by 'make setup')")
    return importlib.import_module(f"{pkg}.codec")


def codec_of_file(path: str | os.PathLike) -> str:
    """The codec id a ``.lic`` file's header names (``ContainerError`` naming the file otherwise)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise ContainerError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(head) < 6 or head[:4] != cont.MAGIC:
        raise ContainerError(f"{path}: not a .lic container file (bad magic)")
    names = {v: k for k, v in cont.CODEC_IDS.items()}
    if head[5] not in names or names[head[5]] not in PACKAGES:
        raise ContainerError(f"{path}: unknown codec id {head[5]} in the header")
    return names[head[5]]


def load_codec(path_or_default: str | os.PathLike | None = None, codec: str | None = None, **options) -> Codec:
    """Load a model as a :class:`Codec`.

    ``path_or_default``: a model directory or checkpoint of one of the codecs, a ``.lic`` file (its codec's
    default model), or None (the default model of ``codec``, or of the one codec installed here). ``codec``
    names the codec when the path alone does not. ``options`` go to the sub-project's ``load_codec`` (e.g.
    ``portable=False``). Raises :class:`ModelError` naming the path for anything else.
    """
    path = None if path_or_default is None else Path(path_or_default)
    if path is not None and path.is_file() and path.suffix == ".lic":
        codec = codec or codec_of_file(path)
        path = None
    if codec is None:
        here = installed()
        if path is None:
            if len(here) != 1:
                raise ModelError(f"say which codec to load (installed here: {', '.join(here) or 'none'})")
            codec = here[0]
        else:
            if not path.exists():
                raise ModelError(f"{path}: no such model directory or checkpoint")
            matches = [c for c in here if _module(c).is_model(path)]
            if not matches:
                raise ModelError(f"{path}: not a model of any codec installed here ({', '.join(here) or 'none'})")
            codec = matches[0]
    mod = _module(codec)
    c = mod.load_codec(path, **options)
    if getattr(c, "codec_id", None) != codec:
        raise ModelError(f"{path or mod.DEFAULT_MODEL}: loaded a {getattr(c, 'codec_id', '?')} model, not {codec}")
    return c


__all__ = ["Codec", "PACKAGES", "compress", "decompress", "installed", "codec_of_file", "load_codec"]
