"""Driver of the cross-arithmetic test (issue 15 item 4): one process per arithmetic configuration.

    python tests/_cross_arith.py WORK TAG [--encode] [--decode SRC_TAG ...] [--golden DIR]

``--encode`` codes every ``WORK/images/*.png`` with the committed zoo models on both paths — portable
(integerized model, formats 5/6) and float (``portable=False``, formats 3/4): M3 (offset grid) on every image,
SGA (integer grid, 2 eager iterations) and A6 bits-back (``bb_plain``) on the first — into ``WORK/TAG/``, with
the encoder's own decode (symbols, reconstruction) beside each file. ``--decode SRC`` decodes ``WORK/SRC/*.lic``
and writes ``WORK/SRC/under-TAG/<file>.npz`` (symbols and reconstruction, or the error line). ``--golden DIR``
decodes the committed golden files into ``WORK/golden-under-TAG/``. The arithmetic configuration itself is
the environment this process was started in (``shared_data.arith.run``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("work")
    p.add_argument("tag")
    p.add_argument("--encode", action="store_true")
    p.add_argument("--decode", nargs="*", default=[])
    p.add_argument("--golden", default=None)
    a = p.parse_args(argv)
    from sga.cli import _setup_tf

    _setup_tf()
    import numpy as np
    import tensorflow as tf
    from sga.checkpoints import load_model
    from sga.codec import open_coder
    from sga.inference import METHODS, IterativeInference, round_latents, with_overrides

    from shared_data import container as lic
    from shared_data.imageio import read_image

    zoo = ROOT / "zoo" / "mini"
    models = {"mbt2018": load_model(zoo / "mbt2018-num_filters=32-lmbda=0.01")[0],
              "mbt2018_bb": load_model(zoo / "mbt2018_bb-num_filters=32-lmbda=0.01")[0]}
    work = Path(a.work)

    def coder_for(model_key, portable):
        return open_coder(models[model_key], 0.01, portable=portable)

    def decode_file(path: Path, model_key: str, portable: bool):
        coder = coder_for(model_key, portable)
        try:
            c = coder.read(path)
            y, z, _, _ = coder.decode_latents(c, path.name)
            return {"y": np.asarray(y), "z": np.asarray(z), "rec": coder.reconstruct(y, c.height, c.width)}
        except (lic.ContainerError, ValueError) as e:
            return {"error": str(e)}

    if a.encode:
        out = work / a.tag
        out.mkdir(parents=True, exist_ok=True)
        images = sorted((work / "images").glob("*.png"))
        for i, img_path in enumerate(images):
            img = read_image(img_path)
            x = tf.constant(img[None].astype(np.float32) / 255.0)
            jobs = [("m3", "mbt2018")] + ([("sga", "mbt2018"), ("bb_plain", "mbt2018_bb")] if i == 0 else [])
            for method_name, model_key in jobs:
                model = models[model_key]
                method = with_overrides(METHODS[method_name], its=2 if method_name == "sga" else None)
                y, z, _ = IterativeInference(model, 0.01, method, jit=False).run(x, progress=False)
                y_hat, z_hat = round_latents(model, y, z, method.grid)
                for portable in (True, False):
                    coder = coder_for(model_key, portable)
                    if method.grid == "bitsback":
                        c, _ = coder.encode(y_hat.numpy(), method.name, img.shape[0], img.shape[1])
                    else:
                        c = coder.encode(y_hat.numpy(), z_hat.numpy(), method.grid, method.name, img.shape[0],
                                         img.shape[1])
                    name = f"{img_path.stem}.{method_name}.{'portable' if portable else 'float'}.{model_key}"
                    lic.write(out / f"{name}.lic", c)
                    np.savez(out / f"{name}.self.npz", **decode_file(out / f"{name}.lic", model_key, portable))
    for src in a.decode:
        out = work / src / f"under-{a.tag}"
        out.mkdir(parents=True, exist_ok=True)
        for f in sorted((work / src).glob("*.lic")):
            model_key = f.stem.split(".")[-1]
            res = decode_file(f, model_key, ".portable." in f.name)
            np.savez(out / f"{f.stem}.npz", **res)
    if a.golden:
        out = work / f"golden-under-{a.tag}"
        out.mkdir(parents=True, exist_ok=True)
        for f in sorted(Path(a.golden).glob("*.lic")):
            model_key = "mbt2018_bb" if ".bb_" in f.name else "mbt2018"
            np.savez(out / f"{f.stem}.npz", **decode_file(f, model_key, True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
