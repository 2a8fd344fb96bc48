"""CIFAR-10 and downsampled ImageNet (32×32 / 64×64) for iREC and L3C's small-image models.

Readers for the distributed formats (no TensorFlow Datasets needed):

* CIFAR-10 "python version": pickled dicts ``data_batch_1..5`` / ``test_batch`` with ``b"data"``
  (N × 3072 uint8: the R plane, then G, then B, each row-major 32×32) and ``b"labels"`` (0..9).
* Downsampled ImageNet (image-net.org, Chrabaszcz et al. 2017): ``train_data_batch_1..10`` and ``val_data``,
  either ``.npz`` (keys ``data``, ``labels`` 1..1000, ``mean`` in train files) or the older pickled dicts
  with the same keys; rows are N × 3·S² in the same planar layout.

``prepare cifar10|imagenet32|imagenet64 --src FOLDER --out OUT`` writes each image as PNG to
``OUT/<train|test|val>/<batch file>_<index:05d>.png`` (the image folders L3C's ``in32``/``in64`` configs glob).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np

from ..loading import SkipInput
from ..pipeline import Outcome, PrepareError, Task, write_output
from ._common import png_bytes

_PATTERNS = {
    "cifar10": [(re.compile(r"^data_batch_\d+$"), "train"), (re.compile(r"^test_batch$"), "test")],
    "imagenet32": [(re.compile(r"^train_data_batch_\d+(\.npz)?$"), "train"),
                   (re.compile(r"^val_data(\.npz)?$"), "val")],
}
_PATTERNS["imagenet64"] = _PATTERNS["imagenet32"]
_SIDE = {"cifar10": 32, "imagenet32": 32, "imagenet64": 64}


def planar_to_hwc(data: np.ndarray, side: int) -> np.ndarray:
    """(N, 3·side²) planar rows → (N, side, side, 3) uint8."""
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 3 * side * side:
        raise ValueError(f"expected rows of 3x{side}x{side}={3 * side * side} values, got shape {data.shape}")
    if data.dtype != np.uint8:
        if data.min(initial=0) < 0 or data.max(initial=0) > 255:
            raise ValueError(f"pixel values outside 0..255 (dtype {data.dtype})")
        data = data.astype(np.uint8)
    return np.ascontiguousarray(data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1))


class _ArrayUnpickler(pickle.Unpickler):
    """Loads the batch files' dicts of numpy arrays / lists and nothing else: any other global (a pickle
    carrying code, e.g. ``os.system``) raises ``UnpicklingError`` instead of being called (issue 17)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}  # bytes under protocol 2

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refused: the pickle calls {module}.{name} (only numpy arrays, "
                                         "lists and numbers are allowed in a batch file)")
        return super().find_class(module, name)


def read_batch(path: str | Path, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 / downsampled-ImageNet batch file → (images (N, side, side, 3) uint8, labels (N,))."""
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                data, labels = z["data"], z["labels"]
        else:
            with open(path, "rb") as f:
                d = _ArrayUnpickler(f, encoding="bytes").load()
            if not isinstance(d, dict):
                raise ValueError(f"expected a pickled dict, got {type(d).__name__}")
            d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
            data, labels = d["data"], d["labels"]
    except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError, AttributeError, ImportError) as e:
        raise ValueError(f"{path}: not a readable batch file ({type(e).__name__}: {e})") from None
    images = planar_to_hwc(data, side)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"{path}: {len(images)} images but {len(labels)} labels")
    return images, labels


def _other(p: Path) -> Task:
    """A folder entry that is not a batch file (``batches.meta``, ``readme.html``, hidden files): recorded as
    skipped with a reason, never dropped silently."""
    if p.is_dir():
        reason = "hidden-folder" if p.name.startswith(".") else "folder"
    else:
        reason = "hidden-file" if p.name.startswith(".") else "not-a-batch-file"
    return Task(key=p.name + ("/" if p.is_dir() else ""), kind="ignored", fingerprint=f"ignored={reason}",
                params=(reason, "not one of the batch file names this recipe reads"))


class SmallImages:
    def __init__(self, dataset: str):
        self.name = dataset
        self.side = _SIDE[dataset]
        self.help = f"{dataset}: batch files -> one PNG per image under OUT/<split>/"

    def add_arguments(self, p):
        pass

    def options(self, a) -> dict:
        return {"side": self.side}

    def tasks(self, src, opts):
        if src is None or not Path(src).is_dir():
            raise PrepareError(f"--src {src}: expected the folder holding the {self.name} batch files")
        tasks, other, stems = [], [], {}
        for p in sorted(Path(src).iterdir()):
            split = next((sp for pat, sp in _PATTERNS[self.name] if pat.match(p.name)), None)
            stem = p.name.removesuffix(".npz")
            if split is None:
                other.append(_other(p))
            elif stem in stems:  # train_data_batch_1 and train_data_batch_1.npz: one batch, two formats
                other.append(Task(key=p.name, kind="ignored", fingerprint="ignored=duplicate",
                                  params=("duplicate", f"the same batch name as {stems[stem]}, which is used")))
            else:
                stems[stem] = p.name
                tasks.append(Task(key=p.name, kind="batch", src=str(p.resolve()),
                                  fingerprint=f"size={p.stat().st_size}", params=(split,)))
        if not tasks:
            raise PrepareError(f"--src {src}: no {self.name} batch files "
                               f"({', '.join(pat.pattern for pat, _ in _PATTERNS[self.name])})")
        return tasks + other

    def process(self, task: Task, out: Path, opts: dict) -> Outcome:
        from PIL import Image

        try:
            images, labels = read_batch(task.src, self.side)
        except ValueError as e:
            raise SkipInput("corrupt", str(e)) from None
        split = task.params[0]
        stem = Path(task.key).name.removesuffix(".npz")
        outputs = [write_output(out, f"{split}/{stem}_{i:05d}.png", png_bytes(Image.fromarray(im, "RGB")),
                                label=int(lab))
                   for i, (im, lab) in enumerate(zip(images, labels))]
        return Outcome(task.key, "done", "", [f"{len(outputs)} images"], outputs)
