"""The one CLI skeleton: ``python -m <pkg> encode|decode|info`` for every codec (CompressAI's ``__main__``
shape). A sub-project's ``__main__.py`` is wiring only::

    from shared_data import cli
    def main(argv=None):
        return cli.main(argv, codec_id="cpm", load=lambda args: load_codec(args.model), doc=__doc__)

Commands (IN may be one file, a folder or a glob; a folder or glob writes into the folder OUT, keeping
sub-folders, with a progress bar)::

    encode IN OUT [--model M] [--max-pixels N] [--threads N]   image(s) -> .lic (``a.png`` -> ``a.png.lic``)
    decode IN OUT [--model M] [--max-pixels N] [--threads N]   .lic -> PNG (``a.png.lic`` -> ``a.png``)
    info IN...                                                   the container header of each file (no model)

What every command guarantees: the pixel limit is checked from the file header before any framework import or
model load (:mod:`shared_data.limits`); outputs are written atomically (a temporary file and a rename, so an
existing file is replaced whole or not at all); the thread count follows :func:`shared_data.threads.limit`;
every refusal (:class:`shared_data.errors.LicError`, ``OSError``) prints one line ``error: <message naming
the file>`` and exits 1 (a folder run goes on with the next file and exits 1 at the end); argparse usage
errors exit 2; Ctrl-C exits 130.

Hooks: ``add_arguments(command, parser)`` adds a codec's own flags to ``encode`` / ``decode`` / ``info``
(``load(args)`` reads them); ``before(command, args)`` may take over a command by returning an exit code (e.g.
cpm's ``decode --try-arithmetic``); ``commands`` adds sub-commands ``{name: (help, setup(parser), run(args) ->
int)}``; ``details(container) -> str`` adds a codec's own description of a file to ``info``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import container as cont
from . import limits, threads
from .errors import LicError

LIC_SUFFIX = ".lic"


def error_line(e: BaseException) -> str:
    """The one-line message of a refusal: a LicError's text, an OSError as ``<file>: <reason>``."""
    if isinstance(e, OSError) and not isinstance(e, LicError):
        name = e.filename if e.filename is not None else ""
        reason = e.strerror or str(e)
        return f"{name}: {reason}" if name else reason
    return " ".join(str(e).split()) or type(e).__name__


def is_many(src: str) -> bool:
    """Whether a command's INPUT means a folder run (a folder, or a glob pattern that is not a file)."""
    return Path(src).is_dir() or (not Path(src).exists() and bool(set("*?[") & set(src)))


_is_many = is_many  # the name the sub-projects' hooks used first


def _common_root(src: str, paths: list[Path]) -> Path:
    if Path(src).is_dir():
        return Path(src)
    return Path(os.path.commonpath([str(p.parent) for p in paths])) if paths else Path(".")


def pairs(command: str, src: str, out: str) -> list[tuple[Path, Path]]:
    """(input, output) files of a folder or glob run: encode lists images (:func:`list_images`), decode
    ``*.lic`` files; outputs mirror the inputs' paths relative to the folder (or the glob's common folder)."""
    from .errors import DatasetError
    from .imageio import IMAGE_SUFFIXES, list_images

    if command == "encode":
        ins = list_images(src)
    else:
        p = Path(src)
        if p.is_dir():
            ins = sorted(q for q in p.rglob(f"*{LIC_SUFFIX}") if q.is_file()
                         and not any(part.startswith(".") for part in q.relative_to(p).parts))
        else:
            import glob
            ins = sorted(Path(q) for q in glob.glob(src, recursive=True) if q.endswith(LIC_SUFFIX))
        if not ins:
            raise DatasetError(f"{src}: no {LIC_SUFFIX} files")
    root, out = _common_root(src, ins), Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: is a file; a folder run writes into a folder")
    result = []
    for p in ins:
        rel = p.relative_to(root)
        if command == "encode":
            o = out / (str(rel) + LIC_SUFFIX)
        else:
            stem = str(rel)[: -len(LIC_SUFFIX)]
            o = out / (stem if Path(stem).suffix.lower() == ".png" else
                       (str(Path(stem).with_suffix("")) if Path(stem).suffix.lower() in IMAGE_SUFFIXES else stem) + ".png")
        result.append((p, o))
    return result


def _progress(items, desc: str, total: int):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is pinned in every environment; without it, no bar
        return items
    return tqdm(items, desc=desc, total=total, unit="img", file=sys.stderr, dynamic_ncols=True, leave=True)


def encode_one(codec, src: Path, dst: Path, max_pixels: int | None) -> dict:
    """Encode one image file to ``dst`` (atomic); returns bytes, bpp, size and seconds."""
    from .imageio import read_image

    img = read_image(src)
    h, w = img.shape[:2]
    limits.check_pixels(h, w, max_pixels, src, f"the {codec.codec_id} encoder")
    limits.check_memory(h, w, codec.codec_id, "encode", src)
    t0 = time.perf_counter()
    c = codec.encode(img)
    size = cont.write(dst, c)
    return {"bytes": size, "bpp": 8 * size / (h * w), "bpsp": 8 * size / (3 * h * w), "height": h, "width": w,
            "seconds": time.perf_counter() - t0}


def decode_one(codec, src: Path, dst: Path, max_pixels: int | None) -> dict:
    """Decode one ``.lic`` file to the PNG ``dst`` (atomic); returns size and seconds."""
    from .imageio import write_png

    c = cont.read(src, codec=codec.codec_id)
    limits.check_pixels(c.height, c.width, max_pixels, src, f"the {codec.codec_id} decoder")
    limits.check_memory(c.height, c.width, codec.codec_id, "decode", src)
    t0 = time.perf_counter()
    with cont.reading(src):
        img = codec.decode(c)
    write_png(dst, img)
    return {"height": img.shape[0], "width": img.shape[1], "seconds": time.perf_counter() - t0}


def _report(command: str, dst: Path, r: dict, lossless: bool) -> str:
    if command == "encode":
        rate = f"{r['bpsp']:.4f} bpsp" if lossless else f"{r['bpp']:.4f} bpp"
        return f"{dst}: {r['bytes']} bytes, {rate}, {r['height']}x{r['width']}, {r['seconds']:.2f} s"
    return f"{dst}: {r['height']}x{r['width']}, {r['seconds']:.2f} s"


def info_line(path: Path, details: Callable | None = None) -> str:
    c = cont.read(path)
    size = path.stat().st_size
    secs = ", ".join(str(len(s)) for s in c.sections)
    line = (f"{path}: codec {c.codec}, model {c.fingerprint.hex()}, {c.height}x{c.width}, {size} bytes "
            f"({8 * size / (c.height * c.width):.4f} bpp), {len(c.sections)} sections ({secs} bytes)")
    if details is not None:
        more = details(c)
        if more:
            line += f"; {more}"
    return line


def _code(command: str, args, codec_id: str, load: Callable, threads_default: int) -> int:
    if command == "info":
        bad = 0
        for p in args.input:
            try:
                print(info_line(Path(p), args._details))
            except (LicError, OSError) as e:
                print(f"error: {error_line(e)}", file=sys.stderr)
                bad += 1
        return 1 if bad else 0
    one = encode_one if command == "encode" else decode_one
    if not is_many(args.input):
        limits.precheck(command, args.input, args.max_pixels, codec_id)
        if command == "decode":
            cont.read(args.input, codec=codec_id)  # a bad file is refused before the model loads
        threads.limit(args.threads, default=threads_default)
        codec = load(args)
        r = one(codec, Path(args.input), Path(args.output), args.max_pixels)
        _write_report(args.report, [dict(r, input=str(args.input), output=str(args.output))])
        if not args.quiet:
            print(_report(command, Path(args.output), r, getattr(codec, "lossless", False)))
        return 0
    todo = pairs(command, args.input, args.output)
    threads.limit(args.threads, default=threads_default)
    codec = load(args)
    bad, total_bytes, total_px, report = 0, 0, 0, []
    bar = _progress(todo, f"{codec_id} {command}", len(todo))
    for src, dst in bar:
        try:
            if command == "encode":
                limits.check_image_file(src, args.max_pixels, f"the {codec_id} encoder")
            r = one(codec, src, dst, args.max_pixels)
        except (LicError, OSError) as e:
            print(f"error: {error_line(e)}", file=sys.stderr)
            report.append({"input": str(src), "output": str(dst), "error": error_line(e)})
            bad += 1
            continue
        report.append(dict(r, input=str(src), output=str(dst)))
        if command == "encode":
            total_bytes += r["bytes"]
            total_px += r["height"] * r["width"]
            if hasattr(bar, "set_postfix_str"):
                bar.set_postfix_str(f"{8 * total_bytes / total_px:.3f} bpp")
        if args.verbose:
            print(_report(command, dst, r, getattr(codec, "lossless", False)))
    _write_report(args.report, report)
    done = len(todo) - bad
    if not args.quiet:
        summary = f"{args.output}: {command}d {done} of {len(todo)} files"
        if command == "encode" and total_px:
            summary += f", {total_bytes} bytes, {8 * total_bytes / total_px:.4f} bpp"
        print(summary)
    return 1 if bad else 0


def _write_report(path: Path | None, rows: list[dict]) -> None:
    if path is not None:
        import json

        from .imageio import atomic_write_bytes
        atomic_write_bytes(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode())


def build_parser(codec_id: str, prog: str | None = None, doc: str | None = None,
                 add_arguments: Callable | None = None, commands: dict | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog or f"python -m {codec_id}", description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, what in (("encode", "image file(s) -> .lic"), ("decode", ".lic file(s) -> PNG")):
        s = sub.add_parser(name, help=what)
        s.add_argument("input", help="a file, a folder or a glob pattern (quote it)")
        s.add_argument("output", help="the output file, or a folder when INPUT is a folder or glob")
        s.add_argument("--model", default=None, help="model directory or checkpoint (default: the codec's default model)")
        limits.add_max_pixels_argument(s, codec_id, name)
        s.add_argument("--threads", type=int, default=None, metavar="N",
                       help="CPU threads (default: $LIC_THREADS, else min(2, cores); decoded bytes do not depend on it)")
        s.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
        s.add_argument("-v", "--verbose", action="store_true", help="folder runs: one line per file")
        s.add_argument("--report", type=Path, default=None, metavar="FILE.jsonl",
                       help="write one JSON line per file (input, output, bytes, bpp, size, seconds of the "
                            "codec call without model load) to FILE.jsonl")
        if add_arguments:
            add_arguments(name, s)
    s = sub.add_parser("info", help="the container header of .lic file(s); no model needed")
    s.add_argument("input", nargs="+")
    if add_arguments:
        add_arguments("info", s)
    for name, (what, setup, _run) in (commands or {}).items():
        s = sub.add_parser(name, help=what)
        setup(s)
    return p


def main(argv: list[str] | None = None, *, codec_id: str, load: Callable, prog: str | None = None,
         doc: str | None = None, add_arguments: Callable | None = None, before: Callable | None = None,
         commands: dict | None = None, details: Callable | None = None, threads_default: int = 2) -> int:
    """Parse ``argv`` and run the command; returns the exit code (see the module docstring)."""
    p = build_parser(codec_id, prog, doc, add_arguments, commands)
    args = p.parse_args(argv)
    args._details = details
    try:
        if before is not None:
            rc = before(args.command, args)
            if rc is not None:
                return rc
        if commands and args.command in commands:
            return commands[args.command][2](args)
        return _code(args.command, args, codec_id, load, threads_default)
    except (LicError, OSError) as e:
        print(f"error: {error_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
