"""CLIC 2018 / 2020 professional and mobile splits, unprocessed (what SGA trains on, and HiFiC/iREC evaluate on).

``prepare clic --src EXTRACTED_SPLIT_FOLDER --split professional_train_2020 --out OUT`` checks that every file
decodes (bad inputs are skipped with a reason, per :mod:`shared_data.loading`) and copies it byte for byte to
``OUT/<split>/<relative path>``; ``__MACOSX`` folders from the zips, hidden files and duplicates (symlinks,
hard links) are recorded as skipped with that reason. HiFiC's random
[0.75, 0.95] rescale is *not* applied here: it is a loader-time transform,
:func:`shared_data.transforms.hific_rescale_crop`.
"""

from __future__ import annotations

from pathlib import Path

from ..loading import load
from ..pipeline import Outcome, Task, write_output
from ._common import file_tasks

CLIC_SPLITS = ("professional_train", "professional_valid", "professional_test", "mobile_train", "mobile_valid",
               "mobile_test")


class ClicCopy:
    name = "clic"
    help = "CLIC 2018/2020 professional/mobile splits: validated, byte-identical copies under OUT/<split>/"

    def add_arguments(self, p):
        p.add_argument("--split", required=True,
                       help="output folder name, e.g. professional_train (2018) or professional_valid_2020")

    def options(self, a) -> dict:
        base = a.split.removesuffix("_2020").removesuffix("_2018")
        if base not in CLIC_SPLITS:
            raise ValueError(f"--split {a.split!r}: expected one of {', '.join(CLIC_SPLITS)} "
                             "(optionally with _2018 or _2020)")
        return {"split": a.split}

    def tasks(self, src, opts, exclude=None):
        return file_tasks(src, exclude=exclude)

    def process(self, task: Task, out: Path, opts: dict) -> Outcome:
        loaded = load(task.src)
        data = Path(task.src).read_bytes()
        w, h = loaded.image.size
        entry = write_output(out, f"{opts['split']}/{task.key}", data, width=w, height=h)
        notes = loaded.notes + ([f"mode-{loaded.mode}"] if loaded.mode != "RGB" else [])
        return Outcome(task.key, "done", "", notes, [entry])
