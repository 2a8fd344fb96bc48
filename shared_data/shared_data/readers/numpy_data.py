"""A framework-free reader over image folders / globs with the papers' crops (numpy + Pillow).

:class:`ImageReader` is the torch ``Dataset`` of :mod:`shared_data.readers.torch_data` without torch: same
presets, header scan, bad-file rule and ``(seed, epoch, index)`` randomness (see that module's docstring);
items are ``numpy`` arrays, ``(H, W, 3)`` unless ``channels_first``. TF code can wrap it with
``tf.data.Dataset.from_generator``, though :mod:`~shared_data.readers.tf_data` is faster there.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..imageio import ImageReadError, read_image
from ._common import ReaderError, apply_preset, is_records, list_images, report_skipped, scan_images
from ._common import preset as _preset


class ImageReader:
    """Map-style reader of preset crops from ``source`` (folder, glob, file or list of them): ``len`` /
    ``[i]`` → ``numpy`` array, and :meth:`iterate` for batches in one process.

    ``preset`` / ``crop`` / ``flip`` / ``rescale`` / ``small`` / ``value_range`` as in
    :func:`shared_data.readers.preset`; ``dtype`` ``"float32"`` or ``"uint8"``; ``center=True`` for the
    validation centre crop (no flip, no rescale); ``check=False`` skips the header scan (then small images
    raise at read time unless ``small="upscale"``); ``cache=True`` keeps every decoded image in this process's
    memory (``H·W·3`` bytes each; for small CPU runs where decoding dominates a step; the random crop is
    still drawn per item).
    """

    def __init__(self, source, preset="l3c", *, crop: int | None = None, flip: bool | None = None,
                 rescale: tuple[float, float] | None = None, small: str | None = None,
                 value_range: tuple[float, float] | None = None, dtype: str = "float32", center: bool = False,
                 channels_first: bool = False, seed: int | None = None, check: bool = True, cache: bool = False):
        if dtype not in ("uint8", "float32"):
            raise ReaderError(f"dtype={dtype!r}: expected 'uint8' or 'float32'")
        self.preset = _preset(preset, crop=crop, flip=flip, rescale=rescale, small=small, value_range=value_range)
        files = list_images(source)
        if is_records(files):
            raise ReaderError(f"{source}: TFRecord shards; the torch reader reads image folders "
                              "(prepare imagenet-cpm also writes the images as a folder: OUT/images/<split>)")
        self.skipped: list[tuple[str, str]] = []
        if check:
            p = self.preset
            min_side = p.crop if (p.crop is not None and p.small == "skip" and (p.rescale is None or center)) else None
            files, self.skipped = scan_images(files, min_side)
            report_skipped(self.skipped, f"{type(self).__name__}({source!r})")
            if not files:
                raise ReaderError(f"{source}: no usable images (all {len(self.skipped)} skipped: "
                                  f"{self.skipped[0][1]}, ...)")
        self.files = files
        self.dtype, self.center, self.channels_first = dtype, center, channels_first
        self.seed = seed
        self.epoch = 0
        self.bad: set[int] = set()
        self._decoded: dict[int, np.ndarray] | None = {} if cache else None

    def set_epoch(self, epoch: int) -> None:
        """Crops depend on (seed, epoch, index); call before each epoch's DataLoader iterator is made."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.files)

    def _rng(self, i: int) -> np.random.Generator:
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([self.seed, self.epoch, i])

    def read(self, i: int) -> np.ndarray:
        """Item ``i`` as a cropped ``uint8 (h, w, 3)`` array (skipping unreadable files as described)."""
        n = len(self.files)
        for j in range(n):
            k = (i + j) % n
            if k in self.bad:
                continue
            try:
                img = self._decoded.get(k) if self._decoded is not None else None
                if img is None:
                    img = read_image(self.files[k])
                    if self._decoded is not None:
                        self._decoded[k] = img
            except ImageReadError as e:
                self.bad.add(k)
                warnings.warn(f"{type(self).__name__}: skipping unreadable training image: {e}", stacklevel=2)
                continue
            try:
                out = apply_preset(img, self.preset, self._rng(i), self.center)
            except ValueError as e:
                raise ReaderError(f"{self.files[k]}: {e} (preset {self.preset.name!r}, small={self.preset.small!r})") from None
            # a cached image must never be handed out (or modified) through a view
            return out.copy() if self._decoded is not None and np.shares_memory(out, img) else out
        raise ReaderError(f"none of the {n} images is readable")

    def __getitem__(self, i: int) -> np.ndarray:
        x = self.read(i)
        if self.channels_first:
            x = np.ascontiguousarray(x.transpose(2, 0, 1))
        if self.dtype == "uint8":
            return x
        lo, hi = self.preset.value_range
        x = x.astype(np.float32)
        return x if (lo, hi) == (0.0, 255.0) else x * np.float32((hi - lo) / 255.0) + np.float32(lo)

    def iterate(self, batch_size: int, *, shuffle: bool = True, repeat: bool = True, drop_remainder: bool = True):
        """Batches ``(B, ...)`` stacked with numpy, in this process; epochs advance ``set_epoch``; order is a
        permutation per epoch from ``(seed, epoch)``."""
        n = len(self)
        if drop_remainder and n < batch_size:
            raise ReaderError(f"{n} images give no full batch of {batch_size}")
        while True:
            rng = np.random.default_rng(None if self.seed is None else [self.seed, self.epoch, 2**31])
            order = rng.permutation(n) if shuffle else np.arange(n)
            stop = n - n % batch_size if drop_remainder else n
            for s in range(0, stop, batch_size):
                yield np.stack([self[int(i)] for i in order[s:s + batch_size]])
            if not repeat:
                return
            self.set_epoch(self.epoch + 1)
