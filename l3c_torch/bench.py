#!/usr/bin/env python
"""Coding benchmark: for a Kodak image and a 4K image tiled from Kodak (3840x2160), per backend, print
encode s, decode s, network s, coding s, real bpsp vs the model estimate (overhead %), and the peak RSS of
the process (each case runs in a fresh subprocess so the peak is its own).

    python bench.py [--model DIR | --config cr.cf] [--cases kodak,4k] [--backends constriction,torchac] [--json OUT]
    python bench.py --portable [--images 24] [--crop 0] [--threads 2]   # issue 15: format 4 vs float format 3

``--config cr.cf`` times the paper's architecture with untrained (seed 0) weights: its network time is the
real one; its bpsp and its pmf time (which depends on how wide the predicted distributions are) mean
nothing.

Targets from the issue (this CPU): coding overhead <= 0.5% + header; encode+decode <= 2x network time;
peak RSS <= 4 GB at 4K. torchac's one-off JIT compile is excluded (imported before timing).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make_case(case: str):
    import numpy as np
    from l3c.data import default_dir, resolve_glob

    from shared_data.errors import DatasetError
    from shared_data.imageio import read_image

    files = resolve_glob(str(default_dir("KODAK_DIR")))
    if not files:
        raise DatasetError(f"{default_dir('KODAK_DIR')}: no Kodak images (set KODAK_DIR)")
    if case == "kodak":
        return files[0].name, read_image(files[0])
    if case == "4k":
        tiles = [read_image(f) for f in files[:12]]
        tiles = [t if t.shape[0] == 512 else t.transpose(1, 0, 2) for t in tiles]  # all 512x768
        rows = [np.concatenate(tiles[r * 5:(r + 1) * 5] if r < 2 else tiles[:5], axis=1) for r in range(5)]
        img = np.concatenate(rows, axis=0)[:2160, :3840]
        return "kodak-tiled-3840x2160", np.ascontiguousarray(img)
    raise ValueError(f"unknown case {case!r}")


def _net(model: str | None, config: str | None):
    from l3c.model_io import load_model

    if not config:
        return load_model(model)[:2]
    import torch
    from l3c.config import load_config
    from l3c.model_io import model_fingerprint
    from l3c.network import MultiscaleNetwork

    torch.manual_seed(0)
    net = MultiscaleNetwork(load_config(HERE / "configs" / "ms" / config)).eval()
    return net, model_fingerprint(net)


def run_one(case: str, backend: str, model: str | None, config: str | None = None, threads: int = 2) -> dict:
    import numpy as np
    from l3c.coding import check_model, decode_container, encode_array, get_backend

    from shared_data import threads as thread_policy
    from shared_data.container import pack, unpack

    thread_policy.limit(threads)
    get_backend(backend)  # torchac compiles here, outside the timings
    name, img = make_case(case)
    net, fp = _net(model, config)
    h, w = img.shape[:2]
    t0 = time.perf_counter()
    res = encode_array(net, img, fp, backend)
    data = pack(res.container)
    enc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    c = unpack(data, "l3c")
    check_model(net, c, fp)
    rec, dstats, _ = decode_container(net, c)
    dec_s = time.perf_counter() - t0
    assert np.array_equal(rec, img), "not lossless"
    n = 3 * h * w
    payload = sum(len(s) for s in res.container.sections[1:])
    return {"case": name, "backend": backend, "height": h, "width": w, "enc_s": enc_s, "dec_s": dec_s,
            "enc_network_s": res.stats.net_s, "enc_pmf_s": res.stats.pmf_s, "enc_coding_s": res.stats.coding_s,
            "dec_network_s": dstats.net_s, "dec_pmf_s": dstats.pmf_s, "dec_coding_s": dstats.coding_s,
            "bpsp_real": 8 * len(data) / n, "bpsp_estimate": res.stats.est_bits / n,
            "payload_overhead_pct": (8 * payload / res.stats.est_bits - 1) * 100,
            "header_bytes": len(data) - payload,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "model": config or str(model or "zoo/mini"), "threads": threads,
            "coding_over_network": (enc_s + dec_s) / max(res.stats.net_s + dstats.net_s, 1e-9)}


def portable_cost(model: str | None, n_images: int, crop: int, threads: int) -> dict:
    """Issue 15's costs of the portable integer path (format 4) vs the float path (format 3) on the first
    ``n_images`` Kodak images (centre ``crop`` x ``crop``; 0 = whole): real file bytes, bits, PSNR is inf
    (lossless), and encode / decode seconds of each path on the same images, in one process."""
    import numpy as np
    from l3c.coding import check_model, decode_container, encode_array
    from l3c.data import default_dir, resolve_glob

    from shared_data import threads as thread_policy
    from shared_data.container import pack, unpack
    from shared_data.errors import DatasetError
    from shared_data.imageio import read_image

    thread_policy.limit(threads)
    net, fp = _net(model, None)
    if net.exact is None:
        raise SystemExit("the model has no integer decoder: python -m l3c integerize RUN RUN")
    files = resolve_glob(str(default_dir("KODAK_DIR")))[:n_images]
    if not files:
        raise DatasetError(f"{default_dir('KODAK_DIR')}: no Kodak images (set KODAK_DIR)")
    tot = {f: {"bytes": 0, "est_bits": 0.0, "enc_s": 0.0, "dec_s": 0.0, "enc_network_s": 0.0,
               "dec_network_s": 0.0, "enc_pmf_s": 0.0, "dec_pmf_s": 0.0} for f in (3, 4)}
    n_sub = 0
    for f in files:
        img = read_image(f)
        if crop:
            from l3c.evaluate import center_crop

            img = center_crop(img, crop)
        n_sub += img.size
        for fmt in (3, 4):
            t0 = time.perf_counter()
            res = encode_array(net, img, fp, fmt=fmt)
            data = pack(res.container)
            t1 = time.perf_counter()
            c = unpack(data, "l3c")
            check_model(net, c, fp)
            rec, dstats, _ = decode_container(net, c)
            t2 = time.perf_counter()
            assert np.array_equal(rec, img), f"{f}: format {fmt} not lossless"
            d = tot[fmt]
            d["bytes"] += len(data)
            d["est_bits"] += res.stats.est_bits
            d["enc_s"] += t1 - t0
            d["dec_s"] += t2 - t1
            d["enc_network_s"] += res.stats.net_s
            d["dec_network_s"] += dstats.net_s
            d["enc_pmf_s"] += res.stats.pmf_s
            d["dec_pmf_s"] += dstats.pmf_s
    import os

    f3, f4 = tot[3], tot[4]
    return {"images": len(files), "crop": crop, "threads": threads, "subpixels": n_sub, "float": f3, "portable": f4,
            "bytes_pct": (f4["bytes"] / f3["bytes"] - 1) * 100, "est_bits_pct": (f4["est_bits"] / f3["est_bits"] - 1) * 100,
            "enc_ratio": f4["enc_s"] / f3["enc_s"], "dec_ratio": f4["dec_s"] / f3["dec_s"],
            "load_average": os.getloadavg()[0]}


def rss_sweep(module: str, sizes: str) -> dict:
    """``--rss_sizes 480x270,960x540``: :func:`shared_data.limits.rss_sweep` in this folder."""
    from shared_data.limits import rss_sweep as sweep

    return sweep(module, Path(__file__).resolve().parent, sizes)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="run directory (default: zoo/mini)")
    p.add_argument("--config", default=None, help="time an untrained network of configs/ms/CONFIG instead")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cases", default="kodak,4k")
    p.add_argument("--backends", default="constriction,torchac")
    p.add_argument("--json", default=None)
    p.add_argument("--rss", action="store_true",
                   help="peak RSS of encode and decode of a 4K image (Kodak upscaled), each in a child process")
    p.add_argument("--rss_image", default=None, help="--rss: this image instead")
    p.add_argument("--rss_sizes", default=None, metavar="WxH,...",
                   help="peak RSS of encode/decode at these sizes (child processes), extrapolated to 4K")
    p.add_argument("--portable", action="store_true",
                   help="issue 15: rate and time of the portable integer path (format 4) vs the float path (3)")
    p.add_argument("--images", type=int, default=24, help="--portable: the first N Kodak images")
    p.add_argument("--crop", type=int, default=0, help="--portable: centre crops (0: whole images)")
    p.add_argument("--_one", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.rss:
        from shared_data.limits import rss_bench
        rss_bench("l3c", Path(__file__).resolve().parent, a.rss_image)
        return 0
    if a.rss_sizes:
        rss_sweep("l3c", a.rss_sizes)
        return 0
    if a.portable:
        r = portable_cost(a.model, a.images, a.crop, a.threads)
        for k in ("float", "portable"):
            d = r[k]
            print(f"{k:9s} {d['bytes']:9d} B  {8 * d['bytes'] / r['subpixels']:.4f} bpsp  est "
                  f"{d['est_bits'] / r['subpixels']:.4f}  enc {d['enc_s']:7.2f} s (net {d['enc_network_s']:6.2f}, "
                  f"pmf {d['enc_pmf_s']:6.2f})  dec {d['dec_s']:7.2f} s (net {d['dec_network_s']:6.2f}, pmf "
                  f"{d['dec_pmf_s']:6.2f})")
        print(f"{r['images']} Kodak images{f' (centre {a.crop}x{a.crop})' if a.crop else ''}, {a.threads} threads: "
              f"portable vs float: bytes {r['bytes_pct']:+.4f} %, estimated bits {r['est_bits_pct']:+.4f} %, "
              f"encode {r['enc_ratio']:.2f}x, decode {r['dec_ratio']:.2f}x (targets +0.5 %, 1.5x); "
              f"load average {r['load_average']:.1f}")
        if a.json:
            Path(a.json).write_text(json.dumps(r, indent=2))
        return 0
    if a._one:
        print("RESULT " + json.dumps(run_one(a._one[0], a._one[1], a.model, a.config, a.threads)))
        return 0
    results = []
    for case in a.cases.split(","):
        for be in a.backends.split(","):
            cmd = [sys.executable, __file__, "--_one", case, be, "--threads", str(a.threads)]
            cmd += (["--model", a.model] if a.model else []) + (["--config", a.config] if a.config else [])
            r = subprocess.run(cmd, capture_output=True, text=True)
            line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
            if r.returncode or not line:
                print(f"{case}/{be}: failed: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            res = json.loads(line[0][7:])
            results.append(res)
            print(f"{res['case']:24s} {be:12s} enc {res['enc_s']:7.2f} s (net {res['enc_network_s']:6.2f}, pmf "
                  f"{res['enc_pmf_s']:6.2f}, coding {res['enc_coding_s']:5.2f})  dec {res['dec_s']:7.2f} s (net "
                  f"{res['dec_network_s']:6.2f}, pmf {res['dec_pmf_s']:6.2f}, coding {res['dec_coding_s']:5.2f})  "
                  f"bpsp {res['bpsp_real']:.4f} vs est "
                  f"{res['bpsp_estimate']:.4f} (payload {res['payload_overhead_pct']:+.3f}%, header "
                  f"{res['header_bytes']} B)  peak RSS {res['peak_rss_mb']:.0f} MB  "
                  f"(enc+dec)/network {res['coding_over_network']:.2f}x", flush=True)
    if results:
        import os

        print(f"model: {results[0]['model']}; targets: overhead <= 0.5% + header, (enc+dec)/network <= 2x, "
              f"peak RSS <= 4096 MB at 4K; load average at the end {os.getloadavg()[0]:.1f} (shared machine)")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
