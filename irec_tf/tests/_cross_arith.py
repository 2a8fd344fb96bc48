"""Driver of the cross-arithmetic test (tests/test_cross_arith.py): one process per arithmetic configuration.

``python tests/_cross_arith.py [--encode OUTDIR] [--decode DIR ...] [--goldens GOLDEN_DIR] --result R.json``

* ``--encode``: every test image (a synthetic one; Kodak crops of odd sizes when $KODAK_DIR exists) with both
  committed zoo models, on the portable path (format 3), and the lossless ones also on the float path
  (format 2: the one whose failure the test demonstrates; lossy float files are left out to save time), to
  ``OUTDIR/<image>.<model>.<path>.lic`` plus ``.npz`` with the encoder's reconstruction and latents;
* ``--decode``: decode every ``.lic`` of DIR and compare with the encoder's ``.npz``;
* ``--goldens``: decode the committed golden files and compare with their pinned results.

The result JSON maps each file to {ok, error, exact, max_diff, latents_equal}; the test asserts on it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ZOO = {"lossy": ROOT / "zoo" / "mini", "lossless": ROOT / "zoo" / "mini-lossless"}
N_BEAMS = {"lossy": 2, "lossless": 4}


def images():
    """(name, model kind, uint8 image): small, odd sizes; Kodak crops only when KODAK_DIR exists."""
    import numpy as np

    from shared_data.imageio import read_image
    from shared_data.paths import kodak_dir

    rs = np.random.RandomState(11)
    synth = np.clip(np.cumsum(rs.randn(37, 53, 3) * 7, axis=1) + 128, 0, 255).astype(np.uint8)
    out = [("synth", "lossy", synth), ("synth", "lossless", synth[:13, :19])]
    kodak = kodak_dir()
    if (kodak / "kodim01.png").is_file() and (kodak / "kodim15.png").is_file():
        k1, k15 = read_image(kodak / "kodim01.png"), read_image(kodak / "kodim15.png")
        out.append(("kodim01", "lossy", k1[200:267, 300:345]))
        out.append(("kodim15", "lossless", k15[250:271, 350:375]))
    return out


def _threads():
    from rec.experiment import limit_threads

    limit_threads()


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--encode")
    p.add_argument("--decode", nargs="*", default=[])
    p.add_argument("--goldens")
    p.add_argument("--result", required=True)
    a = p.parse_args(argv)
    _threads()
    import numpy as np
    from rec.codec import compress, load_model

    models = {k: load_model(v) for k, v in ZOO.items()}
    result = {}
    t0 = time.perf_counter()
    if a.encode:
        out = Path(a.encode)
        out.mkdir(parents=True, exist_ok=True)
        for name, kind, img in images():
            for path in ("portable", "float") if kind == "lossless" else ("portable",):
                stem = out / f"{name}.{kind}.{path}"
                lm = models[kind]
                r = compress(lm, img, f"{stem}.lic", portable=path == "portable", n_beams=N_BEAMS[kind])
                lat = r.latents if path == "portable" else []
                np.savez(f"{stem}.npz", recon=r.reconstruction, **{f"lat{i}": z for i, z in enumerate(lat or [])})
    for d in a.decode:
        for f in sorted(Path(d).glob("*.lic")):
            result[str(f)] = _decode_and_compare(models[f.name.split(".")[1]], f, np.load(f.with_suffix(".npz")))
    if a.goldens:
        for f in sorted(Path(a.goldens).glob("*.lic")):
            result[str(f)] = _decode_and_compare(models[f.name.split(".")[1]], f, np.load(f.with_suffix(".npz")))
    result["_seconds"] = time.perf_counter() - t0
    Path(a.result).write_text(json.dumps(result, indent=1))
    return 0


def _decode_and_compare(lm, f, ref):
    import numpy as np
    from rec.codec import decompress

    try:
        img, lat = decompress(lm, f, return_latents=True)
    except Exception as e:  # noqa: BLE001 - reported to the test, which asserts on it
        return {"ok": False, "error": f"{type(e).__name__}: {e}"[:400]}
    recon = ref["recon"]
    lats = [ref[k] for k in sorted(ref.files) if k.startswith("lat")]
    return {"ok": True, "exact": bool(np.array_equal(img, recon)),
            "max_diff": int(np.abs(img.astype(np.int64) - recon.astype(np.int64)).max()),
            "latents_equal": bool(lat is not None and len(lat) == len(lats)
                                  and all(np.array_equal(x, y) for x, y in zip(lat, lats)))
            if lats else None}


if __name__ == "__main__":
    sys.exit(main())
