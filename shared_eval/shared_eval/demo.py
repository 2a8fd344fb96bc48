"""``make demo``: every codec with a committed checkpoint on the scikit-image sample photos, to real files.

For each sub-project that has its demo model committed (:data:`DEMO_MODELS`: the strongest zoo model, issue 19;
``zoo/mini`` where nothing stronger exists) and a set-up environment, the photos are encoded and decoded through
the one CLI every codec shares (:mod:`shared_data.cli`), in the sub-project's own environment, one folder run
each (the model loads once; the CLI draws a per-image progress bar)::

    <dir>/.venv/bin/python -m <pkg> encode OUT/<codec>/orig OUT/<codec>/lic --model M --report enc.jsonl
    <dir>/.venv/bin/python -m <pkg> decode OUT/<codec>/lic OUT/<codec>/rec --model M --report dec.jsonl

``--zoo-check`` (the committed-checkpoint regression of ``make test``) always uses ``zoo/mini``, the model of
``ci/references/<paper>-zoo.csv``.

The table reports the size of the real file (bpp = 8·bytes / pixels of the original), PSNR and MS-SSIM of
the decoded PNG against the original, and the encode / decode seconds per image that the CLI measured around
the codec call (model load and interpreter start excluded; each sub-project's bench.py has the details).
JPEG and WebP from Pillow are searched for the quality whose real file comes closest to the codec's bpp on
each image. Codecs without a checkpoint are listed as missing, never simulated.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared_data.codec import PACKAGES
from shared_data.imageio import read_image, sample_images, write_png
from shared_data.paths import kodak_dir
from shared_data.transforms import center_crop
from shared_eval.measures_csv import summarize, write_measures, write_summary
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


#: The five codecs (ids, packages and folders from shared_data.codec.PACKAGES). iREC encoding searches
#: candidate samples per KL chunk (minutes per 256² crop on a 2-core CPU): its zoo check uses 64² crops.
CODECS = tuple(Codec(cid, folder, pkg, lossless=(cid == "l3c"), zoo_crop=64 if cid == "irec" else 256)
               for cid, (pkg, folder) in PACKAGES.items())


#: the model each codec's demo uses (relative to its folder): the strongest committed zoo model on Kodak
#: (``python -m shared_eval.zoo``); cpm: cpu_low (the paper's "low" point, the demo's rate range); sga: the
#: mean-scale hyperprior at λ = 0.012; l3c: l3c_cpu; hific: zoo/cpu (its GAN stage); irec: zoo/cpu (lossy)
DEMO_MODELS = {"cpm": "zoo/cpu_low", "sga": "zoo/ms/mbt2018-num_filters=64-lmbda=0.012", "l3c": "zoo/l3c_cpu",
               "hific": "zoo/cpu", "irec": "zoo/cpu"}


def availability(codec: Codec, repo: Path = REPO, model: str = "zoo/mini") -> str | None:
    """None when the codec can run ``model``; otherwise the reason it cannot."""
    zoo = repo / codec.folder / model
    if not zoo.is_dir() or not any(p.is_file() for p in zoo.rglob("*")):
        return f"no committed checkpoint in {codec.folder}/{model}/"
    if not (repo / codec.folder / "__main__.py").exists() and not (
        repo / codec.folder / codec.package / "__main__.py"
    ).exists():
        return f"no encoder CLI ({codec.folder}/{codec.package}/__main__.py)"
    if not (repo / codec.folder / ".venv" / "bin" / "python").exists():
        return f"environment not set up (make setup-{codec.name})"
    return None


def _run(cmd: list[str], cwd: Path) -> None:
    """Run one CLI command; its progress bar and error lines go to this process's stderr."""
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:4])} failed (exit {proc.returncode}; its error lines are above)")


def _report(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {Path(r["input"]).name: r for r in rows}


def _quality(orig: np.ndarray, rec: np.ndarray) -> tuple[float, float | None]:
    ms = ms_ssim(orig, rec) if min(orig.shape[:2]) >= 176 else None
    return psnr(orig, rec), ms


#: The committed-checkpoint regression images: 256×256 centre crops of these Kodak images (``make test``
#: encodes them with every zoo/mini checkpoint and compares with ``ci/references/<paper>-zoo.csv``).
ZOO_CHECK_IMAGES = ("kodim01", "kodim15")
ZOO_CHECK_CROP = 256


def zoo_check_images(out: Path, names=ZOO_CHECK_IMAGES, crop: int = ZOO_CHECK_CROP) -> dict[str, Path]:
    """Write the centre crops used by the committed-checkpoint regression check; raise if Kodak is absent."""
    paths = {}
    for name in names:
        src = kodak_dir() / f"{name}.png"
        if not src.is_file():
            raise FileNotFoundError(f"{src} not found: set KODAK_DIR to the folder of the 24 Kodak images")
        p = out / "images" / f"{name}_c{crop}.png"
        write_png(p, center_crop(read_image(src), crop))
        paths[p.stem] = p
    return paths


def run_codec(codec: Codec, images: dict[str, Path], out: Path, repo: Path = REPO, model: str | None = None) -> list[dict]:
    """Encode and decode ``images`` ({name: file}) with ``codec``'s CLI (``model``: a folder relative to the
    sub-project; None = the CLI's default, zoo/mini), one folder run each; the rows of measures.csv. Files:
    ``out/<codec>/orig/`` (links to the inputs), ``lic/<file>.lic``, ``rec/<name>.png``."""
    folder = repo / codec.folder
    py = str(folder / ".venv" / "bin" / "python")
    base = out.resolve() / codec.name  # the CLIs run in their own folders
    orig_dir, lic_dir, rec_dir = base / "orig", base / "lic", base / "rec"
    orig_dir.mkdir(parents=True, exist_ok=True)
    for p in orig_dir.iterdir():
        p.unlink()
    linked = {}
    for name, src in images.items():
        link = orig_dir / f"{name}{Path(src).suffix.lower() or '.png'}"
        os.symlink(Path(src).resolve(), link)
        linked[name] = link
    m = ["--model", str(folder / model)] if model else []
    _run([py, "-m", codec.package, "encode", str(orig_dir), str(lic_dir), *m, "--report", str(base / "enc.jsonl")],
         folder)
    _run([py, "-m", codec.package, "decode", str(lic_dir), str(rec_dir), *m, "--report", str(base / "dec.jsonl")],
         folder)
    enc, dec = _report(base / "enc.jsonl"), _report(base / "dec.jsonl")
    rows = []
    for name, link in linked.items():
        orig = read_image(link)
        lic = lic_dir / f"{link.name}.lic"
        rec = read_image(rec_dir / f"{name}.png")
        if rec.shape != orig.shape:
            raise RuntimeError(f"{codec.name}: decoded {name} is {rec.shape}, the original {orig.shape}")
        if codec.lossless and not np.array_equal(rec, orig):
            raise RuntimeError(f"{codec.name}: lossless decode of {name} differs from the original")
        p, ms = _quality(orig, rec)
        rows.append({"codec": codec.name, "img_name": name,
                     "bpp": bpp_of(lic.stat().st_size, *orig.shape[:2]), "ms-ssim": ms, "psnr": p,
                     "enc_s": enc[link.name]["seconds"], "dec_s": dec[lic.name]["seconds"]})
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
    """Mean (bpp, PSNR) and (bpp, MS-SSIM dB) per codec, drawn by shared_eval.plot like every R-D figure."""
    from shared_eval.plot import Series, rd_plot

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
    models = {}
    for codec in (c for c in CODECS if c.name in wanted):
        model = None if args.zoo_check else DEMO_MODELS[codec.name]
        why = availability(codec, model=model or "zoo/mini")
        if why:
            missing.append((codec.name, why))
            continue
        codec_images = zoo_check_images(out, crop=codec.zoo_crop) if args.zoo_check else images
        models[codec.name] = model or "zoo/mini"
        print(f"[demo] {codec.name} ({models[codec.name]}): encoding {len(codec_images)} images ...", flush=True)
        try:
            codec_rows = run_codec(codec, codec_images, out, model=model)
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
    write_summary(out / "summary.json", {"table": table.splitlines(), "models": models, "missing": dict(missing),
                                         "failed": dict(failed)})
    print()
    print(table)
    print("models: " + ", ".join(f"{k} {v}" for k, v in models.items()))
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
