"""Training-data readers shared by the five sub-projects (issue 8).

* :mod:`shared_data.readers.tf_data` — ``tf.data`` pipelines over image folders / globs and TFRecord shards
  (feature ``image/encoded``), needs TensorFlow;
* :mod:`shared_data.readers.torch_data` — a torch ``Dataset`` over image folders / globs, needs PyTorch;
* :mod:`shared_data.readers.arrays` — CIFAR-10 / ImageNet32 / ImageNet64 batch files as uint8 NHWC arrays,
  framework-free.

This package imports neither TensorFlow nor PyTorch; each framework is imported by its own module only.
The papers' crop / flip / rescale choices are named presets (:data:`PRESETS`, :func:`preset`).
"""

from ._common import PRESETS, Preset, ReaderError, apply_preset, list_images, preset, scan_images

__all__ = ["PRESETS", "Preset", "ReaderError", "apply_preset", "list_images", "preset", "scan_images"]
