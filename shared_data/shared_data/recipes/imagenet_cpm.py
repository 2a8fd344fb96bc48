"""ImageNet for CPM (imgcomp README, "Prepare ImageNET").

Original: ``convert {} -resize "256x256^" {}`` in place with ImageMagick, then
``python -m fjcommon tf_records mk_img_rec … --feature_key image/encoded`` with 1,250 images per file.
Here:

* stage 1, per image: decode (bad inputs per :mod:`shared_data.loading`; CMYK/gray/palette/16-bit/alpha are
  converted to RGB as TF's ``decode_jpeg(channels=3)`` would see them), resize with the geometry of
  ImageMagick's ``-resize 256x256^`` (:func:`imagemagick_fill_size`: scale = max(256/W, 256/H), each side
  ``floor(scale·side + 0.5)``, so the shorter side becomes 256 and small images are *upscaled*), re-encode as
  JPEG at the quality ImageMagick would use (the input's estimated IJG quality, 92 when unknown), and write
  ``images/<split>/<relative path>`` (``.jpg`` replacing another suffix; where two inputs would get one name,
  ``img.tif`` + ``img.webp``, the second keeps its suffix: ``img.webp.jpg``) — the plain folder the torch
  projects read.
* stage 2, per shard: the finished images in fjcommon's order (sorted paths, shuffled twice with
  ``random.Random(6)`` as ``create_images_records_distributed`` does), 1,250 per shard, each a
  ``tf.train.Example`` with the JPEG bytes under ``image/encoded``, written to
  ``records/<split>/<split>-%05d.tfrecord``.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image

from .. import tfrecord
from ..loading import load, to_rgb
from ..pipeline import Outcome, Task, write_output
from ._common import digest_list, file_tasks, jpeg_bytes, output_name, with_suffix

_STD_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
             14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
             49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_STD_CHROMA = ([17, 18, 24, 47] + [99] * 4 + [18, 21, 26, 66] + [99] * 4 + [24, 26, 56] + [99] * 5
               + [47, 66] + [99] * 6 + [99] * 32)
DEFAULT_QUALITY = 92  # ImageMagick's JPEG quality when the input's cannot be estimated


def imagemagick_fill_size(width: int, height: int, box_w: int = 256, box_h: int = 256) -> tuple[int, int]:
    """Output size of ImageMagick ``-resize {box_w}x{box_h}^`` (fill the box, keep the aspect ratio)."""
    scale = max(box_w / width, box_h / height)
    return max(1, math.floor(scale * width + 0.5)), max(1, math.floor(scale * height + 0.5))


def _scaled_sum(table: list[int], q: int) -> int:
    s = 5000 / q if q < 50 else 200 - 2 * q
    return sum(min(255, max(1, int((v * s + 50) // 100))) for v in table)


def estimate_jpeg_quality(qtables: dict[int, list[int]] | None) -> int | None:
    """The IJG quality (1..100) whose standard tables best match ``qtables`` (Pillow's ``img.quantization``),
    compared by table sums as ImageMagick's estimate does; None without tables."""
    if not qtables or 0 not in qtables:
        return None
    luma = sum(qtables[0])
    chroma = sum(qtables[1]) if 1 in qtables else None
    best, best_err = None, None
    for q in range(1, 101):
        err = abs(_scaled_sum(_STD_LUMA, q) - luma)
        if chroma is not None:
            err += abs(_scaled_sum(_STD_CHROMA, q) - chroma)
        if best_err is None or err < best_err:
            best, best_err = q, err
    return best


def fjcommon_order(keys: list[str]) -> list[str]:
    """fjcommon's record order for one image per example: sorted, then ``Random(6).shuffle`` twice."""
    out = sorted(keys)
    random.Random(6).shuffle(out)
    random.Random(6).shuffle(out)
    return out


def _jpeg_name(key: str) -> str:
    """A JPEG input keeps its name, anything else gets ``.jpg`` (collisions resolved by ``assign_names``)."""
    return key if Path(key).suffix.lower() in (".jpg", ".jpeg") else with_suffix(key, ".jpg")


class ImageNetCPM:
    name = "imagenet-cpm"
    help = "ImageNet for CPM: shorter side 256 (ImageMagick 256x256^), JPEG folder + TFRecord shards of 1,250"

    def add_arguments(self, p):
        p.add_argument("--split", default="train", help="record name prefix and folder (train | val)")
        p.add_argument("--side", type=int, default=256, help="the 256 of -resize 256x256^")
        p.add_argument("--shard-size", type=int, default=1250, help="images per TFRecord file")
        p.add_argument("--quality", type=int, default=None,
                       help="JPEG quality (default: the input's estimated quality, 92 if unknown)")
        p.add_argument("--feature-key", default="image/encoded")
        p.add_argument("--no-records", action="store_true", help="only the JPEG folder, no TFRecords")

    def options(self, a) -> dict:
        return {"split": a.split, "side": a.side, "shard_size": a.shard_size, "quality": a.quality,
                "feature_key": a.feature_key, "records": not a.no_records}

    def tasks(self, src, opts, exclude=None):
        return file_tasks(src, name=_jpeg_name, exclude=exclude)

    def process(self, task: Task, out: Path, opts: dict) -> Outcome:
        if task.kind == "shard":
            return self._shard(task, out, opts)
        loaded = load(task.src)
        img = to_rgb(loaded)
        w, h = img.size
        nw, nh = imagemagick_fill_size(w, h, opts["side"], opts["side"])
        if (nw, nh) != (w, h):
            # ImageMagick's default filter: Lanczos when shrinking, Mitchell when enlarging (PIL: bicubic).
            shrink = nw * nh < w * h
            img = img.resize((nw, nh), resample=Image.LANCZOS if shrink else Image.BICUBIC)
            loaded.notes.append("downscaled" if shrink else "upscaled")
        quality = opts["quality"]
        if quality is None:
            est = estimate_jpeg_quality(loaded.quantization) if loaded.format == "JPEG" else None
            quality = est or DEFAULT_QUALITY
        rel = f"images/{opts['split']}/{output_name(task, _jpeg_name(task.key))}"
        entry = write_output(out, rel, jpeg_bytes(img, quality), width=nw, height=nh, quality=quality)
        return Outcome(task.key, "done", "", loaded.notes, [entry])

    def next_tasks(self, out: Path, manifest, opts: dict, stage: int):
        if stage != 1 or not opts["records"]:
            return None
        done = [k for k, r in manifest.records.items() if r.get("kind") == "image" and r["status"] == "done"]
        order = fjcommon_order(done)
        n = opts["shard_size"]
        tasks = []
        for i in range(0, len(order), n):
            members = tuple(manifest.records[k]["outputs"][0]["path"] for k in order[i:i + n])
            name = f"records/{opts['split']}/{opts['split']}-{i // n:05d}.tfrecord"
            tasks.append(Task(key=name, kind="shard", fingerprint=digest_list(list(members)), params=members))
        return tasks

    def _shard(self, task: Task, out: Path, opts: dict) -> Outcome:
        key = opts["feature_key"]
        records = [tfrecord.encode_example({key: (out / rel).read_bytes()}) for rel in task.params]
        blob = b"".join(tfrecord.frame_record(r) for r in records)
        entry = write_output(out, task.key, blob, records=len(records))
        return Outcome(task.key, "done", "", [], [entry])
