"""Helpers the recipes share: listing inputs (every entry accounted for), encoding, output names that cannot
collide."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..pipeline import PrepareError, Task

#: Folders operating systems and archivers add next to real data: reported as skipped ``os-metadata``.
OS_METADATA_DIRS = frozenset({"__MACOSX", ".Trashes", ".Spotlight-V100", ".fseventsd", ".TemporaryItems",
                              "$RECYCLE.BIN", "System Volume Information"})
#: Files of the same kind (``._*`` AppleDouble files too).
OS_METADATA_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "Icon\r", ".directory"})


@dataclass(frozen=True)
class Ignored:
    """An input entry that is not processed, with why: recorded in the manifest as ``skipped``."""

    key: str        # path relative to --src (a folder ends in "/")
    reason: str     # hidden-file | hidden-folder | os-metadata | duplicate | symlinked-folder
    detail: str


@dataclass
class Inputs:
    files: list[Path]               # the candidates, sorted; a symlink stays under its own name
    ignored: list[Ignored]
    base: Path                      # keys are relative to this
    targets: dict[Path, Path] = field(default_factory=dict)   # symlink -> resolved target


def _count_files(folder: Path) -> int:
    return sum(len(fs) for _, _, fs in os.walk(folder))


def scan_inputs(src: Path | None, exclude: Path | None = None) -> Inputs:
    """Every entry under ``src``, accounted for: candidate files in sorted order (non-images included: they
    get a skip reason from the recipe), and :class:`Ignored` entries — hidden files and folders, OS metadata
    (``__MACOSX/``, ``.DS_Store``, ``._*`` …), symlinked folders (not followed) and duplicates (a symlink or
    hard link to a file already listed: the real file is processed once, under its own name; symlinks to files
    outside ``src`` are inputs read through the link) and ``exclude`` (the run's --out inside --src)."""
    if src is None:
        raise PrepareError("--src is required for this recipe")
    src = Path(src)
    if not src.exists():
        raise PrepareError(f"--src {src}: no such folder")
    if src.is_file():
        return Inputs([src], [], src.parent)
    files: list[Path] = []
    ignored: list[Ignored] = []
    skip = os.path.realpath(exclude) if exclude is not None else None
    for root, dirs, names in os.walk(src):
        rootp = Path(root)
        rel = rootp.relative_to(src)
        keep_dirs = []
        for d in sorted(dirs):
            key = (rel / d).as_posix() + "/"
            p = rootp / d
            if p.is_symlink():
                ignored.append(Ignored(key, "symlinked-folder", f"not followed (-> {os.readlink(p)})"))
            elif skip is not None and os.path.realpath(p) == skip:
                ignored.append(Ignored(key, "inside-out-folder", f"{_count_files(p)} files: this run's --out"))
            elif d in OS_METADATA_DIRS:
                ignored.append(Ignored(key, "os-metadata", f"{_count_files(p)} files in an OS/archiver folder"))
            elif d.startswith("."):
                ignored.append(Ignored(key, "hidden-folder", f"{_count_files(p)} files in a hidden folder"))
            else:
                keep_dirs.append(d)
        dirs[:] = keep_dirs
        for n in sorted(names):
            key = (rel / n).as_posix()
            if n in OS_METADATA_FILES or n.startswith("._"):
                ignored.append(Ignored(key, "os-metadata", "an OS/archiver metadata file"))
            elif n.startswith("."):
                ignored.append(Ignored(key, "hidden-file", "a hidden file"))
            else:
                files.append(rootp / n)
    files.sort()
    # duplicates: the same file (inode) reached twice, through a symlink or a hard link
    targets: dict[Path, Path] = {}
    by_inode: dict[tuple[int, int], list[Path]] = {}
    for p in files:
        if p.is_symlink():
            targets[p] = Path(os.path.realpath(p))
        try:
            st = p.stat()
        except OSError:
            continue  # a broken symlink: the recipe reports it as "unreadable"
        by_inode.setdefault((st.st_dev, st.st_ino), []).append(p)
    dup: set[Path] = set()
    for group in by_inode.values():
        if len(group) < 2:
            continue
        real = [p for p in group if not p.is_symlink()]
        keep = (real or group)[0]
        for p in group:
            if p is not keep:
                how = f"symlink to {os.readlink(p)}" if p.is_symlink() else "hard link"
                ignored.append(Ignored(p.relative_to(src).as_posix(), "duplicate",
                                       f"{how}: the same file as {keep.relative_to(src).as_posix()}, processed once"))
                dup.add(p)
    files = [p for p in files if p not in dup]
    if not files:
        what = f" ({len(ignored)} hidden/OS-metadata/duplicate entries only)" if ignored else ""
        raise PrepareError(f"--src {src}: no files found{what}")
    return Inputs(files, sorted(ignored, key=lambda i: i.key), src, targets)


def list_files(src: Path | None, max_images: int | None = None, seed: int = 0) -> list[Path]:
    """The candidate files of :func:`scan_inputs`; ``max_images`` takes a seeded random subset, kept sorted."""
    return _subset(scan_inputs(src).files, max_images, seed)


def _subset(files: list[Path], max_images: int | None, seed: int) -> list[Path]:
    if max_images is not None and max_images < len(files):
        import random
        files = sorted(random.Random(seed).sample(files, max_images))
    return files


def file_tasks(src: Path | None, max_images: int | None = None, seed: int = 0, name=None,
               reserved: tuple[str, ...] = (), exclude: Path | None = None) -> list[Task]:
    """One ``image`` task per candidate input (key: its path relative to ``src``; src: the file, a symlink
    resolved), then one ``ignored`` task per :class:`Ignored` entry (skipped with its reason, so nothing is
    dropped silently).

    ``name(key) -> output path`` (e.g. the key with a new suffix): the output path of each task is decided
    here, over all tasks at once, by :func:`assign_names`, and stored as ``task.params[0]``, so two inputs
    never write one output (``img.tif`` and ``img.webp`` → ``img.jpg`` and ``img.webp.jpg``).
    """
    inp = scan_inputs(src, exclude)
    files = _subset(inp.files, max_images, seed)
    keys = [p.relative_to(inp.base).as_posix() for p in files]
    names = assign_names(keys, name, reserved) if name else {}
    tasks = []
    for p, key in zip(files, keys):
        target = inp.targets.get(p)
        fp = f"size={_size(p)}" + (f";target={target}" if target else "")
        out = names.get(key)
        if out is not None and out != name(key):
            fp += f";as={out}"  # renamed to avoid a collision: a change of name redoes the task
        tasks.append(Task(key=key, kind="image", src=str(target or p.absolute()), fingerprint=fp,
                          params=(out,) if out is not None else ()))
    tasks += [Task(key=i.key, kind="ignored", fingerprint=f"ignored={i.reason}", params=(i.reason, i.detail))
              for i in inp.ignored]
    return tasks


def assign_names(keys: list[str], name, reserved: tuple[str, ...] = ()) -> dict[str, str]:
    """Output paths that cannot collide: ``name(key)`` where that is unique; where several keys map to one
    path, the key that *is* that path (a JPEG kept as JPEG), else the first in sorted order, keeps it and the
    others keep their source suffix (``img.webp`` → ``img.webp.jpg``), or, if that is taken too, get an
    8-hex-digit hash of the key (``img.3fa2c1d0.jpg``). ``reserved`` paths are never given to an input."""
    base = {k: name(k) for k in keys}
    groups: dict[str, list[str]] = {}
    for k in sorted(keys):
        groups.setdefault(base[k], []).append(k)
    taken = set(reserved)
    out: dict[str, str] = {}
    losers = []
    for b, ks in groups.items():
        if b in taken:
            losers += ks
            continue
        keep = b if b in ks else ks[0]
        out[keep] = b
        taken.add(b)
        losers += [k for k in ks if k != keep]
    every_base = set(groups)
    for k in sorted(losers):
        suffix = Path(base[k]).suffix
        alt = k + suffix
        if alt in taken or alt in every_base:
            alt = with_suffix(k, f".{hashlib.sha256(k.encode()).hexdigest()[:8]}{suffix}")
        n = 0
        while alt in taken or alt in every_base:  # absurdly unlikely: rehash until free
            n += 1
            alt = with_suffix(k, f".{hashlib.sha256(f'{k}#{n}'.encode()).hexdigest()[:8]}{suffix}")
        out[k] = alt
        taken.add(alt)
    return out


def output_name(task: Task, default: str) -> str:
    """The output path :func:`file_tasks` assigned (``default`` for tasks listed without ``name=``)."""
    return task.params[0] if task.params and task.params[0] else default


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return -1  # broken symlink or unreadable: the task reports it as "unreadable"


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def with_suffix(key: str, suffix: str) -> str:
    p = Path(key)
    return p.with_suffix(suffix).as_posix() if p.suffix else p.as_posix() + suffix


def digest_list(items: list[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]
