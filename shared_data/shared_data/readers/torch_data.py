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

import torch

from ._common import ReaderError
from .numpy_data import ImageReader


class ImageDataset(ImageReader, torch.utils.data.Dataset):
    """Map-style torch dataset of preset crops from ``source`` (folder, glob, file or list of them):
    :class:`shared_data.readers.numpy_data.ImageReader` whose items are tensors, ``(3, crop, crop)`` by default.

    ``preset`` / ``crop`` / ``flip`` / ``rescale`` / ``small`` / ``value_range`` as in
    :func:`shared_data.readers.preset`; ``dtype`` ``"float32"`` or ``"uint8"``; ``center=True`` for the
    validation centre crop (no flip, no rescale); ``check=False`` skips the header scan (then small images
    raise at read time unless ``small="upscale"``).
    """

    def __init__(self, source, preset="l3c", *, channels_first: bool = True, **kw):
        super().__init__(source, preset, channels_first=channels_first, **kw)

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
