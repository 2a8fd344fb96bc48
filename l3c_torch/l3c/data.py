"""Image lists for training, validation and testing: a directory, a glob or ``$TRAIN_DIR``/``$KODAK_DIR``.

The listing is the project's one rule (:func:`shared_data.imageio.list_images`: suffixes compared
case-insensitively, sub-folders included, hidden files skipped, sorted) and the data-folder defaults are
:mod:`shared_data.paths`. The crops themselves (upstream ``multiscale_trainer.py``: random 128 crop +
horizontal flip, images with a side below the crop skipped as ``ImagesCached(min_size=...)``) come from
``shared_data.readers`` (preset ``l3c``), see :func:`l3c.train_loop.train`.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared_data.errors import DatasetError
from shared_data.imageio import list_images
from shared_data.paths import data_dir


def default_dir(var: str) -> Path:
    """``$var`` if set and non-empty, else its default beside the checkout (:func:`shared_data.paths.data_dir`)."""
    return data_dir(var)


def resolve_glob(spec: str, required: bool = False, what: str | None = None) -> list[Path]:
    """Image files named by a directory, a glob, one file or ``$VAR`` (``$TRAIN_DIR``, ``$KODAK_DIR``, with the
    repository's data defaults). ``required``: a :class:`DatasetError` naming ``spec`` (and ``what``, e.g.
    the config key) when there is no image; else an empty list."""
    if spec.startswith("$"):
        spec = str(default_dir(spec[1:]))
    try:
        return list_images(os.path.expanduser(spec))
    except DatasetError as e:
        if not required:
            return []
        raise DatasetError(f"{e} ({what}={spec!r})" if what else str(e)) from None
