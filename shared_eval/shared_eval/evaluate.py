"""Evaluate any codec on a dataset through the one codec interface (:mod:`shared_data.codec`), in-process or
on Dask (:mod:`shared_eval.sweep`), into one ``measures.csv``::

    <sub-project>/.venv/bin/python -m shared_eval.evaluate --codec cpm [--model zoo/mini] [-o key=value ...]
        IMAGES --out runs/cpm/kodak/measures.csv [--keep-files DIR] [--estimate] [--scheduler local:2]

IMAGES is a folder, a glob or a file (:func:`shared_data.imageio.list_images`; ``kodak`` = ``$KODAK_DIR``).
Each image is one task: the worker loads the codec once (cached per process), encodes the image to a real
``.lic`` (kept under ``--keep-files``), decodes it and writes one row: ``img_name, bpp`` (of the real file),
``ms-ssim`` (images ≥ 176 px), ``psnr``, ``enc_s``, ``dec_s`` (the codec calls), plus ``bpsp`` for lossless
codecs and ``bpp_estimated`` (``estimate_bits``) with ``--estimate``. A lossless codec whose decode differs
from the input fails that task. Rows are sorted by image name and identical (except the timings) whatever the
scheduler; a rerun after a killed driver or worker recomputes only unfinished images; a changed model
(fingerprint) or option recomputes everything (:mod:`shared_eval.sweep`).

Run it with the Python of the codec's environment (``cpm_tf/.venv/bin/python``): each codec's package is
installed there. ``--scheduler local:N`` / an address / ``slurm`` need ``dask`` + ``distributed`` in that
environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from shared_data import container as cont
from shared_data.errors import LicError

from .metrics import ms_ssim, psnr
from .sweep import SweepTask, add_scheduler_arguments, scheduler_kwargs, sweep_to_measures


def _options(items: list[str]) -> tuple[tuple[str, object], ...]:
    out = []
    for it in items:
        if "=" not in it:
            raise LicError(f"-o {it!r}: expected key=value")
        k, v = it.split("=", 1)
        try:
            val = json.loads(v)
        except ValueError:
            val = v
        out.append((k.strip(), val))
    return tuple(sorted(out))


@lru_cache(maxsize=4)
def _codec(codec_id: str, model: str | None, options: tuple):
    """The codec, loaded once per worker process (and per driver)."""
    if codec_id.startswith("factory:"):  # "factory:module:function" (tests, custom codecs)
        import importlib
        mod, fn = codec_id[len("factory:"):].rsplit(":", 1)
        return getattr(importlib.import_module(mod), fn)(model, **dict(options))
    from shared_data.codec import load_codec
    return load_codec(model, codec=codec_id, **dict(options))


def driver_arith() -> dict:
    """The driver's arithmetic settings a worker must take over so its files equal the driver's: files of
    hific / cpm's float path record the encoder's ``shared_data.arith`` environment and thread count, and
    Dask starts workers with ``OMP_NUM_THREADS=1`` ... (measured: hific files 11 bytes longer on local:2)."""
    from shared_data import threads
    from shared_data.arith import ENV_KEYS

    return {"env": {k: threads.user_env(k) for k in ENV_KEYS}, "threads": threads.count()}


_APPLIED: set = set()  # ids of the processes that run under their settings (by pid: under ``python -m``
# the task function is ``__main__``'s and is pickled by value, with this set)


def _apply_arith(cfg: dict | None) -> None:
    """Once per worker process, before its first codec loads (and before its first threads.limit)."""
    if not cfg or os.getpid() in _APPLIED:
        return
    from shared_data import threads

    for k, v in cfg["env"].items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    threads.limit(cfg["threads"])
    _APPLIED.add(os.getpid())


def evaluate_image(codec_id: str, model: str | None, options: tuple, image: str, keep: str | None,
                   estimate: bool, arith: dict | None = None) -> dict:
    """One task (runs on a worker): encode → real file → decode → one measures.csv row."""
    from shared_data.imageio import read_image

    _apply_arith(arith)
    codec = _codec(codec_id, model, options)
    img = read_image(image)
    h, w = img.shape[:2]
    t0 = time.perf_counter()
    data = cont.pack(codec.encode(img))
    enc_s = time.perf_counter() - t0
    if keep:
        from shared_data.imageio import atomic_write_bytes
        atomic_write_bytes(Path(keep) / f"{Path(image).stem}.lic", data)
    t0 = time.perf_counter()
    rec = codec.decode(cont.unpack(data, codec=codec.codec_id))
    dec_s = time.perf_counter() - t0
    if rec.shape != img.shape:
        raise LicError(f"{image}: decoded shape {rec.shape} differs from the input's {img.shape}")
    row = {"img_name": Path(image).stem, "bpp": 8 * len(data) / (h * w), "enc_s": enc_s, "dec_s": dec_s}
    if codec.lossless:
        if not np.array_equal(rec, img):
            raise LicError(f"{image}: the lossless codec decoded another image")
        row.update({"bpsp": 8 * len(data) / (3 * h * w), "psnr": float("inf"), "ms-ssim": 1.0})
    else:
        row.update({"psnr": psnr(img, rec), "ms-ssim": ms_ssim(img, rec) if min(h, w) >= 176 else None})
    if estimate:
        row["bpp_estimated"] = float(codec.estimate_bits(img)) / (h * w)
    return row


def tasks_for(images: list[Path], codec_id: str, model: str | None, options: tuple, keep: str | None,
              estimate: bool, arith: dict | None = None) -> list[SweepTask]:
    stems = [p.stem for p in images]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})[:3]
        raise LicError(f"image names must be unique (they name the rows): repeated {', '.join(dup)}")
    out = []
    for p in images:
        st = p.stat()
        out.append(SweepTask(p.stem, (codec_id, model, options, str(p), keep, estimate, arith),
                             f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}"))
    return out


def evaluate(codec_id: str, images, out_csv, model=None, options: tuple = (), keep=None, estimate=False,
             **sweep_kw):
    """Evaluate and write ``out_csv``; returns the :class:`shared_eval.sweep.SweepResult`."""
    from shared_data.imageio import list_images

    arith = driver_arith()  # before the scheduler opens: a LocalCluster edits this process's environment
    _APPLIED.add(os.getpid())  # the driver itself runs as it is
    codec = _codec(codec_id, model, options)  # the model is checked (and fingerprinted) before any task runs
    paths = images if isinstance(images, list) else list_images(images)
    extra = ["bpsp"] if codec.lossless else []
    if estimate:
        extra.append("bpp_estimated")
    config = {"codec": codec.codec_id, "fingerprint": codec.fingerprint.hex(), "options": list(options),
              "estimate": estimate}
    config["arith"] = arith
    return sweep_to_measures(evaluate_image, tasks_for(paths, codec_id, model, options, keep, estimate, arith), out_csv,
                             config, extra_columns=extra, desc=f"{codec.codec_id} evaluate", **sweep_kw)


def main(argv: list[str] | None = None) -> int:
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not for the user
    ap = argparse.ArgumentParser(prog="python -m shared_eval.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec", required=True, help="cpm | sga | l3c | hific | irec (installed in this environment)")
    ap.add_argument("--model", default=None, help="model directory / checkpoint (default: the codec's default)")
    ap.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                    help="codec option passed to load_codec (JSON values), repeatable")
    ap.add_argument("images", help="folder, glob or file of images; 'kodak' = $KODAK_DIR")
    ap.add_argument("--out", required=True, type=Path, help="measures.csv to write")
    ap.add_argument("--keep-files", default=None, help="folder for the encoded .lic files")
    ap.add_argument("--estimate", action="store_true", help="also the model's estimated bpp (bpp_estimated)")
    ap.add_argument("--max-images", type=int, default=None, help="only the first N images (sorted)")
    add_scheduler_arguments(ap)
    a = ap.parse_args(argv)
    try:
        from shared_data.imageio import list_images
        from shared_data.paths import kodak_images
        paths = kodak_images() if a.images == "kodak" else list_images(a.images)
        if a.max_images:
            paths = paths[:a.max_images]
        res = evaluate(a.codec, paths, a.out, a.model, _options(a.option), a.keep_files, a.estimate,
                       **scheduler_kwargs(a))
    except (LicError, OSError) as e:
        from shared_data.cli import error_line
        print(f"error: {error_line(e)}", file=sys.stderr)
        return 1
    print(f"{a.out}: {len(res.rows)} images; {res.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
