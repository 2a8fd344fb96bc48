"""Regenerate the iREC parity fixture (``irec_tf/parity/``) with the ORIGINAL code,
gergely-flamich/relative-entropy-coding (Flamich, Havasi & Hernández-Lobato, NeurIPS 2020).

The original is imported from a checkout the user supplies (never copied into this repository) and run on this
project's TF 2.14.1 / tfp 0.22.1 (``irec_tf/.venv``, CPU, one thread). Its package is also called ``rec``, so
this script never imports irec_tf's ``rec``: it runs in its own process with the checkout first on
``sys.path``. Import-time shims (nothing in the checkout is edited):

* ``tensorflow.python.keras`` and its ``constraints / initializers / regularizers / activations / backend /
  engine.input_spec / utils.conv_utils`` → the matching ``tf.keras`` (Keras 2.14) modules (TF 2.14's legacy
  ``tensorflow.python.keras`` copy cannot be mixed with ``tf.keras`` layers);
* ``tensorflow.python.ops.array_ops.stack`` → ``tf.stack`` (moved out of ``array_ops`` in TF 2.14);
* a stand-in for the uncompiled Cython module ``rec.io.entropy_coding`` (its ``ArithmeticCoder`` raises: the
  fixture never writes the original's ``.rec`` files, it records the original's index counts instead);
* ``tfd.Normal.sample`` draws its standard normals from a seeded NumPy stream that the fixture stores
  (``eps/...``), so the project's models can be fed the same noise; loc + scale·ε is the reparameterised
  sample tfp draws, with the same gradients.

Two fixtures (``irec_tf/parity/<name>.npz``, no pickles), both from ``tf.keras.utils.set_random_seed(SEED)``
(python, NumPy and TF seeds: the original's unseeded Keras ``VarianceScaling`` / ``glorot_uniform``
initializers draw their seeds from python's ``random``):

* ``lossy``: ``Large2LevelVAE(level_1_filters=16, level_2_filters=8)``; input two 128² crops of Kodak
  (``CROPS``; a deterministic synthetic image if ``KODAK_DIR`` has no Kodak). ``w/<name>``: every variable
  under the original's own variable names (RDFT-domain kernels as the original stores them);
  ``out/...``: q(z|x), p(z), p(y|ẑ), q(y|x,ẑ) loc/scale, ŷ-free KL₁, KL₂ (``model.kl_divergence()``), x̂,
  MSE·255², bpp, the loss β·MSE + bpp (β = ``BETA``; the original's ``train_lossy_model.py`` mse branch);
  ``grad/<key>``: its gradients; ``step/<key>``: every variable after ONE ``tf.optimizers.Adam(1e-4)`` step; ``code/...``:
  the original's ``BeamSearchCoder`` (Ω=3, B=10, 1+ε=1, block 1000, seed 42) on image 0: per level the
  number of auxiliary variables (indices) per block, the KL of each block (the original's ``Coder.split``),
  ``get_codelength`` (#indices·ln N_s nats) and the analytic KL of that level; ``wp/<key>``, ``epsp/...``,
  ``outp/...``: the forward pass on the init weights perturbed by 0.1·max(std, 0.1)·N(0, 1) per variable (GDN
  parameters kept positive), so that the zero biases and ``prior_base`` of the init hide nothing.
* ``lossless``: ``BidirectionalResNetVAE(num_res_blocks=2, deterministic_filters=16, stochastic_filters=8,
  sampler='beam_search')``; input two 16² crops; ``w0/<key>``: the weights before and ``w/<key>`` after the
  data-dependent init call (the original's first ``model(first_pass)``, which samples from the priors with
  ``eps/init`` and creates the EMA copies);
  ``out/...``: per block prior/posterior loc+scale, the empirical (training) and analytic KL per block,
  the free-bits KL (λ = ``LAMB``), log p(x|z) per image, the reconstruction, the loss; ``grad/<key>``: its
  gradients; ``step/<key>``: after
  ONE ``tf.optimizers.Adamax(1e-3)`` step plus ``model.update_ema_variables()`` (the EMA shadow copies are
  ``step/model/_ema_shadow_variables/...``); ``code/...``
  as above for image 0 (Ω=3, B=20, 1+ε=1.2 → N_s=36).

Run (scratch only)::

    git clone https://github.com/gergely-flamich/relative-entropy-coding /tmp/irec-orig   # HEAD a0ba55e
    KODAK_DIR=/path/to/kodak irec_tf/.venv/bin/python tools/parity/make_irec_fixture.py --original /tmp/irec-orig \\
        [--commit SHA]   # a checkout without .git (git archive) needs --commit

It writes ``irec_tf/parity/{lossy,lossless}.npz``, ``PROVENANCE.md`` and, last, ``MANIFEST.json`` (schema
``lic-parity/1`` of ``shared_data.parity``: commit, versions, sha256 of each file; settings under ``params``). A rerun on the same machine writes identical arrays (one thread, fixed seeds).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "irec_tf" / "parity"
ORIG_REPO = "https://github.com/gergely-flamich/relative-entropy-coding"
SEED = 1234
BETA = 0.01
LAMB = 0.1
CROPS_LOSSY = (("kodim01.png", 200, 300), ("kodim02.png", 150, 250))  # (image, top, left), 128²
CROPS_LOSSLESS = (("kodim01.png", 200, 300), ("kodim17.png", 4, 60))  # 16²
LOSSY_CFG = dict(level_1_filters=16, level_2_filters=8)
LOSSLESS_CFG = dict(num_res_blocks=2, deterministic_filters=16, stochastic_filters=8)
CODE_LOSSY = dict(kl_per_partition=3.0, n_beams=10, extra_samples=1.0, block_size=1000, seed=42)
CODE_LOSSLESS = dict(kl_per_partition=3.0, n_beams=20, extra_samples=1.2, block_size=1000, seed=42)


def _crops(crops, size):
    kodak = Path(os.environ.get("KODAK_DIR", REPO.parent / "shared" / "data" / "kodak"))
    out, src = [], "kodak"
    for name, top, left in crops:
        p = kodak / name
        if p.exists():
            from PIL import Image

            img = np.asarray(Image.open(p).convert("RGB"))
            out.append(img[top:top + size, left:left + size])
        else:
            src = "synthetic"
            yy, xx = np.mgrid[0:size, 0:size]
            out.append(np.stack([(yy * 7 + xx * 3 + top) % 256, (xx * 5 + left) % 256,
                                 (yy * xx + top + left) % 256], -1).astype(np.uint8))
    return np.stack(out).astype(np.uint8), src


def install_shims(original: Path):
    """Make the original importable on TF 2.14 (see the module docstring); returns the noise recorder."""
    import tensorflow as tf
    import tensorflow_probability as tfp
    from keras.src.engine import input_spec
    from keras.src.utils import conv_utils
    from tensorflow.python.ops import array_ops

    k = tf.keras
    pk = types.ModuleType("tensorflow.python.keras")
    for sub in ("constraints", "initializers", "regularizers", "activations", "backend"):
        setattr(pk, sub, getattr(k, sub))
        sys.modules[f"tensorflow.python.keras.{sub}"] = getattr(k, sub)
    eng = types.ModuleType("tensorflow.python.keras.engine")
    eng.input_spec = input_spec
    utl = types.ModuleType("tensorflow.python.keras.utils")
    utl.conv_utils = conv_utils
    pk.engine, pk.utils = eng, utl
    sys.modules.update({"tensorflow.python.keras": pk, "tensorflow.python.keras.engine": eng,
                        "tensorflow.python.keras.engine.input_spec": input_spec,
                        "tensorflow.python.keras.utils": utl,
                        "tensorflow.python.keras.utils.conv_utils": conv_utils})
    array_ops.stack = tf.stack
    ec = types.ModuleType("rec.io.entropy_coding")

    class ArithmeticCoder:  # the Cython coder is not built; the fixture never writes .rec files
        def __init__(self, *a, **kw):
            raise RuntimeError("rec.io.entropy_coding is a stand-in (Cython module not compiled)")

    ec.ArithmeticCoder = ArithmeticCoder
    sys.modules["rec.io.entropy_coding"] = ec
    sys.path.insert(0, str(original))

    class Noise:
        def __init__(self):
            self.rng, self.log, self.replay = None, [], None

        def reset(self, seed, replay=None):
            self.rng, self.log, self.replay = np.random.default_rng(seed), [], replay

        def draw(self, shape):
            if self.replay is not None:
                e = self.replay.pop(0)
                assert e.shape == tuple(shape), (e.shape, shape)
            else:
                e = self.rng.standard_normal(tuple(shape)).astype(np.float32)
            self.log.append(e)
            return tf.constant(e)

    noise = Noise()

    def sample(self, sample_shape=(), seed=None, name="sample", **kw):
        assert sample_shape in ((), []), sample_shape
        shape = tf.broadcast_dynamic_shape(tf.shape(self.loc), tf.shape(self.scale)).numpy()
        return self.loc + self.scale * noise.draw(shape)

    tfp.distributions.Normal.sample = sample
    return noise


def _vars(model, prefix):
    """Every variable under its key in the original's checkpoint (``tf.train.Checkpoint(model=model)``, as
    its training scripts save it), without the ``/.ATTRIBUTES/VARIABLE_VALUE`` suffix."""
    import tempfile

    import tensorflow as tf

    with tempfile.TemporaryDirectory() as d:
        path = tf.train.Checkpoint(model=model).write(os.path.join(d, "ckpt"))
        r = tf.train.load_checkpoint(path)
        keys = [k for k in r.get_variable_to_shape_map() if k.startswith("model/")]
        return {f"{prefix}/{k.replace('/.ATTRIBUTES/VARIABLE_VALUE', '')}": r.get_tensor(k) for k in sorted(keys)}


def _grads(model, grads):
    """The gradients under the checkpoint keys of their variables (assigned into the variables for a moment)."""
    import tensorflow as tf

    snap = _snapshot(model)
    for v, g in zip(model.trainable_variables, grads):
        v.assign(g)
    out = {k: v for k, v in _vars(model, "grad").items()
           if "_ema_shadow_variables" not in k and not k.endswith("_initialized")}
    tf.train.Checkpoint(model=model).read(snap).assert_consumed()
    return out


def _block_kls(coder, target, coding, seed):
    """KL (nats) of each of the coder's blocks: the original's own ``Coder.split`` (seeded shuffle)."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    tl, ts, cl, cs = coder.split(target.loc, target.scale, coding.loc, coding.scale, seed=seed)
    return np.array([float(tf.reduce_sum(tfp.distributions.kl_divergence(
        tfp.distributions.Normal(a, b), tfp.distributions.Normal(c, d)))) for a, b, c, d in zip(tl, ts, cl, cs)])


def _snapshot(model):
    """Write the model's checkpoint to a temporary folder (restored later with ``.read(path)``)."""
    import tempfile

    import tensorflow as tf

    d = tempfile.mkdtemp(prefix="irec-fixture-")
    return tf.train.Checkpoint(model=model).write(os.path.join(d, "ckpt"))


def make_lossy(noise, x_u8):
    import tensorflow as tf
    import tensorflow_probability as tfp
    from rec.coding import BeamSearchCoder
    from rec.models.lossy import Large2LevelVAE

    tfd = tfp.distributions
    tf.keras.utils.set_random_seed(SEED)  # unseeded Keras initializers draw from python random
    model = Large2LevelVAE(**LOSSY_CFG)
    x = tf.constant(x_u8.astype(np.float32) / 255.0)
    noise.reset(SEED)
    model(x)  # build
    arrays = _vars(model, "w")
    snap = _snapshot(model)
    noise.reset(SEED + 1)
    opt = tf.optimizers.Adam(1e-4)
    log_2 = tf.math.log(2.0)
    with tf.GradientTape() as tape:  # train_lossy_model.py, loss_fn="mse" branch, no annealing
        reconstruction = model(x)
        mse = tf.reduce_mean(tf.math.squared_difference(x, reconstruction)) * 255.0 ** 2.0
        klds = model.kl_divergence()
        kld = tf.reduce_sum(klds)
        bpp = kld / (x.shape[1] * x.shape[2] * log_2)
        loss = BETA * mse + bpp
    eps = list(noise.log)
    out = {"x_hat": reconstruction, "mse": mse, "kl1": klds[0], "kl2": klds[1], "bpp": bpp, "loss": loss}
    for lvl, (q, p) in {"z": (model.level_2_posterior, model.level_2_prior),
                        "y": (model.level_1_posterior, model.level_1_prior)}.items():
        out.update({f"q{lvl}_loc": q.loc, f"q{lvl}_scale": q.scale, f"p{lvl}_loc": p.loc, f"p{lvl}_scale": p.scale})
    arrays.update({f"out/{k}": np.asarray(v, np.float32) for k, v in out.items()})
    arrays["eps/z"], arrays["eps/y"] = eps
    grads = tape.gradient(loss, model.trainable_variables)
    arrays.update(_grads(model, grads))
    opt.apply_gradients(zip(grads, model.trainable_variables))
    arrays.update(_vars(model, "step"))
    # the coder, from the pre-step weights, on image 0
    tf.train.Checkpoint(model=model).read(snap).assert_consumed()
    c = dict(CODE_LOSSY)
    seed = c.pop("seed")
    rec_coder = BeamSearchCoder(kl_per_partition=c["kl_per_partition"], n_beams=c["n_beams"],
                                extra_samples=c["extra_samples"], block_size=c["block_size"])
    kls, counts, block_kls = [], [], []

    def sampling_fn(target, coder):  # the original's keyword names
        kls.append(float(tf.reduce_sum(tfd.kl_divergence(target, coder))))
        ind, samp = rec_coder.encode(target, coder, seed=seed)
        counts.append(np.array([len(i) for i in ind], np.int64))
        block_kls.append(_block_kls(rec_coder, target, coder, seed))
        return ind, samp

    tf.random.set_seed(SEED)
    model(x[:1], sampling_fn=sampling_fn)
    for name, kl, cnt, bkl in zip(("z", "y"), kls, counts, block_kls):
        arrays[f"code/{name}/block_kl"] = bkl
        arrays[f"code/{name}/kl"] = np.float64(kl)
        arrays[f"code/{name}/num_indices"] = cnt
        arrays[f"code/{name}/codelength"] = np.float64(rec_coder.get_codelength([0] * int(cnt.sum())))
    arrays["code/n_samples"] = np.int64(rec_coder.n_samples)
    # perturbed weights: at init the biases and prior_base are zero, so p(z) does not depend on the
    # level-2 prior kernels; a forward pass on perturbed weights exercises every variable
    tf.train.Checkpoint(model=model).read(snap).assert_consumed()
    rng = np.random.default_rng(SEED + 2)
    for v in model.variables:
        w = v.numpy()
        p = w + 0.1 * max(float(np.std(w)), 0.1) * rng.standard_normal(w.shape).astype(np.float32)
        v.assign(np.abs(p) if ("gdn" in v.name or "_beta" in v.name or "_gamma" in v.name) else p)
    arrays.update(_vars(model, "wp"))
    noise.reset(SEED + 3)
    x_hat = model(x)
    arrays["epsp/z"], arrays["epsp/y"] = noise.log
    klds = model.kl_divergence()
    outp = {"x_hat": x_hat, "kl1": klds[0], "kl2": klds[1]}
    for lvl, (q, p) in {"z": (model.level_2_posterior, model.level_2_prior),
                        "y": (model.level_1_posterior, model.level_1_prior)}.items():
        outp.update({f"q{lvl}_loc": q.loc, f"q{lvl}_scale": q.scale, f"p{lvl}_loc": p.loc, f"p{lvl}_scale": p.scale})
    arrays.update({f"outp/{k}": np.asarray(v, np.float32) for k, v in outp.items()})
    return arrays


def make_lossless(noise, x_u8):
    import tensorflow as tf
    import tensorflow_probability as tfp
    from rec.models.resnet_vae import BidirectionalResNetVAE

    tfd = tfp.distributions
    tf.keras.utils.set_random_seed(SEED)
    c = dict(CODE_LOSSLESS)
    seed = c.pop("seed")
    model = BidirectionalResNetVAE(sampler="beam_search",
                                   sampler_args={"n_beams": c["n_beams"], "extra_samples": c["extra_samples"]},
                                   coder_args={"block_size": c["block_size"]},
                                   kl_per_partition=c["kl_per_partition"], **LOSSLESS_CFG)
    # (pixel + 0.5)/256 clipped to [0, 1], minus 0.5: the original's lossless datasets.py
    x = tf.constant(np.clip((x_u8.astype(np.float32) + 0.5) / 256.0, 0.0, 1.0) - 0.5)
    # record each weight-norm conv's variables just before its data-dependent init (its first call)
    from rec.models.custom_modules import reparameterized_convolutions as rc

    pre, calls = {}, {}
    for cls in (rc.ReparameterizedConv2D, rc.ReparameterizedConv2DTranspose):
        calls[cls] = cls.__dict__.get("call")  # None: inherited (restored by deleting the spy)

        def spy(self, inputs, init_scale=0.1, _f=cls.call):
            if not bool(self._initialized.numpy()):
                for v in self.variables:
                    pre.setdefault(id(v), v.numpy())
            return _f(self, inputs, init_scale)

        cls.call = spy
    noise.reset(SEED)
    model(x)  # the original's first model(first_pass): data-dependent init (prior samples), EMA created
    for cls, f in calls.items():
        if f is None:
            del cls.call
        else:
            cls.call = f
    arrays = _vars(model, "w")
    snap = _snapshot(model)
    for v in model.variables:  # the pre-init values under the same checkpoint keys
        if id(v) in pre:
            v.assign(pre[id(v)])
    arrays.update({k: v for k, v in _vars(model, "w0").items() if "_ema_shadow_variables" not in k
                   and not (k.count("/") == 4 and k.endswith("/_initialized"))})
    tf.train.Checkpoint(model=model).read(snap).assert_consumed()
    arrays["eps/init"] = np.concatenate([e.ravel() for e in noise.log])
    noise.reset(SEED + 1)
    opt = tf.optimizers.Adamax(tf.Variable(1e-3))
    with tf.GradientTape() as tape:  # train_generative_model.py train_step, beta=1, no annealing
        reconstruction = model(x, training=True)
        log_likelihood = model.log_likelihood
        kld = model.kl_divergence(empirical=True, minimum_kl=LAMB)
        loss = -log_likelihood + 1.0 * kld
    arrays["eps/train"] = np.concatenate([e.ravel() for e in noise.log])
    out = {"reconstruction": reconstruction, "log_likelihood_mean": log_likelihood, "kl_free_bits": kld,
           "loss": loss}
    for i, b in enumerate(model.residual_blocks):
        out.update({f"block{i}/p_loc": b.prior.loc, f"block{i}/p_scale": b.prior.scale,
                    f"block{i}/q_loc": b.posterior.loc, f"block{i}/q_scale": b.posterior.scale,
                    f"block{i}/kl_empirical": b.empirical_kld,
                    f"block{i}/kl_analytic": tfd.kl_divergence(b.posterior, b.prior)})
    out["kl_empirical_per_block"] = model.kl_divergence(empirical=True, minimum_kl=0.0, reduce=False)
    out["kl_analytic_per_block"] = model.kl_divergence(empirical=False, minimum_kl=0.0, reduce=False)
    ll = model.likelihood_function(x, reconstruction - 0.5)
    out["log_likelihood"] = ll
    arrays.update({f"out/{k}": np.asarray(v, np.float32) for k, v in out.items()})
    grads = tape.gradient(loss, model.trainable_variables)
    arrays.update(_grads(model, grads))
    opt.apply_gradients(zip(grads, model.trainable_variables))
    model.update_ema_variables()
    arrays.update(_vars(model, "step"))  # includes the EMA shadow copies (model/_ema_shadow_variables/...)
    # the coder from the post-init (pre-step) weights, on image 0
    tf.train.Checkpoint(model=model).read(snap).assert_existing_objects_matched()
    tf.random.set_seed(SEED)
    block_indices, _ = model.compress(x[:1], seed=seed)
    for i, (b, ind) in enumerate(zip(model.residual_blocks, block_indices)):
        arrays[f"code/block{i}/kl"] = np.float64(tf.reduce_sum(tfd.kl_divergence(b.posterior, b.prior)))
        arrays[f"code/block{i}/num_indices"] = np.array([len(j) for j in ind], np.int64)
        arrays[f"code/block{i}/block_kl"] = _block_kls(b.coder, b.posterior, b.prior, seed)
        # BeamSearchCoder.get_codelength = len(indices)·ln N_s of one block's index list (called on the list of
        # blocks it would count blocks): applied to all indices of the level, as for the lossy model
        arrays[f"code/block{i}/codelength"] = np.float64(b.coder.get_codelength([j for blk in ind for j in blk]))
    arrays["code/n_samples"] = np.int64(model.residual_blocks[0].coder.n_samples)
    return arrays


def _save_npz(path: Path, arrays: dict):
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in sorted(arrays.items())})
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def _commit(original: Path, given: str | None) -> str:
    if given:
        return given
    r = subprocess.run(["git", "-C", str(original), "rev-parse", "HEAD"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{original}: not a git checkout; pass --commit SHA")
    return r.stdout.strip()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--original", required=True, type=Path, help="checkout of " + ORIG_REPO)
    ap.add_argument("--commit", help="the checkout's commit (needed without .git)")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    a = ap.parse_args(argv)
    if not (a.original / "rec" / "models" / "lossy" / "large_2_level_vae.py").exists():
        raise SystemExit(f"{a.original}: not a checkout of {ORIG_REPO} (rec/models/lossy/large_2_level_vae.py missing)")
    commit = _commit(a.original, a.commit)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    noise = install_shims(a.original.resolve())
    a.out.mkdir(parents=True, exist_ok=True)
    x_lossy, src1 = _crops(CROPS_LOSSY, 128)
    x_lossless, src2 = _crops(CROPS_LOSSLESS, 16)
    fixtures = {"lossy": make_lossy(noise, x_lossy), "lossless": make_lossless(noise, x_lossless)}
    fixtures["lossy"]["input"] = x_lossy
    fixtures["lossless"]["input"] = x_lossless
    for name, arr in fixtures.items():
        _save_npz(a.out / f"{name}.npz", arr)
    import tensorflow_probability as tfp

    from shared_data import parity

    params = {"seed": SEED, "beta": BETA, "lamb": LAMB,
              "lossy": {**LOSSY_CFG, "crops": CROPS_LOSSY, "crop_size": 128, "input": src1, "code": CODE_LOSSY},
              "lossless": {**LOSSLESS_CFG, "crops": CROPS_LOSSLESS, "crop_size": 16, "input": src2,
                           "code": CODE_LOSSLESS}}
    versions = {"python": platform.python_version(), "tensorflow": tf.__version__,
                "tensorflow_probability": tfp.__version__, "numpy": np.__version__}
    manifest = parity.manifest(a.out, fixture="irec", repository=ORIG_REPO, commit=commit,
                               generator="tools/parity/make_irec_fixture.py", versions=versions, params=params,
                               files=[f"{name}.npz" for name in fixtures])
    files = {n: info["sha256"] for n, info in manifest["files"].items()}
    prov = PROVENANCE.format(repo=ORIG_REPO, commit=commit, seed=SEED, beta=BETA, lamb=LAMB,
                             lossy=LOSSY_CFG, lossless=LOSSLESS_CFG, crops1=CROPS_LOSSY, crops2=CROPS_LOSSLESS,
                             src1=src1, src2=src2, code1=CODE_LOSSY, code2=CODE_LOSSLESS,
                             versions=manifest["versions"], files="\n".join(
                                 f"| `{n}` | {(a.out / n).stat().st_size:,} | `{h}` |" for n, h in files.items()))
    tmp = a.out / "PROVENANCE.md.tmp"
    tmp.write_text(prov)
    os.replace(tmp, a.out / "PROVENANCE.md")
    parity.write_manifest(a.out, manifest)  # last: an interrupted run leaves a manifest naming the stale files
    for name, p in files.items():
        print(f"{a.out / name}: {(a.out / name).stat().st_size} bytes sha256 {p[:16]}")


PROVENANCE = """# iREC parity fixtures: provenance

Made by `tools/parity/make_irec_fixture.py` from the ORIGINAL code, {repo} at commit `{commit}`
(imported from a local checkout, never copied into this repository), run on this project's TF / tfp
(`irec_tf/.venv`, CPU, one thread). Versions: {versions}.

**Shims** (applied at import time by the generator; no file of the checkout is edited):
`tensorflow.python.keras` (+ `constraints`, `initializers`, `regularizers`, `activations`, `backend`,
`engine.input_spec`, `utils.conv_utils`) → the `tf.keras` (Keras 2.14) modules; `array_ops.stack` → `tf.stack`;
a stand-in for the uncompiled Cython `rec.io.entropy_coding` (raises if used; the fixture never writes `.rec`
files); `tfd.Normal.sample` → loc + scale·ε with ε from `numpy.random.default_rng` (stored as `eps/...`, so
this project's models get the same noise; the same reparameterised sample and gradients as tfp's).

Seed: `tf.keras.utils.set_random_seed({seed})` (python, NumPy, TF) before each model is built; ε streams from seeds {seed} (build/init call)
and {seed} + 1 (the training-step pass).

| fixture | original model (config) | input | what |
|---|---|---|---|
| `lossy.npz` | `rec.models.lossy.Large2LevelVAE` {lossy} | 2 × 128² crops {crops1} ({src1}) | q(z\\|x), p(z), p(y\\|ẑ), q(y\\|x,ẑ), x̂, KL₁, KL₂, MSE·255², bpp, loss = {beta}·MSE + bpp (`train_lossy_model.py`, mse branch); gradients; every variable after ONE `tf.optimizers.Adam(1e-4)` step; `BeamSearchCoder` {code1} on image 0: indices and KL per block, code length, KL per level |
| `lossless.npz` | `rec.models.resnet_vae.BidirectionalResNetVAE` {lossless}, `sampler='beam_search'` | 2 × 16² crops {crops2} ({src2}) | weights before (`w0/`) and after (`w/`) the data-dependent init call (prior samples `eps/init`); per block prior/posterior, empirical + analytic KL; free-bits KL (λ = {lamb}), log p(x\\|z), reconstruction, loss (`train_generative_model.py` `train_step`, β = 1); gradients; after ONE `tf.optimizers.Adamax(1e-3)` step + `update_ema_variables()` (EMA copies included); `BeamSearchCoder` {code2} on image 0 via `model.compress` (indices and KL per block) |

Lossy also: `wp/<key>` + `epsp/...` → `outp/...`, the forward pass on perturbed weights (every variable
+ 0.1·max(std, 0.1)·N(0, 1), GDN parameters kept positive; at init the biases and `prior_base` are zero, so
p(z) would not depend on the level-2 prior kernels).

Keys: `w/<key>` (before the step), `grad/<key>`, `step/<key>` with `<key>` the variable's key in the
original's `tf.train.Checkpoint(model=model)` (its training scripts' checkpoints) without
`/.ATTRIBUTES/VARIABLE_VALUE`; `out/...`, `eps/...`, `code/...`, `input` (uint8). The lossy kernels are stored as
the original stores them (RDFT coefficients, (k·k, in·out), except the hyper-synthesis' and the 1×1 ones).

Not in the fixture: the original's `.rec` files (Cython coder not built; the index counts and
`get_codelength` = #indices · ln N_s are stored instead).

| file | bytes | sha256 |
|---|---|---|
{files}

Regenerate:

```
git clone {repo} /tmp/irec-orig   # commit {commit}
KODAK_DIR=/path/to/kodak irec_tf/.venv/bin/python tools/parity/make_irec_fixture.py --original /tmp/irec-orig
```

Checked by `irec_tf/tests/test_parity.py` (default suite).
"""


if __name__ == "__main__":
    main()
