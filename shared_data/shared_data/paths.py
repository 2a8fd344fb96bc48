"""Where the project finds its data: one rule for ``KODAK_DIR`` / ``TRAIN_DIR`` (and any other ``*_DIR``).

An environment variable that is set and non-empty wins; unset or empty means the default, the checkout's
sibling ``../shared/data/<name>`` (as in CI: the repository and ``shared/`` side by side). Nothing here checks
that the folder exists: :func:`shared_data.imageio.list_images` raises a :class:`DatasetError` naming it and the
variable to set.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root (this file is ``<root>/shared_data/shared_data/paths.py``).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The folder beside the checkout holding the reference documents and data.
SHARED_DIR = REPO_ROOT.parent / "shared"

DEFAULTS = {"KODAK_DIR": SHARED_DIR / "data" / "kodak", "TRAIN_DIR": SHARED_DIR / "data" / "train-photos"}


def data_dir(var: str, default: str | os.PathLike | None = None) -> Path:
    """``$var`` if set and non-empty, else ``default`` (else :data:`DEFAULTS`\\[var])."""
    value = os.environ.get(var, "")
    if value:
        return Path(value).expanduser()
    if default is None:
        if var not in DEFAULTS:
            raise KeyError(f"no default folder for ${var}; pass one")
        default = DEFAULTS[var]
    return Path(default)


def kodak_dir() -> Path:
    """The 24 Kodak images: ``$KODAK_DIR`` or ``../shared/data/kodak``."""
    return data_dir("KODAK_DIR")


def train_dir() -> Path:
    """The training photos: ``$TRAIN_DIR`` or ``../shared/data/train-photos``."""
    return data_dir("TRAIN_DIR")


def kodak_images(n: int | None = None) -> list[Path]:
    """The Kodak images sorted by name (the first ``n``); :class:`DatasetError` naming the folder and
    ``KODAK_DIR`` when there are none."""
    from .errors import DatasetError
    from .imageio import list_images

    root = kodak_dir()
    try:
        paths = list_images(root, recursive=False)
    except DatasetError as e:
        raise DatasetError(f"{e} (set KODAK_DIR)") from None
    return paths[:n] if n else paths
