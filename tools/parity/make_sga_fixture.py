"""Regenerate the SGA parity fixtures (``sga_tf/parity/``) with the ORIGINAL code,
mandt-lab/improving-inference-for-neural-image-compression (Yang, Bamler, Mandt, "Improving Inference for
Neural Image Compression", NeurIPS 2020), branch ``main`` (TF 1.15 + tensorflow-compression 1.3 graph code).

The original is imported from a checkout the user supplies (never copied into this repository) and run on
TF 2.14.1 in ``tf.compat.v1`` graph mode with tensorflow-compression **v1.3's Python package** first on
``sys.path`` (its TF-version assert relaxed in that scratch copy, its ``cc/libtensorflow_compression.so`` a
link to tfc 2.14.1's library, which registers the v1.3 range-coding ops with the same signatures). Model:
``--num_filters 32``, λ = 0.01, one fixed 192x192 crop of Kodak ``kodim23.png`` (the original's eval needs
≥ 176 px for ``tf.image.ssim_multiscale``). It writes

* ``mbt2018/``: ``ckpt/model.ckpt-0.*`` (the original ``mbt2018.py`` training graph's freshly initialised model
  variables + ``global_step``, TF1 names, saved by ``tf.train.Saver``; ``entropy_bottleneck/quantiles``
  included, Adam slots left out), ``outputs.npz``: the input, the original's eval graph (``build_graph(...,
  training=False)``: y, z, ẑ (median-rounded), μ, σ, ŷ, likelihoods, x̂, y/z bits, the range-coded strings)
  and its training graph (the uniform noise it drew, ỹ, z̃, y/z bpp, MSE, loss) and every trainable variable
  after ONE run of the original's train op (main Adam 1e-4 + aux Adam 1e-3 + quantile updates) as
  ``after/<TF1 name>`` in ``mbt2018_step/outputs.npz`` (a separate file to keep each fixture ≤ 3 MB);
* ``methods/outputs.npz``: for each of ``sga.py`` (M1), ``map.py`` (A1), ``ste.py`` (A2), ``unoise.py`` (A3),
  ``danneal.py`` (A4): the original's own ``compress()`` run on the same checkpoint and crop, stopped inside
  its numpy ``Adam.update`` at iteration 0: the initial (y, z), the gradients, the loss parts of that step, the
  updated (y, z) and the random draws it used (SGA: the relaxed one-hot samples and logits; U-noise: the
  uniform noise); for SGA also the samples/logits of the same graph at T = 0.5, 0.05, 0.005;
* ``bb/``: ``mbt2018_bb.py``'s training graph: weights (``ckpt/``), q(z|x) = (m, log-variance), the Gaussian
  ε it drew, z̃, log q, p(z̃), p(ỹ|z̃), the bpp terms (y, z, back) and the loss;
* ``bb_step/outputs.npz``: every trainable variable of ``mbt2018_bb.py`` after ONE run of its train op (main
  Adam 1e-4) on those weights and draws, ``after/<TF1 name>``. By default (no ``--fresh-bb``) an existing
  ``bb/`` is reused: its checkpoint restored, its ε and uniform noise fed, its outputs checked and left
  unchanged (the prior biases' unseeded TF1 initializer is not reproduced across processes);
* ``mbt2018_med/outputs.npz``: the M3 eval graph (z, ẑ, μ, σ, ŷ, likelihoods, bits, quantiles) on
  ``model.ckpt-0`` after 300 runs of the original's own ``aux_step`` (Adam 1e-3 on the EntropyBottleneck
  quantiles): learned medians ±0.3, for the median-ẑ switch (fresh, every median is 0);
* ``PROVENANCE.md`` (with a "Branch tf2" section from ``tf2/MANIFEST.json``, written by
  ``make_sga_tf2_fixture.py``) and, last, ``MANIFEST.json`` (schema ``lic-parity/1`` of ``shared_data.parity``: commit,
  branch, sha256 of every file, versions; config and input under ``params``).

Environment (scratch only; nothing in ``sga_tf/requirements*`` changes)::

    git clone -b main https://github.com/mandt-lab/improving-inference-for-neural-image-compression /tmp/ii
    git clone https://github.com/tensorflow/compression /tmp/tfc && git -C /tmp/tfc archive v1.3 \\
        | tar -x -C /tmp/tfc13                      # tensorflow-compression v1.3 (commit e1e08a2)
    sed -i 's/assert _tf_version\\[0\\] == 1 and _tf_version\\[1\\] >= 14/assert _tf_version[0] >= 1/' \\
        /tmp/tfc13/tensorflow_compression/__init__.py
    mkdir -p /tmp/tfc13/tensorflow_compression/cc && ln -s \\
        $PWD/sga_tf/.venv/lib/python3.11/site-packages/tensorflow_compression/cc/libtensorflow_compression.so \\
        /tmp/tfc13/tensorflow_compression/cc/
    KODAK_DIR=/path/to/kodak sga_tf/.venv/bin/python tools/parity/make_sga_fixture.py \\
        --original /tmp/ii --tfc13 /tmp/tfc13 [--commit SHA]

A checkout without ``.git`` (``git archive``) needs ``--commit SHA``. One intra/inter-op thread, Grappler off,
resource variables (the CPM fixture measured that TF1 ref variables let the train op's backward pass read
already-updated weights).
"""

from __future__ import annotations

import argparse
import hashlib
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
OUT = REPO / "sga_tf" / "parity"
KODAK_IMAGE = "kodim23.png"
CROP_TOP, CROP_LEFT, CROP = 160, 288, 192
NUM_FILTERS, LMBDA, SEED = 32, 0.01, 1234
RUNNAME = f"mbt2018-num_filters={NUM_FILTERS}-lmbda={LMBDA:g}"
SGA_TEMPERATURES = (0.5, 0.05, 0.005)
METHODS = ("sga", "map", "ste", "unoise", "danneal")
MEDIAN_AUX_STEPS = 300  # Adam 1e-3 moves each median ≈ 1e-3 per step: off the integers after 300


class _Stop(Exception):
    pass


def load_crop() -> np.ndarray:
    from PIL import Image

    kodak = Path(os.environ.get("KODAK_DIR", REPO.parent / "shared" / "data" / "kodak"))
    img = np.asarray(Image.open(kodak / KODAK_IMAGE).convert("RGB"))
    return img[CROP_TOP:CROP_TOP + CROP, CROP_LEFT:CROP_LEFT + CROP][None]


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _relative_checkpoint_file(d: Path):
    """The ``checkpoint`` index file with the relative prefix only (Saver writes absolute paths)."""
    (d / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-0"\n'
                                  'all_model_checkpoint_paths: "model.ckpt-0"\n')


def _session(tf):
    cfg = tf.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    cfg.graph_options.rewrite_options.disable_meta_optimizer = True
    return tf.Session(config=cfg)


def setup(original: Path, tfc13: Path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path[:0] = [str(original), str(tfc13)]
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    tf.enable_resource_variables()
    import tensorflow_compression as tfc

    if not hasattr(tfc, "EntropyBottleneck") or str(tfc13) not in tfc.__file__:
        raise SystemExit(f"tensorflow_compression was imported from {tfc.__file__}, not from --tfc13 {tfc13}")
    return tf, tfc


def model_part(tf, x_np, work: Path, out: Path) -> dict:
    """mbt2018.py's training graph (weights, one train step) and eval graph (forward, strings)."""
    import mbt2018

    args = argparse.Namespace(num_filters=NUM_FILTERS, num_hfilters=-1, batchsize=1, patchsize=CROP,
                              lmbda=LMBDA)
    res = {}
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(SEED)
        x = tf.placeholder(tf.float32, x_np.shape)
        tr = mbt2018.build_train_graph(args, x)
        model_vars = [v for v in tf.global_variables() if "/Adam" not in v.name and not v.name.startswith("beta")]
        saver = tf.train.Saver(var_list=model_vars)
        with _session(tf) as sess:
            sess.run(tf.global_variables_initializer())
            ck = work / RUNNAME
            ck.mkdir(parents=True, exist_ok=True)
            saver.save(sess, str(ck / "model.ckpt"), global_step=0)
            (out / "ckpt").mkdir(parents=True, exist_ok=True)
            saver.save(sess, str(out / "ckpt" / "model.ckpt"), global_step=0, write_meta_graph=False)
            _relative_checkpoint_file(out / "ckpt")
            names = ["y", "z", "y_tilde", "z_tilde", "mu", "sigma", "y_likelihoods", "z_likelihoods", "x_tilde",
                     "y_bpp", "z_bpp", "train_bpp", "train_mse", "train_loss"]
            graph = tr["graph"]
            tensors = {k: graph[k] if k in graph else tr[k] for k in names}
            tensors["train_op"] = tr["train_op"]
            vals = sess.run(tensors, feed_dict={x: x_np})
            for k in names:
                res[f"train/{k}"] = np.asarray(vals[k])
            res["train/noise_y"] = res["train/y_tilde"] - res["train/y"]
            res["train/noise_z"] = res["train/z_tilde"] - res["train/z"]
            for v in tf.trainable_variables():
                res[f"after/{v.name.split(':')[0]}"] = sess.run(v)
            for v in tf.global_variables():
                if v.name.startswith("entropy_bottleneck/quantiles"):
                    res["after/entropy_bottleneck/quantiles"] = sess.run(v)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, x_np.shape)
        ev = mbt2018.build_graph(args, x, training=False)
        with _session(tf) as sess:
            tf.train.Saver().restore(sess, str(work / RUNNAME / "model.ckpt-0"))
            names = ["y", "z", "z_tilde", "mu", "sigma", "y_tilde", "y_likelihoods", "z_likelihoods", "x_tilde",
                     "string", "side_string"]
            vals = sess.run({k: ev[k] for k in names}, feed_dict={x: x_np})
            for k in names:
                if k in ("string", "side_string"):  # one image: its range-coded bytes, stored as uint8
                    res[f"eval/{k}"] = np.frombuffer(vals[k][0], np.uint8)
                else:
                    res[f"eval/{k}"] = np.asarray(vals[k])
            q = [v for v in tf.global_variables() if v.name.startswith("entropy_bottleneck/quantiles")][0]
            res["eval/quantiles"] = sess.run(q)
    for k in ("y", "z"):
        res[f"eval/{k}_bits"] = np.float64(-np.log2(res[f"eval/{k}_likelihoods"].astype(np.float64)).sum())
    res["input"] = x_np
    return res


def methods_part(tf, x_np, work: Path) -> dict:
    """Each inference script's own compress(), stopped in its numpy Adam at iteration 0."""
    import adam
    import tensorflow_probability as tfp
    import tf_boilerplate

    res = {}
    npy = work / "input.npy"
    np.save(npy, np.round(x_np * 255.0).astype(np.uint8))  # the scripts divide a .npy batch by 255
    orig_adam = adam.Adam
    RelaxedOneHot = tfp.distributions.RelaxedOneHotCategorical
    orig_init, orig_sample = RelaxedOneHot.__init__, RelaxedOneHot.sample
    orig_uniform = tf.random.uniform
    orig_run = tf.Session.run
    for method in METHODS:
        captured = {"logits": [], "samples": [], "uniform": [], "extra": None, "temps": {}}
        rec = {}

        def init(self, temperature, logits=None, _c=captured, **kw):
            _c["logits"].append(logits)
            return orig_init(self, temperature, logits=logits, **kw)

        def sample(self, *a, _c=captured, **kw):
            s = orig_sample(self, *a, **kw)
            _c["samples"].append(s)
            return s

        def uniform(*a, _c=captured, **kw):
            u = orig_uniform(*a, **kw)
            _c["uniform"].append(u)
            return u

        def run(self, fetches, feed_dict=None, *a, _c=captured, _rec=rec, **kw):
            feed_dict = feed_dict or {}
            if len(feed_dict) >= 3 and _c["extra"] is None:  # the first gradient run: y, z, x (, T) fed
                extra = _c["logits"] + _c["samples"] + _c["uniform"]
                out = orig_run(self, [fetches, extra], feed_dict, *a, **kw)
                _c["extra"] = out[1]
                temp_ph = [k for k in feed_dict if "temperature" in getattr(k, "name", "")]
                if temp_ph:
                    base = {k: v for k, v in feed_dict.items() if k is not temp_ph[0]}
                    for t in SGA_TEMPERATURES:
                        _c["temps"][t] = orig_run(self, _c["logits"] + _c["samples"], {**base, temp_ph[0]: t})
                _c["feed"] = {getattr(k, "name", str(k)): v for k, v in feed_dict.items()}
                _c["fetched"] = out[0]
                return out[0]
            return orig_run(self, fetches, feed_dict, *a, **kw)

        class RecordingAdam(orig_adam):
            def update(self, params, grads, _rec=rec):
                new = orig_adam.update(self, params, grads)
                _rec["params"], _rec["grads"], _rec["new"] = params, grads, new
                raise _Stop()

        RelaxedOneHot.__init__, RelaxedOneHot.sample = init, sample
        tf.random.uniform, tf.Session.run, adam.Adam = uniform, run, RecordingAdam
        try:
            mod = __import__(method)
            argv = ["x", "--num_filters", str(NUM_FILTERS), "--checkpoint_dir", str(work), "compress", RUNNAME,
                    str(npy)]
            args = tf_boilerplate.parse_args(argv)
            args.results_dir = str(work)
            with tf.Graph().as_default():
                tf.set_random_seed(SEED)  # the draws are stored anyway; this makes the rerun reproducible
                try:
                    mod.compress(args)
                except _Stop:
                    pass
                else:
                    raise RuntimeError(f"{method}.py: compress() finished without an Adam update")
        finally:
            RelaxedOneHot.__init__, RelaxedOneHot.sample = orig_init, orig_sample
            tf.random.uniform, tf.Session.run, adam.Adam = orig_uniform, orig_run, orig_adam
        p = f"{method}/"
        res[p + "y0"], res[p + "z0"] = rec["params"]
        res[p + "grad_y"], res[p + "grad_z"] = rec["grads"]
        res[p + "y1"], res[p + "z1"] = rec["new"]
        fetched = captured["fetched"]  # [rd_gradients, rd_loss, train_mse, train_bpp, psnr] (MAP/STE/...: same)
        res[p + "rd_loss"] = np.float64(fetched[1])
        res[p + "mse255"] = np.float64(fetched[2])
        res[p + "bpp"] = np.float64(fetched[3])
        for k, v in captured["feed"].items():
            if "temperature" in k:
                res[p + "T"] = np.float64(v)
        extra = captured["extra"]
        nl, ns = len(captured["logits"]), len(captured["samples"])
        for i in range(nl):
            res[p + f"logits_{i}"] = extra[i]
        for i in range(ns):
            res[p + f"sample_{i}"] = extra[nl + i]
        for i in range(len(captured["uniform"])):
            res[p + f"uniform_{i}"] = extra[nl + ns + i]
        for t, vals in captured["temps"].items():
            for i, v in enumerate(vals):
                res[p + f"T={t:g}/" + ("logits" if i < nl else "sample") + f"_{i % nl}"] = v
        print(f"{method}: rd_loss {res[p + 'rd_loss']:.6f} bpp {res[p + 'bpp']:.6f}", flush=True)
    return res


def bb_part(tf, x_np, out: Path, reuse: bool = True):
    """mbt2018_bb.py's training graph: q(z|x), the ELBO terms, its weights and ONE run of its train op (main Adam
    1e-4; ``mbt2018_bb.py`` has no auxiliary loss). Returns (outputs, updated trainable variables).

    ``reuse`` (default) and ``out`` already holding ``ckpt/model.ckpt-0`` + ``outputs.npz``: the graph restores
    those weights and is fed the stored ε and uniform noise, so the step belongs to the stored forward pass and the
    stored files stay as they are (checked: every stored tensor recomputed to ≤ 1e-6 relative). Needed because
    the TF1 initializer draws of the prior's biases (``learned_prior.py``, ``random_uniform`` without a seed) are
    not reproduced across processes: a fresh run gives other initial weights than the committed fixture's."""
    import mbt2018_bb
    import tensorflow as tf2

    args = argparse.Namespace(num_filters=NUM_FILTERS, num_hfilters=-1, batchsize=1, patchsize=CROP,
                              lmbda=LMBDA)
    old_ck = out / "ckpt" / "model.ckpt-0"
    old = None
    if reuse and (out / "outputs.npz").is_file() and Path(str(old_ck) + ".index").is_file():
        with np.load(out / "outputs.npz") as f:
            old = {k: f[k] for k in f.files}
    res = {}
    draws = []
    mods = (tf.random, tf2.random)
    orig = [m.uniform for m in mods]

    def uniform(*a, **kw):
        u = orig[0](*a, **kw)
        draws.append(u)
        return u

    with tf.Graph().as_default():
        tf.set_random_seed(SEED)
        x = tf.placeholder(tf.float32, x_np.shape)
        for m in mods:
            m.uniform = uniform
        try:
            tr = mbt2018_bb.build_train_graph(args, x)
        finally:
            for m, f in zip(mods, orig):
                m.uniform = f
        gr = tr["graph"]
        model_vars = [v for v in tf.global_variables() if "/Adam" not in v.name and not v.name.startswith("beta")]
        with _session(tf) as sess:
            sess.run(tf.global_variables_initializer())
            saver = tf.train.Saver(var_list=model_vars)
            feed = {x: x_np}
            if old is None:
                (out / "ckpt").mkdir(parents=True, exist_ok=True)
                saver.save(sess, str(out / "ckpt" / "model.ckpt"), global_step=0, write_meta_graph=False)
                _relative_checkpoint_file(out / "ckpt")
            else:
                saver.restore(sess, str(old_ck))
                if len(draws) != 1:
                    raise RuntimeError(f"mbt2018_bb.py drew {len(draws)} uniform tensors, expected 1 (ỹ's noise)")
                feed[gr["eps"]] = old["eps"]
                feed[draws[0]] = old["noise_y"]
            names = ["y", "z_mean", "z_logvar", "eps", "z_tilde", "log_q_z_tilde", "z_likelihoods", "mu", "sigma",
                     "y_tilde", "y_likelihoods", "x_tilde"]
            # the train op in the same run: one step on these draws (resource variables: the forward and backward
            # pass read the pre-step weights)
            vals = sess.run({**{k: gr[k] for k in names},
                             **{k: tr[k] for k in ("bpp_back", "y_bpp", "z_bpp", "train_bpp", "train_mse",
                                                   "train_loss")}, "train_op": tr["train_op"]}, feed_dict=feed)
            vals.pop("train_op")
            step = {f"after/{v.name.split(':')[0]}": sess.run(v) for v in tf.trainable_variables()}
    for k, v in vals.items():
        res[k] = np.asarray(v)
    res["noise_y"] = res["y_tilde"] - res["y"]
    res["input"] = x_np
    if old is not None:
        for k, v in old.items():
            err = np.max(np.abs(res[k].astype(np.float64) - v)) / max(np.max(np.abs(v)), 1e-12)
            if err > 1e-6:
                raise RuntimeError(f"{out / 'outputs.npz'}: {k} recomputed with the stored weights and draws "
                                   f"differs by {err:.3g} (relative)")
        print("bits-back: stored weights and draws reused; stored outputs reproduced to <= 1e-6", flush=True)
        return old, step
    return res, step


def median_part(tf, x_np, work: Path) -> dict:
    """The M3 eval graph with learned medians: ``MEDIAN_AUX_STEPS`` runs of the original's own auxiliary step
    (``aux_step``: Adam 1e-3 on the EntropyBottleneck quantiles only) from ``model.ckpt-0``, then
    ``build_graph(..., training=False)`` on those weights (freshly initialised, the medians are all 0, so the
    plain eval graph cannot tell a median grid from the integers)."""
    import mbt2018

    args = argparse.Namespace(num_filters=NUM_FILTERS, num_hfilters=-1, batchsize=1, patchsize=CROP,
                              lmbda=LMBDA)
    res = {}
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, x_np.shape)
        tr = mbt2018.build_train_graph(args, x)
        model_vars = [v for v in tf.global_variables() if "/Adam" not in v.name and not v.name.startswith("beta")]
        with _session(tf) as sess:
            sess.run(tf.global_variables_initializer())
            tf.train.Saver(var_list=model_vars).restore(sess, str(work / RUNNAME / "model.ckpt-0"))
            for _ in range(MEDIAN_AUX_STEPS):
                sess.run(tr["aux_step"], feed_dict={x: x_np})
            (work / "med").mkdir(exist_ok=True)
            tf.train.Saver(var_list=model_vars).save(sess, str(work / "med" / "model.ckpt"), global_step=0)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, x_np.shape)
        ev = mbt2018.build_graph(args, x, training=False)
        with _session(tf) as sess:
            tf.train.Saver().restore(sess, str(work / "med" / "model.ckpt-0"))
            names = ["z", "z_tilde", "mu", "sigma", "y_tilde", "y_likelihoods", "z_likelihoods"]
            vals = sess.run({k: ev[k] for k in names}, feed_dict={x: x_np})
            q = [v for v in tf.global_variables() if v.name.startswith("entropy_bottleneck/quantiles")][0]
            res["quantiles"] = sess.run(q)
    for k in names:
        res[k] = np.asarray(vals[k])
    for k in ("y", "z"):
        res[f"{k}_bits"] = np.float64(-np.log2(res[f"{k}_likelihoods"].astype(np.float64)).sum())
    print(f"median eval: medians in [{res['quantiles'][:, 0, 1].min():.3f}, {res['quantiles'][:, 0, 1].max():.3f}],"
          f" y bits {res['y_bits']:.4f}, z bits {res['z_bits']:.4f}", flush=True)
    return res


def write_provenance(out: Path, manifest: dict, m: dict, meth: dict, bb: dict, med: dict):
    man = {**manifest["params"], "original": ORIG_NAME, "commit": manifest["original"]["commit"],
           "versions": manifest["versions"], "files": {k: f["sha256"] for k, f in manifest["files"].items()}}
    v = man["versions"]
    key = [f"- eval graph (M3): y bits {float(m['eval/y_bits']):.4f}, z bits {float(m['eval/z_bits']):.4f} "
           f"(median-rounded ẑ), range-coded strings {m['eval/string'].size} + {m['eval/side_string'].size} bytes",
           f"- training graph: loss {float(m['train/train_loss']):.6f}, y bpp {float(m['train/y_bpp']):.6f}, "
           f"z bpp {float(m['train/z_bpp']):.6f}, MSE·255² {float(m['train/train_mse']):.4f}"]
    for meth_name in METHODS:
        key.append(f"- {meth_name}.py iteration 0: rd_loss {float(meth[meth_name + '/rd_loss']):.6f}, "
                   f"bpp {float(meth[meth_name + '/bpp']):.6f}")
    key.append(f"- bits-back training graph: loss {float(bb['train_loss']):.6f}, y bpp {float(bb['y_bpp']):.6f}, "
               f"z bpp {float(bb['z_bpp']):.6f}, bits back {float(bb['bpp_back']):.6f} bpp (and one step of its "
               "train op, `bb_step/`)")
    med_m = med["quantiles"][:, 0, 1]
    key.append(f"- eval graph after {MEDIAN_AUX_STEPS} auxiliary (quantile) steps (`mbt2018_med/`): medians in "
               f"[{med_m.min():.4f}, {med_m.max():.4f}], y bits {float(med['y_bits']):.4f}, z bits "
               f"{float(med['z_bits']):.4f}")
    files = "\n".join(f"- `{k}` sha256 `{d}`" for k, d in sorted(man["files"].items()))
    text = f"""# Provenance of the SGA parity fixtures (issue 18)

Generated by `tools/parity/make_sga_fixture.py`; do not edit by hand (rerun the tool).

- original: `{man['original']}` branch `main` at commit `{man['commit']}`, imported from a user-supplied
  checkout (not copied into this repository)
- tensorflow-compression: tag `v1.3` (commit `e1e08a2c62e4d08b93c6bf4008c8a123fc17b2a0`), its Python package
  first on `sys.path`
- configuration: `--num_filters {man['num_filters']}`, λ = {man['lmbda']}, run name `{man['runname']}`, batch 1,
  patch {man['input']['size']}
- seed: `tf.set_random_seed({man['seed']})` in each graph (after the original modules' own `tf.set_random_seed(0)`
  at import); the draws used (uniform noise, relaxed one-hot samples) are stored, so the tests replay them
- input: Kodak `{man['input']['image']}` crop {man['input']['size']}×{man['input']['size']} at (top, left) =
  ({man['input']['top']}, {man['input']['left']}), float32 in [0, 1] (uint8 sha256 `{man['input']['uint8_sha256'][:16]}...`)
- versions: Python {v['python']}, TensorFlow {v['tensorflow']} (`tf.compat.v1` graph mode), tensorflow-compression
  {v['tensorflow_compression']}, TensorFlow Probability {v['tensorflow_probability']}, NumPy {v['numpy']}; 1
  intra/inter-op thread, Grappler off
- branch `tf2` (TF 2.10 / tfc 2.10 API): its own fixture `tf2/` (section "Branch tf2" below)

## Shims (only inside the generator process; the original files are unedited)

1. tensorflow-compression v1.3's `__init__.py` TF-version assert relaxed (`assert _tf_version[0] >= 1`) in the
   scratch copy; its `cc/libtensorflow_compression.so` is a link to tfc 2.14.1's library (same op names and
   signatures for the range coder)
2. `tf.compat.v1.disable_v2_behavior()` and `tf.compat.v1.enable_resource_variables()` before the original's
   modules import (resource variables: the train op's backward pass reads the pre-step weights)
3. observation only, restored after each script: the original's numpy `adam.Adam.update` is wrapped to record
   (params, grads, updated params) of iteration 0 and then stop `compress()`; `tfp.distributions.
   RelaxedOneHotCategorical.__init__`/`sample` and `tf.random.uniform` record the tensors they create;
   `tf.Session.run` adds those tensors to the fetches of the first gradient run (same draws) and re-runs the
   SGA graph at T = {', '.join(str(t) for t in man['sga_temperatures'])}
4. the inference scripts get the crop as a `.npy` batch (uint8 values; the scripts divide by 255) and the
   checkpoint written by the training graph (`model.ckpt-0`, model variables only)

## Command

```
KODAK_DIR=/path/to/kodak sga_tf/.venv/bin/python tools/parity/make_sga_fixture.py \\
    --original /path/to/improving-inference-for-neural-image-compression --tfc13 /path/to/tfc13 [--commit SHA]
```

## Key values of the original

{chr(10).join(key)}

## Files

{files}
{tf2_section(out)}"""
    (out / "PROVENANCE.md").write_text(text)


def tf2_section(out: Path) -> str:
    """PROVENANCE.md's "Branch tf2" section, from ``tf2/MANIFEST.json`` (written by make_sga_tf2_fixture.py)."""
    mp = out / "tf2" / "MANIFEST.json"
    if not mp.is_file():
        return "\n## Branch tf2\n\nNot generated (run tools/parity/make_sga_tf2_fixture.py).\n"
    man = json.loads(mp.read_text())
    p, v, o = man["params"], man["versions"], np.load(out / "tf2" / "outputs.npz")
    files = "\n".join(f"- `tf2/{k}` sha256 `{f['sha256']}`" for k, f in sorted(man["files"].items()))
    return f"""
## Branch tf2

Generated by `tools/parity/make_sga_tf2_fixture.py` (own manifest `tf2/MANIFEST.json`, fixture `sga-tf2`).

- original: `{ORIG_NAME}` branch `tf2` at commit `{man['original']['commit']}` ("Reimplementation in
  tensorflow 2.10"), imported from a user-supplied checkout, **unpatched**, on TF {v['tensorflow']} /
  tensorflow-compression {v['tensorflow_compression']} (`sga_tf/.venv`), TFP {v['tensorflow_probability']}, NumPy
  {v['numpy']}, Python {v['python']}; 1 intra/inter-op thread
- model: `mbt2018.MBT2018Model(lmbda={p['lmbda']}, num_filters={p['num_filters']}, num_scales={p['num_scales']},
  scale_min={p['scale_min']}, scale_max={p['scale_max']})` after `tf.keras.utils.set_random_seed({p['seed']})`;
  weights as the branch saves them (`model.save_weights`, `tf2/ckpt/ckpt-0`)
- input: the same Kodak `{p['input']['image']}` crop ({p['input']['top']}, {p['input']['left']}) {p['input']['size']}², pixel
  values in [0, 255] as the branch takes them
- stored: eval pass `model(x, training=False)` (M3: ẑ on the prior's quantization offsets, μ, σ, ŷ, x̂,
  bits), the training pass of the branch's own `train_step` (Keras Adam lr {p['train_lr']}, ε 1e-7) with the
  uniform noise tfc drew, the step itself (`tf2/step/`: after − before per checkpoint key), and the first
  step of `iterative_infer` (SGA at T = 0.5 on the offset grids, Keras Adam lr {p['sga_lr']}) with its
  relaxed one-hot samples
- shims (observation only, restored): `tf.random.uniform`, `RelaxedOneHotCategorical.__init__`/`sample` and
  the model's `call` / `iterative_inference_step` record what they return; `tf.config.run_functions_eagerly`
  during the SGA step so that its `@tf.function` `sga_round` hands back concrete tensors
- key values: eval y bits {float(np.ravel(o['eval/y_bits'])[0]):.4f}, z bits {float(np.ravel(o['eval/z_bits'])[0]):.4f},
  loss {float(o['eval/loss']):.6f}; training loss {float(o['train/loss']):.6f}, bpp {float(o['train/bpp']):.6f};
  SGA step loss {float(o['sga/loss']):.6f}

Command:

```
cd /tmp && KODAK_DIR=/path/to/kodak /path/to/sga_tf/.venv/bin/python /path/to/tools/parity/make_sga_tf2_fixture.py \\
    --original /path/to/checkout-of-branch-tf2 [--commit SHA]
```

{files}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--original", required=True, type=Path, help="checkout of branch main")
    ap.add_argument("--tfc13", required=True, type=Path, help="tensorflow-compression v1.3 source root (patched)")
    ap.add_argument("--commit", default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--fresh-bb", action="store_true",
                    help="re-initialise the bits-back weights (default: reuse bb/ckpt and the stored draws)")
    a = ap.parse_args(argv)
    commit = a.commit or subprocess.run(["git", "-C", str(a.original), "rev-parse", "HEAD"], capture_output=True,
                                        text=True, check=True).stdout.strip()
    tf, tfc = setup(a.original.resolve(), a.tfc13.resolve())
    os.chdir(a.original)  # the scripts read nothing relative, but keep their cwd as when run from the checkout
    x_np = (load_crop().astype(np.float32) / 255.0)
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        m = model_part(tf, x_np, work, out / "mbt2018")
        step = {k: m.pop(k) for k in list(m) if k.startswith("after/")}
        np.savez_compressed(out / "mbt2018" / "outputs.npz", **m)
        (out / "mbt2018_step").mkdir(exist_ok=True)
        np.savez_compressed(out / "mbt2018_step" / "outputs.npz", **step)
        meth = methods_part(tf, x_np, work)
        (out / "methods").mkdir(exist_ok=True)
        np.savez_compressed(out / "methods" / "outputs.npz", **meth)
        bb, bb_step = bb_part(tf, x_np, out / "bb", reuse=not a.fresh_bb)
        if a.fresh_bb or not (out / "bb" / "outputs.npz").is_file():
            np.savez_compressed(out / "bb" / "outputs.npz", **bb)
        (out / "bb_step").mkdir(exist_ok=True)
        np.savez_compressed(out / "bb_step" / "outputs.npz", **bb_step)
        # after bb_part: building more graphs before it changes the draws of its prior biases' initializer
        med = median_part(tf, x_np, work)
        (out / "mbt2018_med").mkdir(exist_ok=True)
        np.savez_compressed(out / "mbt2018_med" / "outputs.npz", **med)
    import tensorflow_probability as tfp

    versions = {"python": platform.python_version(), "tensorflow": tf.__version__,
                "tensorflow_compression": f"v1.3 Python package ({tfc.__file__}) + tfc 2.14.1 ops library",
                "tensorflow_probability": tfp.__version__, "numpy": np.__version__}
    from shared_data import parity

    params = {"num_filters": NUM_FILTERS, "lmbda": LMBDA, "seed": SEED, "runname": RUNNAME,
              "input": {"image": KODAK_IMAGE, "top": CROP_TOP, "left": CROP_LEFT, "size": CROP,
                        "uint8_sha256": hashlib.sha256((x_np * 255).round().astype(np.uint8).tobytes()).hexdigest()},
              "sga_temperatures": list(SGA_TEMPERATURES)}
    # every data file under out (the checkpoints and outputs.npz of bb/, mbt2018/, mbt2018_step/, methods/)
    params["median_aux_steps"] = MEDIAN_AUX_STEPS
    # every data file under out but the branch-tf2 fixture's (tf2/, its own manifest: make_sga_tf2_fixture.py)
    files = [f for f in parity.data_files(out) if not f.startswith("tf2/")]
    manifest = parity.manifest(out, fixture="sga", repository=ORIG_REPO, commit=commit, branch="main",
                               generator="tools/parity/make_sga_fixture.py", versions=versions, params=params,
                               files=files)
    write_provenance(out, manifest, m, meth, bb, med)
    parity.write_manifest(out, manifest)  # last: an interrupted run leaves a manifest naming the stale files
    print(json.dumps({k: float(v) for k, v in m.items() if np.ndim(v) == 0}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
