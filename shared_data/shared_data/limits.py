"""Pixel limits of the encoders and decoders, and peak-memory measurement (issue 17, "bounded memory").

Each codec's CLI refuses an image above its pixel limit *before* decoding the PNG or allocating anything
for the network: the encoder reads only the image header (:func:`check_image_file`), the decoder only the
container header (:func:`check_pixels` on ``H × W``). The message is one line naming the file, the size,
the limit and the flag that raises it (``--max-pixels N``; ``0`` = no limit). The defaults
(:data:`DEFAULT_MAX_PIXELS`, :data:`DEFAULTS`) are documented in the root README's "Reliability" section
with the measured 4K peak RSS of every codec; each admits a 4K (3840×2160 = 8.3 MP) frame. The container's own rule (:data:`container.MAX_PIXELS`,
2³² pixels) and the image reader's decompression-bomb limit (:data:`imageio.MAX_PIXELS`) stay as they are.

:func:`child_peak_rss` runs a command in a child process and returns its peak resident set size
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``): what each ``bench.py --rss`` prints.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
from pathlib import Path

from .errors import MemoryLimitError, PixelLimitError

FLAG = "--max-pixels"

#: Default pixel limit of every encoder and decoder: 2^24 = 16,777,216 pixels (4096×4096; twice a 4K UHD
#: frame). The peak RSS measured at 4K for each codec is in the root README ("Reliability"); it grows about
#: linearly with the pixel count, so the default keeps each codec within about twice its 4K figure.
DEFAULT_MAX_PIXELS = 1 << 24

#: Lower defaults per (codec, command), where a codec's memory needs one. None since session 8: CPM's encoder and
#: decoder had 2^23 while their 4K peak RSS was 3.4 / 3.2 GiB (before issue 17 tiled them; 0.82 / 0.73 GiB since,
#: 12000² ≈ 3.4 / 2.5 GiB by the affine estimate below), L3C's encoder until session 7 bounded it.
DEFAULTS: dict[tuple[str, str], int] = {}


def default_max_pixels(codec: str | None = None, command: str | None = None) -> int:
    """The documented default pixel limit of ``codec``'s ``command`` (encode / decode)."""
    return DEFAULTS.get((codec, command), DEFAULT_MAX_PIXELS)


def check_pixels(height: int, width: int, max_pixels: int | None, path, role: str) -> None:
    """Raise :class:`PixelLimitError` if ``height × width`` exceeds ``max_pixels`` (None or 0: no limit).
    ``role`` names who refuses, e.g. ``"the cpm encoder"``."""
    n = int(height) * int(width)
    if max_pixels and n > max_pixels:
        raise PixelLimitError(f"{path}: {width}x{height} = {n:,} pixels exceeds {role}'s limit of "
                              f"{max_pixels:,} pixels (pass {FLAG} N to raise it, {FLAG} 0 for no limit; "
                              "peak memory grows with the pixel count)")


def image_size(path) -> tuple[int, int]:
    """(height, width) from the image file's header only (Pillow's lazy open: no pixel data is decoded).
    Unreadable files raise the same :class:`shared_data.imageio.ImageReadError` as ``read_image``."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    from .imageio import ImageReadError

    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file" if not path.exists() else f"{path}: is a directory, not an image")
    old = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # only the header is read here; read_image keeps its bomb limit
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file Pillow can identify") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"{path}: corrupt or truncated image ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old
    return h, w


def check_image_file(path, max_pixels: int | None, role: str) -> None:
    """The encoder's up-front check: header size against ``max_pixels`` (before any decoding)."""
    if max_pixels:
        h, w = image_size(path)
        check_pixels(h, w, max_pixels, path, role)


def add_max_pixels_argument(parser: argparse.ArgumentParser, codec: str | None = None,
                            command: str | None = None) -> None:
    """``--max-pixels N`` (default :func:`default_max_pixels`; 0 = no limit) on an encode/decode sub-parser."""
    default = default_max_pixels(codec, command)
    parser.add_argument(FLAG, dest="max_pixels", type=int, default=default, metavar="N",
                        help=f"refuse images above N pixels before allocating (default {default:,}; 0: no limit)")


GiB = 1 << 30
#: Peak RSS of one 3840×2160 encode / decode, measured with ``bench.py --rss`` (root README, "Reliability"),
#: each command in a fresh child process, the CLI's default model.
RSS_4K = {("cpm", "encode"): 876843008, ("cpm", "decode"): 778694656,  # tiled (issue 17), session 8
          ("sga", "encode"): 1.36 * GiB, ("sga", "decode"): 2.38 * GiB,
          ("l3c", "encode"): 2.18 * GiB, ("l3c", "decode"): 1.69 * GiB,  # strips + row blocks (session 7)
          ("hific", "encode"): 1.20 * GiB, ("hific", "decode"): 1.31 * GiB,
          ("irec", "encode"): 1.50 * GiB, ("irec", "decode"): 1.23 * GiB}  # tiled (session 8)
PIXELS_4K = 3840 * 2160
#: Affine models ``(base bytes, bytes per pixel)`` of the tiled codecs' peak RSS, through two measured runs
#: in the tiled regime (2880×1620 and 3840×2160, ``bench.py --rss --rss_size``, session 8): a tiled transform's
#: working set is one tile's, so only the image, the latents and the coder state grow with the image. The
#: other codecs' 4K figure is scaled linearly (an over-estimate above 4K: it scales the interpreter too).
#: (iREC's 4K figures are the printed 0.01-GiB values, so its slopes are ±1.5 bytes per pixel.)
RSS_AFFINE = {("cpm", "encode"): (707394999, 20.43), ("cpm", "decode"): (660448987, 14.26),
              ("irec", "encode"): (1040533797, 68.7), ("irec", "decode"): (998311011, 38.9)}
MEMORY_VAR = "LIC_MAX_MEMORY"


def estimated_peak_bytes(codec: str, command: str, pixels: int) -> int | None:
    """Peak memory to ``command`` an image of ``pixels`` pixels: :data:`RSS_AFFINE`'s line where measured, else
    the 4K figure scaled linearly. None if not measured."""
    if (codec, command) in RSS_AFFINE:
        base, per_px = RSS_AFFINE[(codec, command)]
        return int(base + per_px * pixels)
    rss = RSS_4K.get((codec, command))
    return None if rss is None else int(rss * pixels / PIXELS_4K)


def estimate_basis(codec: str, command: str) -> str:
    """How :func:`estimated_peak_bytes` estimates (for the refusal message)."""
    if (codec, command) in RSS_AFFINE:
        base, per_px = RSS_AFFINE[(codec, command)]
        return f"{base / GiB:.2f} GiB + {per_px:.1f} bytes per pixel, measured on tiled runs"
    return f"its 4K peak, {RSS_4K[(codec, command)] / GiB:.2f} GiB, scaled by the pixel count"


def _parse_bytes(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    num = t[:-1] if t[-1:] in "KMGT" else t
    value = float(num) * mult
    if not value > 0:
        raise ValueError(text)
    return int(value)


def memory_budget() -> tuple[int | None, str]:
    """(bytes, where from): ``$LIC_MAX_MEMORY`` (e.g. ``8G``) if set, else the memory the kernel reports
    available (``MemAvailable``), else None (not Linux: no check)."""
    env = os.environ.get(MEMORY_VAR, "").strip()
    if env:
        try:
            return _parse_bytes(env), f"${MEMORY_VAR}={env}"
        except (ValueError, IndexError):
            raise PixelLimitError(f"{MEMORY_VAR}={env!r} is not a memory size (e.g. 8G, 512M, 4000000000)") from None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available on this machine"
    except OSError:
        pass
    return None, ""


def check_memory(height: int, width: int, codec: str, command: str, path) -> None:
    """Refuse up front (:class:`MemoryLimitError`, one line) when the estimated peak memory of ``command``
    exceeds the budget (:func:`memory_budget`), so that a huge image with the pixel limit raised is refused
    for memory with the same clarity instead of being killed by the kernel half-way."""
    est = estimated_peak_bytes(codec, command, int(height) * int(width))
    if est is None:
        return
    budget, where = memory_budget()
    if budget is not None and est > budget:
        raise MemoryLimitError(
            f"{path}: {width}x{height} would need about {est / GiB:.1f} GiB to {command} with {codec} "
            f"({estimate_basis(codec, command)}), more than the "
            f"{budget / GiB:.1f} GiB {where}; use a smaller image or a machine with more memory "
            f"(${MEMORY_VAR} sets the budget)")


def precheck(command: str, path, max_pixels: int | None, codec: str) -> None:
    """The CLIs' up-front check, before any model or TensorFlow/torch import: ``encode`` checks the input
    image's header size, ``decode`` the container's H × W, against ``max_pixels`` (:class:`PixelLimitError`)
    and against the memory budget (:func:`check_memory`). A file that cannot be read is left to the normal
    path (which reports it as before)."""
    if command not in ("encode", "decode") or path is None:
        return
    from .container import ContainerError, read
    from .imageio import ImageReadError

    try:
        if command == "encode":
            h, w = image_size(path)
        else:
            c = read(path)
            h, w = c.height, c.width
    except (ImageReadError, ContainerError, OSError, ValueError):
        return
    if max_pixels:
        check_pixels(h, w, max_pixels, path, f"the {codec} {command}r")
    check_memory(h, w, codec, command, path)


def child_peak_rss(cmd: list[str], cwd=None, env: dict | None = None, timeout: float = 3600) -> tuple[int, float, str]:
    """Run ``cmd`` in a fresh child process (via a one-child wrapper, so only that command is counted);
    returns (peak RSS in bytes, wall seconds, output tail). Raises ``RuntimeError`` if the command fails."""
    wrapper = ("import resource, subprocess, sys, time\n"
               "t = time.perf_counter()\n"
               "r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n"
               "dt = time.perf_counter() - t\n"
               "sys.stdout.write(r.stdout.decode(errors='replace')[-2000:])\n"
               "print(f'\\n__RSS__ {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {dt:.3f} {r.returncode}')\n")
    r = subprocess.run([sys.executable, "-c", wrapper, *map(str, cmd)], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ, **(env or {})))
    lines = r.stdout.rstrip().splitlines()
    if not lines or not lines[-1].startswith("__RSS__"):
        raise RuntimeError(f"{cmd[:4]}: no measurement ({r.stderr[-500:]})")
    _, kb, wall, rc = lines[-1].split()
    tail = "\n".join(lines[:-1])
    if int(rc) != 0:
        raise RuntimeError(f"{cmd[:4]} exited with {rc}:\n{tail[-1500:]}")
    return int(kb) * 1024, float(wall), tail


def self_peak_rss() -> int:
    """This process's peak RSS in bytes (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_constant_png(path, height: int, width: int, value: int = 128) -> Path:
    """A valid RGB PNG of one grey ``value``, written in streamed rows (a 12000×12000 file in ~1 s and a few
    MB of memory): the cheap huge input of the pixel-limit tests and ``bench.py --rss``."""
    import struct
    import zlib

    path = Path(path)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes([value]) * (3 * width)
    comp = zlib.compressobj(6)
    parts = []
    step = max(1, (1 << 22) // len(row))
    for y in range(0, height, step):
        parts.append(comp.compress(row * min(step, height - y)))
    parts.append(comp.flush())
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    from .imageio import atomic_write_bytes

    atomic_write_bytes(path, png)
    return path


def run_cli_refusal(cmd: list[str], path, out, cwd=None, env: dict | None = None,
                    memory: bool = False) -> tuple[str, float, float]:
    """Run a codec CLI that must refuse ``path`` for its pixel limit (``memory``: for its memory budget);
    returns (the error line, wall s, CPU s of the child). Asserts the exit status is non-zero, stderr is
    exactly one line naming ``path`` and the limit and its flag (or variable), and ``out`` was not written.
    The tests' helper, shared by every sub-project."""
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run([*map(str, cmd)], cwd=cwd, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {})))
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    err = r.stderr.strip()
    assert r.returncode != 0, f"not refused (exit 0): {r.stdout[-500:]}"
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err[-2000:]
    if memory:
        assert str(path) in err and "GiB" in err and MEMORY_VAR in err, err
    else:
        assert str(path) in err and "limit of" in err and FLAG in err, err
    assert not Path(out).exists(), f"{out} was written"
    return err, wall, cpu


def forged_container(path, codec: str, height: int, width: int) -> Path:
    """A well-formed container (valid CRC) that declares ``height × width`` with a tiny payload."""
    from .container import FINGERPRINT_BYTES, Container, write

    write(path, Container(codec, b"\0" * FINGERPRINT_BYTES, height, width, (b"\0",)))
    return Path(path)


def rss_bench(module: str, cwd, image=None, height: int = 2160, width: int = 3840, extra=(), out_dir=None) -> dict:
    """``bench.py --rss``: peak RSS (and wall time) of ``python -m MODULE encode`` and ``decode`` of one image,
    each in a fresh child process. ``image`` None: Kodak's kodim01 upscaled (bicubic) to ``width × height``
    (a 4K frame by default), or a constant grey image when Kodak is absent. Prints one line per step."""
    import tempfile

    import numpy as np

    from .imageio import read_image, write_png

    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="rss-"))
    if image is None:
        kodak = Path(os.environ.get("KODAK_DIR", Path(__file__).resolve().parents[3] / "shared/data/kodak"))
        image = out_dir / f"input_{width}x{height}.png"
        if (kodak / "kodim01.png").is_file():
            from PIL import Image

            im = Image.fromarray(read_image(kodak / "kodim01.png")).resize((width, height), Image.BICUBIC)
            write_png(image, np.asarray(im))
        else:
            write_constant_png(image, height, width)
    lic, rec = out_dir / "rss.lic", out_dir / "rss.png"
    res = {}
    for step, args in (("encode", [image, lic]), ("decode", [lic, rec])):
        rss, wall, _ = child_peak_rss([sys.executable, "-m", module, step, *map(str, args), FLAG, "0", *extra],
                                      cwd=cwd)
        res[step] = {"peak_rss_bytes": rss, "wall_s": round(wall, 2)}
        print(f"{module} {step} {Path(image).name if step == 'encode' else lic.name}: peak RSS "
              f"{rss / 2 ** 30:.2f} GiB, {wall:.1f} s", flush=True)
    return res


def rss_sweep(module: str, cwd, sizes: str) -> dict:
    """``--rss_sizes 480x270,960x540``: peak RSS and wall time of encode / decode at each size (each in a
    fresh child process, :func:`rss_bench`: Kodak kodim01 resized bicubic), then a least-squares line ``a + b · pixels``
    per step evaluated at 3840×2160 and printed as an *extrapolation* (for a codec whose 4K run does not
    finish on the machine at hand; memory is about affine in the pixel count, time at least linear)."""
    import numpy as np

    dims = [tuple(int(v) for v in s.lower().split("x")) for s in sizes.split(",") if s]
    rows = [(w * h, rss_bench(module, cwd, None, height=h, width=w)) for w, h in dims]
    fit = {}
    if len(rows) >= 2:
        px = np.array([r[0] for r in rows], float)
        for step in ("encode", "decode"):
            rss = np.polyfit(px, [r[1][step]["peak_rss_bytes"] for r in rows], 1)
            wall = np.polyfit(px, [r[1][step]["wall_s"] for r in rows], 1)
            fit[step] = (float(np.polyval(rss, PIXELS_4K)), float(np.polyval(wall, PIXELS_4K)))
            print(f"{module} {step} 3840x2160 EXTRAPOLATED (linear fit of {len(rows)} sizes, "
                  f"{', '.join(f'{w}x{h}' for w, h in dims)}): peak RSS {fit[step][0] / 2 ** 30:.2f} GiB, "
                  f"{fit[step][1]:.0f} s", flush=True)
    return {"measured": rows, "extrapolated_4k": fit}
