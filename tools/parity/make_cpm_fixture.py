"""Regenerate the CPM parity fixture (``cpm_tf/parity/``) with the ORIGINAL code, fab-jul/imgcomp-cvpr
(Mentzer et al., "Conditional Probability Models for Deep Image Compression", CVPR 2018).

The original is imported from a checkout the user supplies (it is never copied into this repository) and
run on TF 2.14.1 in ``tf.compat.v1`` graph mode: the parity configuration ``cpm_tf/parity/ae_config_parity``
(the original's ``cvpr/low`` with B=1, n=16, 64x64 crops, batch 2) + the original's
``pc_configs/cvpr/res_shallow``; ``tf.set_random_seed(1234)`` as the original's ``train.py``. It writes

* ``orig_ckpt/model.ckpt-0.{index,data-00000-of-00001}``: the freshly initialised weights, saved by
  ``tf.train.Saver`` under the original's TF1 variable names (model variables + ``global_step``);
* ``orig_outputs.npz``: the input batch (two fixed 64x64 crops of Kodak kodim23), and the original's
  tensors for it: to_bn output, importance map, masked z, qsoft/qhard/qbar/symbols, probclass logits,
  bit costs, H_real/H_mask/H_soft/H_target, pc_loss, MS-SSIM, d_loss, regularisers, total loss, the
  reconstruction (training graph, ``is_training=True``) and the test graph (``is_training=False``:
  symbols, bit costs, reconstruction); then, after ONE run of the original's train op (Adam_AE + Adam_PC,
  UPDATE_OPS), every global variable under ``after/<TF1 name>`` (weights, BN moving stats, Adam slots,
  beta powers, global_step);
* ``PROVENANCE.md`` and, last, ``MANIFEST.json`` (schema ``lic-parity/1`` of ``shared_data.parity``: commit,
  sha256 of every file incl. ``ae_config_parity``, versions; config and input under ``params``).

Environment (scratch only; nothing changes ``cpm_tf/requirements*``)::

    git clone https://github.com/fab-jul/imgcomp-cvpr /tmp/imgcomp-cvpr     # HEAD f03ce0b
    cpm_tf/.venv/bin/python -m pip install --target /tmp/cpm-orig-deps --no-deps \\
        tf_slim==1.1.0 fjcommon==0.1.69 fasteners==0.20
    PYTHONPATH=/tmp/cpm-orig-deps KODAK_DIR=/path/to/kodak \\
        cpm_tf/.venv/bin/python tools/parity/make_cpm_fixture.py --original /tmp/imgcomp-cvpr

A checkout without ``.git`` (``git archive``) needs ``--commit SHA``. The tool sets ``TF_ENABLE_ONEDNN_OPTS=1``
(TF's CPU kernels run the original's NCHW convolutions only through oneDNN), one thread, Grappler off. Shims applied while the original
imports (all listed in PROVENANCE.md): ``tensorflow`` -> ``tensorflow.compat.v1`` (v2 behaviour off); a
``tensorflow.contrib`` stand-in (``slim``/``framework`` = tf_slim, ``layers`` = ``tf_slim.layers``); a stub
``sheets_logger``; ``skimage.measure.compare_psnr/compare_ssim`` -> ``skimage.metrics``;
``keras.legacy_tf_layers`` -> ``keras.src.legacy_tf_layers``; ``autoencoder.arch_param_n`` (a module
constant in the original) set from the parity config.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import platform
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
ORIG_REPO = "https://github.com/fab-jul/imgcomp-cvpr"
CPM_DIR = REPO / "cpm_tf"
PARITY_CONFIG = CPM_DIR / "parity" / "ae_config_parity"
KODAK_IMAGE = "kodim23.png"
CROPS = ((160, 288), (288, 480))  # (top, left) of the two 64x64 crops in kodim23 (768x512, landscape)
CROP = 64
SEED = 1234  # tf.set_random_seed(1234), the original's train.py:main
# extra MS-SSIM cases (H, W) for the original's ms_ssim.MultiScaleSSIM alone: 160 = the training crop (10-px
# scale: 11 taps, pad 1/0), 80 (5-px odd scale: no pad), 128x96 (pad measured on the width only), 40
MSSSIM_CASES = ((160, 160), (80, 80), (128, 96), (40, 40))
SHIMS = [
    "`tensorflow` is `tensorflow.compat.v1` (after `disable_v2_behavior()`) while the original's modules and "
    "fjcommon import",
    "`tensorflow.contrib`: a stand-in module with `slim` = `framework` = `tf_slim` and `layers` = "
    "`tf_slim.layers` (for `xavier_initializer`)",
    "`sheets_logger`: a stub module (the original's needs Google API clients; only `train.py --description` uses it)",
    "`skimage.measure.compare_psnr` / `compare_ssim` = `skimage.metrics.peak_signal_noise_ratio` / "
    "`structural_similarity` (renamed in scikit-image 0.16)",
    "`keras.legacy_tf_layers` = `keras.src.legacy_tf_layers` (Keras 2.14 moved it; tf_slim's batch_norm needs it)",
    "`autoencoder.arch_param_n` (module constant, 128 in the original) = `arch_param_n` of the parity config",
    "`tf.enable_resource_variables()`: with TF1 ref variables the executor let backward ops of the train op read "
    "weights that Adam_AE had already updated in place (measured: 2-8e-3 relative gradient error in every layer "
    "upstream of dec_0_2); resource-variable reads are snapshots, so the step uses the pre-step weights throughout",
    "session: 1 intra/inter-op thread, Grappler off (`disable_meta_optimizer`: fusions chosen per fetched "
    "subgraph moved x_out by up to 2e-4 between the forward-only run and the train-op run), "
    "`TF_ENABLE_ONEDNN_OPTS=1` (TF's CPU kernels run the original's NCHW convolutions only through oneDNN)",
    "observation only: `_get_heatmap3D` and `_logits` of the two network instances are wrapped to record the "
    "to_bn output and the probclass logits they receive/return (values unchanged); qsoft is the original's "
    "`quantizer.quantize(z, centers, sigma=1)` applied to the original's masked z",
]


class FixtureError(RuntimeError):
    pass


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _commit_of(original: Path, given: str | None) -> str:
    try:
        head = subprocess.run(["git", "-C", str(original), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head = None
    if head and given and not head.startswith(given):
        raise FixtureError(f"{original}: checkout is at {head}, --commit says {given}")
    if not head and not given:
        raise FixtureError(f"{original}: not a git checkout; pass --commit SHA (the commit it was exported from)")
    return head or given


def _import_original(code_dir: Path) -> types.SimpleNamespace:
    """Import the original's modules under the sys.modules shims of SHIMS; the aliases are removed again
    before any graph is built (the modules keep their ``tf`` = ``tensorflow.compat.v1``)."""
    import skimage.measure
    import skimage.metrics
    import tensorflow.compat.v1 as tf1
    try:
        import fasteners  # noqa: F401  (the original's train.py imports it)
        import fjcommon  # noqa: F401
        import tf_slim
        import tf_slim.layers
    except ImportError as e:
        raise FixtureError(f"{e.name} is not importable: install tf_slim==1.1.0 fjcommon==0.1.69 fasteners into a "
                           "scratch folder on PYTHONPATH (see this tool's docstring)") from None
    from importlib.metadata import version
    for pkg, want in (("fjcommon", "0.1.69"), ("tf_slim", "1.1.0")):
        if version(pkg) != want:
            raise FixtureError(f"{pkg} {version(pkg)} found, the fixture is made with {want} (the original's pin)")
    # keras' legacy layers import lazily and need the real `tensorflow`: load them before aliasing
    # (tensorflow.python.layers still asks for `keras.legacy_tf_layers.*` while graphs are built, so that
    # alias stays registered)
    sys.modules["keras.legacy_tf_layers"] = importlib.import_module("keras.src.legacy_tf_layers")
    for sub in ("base", "normalization", "convolutional", "core"):
        sys.modules[f"keras.legacy_tf_layers.{sub}"] = importlib.import_module(f"keras.src.legacy_tf_layers.{sub}")

    tf1.disable_v2_behavior()
    # resource variables: with TF1 ref variables the executor lets backward ops read weights that Adam has
    # already updated in place within the same train-op run (2-8e-3 relative gradient error measured)
    tf1.enable_resource_variables()
    contrib = types.ModuleType("tensorflow.contrib")
    # the package: `tf_slim.layers` as an attribute is the layers.layers submodule (no xavier_initializer)
    contrib.slim, contrib.framework, contrib.layers = tf_slim, tf_slim, sys.modules["tf_slim.layers"]
    tf1.contrib = contrib
    sheets = types.ModuleType("sheets_logger")

    class GoogleSheetsAccessFailedException(Exception):
        pass

    def _no_sheets(*_a, **_k):
        raise GoogleSheetsAccessFailedException("sheets_logger is stubbed for the parity fixture")

    sheets.GoogleSheetsAccessFailedException = GoogleSheetsAccessFailedException
    sheets.get_lock_file_p = sheets.insert_row = _no_sheets
    skimage.measure.compare_psnr = skimage.metrics.peak_signal_noise_ratio
    skimage.measure.compare_ssim = skimage.metrics.structural_similarity
    aliased = ("tensorflow", "tensorflow.contrib")
    saved = {k: sys.modules.get(k) for k in aliased}
    sys.modules.update({"tensorflow": tf1, "tensorflow.contrib": contrib, "sheets_logger": sheets})
    sys.path.insert(0, str(code_dir))
    try:
        import autoencoder
        import probclass
        import quantizer
        import train
        from fjcommon import config_parser
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return types.SimpleNamespace(tf=tf1, config_parser=config_parser, autoencoder=autoencoder,
                                 probclass=probclass, quantizer=quantizer, train=train, ms_ssim=train.ms_ssim)


def _kodak_input(kodak_dir: Path) -> np.ndarray:
    from PIL import Image
    p = kodak_dir / KODAK_IMAGE
    if not p.is_file():
        raise FixtureError(f"{p}: Kodak image not found (set KODAK_DIR or --kodak)")
    img = np.asarray(Image.open(p).convert("RGB"))
    if img.shape != (512, 768, 3):
        raise FixtureError(f"{p}: expected 512x768 RGB, got {img.shape}")
    return np.stack([img[t:t + CROP, le:le + CROP] for t, le in CROPS])  # (2, 64, 64, 3) uint8


def _msssim_cases(orig, kodak_dir: Path) -> dict:
    """The original's MultiScaleSSIM (NHWC, batch of 2) on Kodak kodim23 crops vs. noisy copies (seed 0)."""
    from PIL import Image
    tf = orig.tf
    img = np.asarray(Image.open(kodak_dir / KODAK_IMAGE).convert("RGB"))
    rng = np.random.RandomState(0)
    out = {}
    for h, w in MSSSIM_CASES:
        a = np.stack([img[100:100 + h, 200:200 + w], img[300:300 + h, 500:500 + w]])
        b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
        g = tf.Graph()
        with g.as_default():
            pa, pb = tf.placeholder(tf.float32, a.shape), tf.placeholder(tf.float32, a.shape)
            v = orig.ms_ssim.MultiScaleSSIM(pa, pb, data_format="NHWC")
            with tf.Session(graph=g, config=_session_config(tf)) as sess:
                out[f"{h}x{w}/value"] = np.float32(sess.run(v, {pa: a.astype(np.float32), pb: b.astype(np.float32)}))
        out[f"{h}x{w}/a"], out[f"{h}x{w}/b"] = a, b
    return out


def _session_config(tf):
    cfg = tf.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    # no Grappler rewrites: the forward-only run and the train-op run must compute the same numbers
    # (fusions chosen per fetched subgraph moved x_out by up to 2e-4 between the two runs)
    cfg.graph_options.rewrite_options.disable_meta_optimizer = True
    return cfg


def _write_config(tmp: Path, code_dir: Path) -> Path:
    lines = PARITY_CONFIG.read_text().split("\n")
    if not lines[0].startswith("use "):
        raise FixtureError(f"{PARITY_CONFIG}: first line must be a `use` line")
    base = code_dir / "ae_configs" / "cvpr" / "low"
    if not base.is_file():
        raise FixtureError(f"{base}: not found; --original must be the root of an imgcomp-cvpr checkout")
    p = tmp / "ae_config_parity"
    p.write_text("\n".join([f"use {base}"] + lines[1:]))
    return p


def build_and_run(original: Path, kodak_dir: Path, out_dir: Path, commit: str) -> dict:
    code_dir = original / "code"
    x_nhwc = _kodak_input(kodak_dir)
    orig = _import_original(code_dir)
    tf, config_parser, autoencoder, probclass, quantizer, orig_train = (
        orig.tf, orig.config_parser, orig.autoencoder, orig.probclass, orig.quantizer, orig.train)
    with tempfile.TemporaryDirectory() as tmp:
        ae_cfg_path = _write_config(Path(tmp), code_dir)
        pc_cfg_path = code_dir / "pc_configs" / "cvpr" / "res_shallow"
        ae_config, _ = config_parser.parse(str(ae_cfg_path))
        pc_config, _ = config_parser.parse(str(pc_cfg_path))
        autoencoder.arch_param_n = int(ae_config.arch_param_n)  # shim: module constant in the original
        if tuple(ae_config.crop_size) != (CROP, CROP) or ae_config.batch_size != len(CROPS):
            raise FixtureError(f"{PARITY_CONFIG}: crop_size/batch_size must be ({CROP}, {CROP}) / {len(CROPS)}")

        g = tf.Graph()
        with g.as_default():
            tf.set_random_seed(SEED)
            ae = autoencoder.get_network_cls(ae_config)(ae_config)
            pc = probclass.get_network_cls(pc_config)(pc_config, num_centers=ae_config.num_centers)
            seen = {}

            def record(obj, attr, key, arg=None):
                f = getattr(obj, attr)

                def wrapped(*a, **k):
                    out = f(*a, **k)
                    seen.setdefault(key, []).append(k[arg] if arg else out)
                    return out
                setattr(obj, attr, wrapped)

            record(ae, "_get_heatmap3D", "to_bn", arg="bottleneck")
            record(pc, "_logits", "logits")
            x = tf.placeholder(tf.float32, (len(CROPS), 3, CROP, CROP), name="x")  # NCHW, 0..255
            # --- training graph, exactly as the original's train.py:train ---
            enc = ae.encode(x, is_training=True)
            x_out = ae.decode(enc.qbar, is_training=True)
            pc_in = tf.stop_gradient(enc.qbar)
            bc = pc.bitcost(pc_in, enc.symbols, is_training=True, pad_value=pc.auto_pad_value(ae))
            bpp = orig_train.bits.bitcost_to_bpp(bc, x)
            d = orig_train.Distortions(ae_config, x, x_out, is_training=True)
            total, H_real, pc_comps, ae_comps = orig_train.get_loss(ae_config, ae, pc, d.d_loss_scaled, bc,
                                                                    enc.heatmap)
            pipeline = types.SimpleNamespace(num_crops_per_img=1, batch_size=ae_config.batch_size,
                                             dataset=types.SimpleNamespace(num_images=1281167))
            train_op = orig_train.get_train_op(ae_config, pc_config, pipeline, pc.variables(), total)
            qsoft = quantizer.quantize(enc.z, ae.get_centers_variable(), sigma=1)[0]
            # --- test graph (is_training=False, qhard), as the original's train.py test / val.py ---
            with tf.name_scope("test"):
                enc_t = ae.encode(x, is_training=False)
                x_out_t = ae.decode(enc_t.qhard, is_training=False)
                bc_t = pc.bitcost(enc_t.qhard, enc_t.symbols, is_training=False, pad_value=pc.auto_pad_value(ae))
            pcd, aed = dict(pc_comps), dict(ae_comps)
            # gradients of the total loss w.r.t. intermediate tensors (localise a gradient mismatch)
            grad_of = {"x_out": x_out, "qbar": enc.qbar, "heatmap": enc.heatmap, "z": enc.z}
            grads = dict(zip(grad_of, tf.gradients(total, list(grad_of.values()))))
            fetch = {
                "x": x, "to_bn": seen["to_bn"][0], "heatmap": enc.heatmap, "z": enc.z, "qsoft": qsoft,
                "qhard": enc.qhard, "qbar": enc.qbar, "symbols": enc.symbols, "logits": seen["logits"][0],
                "bitcost": bc, "bpp": bpp, "H_real": pcd["H_real"], "H_mask": pcd["H_mask"],
                "pc_loss": pcd["pc_loss"], "ms_ssim": d.ms_ssim, "mse": d.mse, "psnr": d.psnr,
                "d_loss_scaled": aed["d_loss_scaled"], "reg_enc": ae.encoder_regularization_loss(),
                "reg_dec": ae.decoder_regularization_loss(), "reg_enc_dec": aed["reg_enc_dec"],
                "total_loss": total, "x_out": x_out, "centers": ae.get_centers_variable(),
                "test/to_bn": seen["to_bn"][1], "test/symbols": enc_t.symbols, "test/qhard": enc_t.qhard,
                "test/bitcost": bc_t, "test/logits": seen["logits"][1], "test/x_out": x_out_t,
                **{f"grad/{k}": v for k, v in grads.items()},
            }
            gvars = tf.global_variables()
            model_vars = [v for v in gvars if "Adam" not in v.op.name and "_power" not in v.op.name]
            saver = tf.train.Saver(model_vars, max_to_keep=None)
            cfg = _session_config(tf)
            feed = {x: x_nhwc.transpose(0, 3, 1, 2).astype(np.float32)}
            with tf.Session(graph=g, config=cfg) as sess:
                sess.run(tf.global_variables_initializer())
                ckpt_dir = out_dir / "orig_ckpt"
                ckpt_dir.mkdir(parents=True, exist_ok=True)
                for f in ckpt_dir.iterdir():
                    f.unlink()
                saver.save(sess, str(ckpt_dir / "model.ckpt"), global_step=0, write_meta_graph=False,
                           write_state=False)
                vals = sess.run(fetch, feed)
                again = sess.run(fetch, feed)
                for k in vals:  # the forward pass must be reproducible before it becomes a fixture
                    if not np.array_equal(vals[k], again[k]):
                        raise FixtureError(f"original forward pass not deterministic in {k}")
                _, loss_in_step = sess.run([train_op, total], feed)
                after = dict(zip([v.op.name for v in gvars], sess.run(gvars)))
            trainable = sum(int(np.prod(v.shape)) for v in tf.trainable_variables())
            n_model = {v.op.name: tuple(v.shape.as_list()) for v in model_vars}
    out = {k: np.asarray(v) for k, v in vals.items()}
    out["H_soft"] = np.float32(0.5) * (out["H_mask"] + out["H_real"])  # get_loss: 0.5·(H_mask + H_real)
    out["H_target"] = np.float32(ae_config.H_target)
    out["total_loss_in_step"] = np.float32(loss_in_step)
    out["input_uint8"] = x_nhwc
    for k, v in after.items():
        out[f"after/{k}"] = np.asarray(v)
    msssim = _msssim_cases(orig, kodak_dir)
    info = {"msssim": msssim, "trainable": trainable, "model_variables": len(n_model), "ae_config": {
        k: v for k, v in ae_config.all_params_and_values()}, "pc_config": {
        k: v for k, v in pc_config.all_params_and_values()}}
    return out, info


def _savez(path: Path, arrays: dict) -> None:
    """np.savez_compressed with fixed member timestamps and order, written atomically: a rerun of the
    generator that computes the same numbers writes the same bytes."""
    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in sorted(arrays):
            info = zipfile.ZipInfo(f"{k}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arrays[k]), allow_pickle=False)
    os.replace(tmp, path)


def write_fixture(original: Path, kodak_dir: Path, out_dir: Path, commit: str) -> dict:
    import tensorflow as tf
    out, info = build_and_run(original, kodak_dir, out_dir, commit)
    npz, npz_ms = out_dir / "orig_outputs.npz", out_dir / "orig_msssim.npz"
    for path, arrays in ((npz, out), (npz_ms, info["msssim"])):
        _savez(path, arrays)
    from shared_data import parity

    versions = {"python": platform.python_version(), "tensorflow": tf.__version__}
    for mod in ("tf_slim", "fjcommon", "fasteners", "numpy", "skimage", "keras"):
        try:
            from importlib.metadata import version
            versions[mod] = version({"skimage": "scikit-image"}.get(mod, mod))
        except Exception:  # noqa: BLE001 - a version we cannot read is recorded as unknown
            versions[mod] = "unknown"
    params = {
        "ae_config": "cpm_tf/parity/ae_config_parity (use cvpr/low)", "pc_config": "pc_configs/cvpr/res_shallow",
        "msssim_cases": [f"{h}x{w}" for h, w in MSSSIM_CASES],
        "input": {"image": KODAK_IMAGE, "crops_top_left": [list(c) for c in CROPS], "crop": CROP,
                  "sha256_uint8": hashlib.sha256(out["input_uint8"].tobytes()).hexdigest()},
        "seed": SEED, "trainable_parameters": info["trainable"],
        "original_effective_ae_config": {k: repr(v) for k, v in info["ae_config"].items()},
    }
    # every data file of out_dir: orig_ckpt/*, the two .npz and the parity config ae_config_parity
    manifest = parity.manifest(out_dir, fixture="cpm", repository=ORIG_REPO, commit=commit,
                               generator="tools/parity/make_cpm_fixture.py", versions=versions, params=params)
    _write_provenance(out_dir, manifest, out, info["msssim"])
    parity.write_manifest(out_dir, manifest)  # last: an interrupted run leaves a manifest naming the stale files
    return manifest


def _write_provenance(out_dir: Path, man: dict, out: dict, m_ms: dict) -> None:
    m = {**man["params"], "original_repo": man["original"]["repository"], "original_commit": man["original"]["commit"],
         "files": {k: f["sha256"] for k, f in man["files"].items()}, "versions": man["versions"]}
    v = m["versions"]
    lines = [
        "# Provenance of the CPM parity fixture (issue 18)", "",
        "Generated by `tools/parity/make_cpm_fixture.py`; do not edit by hand (rerun the tool).", "",
        f"- original: `{m['original_repo']}` at commit `{m['original_commit']}`, imported from a user-supplied "
        "checkout (not copied into this repository)",
        "- configuration: `cpm_tf/parity/ae_config_parity` (the original's `ae_configs/cvpr/low` with "
        "`arch_param_B = 1`, `arch_param_n = 16`, `crop_size = (64, 64)`, `batch_size = 2`) + the original's "
        f"`pc_configs/cvpr/res_shallow`; {m['trainable_parameters']:,} trainable parameters",
        f"- seed: `tf.set_random_seed({m['seed']})` (as the original's `train.py`), graph built in the order of the "
        "original's `train.py:train` (training graph, train op, then the test graph); a float32 NCHW placeholder "
        "replaces train.py's queue input pipeline, so the op-level seeds, and thus the initial values, are not "
        "those of a train.py run (any values serve: the fixture pins what the original computes from them)",
        f"- input: two 64x64 crops of Kodak `{m['input']['image']}` at (top, left) = "
        f"{', '.join(str(tuple(c)) for c in m['input']['crops_top_left'])}, fed as float32 NCHW 0..255 "
        f"(uint8 sha256 `{m['input']['sha256_uint8'][:16]}...`)",
        "- one training step: one `sess.run` of the original's `get_train_op` (Adam_AE lr 8e-5 on all non-PC "
        "variables incl. the centers, Adam_PC lr 1e-4 on `probclass3d`, gradients under UPDATE_OPS)",
        f"- versions: Python {v['python']}, TensorFlow {v['tensorflow']} (`tf.compat.v1` graph mode), tf_slim "
        f"{v['tf_slim']}, fjcommon {v['fjcommon']}, fasteners {v['fasteners']}, NumPy {v['numpy']}, "
        f"scikit-image {v['skimage']}, Keras {v['keras']}; 1 intra/inter-op thread",
        "", "## Shims (applied only inside the generator process)", "",
        *[f"{i + 1}. {s}" for i, s in enumerate(SHIMS)],
        "", "## Command", "", "```",
        "cpm_tf/.venv/bin/python -m pip install --target /tmp/cpm-orig-deps --no-deps tf_slim==1.1.0 "
        "fjcommon==0.1.69 fasteners==0.20",
        "PYTHONPATH=/tmp/cpm-orig-deps KODAK_DIR=/path/to/kodak cpm_tf/.venv/bin/python "
        "tools/parity/make_cpm_fixture.py --original /path/to/imgcomp-cvpr [--commit SHA]", "```",
        "", "## Files", "",
        *[f"- `{k}` sha256 `{h}`" for k, h in m["files"].items()],
        "", "## Key values of the original", "",
        f"- MS-SSIM (training graph, batch-level) {float(out['ms_ssim']):.6f}, d_loss_scaled "
        f"{float(out['d_loss_scaled']):.4f}, H_real {float(out['H_real']):.5f}, H_mask {float(out['H_mask']):.5f}, "
        f"H_soft {float(out['H_soft']):.5f} (H_target {float(out['H_target'])}), pc_loss {float(out['pc_loss']):.4f}, "
        f"reg_enc_dec {float(out['reg_enc_dec']):.5f}, total {float(out['total_loss']):.4f}",
        "- MultiScaleSSIM alone (`orig_msssim.npz`, kodim23 crops vs. noisy copies, batch 2): "
        + ", ".join(f"{k.split('/')[0]} {float(v):.6f}" for k, v in sorted(m_ms.items()) if k.endswith("/value")),
        f"- test graph: {float(out['test/bitcost'].sum()):.1f} bits for the two crops "
        f"({float(out['test/bitcost'][0].sum()):.1f} for crop 0)", "",
    ]
    tmp = out_dir / ".PROVENANCE.tmp.md"
    tmp.write_text("\n".join(lines))
    os.replace(tmp, out_dir / "PROVENANCE.md")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--original", required=True, type=Path, help="root of an imgcomp-cvpr checkout (has code/)")
    p.add_argument("--commit", help="commit of the checkout when it has no .git (git archive)")
    p.add_argument("--kodak", type=Path, default=Path(os.environ.get("KODAK_DIR", REPO.parent / "shared/data/kodak")))
    p.add_argument("--out", type=Path, default=CPM_DIR / "parity")
    a = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # the original is NCHW throughout; TF's CPU kernels run NCHW convolutions only through oneDNN
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    try:
        if not (a.original / "code" / "autoencoder.py").is_file():
            raise FixtureError(f"{a.original}: no code/autoencoder.py; not an imgcomp-cvpr checkout")
        commit = _commit_of(a.original, a.commit)
        m = write_fixture(a.original.resolve(), a.kodak, a.out, commit)
    except FixtureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{a.out}: fixture from {m['original']['repository']}@{m['original']['commit'][:7]}; "
          + ", ".join(f"{k} {(a.out / k).stat().st_size / 1e3:.0f} kB" for k in m["files"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
