"""Regenerate the SGA parity fixture of the ORIGINAL's branch ``tf2`` (``sga_tf/parity/tf2/``):
mandt-lab/improving-inference-for-neural-image-compression (Yang, Bamler, Mandt, NeurIPS 2020), branch ``tf2``
("Reimplementation in tensorflow 2.10", tfc 2.10 API), which runs unpatched on TF 2.14.1 / tfc 2.14.1
(``sga_tf/.venv``).

The original's modules (``mbt2018.py``, ``sga.py``, ``boilerplate.py``, ``utils.py``) are imported from a checkout
the user supplies (never copied into this repository; its ``sga.py`` shadows this project's ``sga`` package in
this process, so nothing of ``sga_tf`` is imported here). Model: ``MBT2018Model(lmbda=0.01, num_filters=32,
num_scales=64, scale_min=.11, scale_max=256)`` (the branch's defaults but N), built after
``tf.keras.utils.set_random_seed(1234)``, on the 192x192 crop of Kodak ``kodim23.png`` at (160, 288) that the
branch-``main`` fixture uses (the branch's models take pixels in [0, 255]). It writes

* ``ckpt/``: the model's weights as the branch saves them (``model.save_weights``: a TF2 object-based
  checkpoint, its own variable paths);
* ``outputs.npz``: the input; the eval pass ``model(x, training=False)`` (y, z, the z quantization offset
  ``side_entropy_model.quantization_offset`` = tfc's ``quantization_offset`` of the ``NoisyDeepFactorized``
  prior, ẑ, μ, the scale indexes exp(raw), ŷ, x̂, y/z bits, bpp, MSE, loss); the training pass inside the
  branch's own ``train_step`` (Keras Adam, lr 1e-4 as ``boilerplate.train``'s default, ε 1e-7): the uniform
  noise tfc drew for z and y, y/z bits, bpp, MSE, loss; one ``iterative_inference_step`` (SGA, the
  branch's ``iterative_infer`` set-up: Keras Adam lr 5e-4, T = ``default_sga_schedule(0)`` = 0.5): the
  relaxed one-hot samples and logits of ẑ's and ŷ's ``sga_round`` (z first), the step's loss parts and the
  updated (y, z);
* ``step/outputs.npz``: ONE ``train_step``'s change of every trainable variable, ``step/<checkpoint key>`` =
  after − before (float32; the updated value is ``ckpt`` + step to ≤ 1 ulp; stored as the step because it
  compresses to 2/3 of the updated values and keeps the fixture ≤ 3 MB);
* ``PROVENANCE.md`` section ``## Branch tf2`` is written by hand from this tool's printed summary (the branch
  ``main`` generator owns that file); ``MANIFEST.json`` (``lic-parity/1``, fixture ``sga-tf2``), last.

Environment: ``sga_tf/.venv`` (TF 2.14.1, tensorflow-compression 2.14.1, absl) as it is::

    git clone -b tf2 https://github.com/mandt-lab/improving-inference-for-neural-image-compression /tmp/ii-tf2
    cd /tmp && KODAK_DIR=/path/to/kodak /path/to/sga_tf/.venv/bin/python \\
        /path/to/tools/parity/make_sga_tf2_fixture.py --original /tmp/ii-tf2 [--commit SHA]

Observation shims only (restored afterwards; the original files are unedited): ``tf.random.uniform`` records
the draws tfc's ``perturb_and_apply`` makes; ``tfp.distributions.RelaxedOneHotCategorical.__init__``/``sample``
record SGA's logits and samples (``tf.config.run_functions_eagerly(True)`` so that the branch's
``@tf.function`` ``sga_round`` hands back concrete tensors); ``MBT2018Model.iterative_inference_step`` records its
result dict. One intra/inter-op thread.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
ORIG_NAME = "mandt-lab/improving-inference-for-neural-image-compression"
ORIG_REPO = "https://github.com/" + ORIG_NAME
OUT = REPO / "sga_tf" / "parity" / "tf2"
KODAK_IMAGE = "kodim23.png"
CROP_TOP, CROP_LEFT, CROP = 160, 288, 192
NUM_FILTERS, LMBDA, SEED = 32, 0.01, 1234
TRAIN_LR, SGA_LR = 1e-4, 5e-4


def load_crop() -> np.ndarray:
    from PIL import Image

    kodak = Path(os.environ.get("KODAK_DIR", REPO.parent / "shared" / "data" / "kodak"))
    f = kodak / KODAK_IMAGE
    if not f.is_file():
        raise SystemExit(f"{f}: Kodak image missing (set KODAK_DIR)")
    img = np.asarray(Image.open(f).convert("RGB"))
    return img[CROP_TOP:CROP_TOP + CROP, CROP_LEFT:CROP_LEFT + CROP][None]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--original", required=True, type=Path, help="checkout of branch tf2")
    ap.add_argument("--commit", default=None, help="needed for a checkout without .git")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    original = a.original.resolve()
    if not (original / "mbt2018.py").is_file() or not (original / "keras_utils.py").is_file():
        raise SystemExit(f"{original}: not a checkout of branch tf2 (mbt2018.py / keras_utils.py missing)")
    commit = a.commit or subprocess.run(["git", "-C", str(original), "rev-parse", "HEAD"], capture_output=True,
                                        text=True, check=True).stdout.strip()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(original))
    import tensorflow as tf
    import tensorflow_probability as tfp

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import mbt2018  # the original's
    import sga as orig_sga  # the original's sga.py (sys.path[0])
    import tensorflow_compression as tfc

    if Path(orig_sga.__file__).resolve().parent != original:
        raise SystemExit(f"'sga' was imported from {orig_sga.__file__}, not from {original}")
    x_np = load_crop().astype(np.float32)  # [0, 255], as the branch's models take it
    out = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    res = {"input": x_np.astype(np.uint8)}  # integer pixel values

    tf.keras.utils.set_random_seed(SEED)
    model = mbt2018.MBT2018Model(LMBDA, NUM_FILTERS, 64, 0.11, 256.0)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=TRAIN_LR))  # boilerplate.train's default lr
    ck = out / "ckpt"
    ck.mkdir(exist_ok=True)
    model.save_weights(str(ck / "ckpt-0"))
    x = tf.constant(x_np)

    # --- eval pass (training=False: hard quantization) and its pieces
    ev = model(x, training=False)
    y = model.analysis_transform(x)
    z = model.hyper_analysis_transform(y)
    side = tfc.ContinuousBatchedEntropyModel(model.hyperprior, coding_rank=3, compression=False)
    offset = side.quantization_offset
    z_hat = tf.round(z - offset) + offset
    mu, raw = tf.split(model.hyper_synthesis_transform(z_hat), 2, axis=-1)
    em = tfc.LocationScaleIndexedEntropyModel(tfc.NoisyNormal, 64, model.scale_fn, coding_rank=3,
                                              compression=False)
    idx = em._normalize_indexes(tf.exp(raw))
    scale = model.scale_fn(idx)
    y_hat = em.quantize(y, loc=mu)
    for k, v in {"y": y, "z": z, "z_offset": offset, "z_hat": z_hat, "mu": mu, "raw": raw, "scale": scale,
                 "y_hat": y_hat, "x_hat": ev["x_hat"], "y_bits": ev["y_bits"], "z_bits": ev["z_bits"],
                 "bpp": ev["bpp"], "mse": ev["mse"], "loss": ev["loss"]}.items():
        res["eval/" + k] = np.asarray(v)
    x_hat_check = model.synthesis_transform(y_hat)[:, :CROP, :CROP]
    assert np.max(np.abs(x_hat_check.numpy() - res["eval/x_hat"])) < 1e-3

    # --- one training step: the branch's own train_step, its uniform draws recorded
    draws = []
    orig_uniform = tf.random.uniform

    def uniform(*args, **kw):
        u = orig_uniform(*args, **kw)
        draws.append(u)
        return u

    before = [v.numpy() for v in model.trainable_variables]
    tf.random.uniform = uniform
    orig_call = model.call
    got = {}

    def call(*args, **kw):
        r = orig_call(*args, **kw)
        got.update(r)
        return r

    model.call = call
    try:
        model.train_step(x)
    finally:
        tf.random.uniform = orig_uniform
        model.call = orig_call
    if len(draws) != 2:
        raise RuntimeError(f"expected 2 uniform draws (z, y) in train_step, got {len(draws)}")
    res["train/noise_z"], res["train/noise_y"] = (np.asarray(d) for d in draws)
    for k in ("loss", "bpp", "mse", "y_bits", "z_bits"):  # x̂ not stored (size): its MSE is
        res["train/" + k] = np.asarray(got[k])
    # the updated weights under the checkpoint's own keys (model variables only, no optimizer slots)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_weights(str(Path(tmp) / "after"))
        reader = tf.train.load_checkpoint(str(Path(tmp) / "after"))
        ref = tf.train.load_checkpoint(str(ck / "ckpt-0"))
        keys = [k for k in ref.get_variable_to_shape_map() if k.endswith("VARIABLE_VALUE") and k.startswith(
            ("analysis_transform/", "synthesis_transform/", "hyper_analysis_transform/",
             "hyper_synthesis_transform/", "hyperprior/"))]  # not my_metrics/, optimizer/
        # stored as the step (after − before, float32: compresses to 2/3 of the values; before + step is the
        # updated value to ≤ 1 ulp), keyed by the checkpoint's key
        step = {"step/" + k: reader.get_tensor(k) - ref.get_tensor(k) for k in sorted(keys)}
    moved = sum(bool(np.any(step["step/" + k])) for k in keys)
    if moved != len(model.trainable_variables):
        raise RuntimeError(f"{moved} checkpoint variables moved in one step, {len(model.trainable_variables)} "
                           "trainable")

    # --- one SGA step of iterative_infer (restore the pre-step weights first)
    model.load_weights(str(ck / "ckpt-0"))
    for v, b in zip(model.trainable_variables, before):
        np.testing.assert_array_equal(v.numpy(), b)
    Relaxed = tfp.distributions.RelaxedOneHotCategorical
    orig_init, orig_sample = Relaxed.__init__, Relaxed.sample
    cap = {"logits": [], "samples": []}

    def init(self, temperature, logits=None, **kw):
        cap["logits"].append(logits)
        return orig_init(self, temperature, logits=logits, **kw)

    def sample(self, *args, **kw):
        s = orig_sample(self, *args, **kw)
        cap["samples"].append(s)
        return s

    step_res = {}
    orig_step = model.iterative_inference_step

    def inf_step(*args, **kw):
        r = orig_step(*args, **kw)
        step_res.update(r)
        return r

    Relaxed.__init__, Relaxed.sample = init, sample
    model.iterative_inference_step = inf_step
    tf.config.run_functions_eagerly(True)
    try:
        (y1, z1), val = model.iterative_infer(x, num_steps=1, sga_schedule=orig_sga.default_sga_schedule,
                                              learning_rate=SGA_LR, debug=True)
    finally:
        tf.config.run_functions_eagerly(False)
        Relaxed.__init__, Relaxed.sample = orig_init, orig_sample
        del model.iterative_inference_step
    if len(cap["samples"]) != 2:
        raise RuntimeError(f"expected 2 SGA samples (z, y), got {len(cap['samples'])}")
    res["sga/T"] = np.float64(orig_sga.default_sga_schedule(0))
    res["sga/y0"], res["sga/z0"] = res["eval/y"], res["eval/z"]
    for i, k in enumerate(("z", "y")):
        res[f"sga/logits_{k}"] = np.asarray(cap["logits"][i])
        res[f"sga/sample_{k}"] = np.asarray(cap["samples"][i])
    for k in ("loss", "bpp", "mse", "y_bits", "z_bits"):
        res["sga/" + k] = np.asarray(step_res[k])
        res["sga/val_" + k] = np.asarray(val[k])
    res["sga/y1"], res["sga/z1"] = y1.numpy(), z1.numpy()

    np.savez_compressed(out / "outputs.npz", **res)
    (out / "step").mkdir(exist_ok=True)
    np.savez_compressed(out / "step" / "outputs.npz", **step)

    sys.path.insert(0, str(REPO / "shared_data"))
    from shared_data import parity

    versions = {"python": platform.python_version(), "tensorflow": tf.__version__,
                "tensorflow_compression": importlib.metadata.version("tensorflow-compression"), "tensorflow_probability": tfp.__version__,
                "numpy": np.__version__}
    params = {"num_filters": NUM_FILTERS, "lmbda": LMBDA, "seed": SEED, "num_scales": 64, "scale_min": 0.11,
              "scale_max": 256.0, "train_lr": TRAIN_LR, "sga_lr": SGA_LR,
              "input": {"image": KODAK_IMAGE, "top": CROP_TOP, "left": CROP_LEFT, "size": CROP,
                        "uint8_sha256": hashlib.sha256(x_np.astype(np.uint8).tobytes()).hexdigest()}}
    manifest = parity.manifest(out, fixture="sga-tf2", repository=ORIG_REPO, commit=commit, branch="tf2",
                               generator="tools/parity/make_sga_tf2_fixture.py", versions=versions, params=params)
    parity.write_manifest(out, manifest)  # last
    summary = {k: float(np.ravel(v)[0]) for k, v in res.items() if np.size(v) == 1}
    print(json.dumps({"commit": commit, **summary, "files": {k: f["sha256"] for k, f in manifest["files"].items()}},
                     indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
