"""Fixed random crops as a small validation set, e.g. CPM's ``testset``
(``VAL_ROOT/imagenet_256_train_val_128x128__100/*.png``: 100 crops of 128×128 from the 256-px ImageNet images).

The original set is not published and its construction is not in the repository; this is our construction:
a seeded random subset of ``--count`` images, one uniformly placed ``--size`` crop from each (drawn from
``Random(task_seed(seed, path))``), saved as PNG. Images smaller than the crop are skipped (``too-small``).
"""

from __future__ import annotations

import random
from pathlib import Path

from ..loading import SkipInput, load, to_rgb
from ..pipeline import Outcome, Task, task_seed, write_output
from ._common import file_tasks, output_name, png_bytes, with_suffix


class Crops:
    name = "crops"
    help = "N seeded random SxS crops as PNG (e.g. CPM's 100 x 128x128 'testset' from ImageNet-256 val)"

    def add_arguments(self, p):
        p.add_argument("--size", type=int, default=128)
        p.add_argument("--count", type=int, default=100, help="number of images to crop (one crop each)")
        p.add_argument("--seed", type=int, default=0)

    def options(self, a) -> dict:
        if a.size < 1 or a.count < 1:
            raise ValueError("--size and --count must be positive")
        return {"size": a.size, "count": a.count, "seed": a.seed}

    def tasks(self, src, opts, exclude=None):
        return file_tasks(src, opts["count"], opts["seed"], name=lambda k: with_suffix(k, ".png"), exclude=exclude)

    def process(self, task: Task, out: Path, opts: dict) -> Outcome:
        loaded = load(task.src)
        img = to_rgb(loaded)
        w, h = img.size
        s = opts["size"]
        if w < s or h < s:
            raise SkipInput("too-small", f"{w}x{h} < crop {s}")
        rng = random.Random(task_seed(opts["seed"], task.key))
        x, y = rng.randint(0, w - s), rng.randint(0, h - s)
        crop = img.crop((x, y, x + s, y + s))
        entry = write_output(out, output_name(task, with_suffix(task.key, ".png")), png_bytes(crop), width=s, height=s, x=x, y=y)
        return Outcome(task.key, "done", "", loaded.notes, [entry])
