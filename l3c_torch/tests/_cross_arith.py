"""Cross-arithmetic driver (tests/test_cross_arith.py): one process encodes every test image of a
configuration, or decodes every file of one or more such directories, and prints a JSON report.

    python tests/_cross_arith.py encode OUT_DIR [--float] # OUT_DIR/<name>.f4.lic (portable) [+ .f3.lic (float)]
    python tests/_cross_arith.py decode DIR [DIR ...]     # {"DIR/<file>": "ok" | "error: ..."} + the goldens

Images: a synthetic one (always) and odd-sized Kodak crops when $KODAK_DIR (or ../shared/data/kodak) exists.
The originals are saved beside the files (.npy), so the decoder compares pixels without re-reading Kodak.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent  # on sys.path as the script's folder: conftest imports from here

CROPS = (("kodim05.png", 61, 93), ("kodim19.png", 37, 45))  # odd sizes


def images() -> list[tuple[str, object]]:
    import numpy as np
    from conftest import smooth_image

    from shared_data.imageio import read_image

    out = [("synthetic_40x56", smooth_image(40, 56, seed=3))]
    from shared_data.paths import kodak_dir

    kodak = kodak_dir()
    for name, h, w in CROPS:
        if (kodak / name).is_file():
            im = read_image(kodak / name)
            y, x = (im.shape[0] - h) // 2, (im.shape[1] - w) // 2
            out.append((f"{Path(name).stem}_{h}x{w}", np.ascontiguousarray(im[y:y + h, x:x + w])))
    return out


def main(argv: list[str]) -> int:
    import numpy as np
    import torch
    from l3c.coding import check_model, decode_container, encode_array
    from l3c.model_io import load_model

    from shared_data import arith, threads
    from shared_data.container import pack, unpack

    threads.limit(default=2)
    net, fp, _ = load_model()
    report = {}
    if argv[0] == "encode":
        out = Path(argv[1])
        out.mkdir(parents=True, exist_ok=True)
        for name, img in images():
            np.save(out / f"{name}.npy", img)
            for fmt in (4, 3) if "--float" in argv else (4,):
                (out / f"{name}.f{fmt}.lic").write_bytes(pack(encode_array(net, img, fp, fmt=fmt).container))
                report[f"{name}.f{fmt}"] = "written"
        dirs = []
    else:
        dirs = [Path(d) for d in argv[1:]]
    files = [(f, f.parent / (f.name.split(".")[0] + ".npy")) for d in dirs for f in sorted(d.glob("*.lic"))]
    files.append((HERE / "golden" / "5x6_f4.lic", None))
    for f, ref in files:
        key = f"{f.parent.name}/{f.name}"
        try:
            c = unpack(f.read_bytes(), "l3c")
            check_model(net, c, fp)
            img, _, _ = decode_container(net, c)
            if ref is None:
                from conftest import smooth_image

                want = smooth_image(5, 6, seed=42)
            else:
                want = np.load(ref)
            report[key] = "ok" if np.array_equal(img, want) else "error: decoded pixels differ"
        except Exception as e:  # every failure is reported, the test decides
            report[key] = f"error: {type(e).__name__}: {e}"
    report["_arith"] = arith.describe(torch_threads=torch.get_num_threads(),
                                      torch_capability=torch.backends.cpu.get_cpu_capability())
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
