"""Every input accounted for, output names that cannot collide, symlinks/duplicates, checksum-checked resume,
one pixel limit — for every recipe built on recipes._common (imagenet-cpm, openimages-l3c / clic-frllic,
crops, clic) and the batch recipes (cifar10 / imagenet32 / imagenet64)."""

import hashlib
import json
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from _data_helpers import REPO, png_bomb
from PIL import Image

from shared_data.__main__ import main
from shared_data.imageio import MAX_PIXELS, ImageReadError, read_image
from shared_data.loading import SkipInput, load
from shared_data.pipeline import MANIFEST, Manifest
from shared_data.recipes._common import assign_names, with_suffix
from shared_data.tfrecord import decode_example, read_records

RNG = np.random.default_rng(17)


def _img(h=40, w=56) -> Image.Image:
    return Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _save(path: Path, fmt: str | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    _img().save(path, format=fmt)


def mixed_inputs(root: Path) -> tuple[Path, dict[str, str | None]]:
    """42 entries under root/src: name -> expected skip reason (None: becomes an output)."""
    src = root / "src"
    exp: dict[str, str | None] = {}
    for i in range(24):
        _save(src / f"d{i % 3}" / f"p{i:02d}.png")
        exp[f"d{i % 3}/p{i:02d}.png"] = None
    for n, fmt in (("img.tif", "TIFF"), ("img.webp", "WEBP"), ("a.png", "PNG"), ("a.jpg", "JPEG"),
                   ("b.jpeg", "JPEG"), ("b.jpg", "JPEG"), ("noext", "PNG"), ("noext.jpg", "JPEG")):
        _save(src / n, fmt)
        exp[n] = None
    (src / "link_in.png").symlink_to("d0/p00.png")                  # a duplicate of a file in the tree
    exp["link_in.png"] = "duplicate"
    _save(root / "outside" / "far.png")
    (src / "link_out.png").symlink_to(root / "outside" / "far.png")  # an input reached through a link
    exp["link_out.png"] = None
    os.link(src / "d1" / "p01.png", src / "hard.png")               # a hard link: the same file again
    exp["hard.png"] = "duplicate"
    (src / "dangling.jpg").symlink_to(root / "nowhere.jpg")
    exp["dangling.jpg"] = "unreadable"
    _save(src / ".hidden.png")
    exp[".hidden.png"] = "hidden-file"
    (src / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    exp[".DS_Store"] = "os-metadata"
    _save(src / "__MACOSX" / "._img.tif")
    exp["__MACOSX/"] = "os-metadata"
    _save(src / ".cache" / "x.png")
    _save(src / ".cache" / "y.png")
    exp[".cache/"] = "hidden-folder"
    (src / "linked_dir").symlink_to(src / "d2")
    exp["linked_dir/"] = "symlinked-folder"
    (src / "notes.txt").write_text("not an image")
    exp["notes.txt"] = "not-an-image"
    assert len(exp) == 42
    return src, exp


RECIPES = {
    "imagenet-cpm": ["--side", "32", "--shard-size", "7"],
    "openimages-l3c": ["--resolution", "24", "--no-clean"],
    "clic-frllic": ["--resolution", "32", "--no-clean"],
    "crops": ["--size", "16", "--count", "1000"],
    "clic": ["--split", "mobile_valid"],
}


def _prepare(recipe, src, out):
    return main(["prepare", recipe, "--src", str(src), "--out", str(out), "--workers", "0", "--no-progress",
                 *RECIPES[recipe]])


def _image_outputs(out):
    return [o["path"] for r in Manifest(out).records.values() if r["status"] == "done" and r["kind"] == "image"
            for o in r["outputs"]]


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_mixed_inputs_all_accounted_for_no_collision_and_checksum_resume(tmp_path, recipe, capsys):
    src, exp = mixed_inputs(tmp_path)
    out = tmp_path / "out"
    assert _prepare(recipe, src, out) == 0
    recs = Manifest(out).records
    images = {k: r for k, r in recs.items() if r["kind"] in ("image", "ignored")}
    assert set(images) == set(exp)                                   # every entry has a record
    for k, why in exp.items():
        r = images[k]
        assert (r["status"], r["reason"]) == (("done", "") if why is None else ("skipped", why)), (k, r)
    paths = _image_outputs(out)
    assert len(paths) == len(set(paths)) == sum(why is None for why in exp.values())   # nothing lost
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                     if p.is_file() and p.name not in (MANIFEST, "prepare.json") and "records/" not in p.as_posix())
    assert on_disk == sorted(paths)                                  # and nothing extra
    if recipe == "imagenet-cpm":
        assert {"images/train/img.jpg", "images/train/img.webp.jpg", "images/train/a.jpg",
                "images/train/a.png.jpg", "images/train/noext.jpg", "images/train/b.jpeg", "images/train/b.jpg",
                f"images/train/noext.{hashlib.sha256(b'noext').hexdigest()[:8]}.jpg"} <= set(paths)
        blobs = [decode_example(r)["image/encoded"][0] for p in sorted(out.glob("records/train/*.tfrecord"))
                 for r in read_records(p)]
        assert sorted(blobs) == sorted((out / p).read_bytes() for p in paths)   # each image once in the shards
    elif recipe == "clic":
        assert (out / "mobile_valid/link_out.png").read_bytes() == (tmp_path / "outside/far.png").read_bytes()
    assert "1 skipped/hidden-file" in capsys.readouterr().out        # the run's summary line counts them
    assert main(["verify", str(out)]) == 0                            # a fresh run verifies
    capsys.readouterr()

    assert _prepare(recipe, src, out) == 0                           # a rerun has nothing to do
    assert "this run: nothing to do" in capsys.readouterr().out

    victim = out / sorted(paths)[3]                                  # corruption that keeps the size
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x10
    victim.write_bytes(bytes(data))
    assert main(["verify", str(out)]) == 1
    capsys.readouterr()
    assert _prepare(recipe, src, out) == 0
    line = capsys.readouterr().out
    assert re.search(r"this run: 1 done \[", line), line            # that image only (same bytes again,
    assert (out / sorted(paths)[3]).read_bytes() != bytes(data)     # so a shard holding it stays valid)
    assert main(["verify", str(out)]) == 0


def test_assign_names_rules():
    jpg = lambda k: k if Path(k).suffix.lower() in (".jpg", ".jpeg") else with_suffix(k, ".jpg")  # noqa: E731
    keys = ["img.tif", "img.webp", "a.png", "a.jpg", "x/c.png", "c.png", "q.png", "q.jpg", "q.png.jpg"]
    got = assign_names(keys, jpg)
    assert got == {"img.tif": "img.jpg", "img.webp": "img.webp.jpg", "a.jpg": "a.jpg", "a.png": "a.png.jpg",
                   "x/c.png": "x/c.jpg", "c.png": "c.jpg", "q.jpg": "q.jpg", "q.png.jpg": "q.png.jpg",
                   "q.png": f"q.{hashlib.sha256(b'q.png').hexdigest()[:8]}.jpg"}
    assert len(set(got.values())) == len(got)
    # a reserved name (openimages' fixedimg.png) is never given to an input
    assert assign_names(["fixedimg.jpg"], lambda k: with_suffix(k, ".png"), ("fixedimg.png",)) == {
        "fixedimg.jpg": "fixedimg.jpg.png"}


def test_legacy_collided_folder_is_repaired(tmp_path):
    """A folder prepared before the fix (img.tif and img.webp both recorded as images/train/img.jpg) is
    repaired by a rerun: both images, distinct names, verify passes."""
    src = tmp_path / "src"
    _save(src / "img.tif", "TIFF")
    _save(src / "img.webp", "WEBP")
    _save(src / "ok.png")
    out = tmp_path / "out"
    assert _prepare("imagenet-cpm", src, out) == 0
    # forge the old state: img.webp's record claims img.jpg, which holds img.webp's pixels
    man = (out / MANIFEST).read_text().splitlines()
    webp = next(i for i, ln in enumerate(man) if '"key": "img.webp"' in ln)
    man[webp] = man[webp].replace("img.webp.jpg", "img.jpg").replace(";as=images/train/img.webp.jpg", "")
    old = (out / "images/train/img.webp.jpg").read_bytes()
    (out / "images/train/img.webp.jpg").unlink()
    (out / "images/train/img.jpg").write_bytes(old)
    rec = json.loads(man[webp])
    rec["fingerprint"] = rec["fingerprint"].split(";as=")[0]
    rec["outputs"][0].update(bytes=len(old), sha256=hashlib.sha256(old).hexdigest())
    man[webp] = json.dumps(rec, sort_keys=True)
    (out / MANIFEST).write_text("\n".join(man) + "\n")
    assert _prepare("imagenet-cpm", src, out) == 0
    assert main(["verify", str(out)]) == 0
    paths = sorted(_image_outputs(out))
    assert paths == ["images/train/img.jpg", "images/train/img.webp.jpg", "images/train/ok.jpg"]
    assert (out / "images/train/img.jpg").read_bytes() != (out / "images/train/img.webp.jpg").read_bytes()


def test_fewer_images_remove_stale_shards(tmp_path, capsys):
    src = tmp_path / "src"
    for i in range(5):
        _save(src / f"p{i}.png")
    out = tmp_path / "out"
    args = ["prepare", "imagenet-cpm", "--src", str(src), "--out", str(out), "--workers", "0", "--no-progress",
            "--side", "32", "--shard-size", "2"]
    assert main(args) == 0
    assert len(list(out.glob("records/train/*.tfrecord"))) == 3
    (src / "p3.png").write_text("now a text file")                  # its image becomes a skip
    assert main(args) == 0
    assert "1 removed/no-longer-listed" in capsys.readouterr().out
    assert not (out / "images/train/p3.jpg").exists()
    assert sorted(p.name for p in out.glob("records/train/*.tfrecord")) == ["train-00000.tfrecord",
                                                                           "train-00001.tfrecord"]
    assert Manifest(out).records["records/train/train-00002.tfrecord"]["status"] == "removed"
    assert main(["verify", str(out)]) == 0
    for i in range(5):                                              # no image left: no shard left
        (src / f"p{i}.png").write_text(f"text {i}" * (i + 2))
    assert main(args) == 0
    assert not list(out.glob("records/train/*.tfrecord")) and not list(out.glob("images/train/*"))
    assert main(["verify", str(out)]) == 0


def test_batch_recipes_account_for_other_files(tmp_path):
    cif = tmp_path / "cifar"
    cif.mkdir()
    x = RNG.integers(0, 256, (2, 3 * 32 * 32), dtype=np.uint8)
    with open(cif / "data_batch_1", "wb") as f:
        pickle.dump({b"data": x, b"labels": [1, 2]}, f)
    (cif / "batches.meta").write_bytes(b"meta")
    (cif / ".DS_Store").write_bytes(b"x")
    out = tmp_path / "o"
    assert main(["prepare", "cifar10", "--src", str(cif), "--out", str(out), "--workers", "0", "--no-progress"]) == 0
    recs = Manifest(out).records
    assert {k: r["reason"] for k, r in recs.items()} == {"data_batch_1": "", "batches.meta": "not-a-batch-file",
                                                         ".DS_Store": "hidden-file"}
    inet = tmp_path / "in32"
    inet.mkdir()
    np.savez(inet / "val_data.npz", data=x, labels=np.array([1, 2]))
    with open(inet / "val_data", "wb") as f:
        pickle.dump({"data": x, "labels": [1, 2]}, f)
    out = tmp_path / "o32"
    assert main(["prepare", "imagenet32", "--src", str(inet), "--out", str(out), "--workers", "0",
                 "--no-progress"]) == 0
    recs = Manifest(out).records
    assert recs["val_data"]["status"] == "done" and recs["val_data.npz"]["reason"] == "duplicate"


def test_one_pixel_limit_everywhere(tmp_path):
    """Pillow refuses above 2x its limit with its own text (400 M here); every message states 200 M, as the
    README does."""
    readme = (REPO / "shared_data" / "README.md").read_text()
    stated = {int(m) for m in re.findall(r"over (\d+) M pixels", readme)}
    assert stated == {MAX_PIXELS // 1_000_000}
    for w, h in ((15_000, 15_000), (25_000, 25_000)):                # Pillow's warning range, its error range
        p = tmp_path / f"bomb{w}.png"
        p.write_bytes(png_bomb(w, h))
        with pytest.raises(SkipInput) as e:
            load(p)
        assert e.value.reason == "decompression-bomb"
        assert f"{w * h} pixels exceeds the limit of {MAX_PIXELS} pixels" == e.value.detail
        with pytest.raises(ImageReadError) as e2:
            read_image(p)
        assert f"limit of {MAX_PIXELS} pixels" in str(e2.value) and "400000000" not in str(e2.value)


def test_out_inside_src_is_not_an_input_and_verify_flags_stray_files(tmp_path, capsys):
    src = tmp_path / "src"
    for i in range(3):
        _save(src / f"p{i}.png")
    out = src / "prepared"
    assert _prepare("crops", src, out) == 0
    assert _prepare("crops", src, out) == 0                          # its outputs are not new inputs
    recs = Manifest(out).records
    assert sorted(k for k, r in recs.items() if r["status"] == "done") == ["p0.png", "p1.png", "p2.png"]
    assert recs["prepared/"]["reason"] == "inside-out-folder" and len(recs) == 4
    assert main(["verify", str(out)]) == 0
    (out / "stray.png").write_bytes(b"x")
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    assert "stray.png: not in the manifest" in capsys.readouterr().out
