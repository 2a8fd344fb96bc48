#!/usr/bin/env python
"""The L3C zoo (issue 19; not upstream): measure training speed options, train the committed zoo model,
convert it for portable coding and evaluate it on all 24 Kodak images with real files.

``zoo.py speed [--steps 20] [--cases ...]``  steps/s of L3C training options on this CPU (float32 vs bf16
autocast, channels_last, torch.compile, threads, crop, batch, data-loader workers), <= 20 timed steps each.
``zoo.py train NAME [--minutes M]``  train (or resume after SIGKILL: ``--restore --restore_continue``, the
original's flags) with the recipe of ``zoo/NAME/recipe.json`` into ``runs/l3c/zoo/NAME/logs``.
``zoo.py export NAME``  the last checkpoint -> ``zoo/NAME`` (weights only, float32) + ``exact.pt``
(``python -m l3c integerize``, exactly as zoo/mini).
``zoo.py eval NAME``  all 24 Kodak images, real files decoded bit-exact, beside PNG / WebP / JPEG 2000 /
JPEG XL lossless: ``zoo/NAME/measures.csv``, ``summary.json``, ``ci/references/l3c-zoo-NAME.csv``,
``regression.json``.
``zoo.py all NAME``  train, export, eval (``make zoo-l3c``).

Training precision tricks (bf16 autocast) are training-only: checkpoints are float32 and coding runs the
integer path of issue 15 (L3C: Mentzer et al. 2019; exact coding as in Balle et al. 2019).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


# ----------------------------------------------------------------------------------------------- speed


def _speed_case(ms_cfg, files, *, crop, batch, threads, bf16=False, channels_last=False, compile_=False,
                workers=0, cache=False, steps=20, warmup=4) -> dict:
    """Seconds per training step (forward, loss, backward, RMSprop) at steady state, and the share of it
    spent waiting for data."""
    import torch
    from l3c.network import MultiscaleNetwork, loss_from_nlls
    from l3c.train_loop import _make_optim

    from shared_data import threads as thread_policy
    from shared_data.readers.torch_data import ImageDataset, batches

    thread_policy.limit(threads)
    torch.manual_seed(0)
    net = MultiscaleNetwork(ms_cfg)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    optim = _make_optim(ms_cfg, net)
    fwd = torch.compile(net) if compile_ else net
    ds = ImageDataset([str(f) for f in files], preset="l3c", crop=crop, seed=0, cache=cache)
    warmup = max(warmup, -(-len(files) // batch))  # the cache fills during the first epoch
    data = batches(ds, batch, num_workers=workers, seed=0)
    t_data = t_step = 0.0
    net.train()
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        b = next(data)
        if channels_last:
            b = b.contiguous(memory_format=torch.channels_last)
        t1 = time.perf_counter()
        optim.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            nlls, _ = fwd(b)
            loss = loss_from_nlls([n.float() for n in nlls], b.numel())
        loss.backward()
        optim.step()
        t2 = time.perf_counter()
        if i >= warmup:
            t_data += t1 - t0
            t_step += t2 - t0
    return {"s_per_step": t_step / steps, "steps_per_s": steps / t_step, "data_share": t_data / t_step,
            "loss": float(loss.detach())}


SPEED_CASES = {  # name: overrides of the baseline (cr_mini.cf, crop 32, batch 8, 1 thread, float32)
    "base": {},
    "threads2": {"threads": 2},
    "bf16": {"bf16": True},
    "channels_last": {"channels_last": True},
    "cache": {"cache": True},
    "workers1": {"workers": 1},
    "crop64": {"crop": 64},
    "crop64_b4": {"crop": 64, "batch": 4},
    "batch16": {"batch": 16},
    "compile": {"compile_": True},
    "cache_crop64": {"cache": True, "crop": 64},  # the zoo recipe's choice
    "cache_crop64_bf16": {"cache": True, "crop": 64, "bf16": True},  # the recipe under bf16 autocast
}


def cmd_speed(a) -> int:
    from l3c.config import Config, parse_cf
    from l3c.data import resolve_glob

    ms = Config(parse_cf(HERE / "configs" / "ms" / a.config))
    files = resolve_glob("$TRAIN_DIR")[:32]
    if not files:
        print("zoo.py: no training images ($TRAIN_DIR)", file=sys.stderr)
        return 2
    rows = []
    names = a.cases.split(",") if a.cases else list(SPEED_CASES)
    for name in names:
        if name not in SPEED_CASES:
            print(f"zoo.py: unknown speed case {name!r} (have {', '.join(SPEED_CASES)})", file=sys.stderr)
            return 2
        kw = {"crop": 32, "batch": 8, "threads": 1, **SPEED_CASES[name]}
        load0 = os.getloadavg()[0]
        try:
            r = _speed_case(ms, files, steps=a.steps, **kw)
        except Exception as e:  # e.g. torch.compile without a working compiler
            r = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"}
        r.update(case=name, load=round(load0, 1), **{k: v for k, v in kw.items()})
        if "s_per_step" in r:
            r["pixels_per_s"] = kw["batch"] * kw["crop"] ** 2 / r["s_per_step"]
        rows.append(r)
        print(json.dumps(r), flush=True)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


# ----------------------------------------------------------------------------------------------- recipes

#: The zoo recipes. ``init``: a committed model whose weights start the run (``train.py --restore DIR
#: --restore_restart``: weights only, iteration 0, a fresh RMSprop); ``steps``: iterations of this run.
ZOO = {
    "l3c_cpu": {
        "ms": "cr_mini.cf", "dl": "mini.cf", "overrides": ["crop_size=64", "lr.initial=1e-4"],
        "init": "zoo/mini", "steps": 750, "threads": 1, "seed": 0,
        "flags": ["--cache_images", "-lval", "250", "-si", "250", "-sk", "1000", "-skt", "2", "-ltrain", "25"],
    },
    # the paper's network (cr.cf: Cf=64, 8 blocks, 128 crops, batch 30) for a lent GPU
    # (tools/device/train_zoo.sh l3c --minutes M); the schedule in iterations since $TRAIN_DIR has 373 images
    "gpu": {
        "ms": "cr.cf", "dl": "mini.cf",
        "overrides": ["crop_size=128", "batchsize_train=30", "batchsize_val=30", "lr.initial=2e-4",
                      "lr.schedule=exp_0.75_i3000"],
        "init": None, "steps": 10 ** 9, "threads": os.cpu_count() or 1, "seed": 0, "workers": 6,
        "flags": ["--cache_images", "-lval", "500", "-si", "500", "-sk", "1000", "-skt", "2", "-ltrain", "50"],
    },
    # tiny: a seconds-long CPU check of the whole pipeline (tests, tools/device/train_zoo.sh --tiny)
    "tiny": {
        "ms": "cr_mini.cf", "dl": "mini.cf", "overrides": ["crop_size=32", "batchsize_train=2", "Cf=8"],
        "init": None, "steps": 4, "threads": 1, "seed": 0,
        "flags": ["--cache_images", "-lval", "2", "-si", "2", "-sk", "1000", "-skt", "2", "-ltrain", "1"],
    },
}
LOSSLESS = ("png", "webp-lossless", "jpeg2000-lossless", "jpegxl-lossless")


def _logs(out: Path, name: str) -> Path:
    return out / name / "logs"


def _latest_run(logs: Path) -> Path | None:
    """The newest run directory under ``logs`` that holds a checkpoint (what a resume continues)."""
    from l3c.model_io import list_ckpts

    runs = sorted((d for d in logs.iterdir() if d.is_dir() and list_ckpts(d)), key=lambda d: d.stat().st_mtime) \
        if logs.is_dir() else []
    return runs[-1] if runs else None


def train_cmd(name: str, out: Path, minutes: float | None = None, steps: int | None = None) -> list[str]:
    """The ``train.py`` command of recipe ``name``: a fresh run (from ``init``'s weights), or after an
    interruption (SIGKILL included: checkpoints are written atomically) ``--restore RUN --restore_continue``."""
    r = ZOO[name]
    logs = _logs(out, name)
    cmd = [sys.executable, str(HERE / "train.py"), str(HERE / "configs" / "ms" / r["ms"]),
           str(HERE / "configs" / "dl" / r["dl"]), str(logs), "--threads", str(r["threads"]),
           "--max_steps", str(steps or r["steps"]), "-W", str(r.get("workers", 0)), *r["flags"]]
    for o in r["overrides"]:
        cmd += ["-p", o]
    run = _latest_run(logs)
    if run is not None:
        cmd += ["--restore", str(run), "--restore_continue"]
    elif r["init"]:
        cmd += ["--restore", str(HERE / r["init"]), "--restore_restart"]
    if minutes:
        cmd += ["--max_minutes", str(minutes)]
    return cmd


def cmd_train(a) -> int:
    out = Path(a.out)
    cmd = train_cmd(a.name, out, a.minutes, a.steps)
    print("+", " ".join(f"'{c}'" if " " in c else c for c in cmd), flush=True)
    return subprocess.run(cmd, cwd=HERE).returncode


def curve(run: Path) -> list[dict]:
    """(step, train loss, val bpsp) from a run's TensorBoard events (loss = sum of bpsp over the levels)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rows: dict[int, dict] = {}
    for ev in sorted(run.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(ev), size_guidance={"scalars": 0})
        acc.Reload()
        tags = acc.Tags()["scalars"]
        for tag, key in (("train/loss", "loss"), ("val/bpsp", "val_bpsp"), ("train/bpsp_total", "bpsp_total")):
            if tag in tags:
                for e in acc.Scalars(tag):
                    rows.setdefault(e.step, {"step": e.step})[key] = e.value
    return [rows[k] for k in sorted(rows)]


def plot_curve(rows: list[dict], png: Path, title: str, xlabel: str = "iteration") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=90)
    tr = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    va = [(r["step"], r["val_bpsp"]) for r in rows if "val_bpsp" in r]
    if tr:
        ax.plot(*zip(*tr), lw=0.8, label="train loss (sum of bpsp, 3 levels)")
    if va:
        ax.plot(*zip(*va), "o-", ms=3, label="val bpsp (16 centre crops, + uniform top)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("bits per sub-pixel")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = png.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, png)


def cmd_export(a) -> int:
    """Last checkpoint -> zoo/NAME (float32 weights only) + exact.pt, exactly as zoo/mini was built."""
    import torch
    from l3c.model_io import export_run, integerize_run, list_ckpts

    run = _latest_run(_logs(Path(a.out), a.name))
    if run is None:
        print(f"zoo.py: no trained run of {a.name!r} under {_logs(Path(a.out), a.name)} (run zoo.py train)",
              file=sys.stderr)
        return 2
    dest = HERE / "zoo" / a.name if a.dest is None else Path(a.dest)
    ck = export_run(run, dest, -1)
    sd = torch.load(ck, map_location="cpu", weights_only=True)["net"]
    bad = [k for k, v in sd.items() if v.is_floating_point() and v.dtype != torch.float32]
    if bad:
        raise AssertionError(f"{ck}: non-float32 weights {bad[:3]}")
    integerize_run(dest, dest)
    rows = curve(run)
    (dest / "curve.json").write_text(json.dumps({"run": run.name, "rows": rows}) + "\n")
    r = ZOO[a.name]
    plot_curve(rows, dest / "curve.png", f"L3C {a.name}: {r['ms']} {' '.join(r['overrides'])}",
               f"iteration of this run (initialised from {r['init']})" if r["init"] else "iteration")
    print(f"exported {run} iteration {list_ckpts(run)[-1][0]} -> {dest}")
    return 0


def _eval_worker(model: Path, files: list[Path], work: Path, verify_every: int) -> None:
    """Encode every image not yet done into a real file (stream format 4) and decode every
    ``verify_every``-th (by Kodak index) back, asserting it bit-exact. Images are claimed through
    ``work/claims`` (so several workers share the list) and each row is written atomically to ``work/rows``
    as soon as it is done (so an interrupted evaluation resumes where it stopped)."""
    import numpy as np
    from l3c.codec import load_codec

    from shared_data.codec import decompress
    from shared_data.container import pack
    from shared_data.imageio import atomic_write_bytes, read_image

    codec = load_codec(model)  # the codec protocol; portable format 4
    net, fp = codec.net, codec.float_fingerprint
    if net.exact is None:
        raise AssertionError(f"{model}: no exact.pt (python -m l3c integerize {model} {model})")
    rows_dir = work / f"rows_{fp.hex()}"
    for d in (work / "claims", rows_dir, work / "files"):
        d.mkdir(parents=True, exist_ok=True)
    for idx, f in enumerate(files):
        row_p = rows_dir / f"{f.stem}.json"
        if row_p.exists():
            continue
        try:
            os.close(os.open(work / "claims" / f"{f.stem}.{fp.hex()}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        img = read_image(f)
        h, w = img.shape[:2]
        t0 = time.perf_counter()
        res = codec.encode_with_stats(img)
        data = pack(res.container)
        enc_s = time.perf_counter() - t0
        atomic_write_bytes(work / "files" / f"{f.stem}.lic", data)
        row = {"img_name": f.name, "height": h, "width": w, "bpp": 8 * len(data) / (h * w),
               "bpsp": 8 * len(data) / (3 * h * w), "bytes": len(data),
               "bpsp_estimated": res.stats.est_bits / (3 * h * w), "enc_s": enc_s, "backend": "constriction"}
        if idx % verify_every == 0:
            t0 = time.perf_counter()
            rec = decompress(codec, data)
            row["dec_s"] = time.perf_counter() - t0
            if not np.array_equal(rec, img):
                raise AssertionError(f"{f}: decoded image differs from the input (not lossless)")
            row["lossless"] = 1
        atomic_write_bytes(row_p, (json.dumps(row) + "\n").encode())
        print(f"{f.name}: {row['bpsp']:.4f} bpsp" + (" (decoded bit-exact)" if "lossless" in row else ""),
              flush=True)


def cmd_eval(a) -> int:
    """All Kodak images (default 24), real files (stream format 4), decoded bit-exact; the classical lossless
    codecs on the same images; measures.csv, summary.json, regression.json, ci/references/l3c-zoo-NAME.csv."""
    import torch
    from l3c.data import default_dir, resolve_glob
    from l3c.model_io import load_model
    from reproduce import classical_rows

    from shared_eval.check import run_check, update_mini_reference
    from shared_eval.measures_csv import summarize, write_measures, write_summary

    model = HERE / "zoo" / a.name if a.model is None else Path(a.model)
    files = resolve_glob(str(default_dir("KODAK_DIR")))[: a.max_images or None]
    if not files:
        print("zoo.py: no Kodak images (set KODAK_DIR)", file=sys.stderr)
        return 2
    work = Path(a.out) / a.name / "eval"
    work.mkdir(parents=True, exist_ok=True)
    from shared_data import threads

    threads.limit(1)  # --jobs processes of one thread each share the images
    if a.worker:  # one of --jobs processes
        _eval_worker(model, files, work, a.verify_every)
        return 0
    import shutil

    net, fp, itr = load_model(model)
    if not a.collect:  # claims of killed workers: no worker runs now
        shutil.rmtree(work / "claims", ignore_errors=True)
    t0 = time.time()
    procs = [] if a.collect else [subprocess.Popen([sys.executable, __file__, "eval", a.name, "--out", a.out, "--model", str(model),
                               "--max_images", str(a.max_images), "--verify_every", str(a.verify_every),
                               "--worker"], cwd=HERE) for _ in range(a.jobs)]
    if any(p.wait() for p in procs):
        print("zoo.py: an evaluation worker failed", file=sys.stderr)
        return 1
    rows, missing = [], []
    for f in files:
        row_p = work / f"rows_{fp.hex()}" / f"{f.stem}.json"
        if not row_p.exists():
            if not a.collect:
                print(f"zoo.py: {f.name} was not evaluated (no {row_p})", file=sys.stderr)
                return 1
            missing.append(f.name)
            continue
        rows.append(json.loads(row_p.read_text()))
    if missing:  # --collect: the images done so far (a rerun without --collect resumes the rest)
        print(f"zoo.py: --collect: {len(missing)} of {len(files)} images not evaluated yet: {' '.join(missing)}")
        files = [f for f in files if f.name not in missing]
        if not files:
            return 1
    for r in rows:
        r["model"] = f"L3C {a.name}"
    wall = time.time() - t0
    crow, notes = classical_rows(files, None, work / "classical_work")
    write_measures(model / "measures.csv", rows + crow)
    summ = {"model": str(model.relative_to(HERE)) if model.is_relative_to(HERE) else str(model),
            "fingerprint": fp.hex(), "format4_fingerprint": net.exact.fingerprint.hex(), "itr": itr,
            "kodak_dir": str(default_dir("KODAK_DIR")), "n_images": len(files), "backend": "constriction",
            "stream_format": 4, "eval_wall_s": round(wall, 1),
            "decoded_bit_exact": sum(1 for r in rows if r.get("lossless") == 1),
            "not_evaluated": missing, "torch": torch.__version__, "notes": notes,
            "per_model": {}}
    for name in dict.fromkeys(r["model"] for r in rows + crow):
        summ["per_model"][name] = summarize([{k: v for k, v in r.items() if k not in ("model", "backend")}
                                             for r in rows + crow if r["model"] == name])
    write_summary(model / "summary.json", summ)
    # the zoo regression reference: this model's real files on the 24 images (shared_eval.check --scale zoo)
    l3c_only = work / "measures_l3c.csv"
    write_measures(l3c_only, rows)
    ref = REPO / "ci" / "references" / f"l3c-zoo-{a.name}.csv" if a.reference is None else Path(a.reference)
    update_mini_reference("l3c", l3c_only, ref, "zoo")
    res = run_check("l3c", "zoo", l3c_only, ref, None, {}, None)
    print(f"shared_eval.check l3c zoo vs {ref}: exit {res.exit_code}" + (f"\n{res.table()}" if res.lines else ""))
    # a fast pin for tests: one Kodak crop's file size (as zoo/mini/regression.json)
    from l3c.coding import encode_array

    from shared_data.container import pack
    from shared_data.imageio import read_image

    crop = (100, 196, 200, 328)
    kod = default_dir("KODAK_DIR") / "kodim23.png"
    if kod.is_file():
        img = read_image(kod)[crop[0]:crop[1], crop[2]:crop[3]]
        res = encode_array(net, img, fp)
        (model / "regression.json").write_text(json.dumps({
            "image": "kodim23.png", "crop": list(crop), "bytes": len(pack(res.container)),
            "bpsp": 8 * len(pack(res.container)) / img.size, "bpsp_estimated": res.stats.est_bits / img.size,
            "fingerprint": fp.hex(), "itr": itr}, indent=2) + "\n")
    print(f"{'codec':22s} bpsp (mean over {len(files)} Kodak images, real files)")
    for name, s in summ["per_model"].items():
        print(f"{name:22s} {s['bpsp']:.4f}")
    return 0


def cmd_all(a) -> int:
    rc = cmd_train(a)
    if rc:
        return rc
    return cmd_export(a) or cmd_eval(a)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed", help="steps/s of training options")
    s.add_argument("--steps", type=int, default=20)
    s.add_argument("--cases", default=None, help=f"comma list of {', '.join(SPEED_CASES)}")
    s.add_argument("--config", default="cr_mini.cf")
    s.add_argument("--out", default=None, help="write the rows as JSON")
    for cmd in ("train", "export", "eval", "all"):
        c = sub.add_parser(cmd)
        c.add_argument("name", choices=sorted(ZOO))
        c.add_argument("--out", default=str(REPO / "runs" / "l3c" / "zoo"), help="run logs and eval files")
        if cmd in ("train", "all"):
            c.add_argument("--minutes", type=float, default=None, help="stop after M minutes (resumable)")
            c.add_argument("--steps", type=int, default=None, help="iterations (default: the recipe's)")
        if cmd in ("export", "all"):
            c.add_argument("--dest", default=None, help="model directory (default zoo/NAME)")
        if cmd in ("eval", "all"):
            c.add_argument("--model", default=None, help="model directory (default zoo/NAME)")
            c.add_argument("--max_images", type=int, default=0, help="first N Kodak images (default all 24)")
            c.add_argument("--jobs", type=int, default=2, help="evaluation processes (one thread each)")
            c.add_argument("--reference", default=None, help="default ci/references/l3c-zoo-NAME.csv")
            c.add_argument("--verify_every", type=int, default=1,
                           help="decode every N-th image back and assert it bit-exact (default 1: all)")
            c.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
            c.add_argument("--collect", action="store_true",
                           help="start no workers: write the measures of the images done so far")
    a = p.parse_args(argv)
    if a.cmd == "all":
        a.model = a.model or a.dest
    return {"speed": cmd_speed, "train": cmd_train, "export": cmd_export, "eval": cmd_eval, "all": cmd_all}[a.cmd](a)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, FileNotFoundError, NotImplementedError) as e:
        print(f"zoo.py: error: {e}", file=sys.stderr)
        sys.exit(1)
