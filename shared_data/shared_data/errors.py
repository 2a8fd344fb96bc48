"""The project's one error hierarchy. Every refusal a user can meet is a :class:`LicError` whose message is
one line naming the file (or model, or folder) it is about; the CLIs (:mod:`shared_data.cli`) print it as
``error: <message>`` and exit 1, so any other exception reaching a user is a bug.

    LicError
    ├── ContainerError      a .lic file is unreadable or does not belong to this codec / model
    ├── ModelError          a model directory or checkpoint is missing, corrupt, or of another codec
    ├── DatasetError        a dataset folder / manifest is missing or unusable
    ├── ImageError          an input image cannot be read, or is not what the codec accepts
    ├── ConfigError         a config file (the originals' ``.cf`` / ``ae_configs`` syntax, JSON) is malformed
    └── PixelLimitError     an image above the codec's pixel limit (``--max-pixels``)
        └── MemoryLimitError  ... or whose estimated peak memory exceeds the budget (``LIC_MAX_MEMORY``)

Each also subclasses ``ValueError``, so ``except ValueError`` written before this module existed still
catches them. Sub-projects subclass these (e.g. ``SGAFormatError(ContainerError)``) rather than defining
look-alikes.
"""

from __future__ import annotations


class LicError(Exception):
    """Base of every error the project raises on purpose (bad input, bad model, bad data)."""


class ContainerError(LicError, ValueError):
    """A container file is unreadable: wrong magic, unknown version, codec or model mismatch, truncation,
    CRC mismatch, absurd sizes, or a payload its codec's parser refuses. The message says which."""


class ModelError(LicError, ValueError):
    """A model (directory, checkpoint, zoo name) is missing, unreadable, corrupt or belongs to another codec."""


class DatasetError(LicError, ValueError):
    """A dataset folder, file list or manifest is missing, empty or malformed."""


class ImageError(LicError, ValueError):
    """An image file cannot be read (missing, corrupt, a bomb) or an array is not ``uint8 (H, W, 3)``."""


class ConfigError(LicError, ValueError):
    """A configuration file or override is malformed or names an unknown key."""


class PixelLimitError(LicError, ValueError):
    """An image larger than the codec's pixel limit (one line: file, size, limit, the flag raising it)."""


class MemoryLimitError(PixelLimitError):
    """An image whose estimated peak memory to encode / decode exceeds the memory budget (one line: file,
    size, estimate, budget)."""


__all__ = ["MemoryLimitError", "LicError", "ContainerError", "ModelError", "DatasetError", "ImageError", "ConfigError",
           "PixelLimitError"]
