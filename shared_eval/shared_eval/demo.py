"""``make demo``: every codec with a committed checkpoint on the scikit-image sample photos, to real files.

For each sub-project that has a checkpoint in ``<dir>/zoo/mini/`` and a set-up environment, each photo is
encoded and decoded through the sub-project's own CLI, in its own environment::

    cd <dir> && .venv/bin/python -m <pkg> encode IN.png OUT.lic
    cd <dir> && .venv/bin/python -m <pkg> decode OUT.lic REC.png

The table reports the size of the real file (bpp = 8·bytes / pixels of the original), PSNR and MS-SSIM of
the decoded PNG against the original, and encode/decode wall times of those commands (which include the
interpreter start and model load: a fair upper bound, not the codec's inner loop — see each bench.py).
JPEG and WebP from Pillow are searched for the quality whose real file comes closest to the codec's bpp on
each image. Codecs without a checkpoint are listed as missing, never simulated.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared_data.imageio import read_image, sample_images, write_png
from shared_eval.measures import summarize, write_measures, write_summary
from shared_eval.metrics import bpp as bpp_of
from shared_eval.metrics import ms_ssim, psnr

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Codec:
    name: str  # container codec name / make target suffix
    folder: str  # sub-project folder
    package: str  # python -m <package>
    lossless: bool = False
    zoo_crop: int = 256  # side of the Kodak centre crops of the committed-checkpoint regression check


CODECS = (
    Codec("cpm", "cpm_tf", "cpm"),
    Codec("sga", "sga_tf", "sga"),
    Codec("l3c", "l3c_torch", "l3c", lossless=True),
    Codec("hific", "hific_torch", "hific"),
    # REC encoding searches candidate samples per KL chunk: minutes per 256² crop on a 2-core CPU
    Codec("irec", "irec_tf", "rec", zoo_crop=64),
)


def availability(codec: Codec, repo: Path = REPO) -> str | None:
    """None when the codec can run; otherwise the reason it cannot."""
    zoo = repo / codec.folder / "zoo" / "mini"
    if not zoo.is_dir() or not any(p.is_file() for p in zoo.rglob("*")):
        return f"no committed checkpoint in {codec.folder}/zoo/mini/"
    if not (repo / codec.folder / "__main__.py").exists() and not (
        repo / codec.folder / codec.package / "__main__.py"
    ).exists():
        return f"no encoder CLI ({codec.folder}/{codec.package}/__main__.py)"
    if not (repo / codec.folder / ".venv" / "bin" / "python").exists():
        return f"environment not set up (make setup-{codec.name})"
    return None


def _run(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(cmd[1:4])} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return dt


def _quality(orig: np.ndarray, rec: np.ndarray) -> tuple[float, float | None]:
    ms = ms_ssim(orig, rec) if min(orig.shape[:2]) >= 176 else None
    return psnr(orig, rec), ms


#: The committed-checkpoint regression images: 256×256 centre crops of these Kodak images (``make test``
#: encodes them with every zoo/mini checkpoint and compares with ``ci/references/<paper>-zoo.csv``).
ZOO_CHECK_IMAGES = ("kodim01", "kodim15")
ZOO_CHECK_CROP = 256


def kodak_dir() -> Path:
    import os

    return Path(os.environ.get("KODAK_DIR", REPO.parent / "shared" / "data" / "kodak"))


def zoo_check_images(out: Path, names=ZOO_CHECK_IMAGES, crop: int = ZOO_CHECK_CROP) -> dict[str, Path]:
    """Write the centre crops used by the committed-checkpoint regression check; raise if Kodak is absent."""
    paths = {}
    for name in names:
        src = kodak_dir() / f"{name}.png"
        if not src.is_file():
            raise FileNotFoundError(f"{src} not found: set KODAK_DIR to the folder of the 24 Kodak images")
        img = read_image(src)
        t, left = (img.shape[0] - crop) // 2, (img.shape[1] - crop) // 2
        p = out / "images" / f"{name}_c{crop}.png"
        write_png(p, img[t:t + crop, left:left + crop])
        paths[p.stem] = p
    return paths


def run_codec(codec: Codec, images: dict[str, Path], out: Path, repo: Path = REPO) -> list[dict]:
    folder = repo / codec.folder
    py = str(folder / ".venv" / "bin" / "python")
    rows = []
    out = out.resolve()  # the CLIs run in their own folders
    for name, src in images.items():
        src = src.resolve()
        orig = read_image(src)
        lic = out / codec.name / f"{name}.lic"
        rec_path = out / codec.name / f"{name}.png"
        lic.parent.mkdir(parents=True, exist_ok=True)
        enc_s = _run([py, "-m", codec.package, "encode", str(src), str(lic)], folder)
        dec_s = _run([py, "-m", codec.package, "decode", str(lic), str(rec_path)], folder)
        rec = read_image(rec_path)
        if rec.shape != orig.shape:
            raise RuntimeError(f"{codec.name}: decoded {name} is {rec.shape}, the original {orig.shape}")
        if codec.lossless and not np.array_equal(rec, orig):
            raise RuntimeError(f"{codec.name}: lossless decode of {name} differs from the original")
        p, ms = _quality(orig, rec)
        rows.append({"codec": codec.name, "img_name": name,
                     "bpp": bpp_of(lic.stat().st_size, *orig.shape[:2]), "ms-ssim": ms, "psnr": p,
                     "enc_s": enc_s, "dec_s": dec_s})
    return rows


def baseline_rows(images: dict[str, Path], targets: dict[str, float], out: Path) -> list[dict]:
    """JPEG and WebP (Pillow) at the quality whose real file is closest to each image's target bpp."""
    from shared_eval.baselines import decode, encode, encode_at_bpp

    rows = []
    for codec in ("jpeg", "webp"):
        for name, src in images.items():
            orig = read_image(src)
            data, rec, q = encode_at_bpp(orig, codec, targets[name], mode="closest")
            t0 = time.perf_counter()  # time one encode and one decode at the chosen quality
            encode(orig, codec, q)
            enc_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            decode(data, codec)
            dec_s = time.perf_counter() - t0
            path = out / codec / f"{name}.{codec}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            p, ms = _quality(orig, rec)
            rows.append({"codec": f"{codec} (q={q})", "img_name": name,
                         "bpp": bpp_of(path.stat().st_size, *orig.shape[:2]), "ms-ssim": ms, "psnr": p,
                         "enc_s": enc_s, "dec_s": dec_s})
    return rows


def _table(rows: list[dict]) -> str:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["codec"].split(" ")[0] if r["codec"].startswith(("jpeg", "webp")) else r["codec"],
                      []).append(r)
    lines = [f"{'codec':<10} {'images':>6} {'bpp':>7} {'PSNR':>7} {'MS-SSIM':>8} {'enc s':>7} {'dec s':>7}"]
    for codec, rs in by.items():
        s = summarize([{k: v for k, v in r.items() if k != "codec"} for r in rs])

        def f(key, fmt, s=s):
            return format(s[key], fmt) if key in s else "-"

        lines.append(f"{codec:<10} {s['n_images']:>6} {f('bpp', '7.3f')} {f('psnr', '7.2f')} "
                     f"{f('ms-ssim', '8.4f')} {f('enc_s', '7.2f')} {f('dec_s', '7.2f')}")
    return "\n".join(lines)


def _plot(rows: list[dict], path: Path) -> None:
    """Mean (bpp, PSNR) and (bpp, MS-SSIM dB) per codec, drawn by shared_eval.plots like every R-D figure."""
    from shared_eval.plots import Series, rd_plot

    by: dict[str, list[dict]] = {}
    for r in rows:
        if r["psnr"] is not None and np.isfinite(r["psnr"]):  # lossless codecs have no R-D point
            by.setdefault(r["codec"].split(" ")[0], []).append(r)
    series = []
    for codec, rs in by.items():
        s = summarize([{k: v for k, v in r.items() if k != "codec"} for r in rs])
        series.append(Series(codec, [s["bpp"]], [s.get("psnr")], [s.get("ms-ssim")]))
    if not series:  # e.g. `--codecs l3c`: lossless only, nothing on an R-D plane
        print("[demo] no lossy codec ran: no R-D plot", flush=True)
        return
    top = max(x.bpp[0] for x in series)
    rd_plot(series, path, title="make demo: means over the sample photos (real files)", pdf=False,
            xlim=(0.0, 1.25 * top))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "demo")
    ap.add_argument("--images", nargs="*", help="image files (default: the scikit-image sample photos)")
    ap.add_argument("--baseline-bpp", type=float, default=0.5,
                    help="target bpp for JPEG/WebP when no learned codec ran (default 0.5)")
    ap.add_argument("--codecs", help="comma-separated subset of " + ",".join(c.name for c in CODECS))
    ap.add_argument("--zoo-check", action="store_true",
                    help="instead of the sample photos, the committed-checkpoint regression crops of Kodak; "
                         "writes <out>/<codec>/measures.csv for ci/references/<paper>-zoo.csv")
    args = ap.parse_args(argv)
    out: Path = args.out
    (out / "images").mkdir(parents=True, exist_ok=True)
    wanted = set(args.codecs.split(",")) if args.codecs else {c.name for c in CODECS}
    unknown = wanted - {c.name for c in CODECS}
    if unknown:
        ap.error(f"unknown codec(s) {sorted(unknown)}")
    if args.zoo_check:
        images = {}
    elif args.images:
        images = {Path(p).stem: Path(p) for p in args.images}
    else:
        images = {}
        for name, img in sample_images().items():
            p = out / "images" / f"{name}.png"
            write_png(p, img)
            images[name] = p

    rows, missing, failed = [], [], []
    for codec in (c for c in CODECS if c.name in wanted):
        why = availability(codec)
        if why:
            missing.append((codec.name, why))
            continue
        codec_images = zoo_check_images(out, crop=codec.zoo_crop) if args.zoo_check else images
        print(f"[demo] {codec.name}: encoding {len(codec_images)} images ...", flush=True)
        try:
            codec_rows = run_codec(codec, codec_images, out)
        except (RuntimeError, OSError, ValueError) as e:
            failed.append((codec.name, str(e)))
            continue
        rows += codec_rows
        write_measures(out / codec.name / "measures.csv",
                       [{k: v for k, v in r.items() if k != "codec"} for r in codec_rows])

    targets = {}
    for name in images:
        bpps = [r["bpp"] for r in rows if r["img_name"] == name and r["codec"] != "l3c"]
        targets[name] = float(np.mean(bpps)) if bpps else args.baseline_bpp
    if images:  # (the zoo check compares checkpoints with their own references, not with JPEG/WebP)
        rows += baseline_rows(images, targets, out)

    write_measures(out / "measures.csv", rows, extra_columns=["codec"])
    _plot(rows, out / "rd.png")
    table = _table(rows)
    write_summary(out / "summary.json", {"table": table.splitlines(), "missing": dict(missing),
                                         "failed": dict(failed)})
    print()
    print(table)
    print(f"\nJPEG/WebP matched per image to the mean bpp of the lossy learned codecs that ran "
          f"(or {args.baseline_bpp} bpp if none ran).")
    for name, why in missing:
        print(f"missing: {name}: {why}")
    for name, why in failed:
        print(f"FAILED: {name}: {why}")
    print(f"\nfiles, reconstructions and measures.csv in {out}; R-D plot {out / 'rd.png'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
