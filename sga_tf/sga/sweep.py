"""The SGA inference sweep (methods × models × images, ``reproduce.py``) as :mod:`shared_eval.sweep` tasks
(issue 14): in-process, on a Dask ``LocalCluster`` (``--scheduler local:N``), a scheduler address or SLURM,
always the same ``measures.csv`` rows (timing columns aside), resumable after a killed worker or driver.

One task = one model run × one method × a chunk of images (``task_images``: 0 = the protocol's batches of
same-size images, round(1e7 / #pixels) images each, exactly what :func:`sga.evaluate.run_method` optimises
together in one process; 1 = one image per task, the finest grain). A task's randomness (SGA's Gumbel draws,
U-noise, the bits-back seeds) is seeded from its key, so a task gives the same rows wherever and whenever it
runs. This module imports TensorFlow only inside the task (the driver of a Dask run needs none).
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from shared_eval.sweep import SweepTask

#: the order of reproduce.py's columns (sga.evaluate.EXTRA_COLUMNS + "run"), without importing TensorFlow
RUN_COLUMN = "run"


#: what Dask's nannies export to every worker they start (``distributed.nanny.pre-spawn-environ``) that the
#: ``.lic`` files' arithmetic record (:func:`shared_data.arith.describe`) would then name
NANNY_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


#: the driver's thread variables as its user set them (JSON), for the workers (see keep_driver_thread_env)
DRIVER_ENV_VAR = "SGA_SWEEP_DRIVER_THREAD_ENV"


def keep_driver_thread_env() -> None:
    """Make local Dask workers record the driver's arithmetic configuration in their files. By default a
    nanny sets ``OMP_NUM_THREADS=MKL_NUM_THREADS=OPENBLAS_NUM_THREADS=1`` in its worker, and a worker inherits
    the thread variables the driver's thread policy filled in (:func:`shared_data.threads.limit`) as if its
    user had set them; the files name them in their arithmetic-configuration section (10-13 bytes more per
    file: another ``bpp`` than in-process). Here the nannies' variables are unset and the driver's user values
    travel to the workers (``$SGA_SWEEP_DRIVER_THREAD_ENV``, applied by :func:`inference_task` before the
    worker's thread policy runs). Call before the ``LocalCluster`` is made; workers started elsewhere (an
    address, SLURM) need the driver's environment to give identical rows."""
    import json

    try:
        import dask
        import distributed  # noqa: F401 - loads distributed.yaml's defaults first (they would re-add the keys)
    except ImportError:
        return
    from shared_data import arith, threads

    threads.snapshot_user_env()  # the driver's own record, before any nanny edits os.environ
    names = sorted(set(arith.ENV_KEYS) | set(getattr(threads, "_SET_BY_LIMIT", ())) | set(NANNY_THREAD_ENV))
    user = {k: threads.user_env(k) for k in names}
    cfg = {f"distributed.nanny.pre-spawn-environ.{k}": None for k in NANNY_THREAD_ENV}  # None: unset
    cfg[f"distributed.nanny.pre-spawn-environ.{DRIVER_ENV_VAR}"] = json.dumps(user, sort_keys=True)
    dask.config.set(cfg)


def _apply_driver_env() -> None:
    """On a worker of :func:`keep_driver_thread_env`: the driver's user thread variables, before this
    process's thread policy snapshots them."""
    import json

    raw = os.environ.pop(DRIVER_ENV_VAR, None)
    if not raw:
        return
    for k, v in json.loads(raw).items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def load_image(path: str | os.PathLike, crop: int | None) -> np.ndarray:
    """A Kodak image as reproduce.py evaluates it: landscape (portrait images rotated, as SN's kodak_landscape),
    centre-cropped to ``crop`` (None/0: whole)."""
    from shared_data.imageio import read_image
    from shared_data.transforms import center_crop

    img = read_image(path)
    if img.shape[0] > img.shape[1]:
        img = np.ascontiguousarray(np.rot90(img))
    if crop:
        img = np.ascontiguousarray(center_crop(img, crop))
    return img


def image_shape(path: str | os.PathLike, crop: int | None) -> tuple[int, int]:
    """The (H, W) of :func:`load_image` from the file header (PIL, no decode)."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    h, w = min(h, w), max(h, w)
    if crop:
        if h < crop or w < crop:
            raise ValueError(f"{path}: image {h}x{w} is smaller than the crop {crop}x{crop}")
        h, w = crop, crop
    return h, w


def chunks(paths, crop: int | None, task_images: int = 0) -> list[list[str]]:
    """Images per task, in order: ``task_images`` N > 0 → N at a time within each same-size group; 0 → the
    batches :func:`sga.evaluate.run_method` forms (groups of equal size, round(1e7/#px) images each)."""
    groups: dict[tuple, list[str]] = {}
    for p in paths:
        groups.setdefault(image_shape(p, crop), []).append(str(p))
    out = []
    for (h, w), items in groups.items():
        n = task_images if task_images > 0 else max(1, int(round(1e7 / (h * w))))
        out += [items[i:i + n] for i in range(0, len(items), n)]
    return out


def file_fingerprint(path: str | os.PathLike) -> str:
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


def run_fingerprint(run_dir: str | os.PathLike) -> str:
    """SHA-256 over a model directory's args.json and its weight/checkpoint files' sizes and mtimes."""
    d = Path(run_dir)
    h = hashlib.sha256((d / "args.json").read_bytes())
    for p in sorted(d.iterdir()):
        if p.is_file() and (p.name.startswith(("weights", "ckpt", "integer", "checkpoint"))):
            h.update(f"{p.name}={file_fingerprint(p)};".encode())
    return h.hexdigest()


def make_tasks(runs, methods_of_run, images, crop, its, q_its_of, files_root, task_images=0) -> list[SweepTask]:
    """Tasks in the order of the in-process loop (run, method, image chunk). ``methods_of_run(run)`` gives
    the method names for a run, ``q_its_of(run, method)`` its bits-back q-fit iterations (or None)."""
    parts = chunks(images, crop, task_images)
    tasks = []
    for run in runs:
        rfp = run_fingerprint(run)
        for name in methods_of_run(run):
            for part in parts:
                key = f"{Path(run).name}|{name}|{','.join(Path(p).name for p in part)}"
                args = (str(run), name, its, q_its_of(run, name), tuple(part), crop,
                        str(Path(files_root) / Path(run).name), key)
                fp = rfp + "|" + ";".join(file_fingerprint(p) for p in part)
                tasks.append(SweepTask(key, args, fp))
    return tasks


def task_seed(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


@lru_cache(maxsize=8)
def _loaded(run_dir: str):
    """(model, coder, λ) of a run directory, loaded once per process."""
    from .checkpoints import load_model, parse_lambda
    from .codec import open_coder

    model, _ = load_model(run_dir)
    lmbda = parse_lambda(Path(run_dir).name)
    return model, open_coder(model, lmbda), lmbda


def inference_task(run_dir: str, method: str, its: int | None, q_its: int | None, images: tuple, crop: int | None,
                   files_dir: str, key: str) -> list[dict]:
    """One sweep task (runs on a worker): ``method`` on the images with the model of ``run_dir`` — real
    ``.lic`` files into ``files_dir``, decoded back — returning reproduce.py's measures rows."""
    from .cli import _setup_tf

    _apply_driver_env()
    _setup_tf()  # the project's thread policy (LIC_THREADS, else 2) before TensorFlow runs its first op
    import tensorflow as tf

    from .evaluate import run_method
    from .inference import METHODS, with_overrides

    model, coder, lmbda = _loaded(run_dir)
    base = METHODS[method]
    meth = with_overrides(base, its=its if (its and base.its > 0) else None, compress_schedule=True)
    tf.keras.utils.set_random_seed(task_seed(key))  # the task's draws do not depend on where it runs
    imgs = [(Path(p).name, load_image(p, crop)) for p in images]
    name = Path(run_dir).name
    rows = run_method(model, lmbda, meth, None, files_dir, script=method, runname=name, progress=False,
                      coder=coder, images=imgs, q_its=q_its)
    for r in rows:
        r[RUN_COLUMN] = name
    return rows


def sweep_config(its, crop, q_its, task_images) -> dict:
    """Every setting that changes a row, for the tasks' fingerprints (plus the library versions)."""
    from importlib.metadata import PackageNotFoundError, version

    def v(pkg):
        try:
            return version(pkg)
        except PackageNotFoundError:
            return ""

    return {"its": its, "crop": crop, "q_its": q_its, "task_images": task_images, "format": 1,
            "versions": {p: v(p) for p in ("tensorflow", "tensorflow-compression", "tensorflow-probability",
                                           "constriction", "numpy")},
            "threads": os.environ.get("LIC_THREADS", "")}


__all__ = ["keep_driver_thread_env", "load_image", "image_shape", "chunks", "make_tasks", "inference_task", "sweep_config", "task_seed",
           "run_fingerprint"]
