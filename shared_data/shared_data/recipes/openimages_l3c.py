"""Open Images for L3C (``l3c:src/import_train_images.py``) — the v3 rule, the paper-era v1 rule, and the
hobby fork's ``prep_clic.sh`` (v1 rule saved as PNG).

v3 (default; ``--resolution 512``): D = shorter side; discard when 512/D > 0.8 (shorter side < 640);
scale ~ U(512/D, 0.8); resize to (round(W·s), round(H·s)) with Lanczos; discard non-RGB inputs and images whose
mean HSV (``skimage.color.rgb2hsv`` of the resized image) has S > 0.9 or V > 0.8; save PNG.

v1 (``--rule v1``; ``--resolution 768`` or ``randX_Y``): D = longer side; s = R/D; discard when s > 0.95;
resize bicubic; the same RGB/S/V filter; save JPEG quality 95 (PNG for ``clic-frllic``).

Randomness: the original seeds Python's ``random`` once per process (``random.seed(123)`` in v3), so its draws
depend on the file order and worker count. Here each image draws from ``random.Random(task_seed(seed, path))``:
the same seed gives byte-identical output whatever the executor.

``--fixed-image PATH`` adds L3C's fixed first validation image (``src/train/fixedimg.jpg``) as
``fixedimg.png`` (RGB, not rescaled). ``--max-images N`` takes a seeded random subset (the README's
"500 images randomly selected from the Open Images validation set").
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image

from ..loading import SkipInput, load, to_rgb
from ..pipeline import Outcome, Task, task_seed, write_output
from ._common import file_tasks, jpeg_bytes, output_name, png_bytes, with_suffix

V3_MAX_SCALE = 0.8
V1_MAX_SCALE = 0.95
V1_QUALITY = 95


def hsv_reason(img: Image.Image) -> str | None:
    """The v3/v1 content filter: reason to discard, or None."""
    import skimage.color

    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        return "not-rgb"
    _, s, v = np.mean(skimage.color.rgb2hsv(arr), axis=(0, 1))
    if s > 0.9:
        return "saturation>0.9"
    if v > 0.8:
        return "brightness>0.8"
    return None


def v3_size(w: int, h: int, res: int, rng: random.Random) -> tuple[int, int] | None:
    d = min(w, h)
    scale_min = res / d
    if scale_min > V3_MAX_SCALE:
        return None
    s = rng.uniform(scale_min, V3_MAX_SCALE)
    return round(w * s), round(h * s)


def v1_size(w: int, h: int, res: str, rng: random.Random) -> tuple[int, int] | None:
    if str(res).startswith("rand"):
        lo, hi = map(int, str(res)[4:].split("_"))
        r = rng.randint(lo, hi)
    else:
        r = int(res)
    s = r / max(w, h)
    if s > V1_MAX_SCALE:
        return None
    return round(w * s), round(h * s)


class OpenImagesL3C:
    help = "Open Images for L3C: v3 (PNG, Lanczos, shorter side in [512, 0.8 D]) or v1 (768 bicubic, JPEG q95)"

    def __init__(self, preset: str = "openimages-l3c"):
        self.name = preset
        if preset == "clic-frllic":
            self.help = "the FRLLIC fork's prep_clic.sh: L3C v1 rule (longer side 768, bicubic) saved as PNG"

    def add_arguments(self, p):
        frllic = self.name == "clic-frllic"
        p.add_argument("--rule", choices=("v3", "v1"), default="v1" if frllic else "v3")
        p.add_argument("--resolution", default=None, help="v3: 512 (shorter side floor); v1: 768 or randX_Y")
        p.add_argument("--format", choices=("png", "jpeg"), default=None,
                       help="output format (default: png for v3 and clic-frllic, jpeg q95 for v1)")
        p.add_argument("--seed", type=int, default=123)
        p.add_argument("--no-clean", action="store_true", help="skip the HSV filter (original's --no_clean)")
        p.add_argument("--max-images", type=int, default=None, help="seeded random subset of the inputs")
        p.add_argument("--fixed-image", default=None, help="also write this image as fixedimg.png")

    def options(self, a) -> dict:
        res = a.resolution or ("512" if a.rule == "v3" else "768")
        fmt = a.format or ("jpeg" if a.rule == "v1" and self.name != "clic-frllic" else "png")
        if a.rule == "v3" and not str(res).isdigit():
            raise ValueError(f"--resolution {res!r}: the v3 rule takes an integer")
        return {"rule": a.rule, "resolution": str(res), "format": fmt, "seed": a.seed, "clean": not a.no_clean,
                "max_images": a.max_images,
                "fixed_image": str(Path(a.fixed_image).resolve()) if a.fixed_image else None}

    def tasks(self, src, opts, exclude=None):
        ext = ".png" if opts["format"] == "png" else ".jpg"
        tasks = file_tasks(src, opts["max_images"], opts["seed"], name=lambda k: with_suffix(k, ext),
                           reserved=("fixedimg.png",) if opts["fixed_image"] else (), exclude=exclude)
        if opts["fixed_image"]:
            p = Path(opts["fixed_image"])
            tasks.append(Task(key="fixedimg", kind="fixed", src=str(p),
                              fingerprint=f"size={p.stat().st_size if p.exists() else -1}"))
        return tasks

    def process(self, task: Task, out: Path, opts: dict) -> Outcome:
        loaded = load(task.src)
        if task.kind == "fixed":
            entry = write_output(out, "fixedimg.png", png_bytes(to_rgb(loaded)))
            return Outcome(task.key, "done", "", loaded.notes, [entry])
        img = loaded.image
        rng = random.Random(task_seed(opts["seed"], task.key))
        w, h = img.size
        if opts["rule"] == "v3":
            size = v3_size(w, h, int(opts["resolution"]), rng)
            if size is None:
                raise SkipInput("too-small", f"{w}x{h}: shorter side < {int(opts['resolution']) / V3_MAX_SCALE:g}")
            if loaded.mode != "RGB":
                raise SkipInput("not-rgb", f"mode {loaded.mode}")
            img = img.resize(size, resample=Image.LANCZOS)
        else:
            size = v1_size(w, h, opts["resolution"], rng)
            if size is None:
                raise SkipInput("too-small", f"{w}x{h}: scale to {opts['resolution']} > {V1_MAX_SCALE}")
            if loaded.mode != "RGB":
                raise SkipInput("not-rgb", f"mode {loaded.mode}")
            img = img.resize(size, resample=Image.BICUBIC)
        if opts["clean"]:
            reason = hsv_reason(img)
            if reason:
                raise SkipInput(reason, f"{w}x{h} -> {size[0]}x{size[1]}")
        if opts["format"] == "png":
            rel, data = output_name(task, with_suffix(task.key, ".png")), png_bytes(img)
        else:
            rel, data = output_name(task, with_suffix(task.key, ".jpg")), jpeg_bytes(img, V1_QUALITY)
        entry = write_output(out, rel, data, width=size[0], height=size[1])
        return Outcome(task.key, "done", "", loaded.notes, [entry])
