"""A torch ``Dataset`` over image folders / globs with the papers' crops (PyTorch).

::

    from shared_data.readers import torch_data
    ds = torch_data.ImageDataset("/data/train_oi", preset="l3c", seed=0)
    dl = torch.utils.data.DataLoader(ds, batch_size=30, shuffle=True, num_workers=2, drop_last=True)
    for epoch in range(E):
        ds.set_epoch(epoch)            # new crops each epoch (with seed=int); before creating the iterator
        for x in dl: ...               # float32 (30, 3, 128, 128) in 0..255

or ``for x in torch_data.batches(ds, 30, num_workers=2): ...`` (endless, epochs advanced for you; uses a
``DistributedSampler`` when ``torch.distributed`` is initialised).

Per item: decode (Pillow, EXIF-rotated, converted to RGB: :func:`shared_data.imageio.read_image`) →
(``small="upscale"``: bilinear resize so the shorter side is the crop) → (``rescale``: HiFiC's random
downscale, :func:`shared_data.transforms.hific_rescale_crop`) → random crop (or centre crop with
``center=True``: L3C's validation) → random left-right flip → tensor ``(3, crop, crop)`` (``channels_first``)
as ``uint8`` or ``float32`` mapped onto the preset's ``value_range``.

Randomness: with ``seed=int`` an item's crop depends only on ``(seed, epoch, index)``, so results do not
depend on the number of DataLoader workers or on which worker reads the item; ``seed=None`` draws fresh
entropy in every process. Images with a side below the crop are dropped at construction when the preset
says ``small="skip"`` (L3C's ``ImagesCached(min_size=crop)``), named in a warning. An image that fails to
decode later is reported once (warning naming the file) and replaced by the next readable one, so batches
keep their size; if no readable image is left, :class:`~shared_data.readers.ReaderError` is raised.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from PIL import Image

from ..imageio import ImageReadError, read_image
from ..transforms import center_crop, hific_rescale_crop, random_crop
from ._common import ReaderError, is_records, list_images, report_skipped, scan_images
from ._common import preset as _preset


def apply_preset(img: np.ndarray, p, rng: np.random.Generator, center: bool = False) -> np.ndarray:
    """The preset's crop / rescale / flip on a ``uint8 (H, W, 3)`` array (numpy, framework-free)."""
    c = p.crop
    if c is not None:
        h, w = img.shape[:2]
        if p.rescale is not None and not center:
            img = hific_rescale_crop(img, rng, crop=c, scale_range=p.rescale)
        else:
            if min(h, w) < c:
                if p.small != "upscale":
                    raise ValueError(f"image {h}x{w} is smaller than the crop {c}")
                s = c / min(h, w)
                nh, nw = max(c, int(np.ceil(h * s))), max(c, int(np.ceil(w * s)))
                img = np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((nw, nh), Image.BILINEAR))
            img = center_crop(img, c) if center else random_crop(img, c, rng)
    if p.flip and not center and rng.random() < 0.5:
        img = img[:, ::-1]
    img = np.ascontiguousarray(img)
    return img if img.flags.writeable else img.copy()


class ImageDataset(torch.utils.data.Dataset):
    """Map-style dataset of preset crops from ``source`` (folder, glob, file or list of them).

    ``preset`` / ``crop`` / ``flip`` / ``rescale`` / ``small`` / ``value_range`` as in
    :func:`shared_data.readers.preset`; ``dtype`` ``"float32"`` or ``"uint8"``; ``center=True`` for the
    validation centre crop (no flip, no rescale); ``check=False`` skips the header scan (then small images
    raise at read time unless ``small="upscale"``).
    """

    def __init__(self, source, preset="l3c", *, crop: int | None = None, flip: bool | None = None,
                 rescale: tuple[float, float] | None = None, small: str | None = None,
                 value_range: tuple[float, float] | None = None, dtype: str = "float32", center: bool = False,
                 channels_first: bool = True, seed: int | None = None, check: bool = True):
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
            report_skipped(self.skipped, f"torch_data.ImageDataset({source!r})")
            if not files:
                raise ReaderError(f"{source}: no usable images (all {len(self.skipped)} skipped: "
                                  f"{self.skipped[0][1]}, ...)")
        self.files = files
        self.dtype, self.center, self.channels_first = dtype, center, channels_first
        self.seed = seed
        self.epoch = 0
        self.bad: set[int] = set()

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
                img = read_image(self.files[k])
            except ImageReadError as e:
                self.bad.add(k)
                warnings.warn(f"torch_data: skipping unreadable training image: {e}", stacklevel=2)
                continue
            try:
                return apply_preset(img, self.preset, self._rng(i), self.center)
            except ValueError as e:
                raise ReaderError(f"{self.files[k]}: {e} (preset {self.preset.name!r}, small={self.preset.small!r})") from None
        raise ReaderError(f"none of the {n} images is readable")

    def __getitem__(self, i: int) -> torch.Tensor:
        x = torch.from_numpy(self.read(i))
        if self.channels_first:
            x = x.permute(2, 0, 1)
        if self.dtype == "uint8":
            return x.contiguous()
        lo, hi = self.preset.value_range
        x = x.float()
        return x if (lo, hi) == (0.0, 255.0) else x * ((hi - lo) / 255.0) + lo


def batches(ds: ImageDataset, batch_size: int, *, num_workers: int = 0, shuffle: bool = True,
            drop_last: bool = True, seed: int = 0, start_epoch: int = 0, distributed: bool | None = None,
            **loader_kwargs):
    """Endless iterator of batches over ``ds``: a ``DataLoader`` per epoch with ``ds.set_epoch(e)`` and a
    sampler seeded by ``(seed, e)`` — a ``DistributedSampler`` (this rank's share) when ``distributed`` is
    True or, by default, when ``torch.distributed`` is initialised."""
    if distributed is None:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    sampler = torch.utils.data.DistributedSampler(ds, shuffle=shuffle, seed=seed, drop_last=drop_last) \
        if distributed else None
    epoch = start_epoch
    while True:
        ds.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
            dl = torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                                             drop_last=drop_last, **loader_kwargs)
        else:
            g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            dl = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g,
                                             num_workers=num_workers, drop_last=drop_last, **loader_kwargs)
        if len(dl) == 0:
            raise ReaderError(f"{len(ds)} images give no full batch of {batch_size} (drop_last=True)")
        yield from dl
        epoch += 1
