"""Framework-free data layer shared by every sub-project: image I/O, the container, dataset recipes."""

from .container import Container, ContainerError
from .imageio import ImageReadError, PadInfo, crop_to_original, pad_to_multiple, read_image, write_png

__all__ = ["Container", "ContainerError", "ImageReadError", "PadInfo", "crop_to_original",
           "pad_to_multiple", "read_image", "write_png"]
