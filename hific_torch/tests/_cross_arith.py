"""Batch driver for the cross-arithmetic test: one process encodes (or decodes) every file of one arithmetic
configuration, so the test pays one interpreter + torch start per configuration, not per image.

  python tests/_cross_arith.py JOBS.json

JOBS.json: ``{"encode": [{"model", "float", "images": [png...], "out"}], "decode": [{"model", "files":
[lic...], "out"}]}``. Encode writes ``out/<name>.lic`` and ``out/<name>.ref.npz`` (the in-process decode:
image + symbol digest); decode writes ``out/<name>.dec.npz`` or ``out/<name>.err`` (the one-line error).
``config.json`` beside JOBS.json records the arithmetic configuration the process ran under.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from hific.codec import decode_image, encode_image


def sensitive_model(model):
    """A float model whose σ sits on a scale-table boundary up to float rounding noise (for demonstrating
    that the FLOAT path depends on arithmetic): the scale branch's second layer gets duplicated output
    channels, its last layer weights +50·w on one copy and −50·w on the other (an exact zero in real
    arithmetic, order-dependent rounding noise in float32) and a bias √(s_20 s_21), the log-space midpoint
    between two table scales. Any exact arithmetic gives every σ the same index."""
    from hific.entropy import scale_table

    hs = model.hyper_synthesis_scale.net
    n = hs[2].weight.shape[1]
    h = n // 2
    t = scale_table()
    with torch.no_grad():
        hs[2].weight[:, h:2 * h] = hs[2].weight[:, :h]
        hs[2].bias[h:2 * h] = hs[2].bias[:h]
        w = hs[4].weight
        w[:, :h] = 50.0 * w[:, :h]
        w[:, h:2 * h] = -w[:, :h]
        hs[4].bias[:] = math.sqrt(float(t[20]) * float(t[21]))
    model._fingerprint = None
    model._tables = None
    return model


def main(argv) -> int:
    from _golden import symbols_digest  # run as a script: tests/ is sys.path[0]
    from hific.checkpoints import load_checkpoint
    from hific.portable import arith_config

    from shared_data import container as ctr
    from shared_data import threads
    from shared_data.imageio import read_image

    threads.limit(default=1)
    jobs = json.loads(Path(argv[0]).read_text())
    models = {}

    def model(path):
        if path not in models:
            models[path] = load_checkpoint(path)[0]
        return models[path]

    (Path(argv[0]).parent / "config.json").write_text(json.dumps(arith_config("test")))
    for job in jobs.get("encode", []) + jobs.get("decode", []):
        out = Path(job["out"])
        out.mkdir(parents=True, exist_ok=True)
        m = model(job["model"])
        for img_path in job.get("images", []):
            name = Path(img_path).stem
            cont, enc = encode_image(m, read_image(img_path), portable=not job.get("float", False))
            ctr.write(out / f"{name}.lic", cont)
            rec, _ = decode_image(m, cont)
            np.savez(out / f"{name}.ref.npz", img=rec, digest=symbols_digest(enc["z_sym"], enc["y_sym"]))
        for lic in job.get("files", []):
            name = Path(lic).stem
            try:
                rec, info = decode_image(m, ctr.read(lic, codec="hific"))
            except ctr.ContainerError as e:
                (out / f"{name}.err").write_text(str(e))
                continue
            np.savez(out / f"{name}.dec.npz", img=rec, digest=symbols_digest(info["z_sym"], info["y_sym"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
