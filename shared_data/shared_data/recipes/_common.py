"""Helpers the recipes share: listing inputs, encoding, output names."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from ..pipeline import PrepareError, Task


def list_files(src: Path | None, max_images: int | None = None, seed: int = 0) -> list[Path]:
    """Every regular, non-hidden file under ``src`` in sorted order (non-images included: they get a skip
    reason instead of being silently ignored). ``max_images`` takes a seeded random subset, kept sorted."""
    if src is None:
        raise PrepareError("--src is required for this recipe")
    src = Path(src)
    if not src.exists():
        raise PrepareError(f"--src {src}: no such folder")
    if src.is_file():
        return [src]
    files = sorted(p for p in src.rglob("*")
                   if (p.is_file() or p.is_symlink()) and not any(part.startswith(".") or part == "__MACOSX"
                                               for part in p.relative_to(src).parts))
    if not files:
        raise PrepareError(f"--src {src}: no files found")
    if max_images is not None and max_images < len(files):
        import random
        files = sorted(random.Random(seed).sample(files, max_images))
    return files


def file_tasks(src: Path | None, max_images: int | None = None, seed: int = 0) -> list[Task]:
    files = list_files(src, max_images, seed)
    base = Path(src) if Path(src).is_dir() else Path(src).parent
    return [Task(key=p.relative_to(base).as_posix(), kind="image", src=str(p.absolute()),
                 fingerprint=f"size={_size(p)}") for p in files]


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
