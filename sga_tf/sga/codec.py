"""Image ⇄ ``.lic`` container with an sga model (codec id ``"sga"``): this sub-project's implementation of the
project's codec protocol (:class:`shared_data.codec.Codec`; ``load_codec(path, method=..., its=..., ...)``,
``encode``, ``decode``, ``estimate_bits``), on top of the existing paths: an inference method of Yang, Bamler &
Mandt 2020 (Table 1; default M3, the amortized encoder) gives the final latents, :mod:`sga.coding` range-codes
them (mbt2018 models) or :mod:`sga.bitsback` bits-back codes them (mbt2018_bb models, Ballé et al. 2018's
hyperprior with q(z|y)). The stream formats are those of :mod:`sga.coding` / :mod:`sga.bitsback` (README,
"Bitstream"): portable (formats 5 / 6) when the model is integerized, as the zoo models are; ``portable=False``
(the CLI's ``--float``) writes the float-path formats 3 / 4. Decoding reads every format.

:func:`open_coder` picks the entropy coder of a loaded model; it lives here, above both coders, so that
``sga.coding`` and ``sga.bitsback`` do not import each other (issue 16).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from shared_data import container as cont
from shared_data.errors import ContainerError, ImageError, LicError, ModelError

from .stream import SGAFormatError, check_fingerprint, file_format

CODEC_ID = "sga"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = PACKAGE_ROOT / "zoo" / "mini" / "mbt2018-num_filters=32-lmbda=0.01"
MODEL_KINDS = ("mbt2018", "mbt2018_bb")


def open_coder(model, lmbda: float = 0.0, portable: bool | None = None):
    """The coder for a model: :class:`sga.coding.Coder` (mbt2018) or :class:`sga.bitsback.BitsBackCoder`
    (mbt2018_bb). Both ``decode(container)`` to a tuple whose first two items are (image, method name)."""
    if getattr(model, "is_bits_back", False):
        from .bitsback import BitsBackCoder

        return BitsBackCoder(model, lmbda, portable=portable)
    from .coding import Coder

    return Coder(model, portable=portable)


def is_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like an sga run directory: ``args.json`` with ``num_filters`` and a model kind of
    this sub-project (none: mbt2018), plus a checkpoint or exported weights. Reads only the small JSON file."""
    d = Path(path)
    if not (d / "args.json").is_file() or not ((d / "weights.index").is_file() or (d / "checkpoint").is_file()):
        return False
    try:
        args = json.loads((d / "args.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(args, dict) and "num_filters" in args and args.get("model", "mbt2018") in MODEL_KINDS


class SGACodec:
    """One loaded sga model with its inference method (:class:`shared_data.codec.Codec`).

    ``method``: a Table 1 method name (``m3``, ``sga``, ``map``, ``ste``, ``unoise``, ``danneal`` for mbt2018;
    ``bb_plain``, ``bb_no_sga``, ``bb_sga`` for mbt2018_bb; default ``m3`` / ``bb_plain``, the methods without
    iterations); ``its`` / ``q_its`` shorten the iterative ones; ``lmbda`` is λ of the inference objective
    (default: the model's); ``portable`` as in :class:`sga.coding.Coder`."""

    codec_id = CODEC_ID
    lossless = False

    def __init__(self, model, model_dir: Path, margs: dict, method: str | None = None, its: int | None = None,
                 q_its: int | None = None, lmbda: float | None = None, portable: bool | None = None):
        from .checkpoints import parse_lambda
        from .evaluate import check_model_method
        from .inference import METHODS, with_overrides

        self.model, self.model_dir = model, Path(model_dir)
        bits_back = getattr(model, "is_bits_back", False)
        name = method or ("bb_plain" if bits_back else "m3")
        if name not in METHODS or name == "bb_model":
            raise ModelError(f"unknown sga method {name!r}; known: {', '.join(m for m in METHODS if m != 'bb_model')}")
        self.method = with_overrides(METHODS[name], its=its)
        try:
            check_model_method(model, self.method)
        except LicError as e:
            raise ModelError(f"{self.model_dir}: {e}") from None
        self.lmbda = parse_lambda(self.model_dir.name, lmbda or margs.get("lmbda"))
        self.q_its = q_its
        self.coder = open_coder(model, self.lmbda, portable=portable)
        self.fingerprint = self.coder.fingerprint
        self._inference = None

    # --- the method's final latents ----------------------------------------------------------------------
    def _latents(self, image: np.ndarray):
        import tensorflow as tf

        from .inference import IterativeInference, round_latents

        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
                and image.shape[2] == 3 and image.shape[0] > 0 and image.shape[1] > 0):
            raise ImageError(f"expected a uint8 (H, W, 3) image, got {getattr(image, 'dtype', type(image))} "
                             f"{getattr(image, 'shape', '')}")
        if self._inference is None:
            self._inference = IterativeInference(self.model, self.lmbda, self.method)
        x = tf.constant(image[None].astype(np.float32) / 255.0)
        y, z, _ = self._inference.run(x, progress=False)
        y_hat, z_hat = round_latents(self.model, y, z, self.method.grid)
        return x, y_hat, z_hat

    def encode(self, image: np.ndarray) -> cont.Container:
        """``uint8 (H, W, 3)`` -> a container (the method recorded in the file)."""
        h, w = image.shape[:2] if isinstance(image, np.ndarray) and image.ndim >= 2 else (0, 0)
        try:
            _, y_hat, z_hat = self._latents(image)
            if self.method.grid == "bitsback":
                return self.coder.encode(y_hat.numpy(), self.method.name, h, w, q_its=self.q_its)[0]
            return self.coder.encode(y_hat.numpy(), z_hat.numpy(), self.method.grid, self.method.name, h, w)
        except LicError:
            raise
        except (ValueError, FloatingPointError) as e:  # latents outside the coder's ranges, a diverged method
            raise ImageError(f"this image cannot be coded by {self.model_dir} with {self.method.name}: {e}") from None

    def decode(self, container: cont.Container) -> np.ndarray:
        """A container of this model -> ``uint8 (H, W, 3)``; any other model's file or a payload that does not
        decode is a :class:`ContainerError` (the symbol CRC refuses a desynchronised decoder)."""
        return self.decode_with_method(container)[0]

    def decode_with_method(self, container: cont.Container) -> tuple[np.ndarray, str]:
        """:meth:`decode` and the inference method the file records."""
        import tensorflow as tf

        c = container
        if c.codec != CODEC_ID:
            raise ContainerError(f"a {c.codec} file, not an sga file")
        check_fingerprint(c, file_format(c), self.coder.float_fingerprint, self.coder.portable_fingerprint,
                          model_dir=self.model_dir)
        try:
            out = self.coder.decode(c)
        except LicError:
            raise
        except (ValueError, ArithmeticError, IndexError, TypeError, RuntimeError, tf.errors.OpError) as e:
            raise SGAFormatError(f"undecodable sga payload ({type(e).__name__}: {str(e).splitlines()[0][:200]})") \
                from None
        if len(out) > 2 and not out[2]:
            print("sga: warning: bits-back side information not recovered exactly (the image is decoded)",
                  file=sys.stderr)
        return out[0], out[1]

    def estimate_bits(self, image: np.ndarray) -> float:
        """The model's rate of the method's final latents in bits, −log₂ p(ŷ|ẑ) − log₂ p(ẑ) (bits-back:
        y + z − the bits given back, −log₂ q(z|ŷ), one seeded z sample as in the measures), without coding."""
        import tensorflow as tf

        x, y_hat, z_hat = self._latents(image)
        if self.method.grid == "bitsback":
            m, s = self.coder.q_fit(y_hat.numpy(), self.method.name, image.shape[0] * image.shape[1],
                                    self.coder.q_its(self.method.name, self.q_its))
            yb, zb, back, _ = self.model.bits(y_hat, tf.constant(np.concatenate([m, s], -1), tf.float32),
                                              seed=tf.constant([3, 3], tf.int64))
            return float(yb[0]) + float(zb[0]) - float(back[0])
        _, y_bits, z_bits, _ = self.model.rd_terms(x, y_hat, z_hat)
        return float(y_bits[0]) + float(z_bits[0])


def load_codec(path: str | os.PathLike | None = None, method: str | None = None, its: int | None = None,
               q_its: int | None = None, lmbda: float | None = None, portable: bool | None = None) -> SGACodec:
    """The run directory ``path`` (None: :data:`DEFAULT_MODEL`, the committed zoo/mini λ=0.01 model) as a
    codec; the options are :class:`SGACodec`'s. :class:`ModelError` naming the directory for a missing or
    corrupt model, a method that does not fit it, or ``portable=True`` on a float-only model."""
    from .checkpoints import load_model

    d = Path(DEFAULT_MODEL if path is None else path)
    model, margs = load_model(d)
    return SGACodec(model, d, margs, method=method, its=its, q_its=q_its, lmbda=lmbda, portable=portable)


__all__ = ["CODEC_ID", "DEFAULT_MODEL", "SGACodec", "is_model", "load_codec", "open_coder"]
