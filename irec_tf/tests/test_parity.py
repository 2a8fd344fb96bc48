"""Parity with the original relative-entropy-coding code (issue 18; Flamich, Havasi & Hernández-Lobato 2020).

``parity/{lossy,lossless}.npz`` hold weights of small configurations of the original's two models created BY
THE ORIGINAL CODE from a fixed seed under its own checkpoint keys, the input crops, the standard normals of
the reparameterised samples, and the original's outputs (see ``parity/PROVENANCE.md``; regenerate with
``tools/parity/make_irec_fixture.py``). Here the weights go through this project's importer
(``rec.import_original``) and this project's forward pass, loss, one optimizer step and coder run on them.

Tolerance: every float tensor is compared as ``max |ours − original| ≤ RTOL · max |original|`` (per tensor,
float32, RTOL = 1e-5). The training step is compared on the update (``after − before``) to RTOL of the
largest update, and the parameters after it to RTOL of their largest value. The coder: the RNGs differ
(Philox here, TF's seeded stateful RNG there), so the chosen indices are not comparable; what is comparable is
the KL each coder works from and the code length the algorithm guarantees for it: per level Σ K_b·ln N_s ∈
[KL, KL + n_blocks·Ω] (K_b = ⌈KL_b/Ω⌉), for both coders, with ẑ's KL (which depends on x alone) equal to the
original's, and the real file ≤ that bound + ANS slack + the headers.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from rec.codec import compress, decompress, integerize_model, load_model, save_model
from rec.import_original import _lossy_map as lossy_map
from rec.import_original import import_lossless, import_lossy, lossless_map
from rec.train import ema_update, lossless_loss, lossy_loss

from shared_data import parity
from shared_data.errors import ModelError
from shared_data.parity import FixtureError

ROOT = Path(__file__).resolve().parents[1]
PARITY = ROOT / "parity"
EXPECTED_COMMIT = "a0ba55e2bad1827606885d53a3ed4e6dc93a1a9f"  # gergely-flamich/relative-entropy-coding master HEAD
FIXTURE = "irec"  # the one fixture of this sub-project (parity/MANIFEST.json)
REGEN = "tools/parity/make_irec_fixture.py (see parity/PROVENANCE.md)"
RTOL = 1e-5
#: ResNet-VAE gradients across CPUs: float32 accumulation through 24 residual blocks differs in the last bits
#: between kernel families (5.1e-5 of the largest, last_gen_conv, on an AVX-512 CPU vs the AVX2 fixture)
LOSSLESS_GRAD_RTOL = 1e-4
STABLE_GRAD_RTOL = 1e-4  # ResNet VAE gradients under the default (tail-side) discretized logistic
HEADER_BYTES = 100  # container + irec header + arithmetic record + ANS slack (README: ≈ 70 bytes measured)
REQUIRED = {"lossy": ("input", "eps/z", "eps/y", "out/x_hat", "out/kl1", "out/kl2", "out/loss", "epsp/y", "outp/x_hat",
                      "code/z/kl", "code/y/kl", "code/y/num_indices", "code/y/block_kl"),
            "lossless": ("input", "eps/train", "eps/init", "w0/model/first_infer_conv/kernel_weights", "out/loss", "out/log_likelihood", "out/kl_free_bits",
                         "code/block0/kl", "code/block0/num_indices", "code/block0/block_kl")}


def load_dir(d: Path = PARITY) -> parity.Fixture:
    """``d/MANIFEST.json`` checked by ``shared_data.parity.load`` (schema, fixture, commit, sha256 of every file)."""
    return parity.load(d, commit=EXPECTED_COMMIT, required=("lossy.npz", "lossless.npz"), regen=REGEN,
                       fixture=FIXTURE)


@functools.cache
def _fixture() -> parity.Fixture:
    return load_dir()


def _params() -> dict:
    """The generator's settings (``beta``, ``lamb``, ``lossy``/``lossless`` configurations and codes)."""
    return _fixture().params


def load_fixture(name: str, d: Path | None = None) -> dict:
    """The fixture's arrays; a missing, corrupted or other-commit fixture fails naming the file."""
    fx = _fixture() if d is None else load_dir(d)
    return fx.npz(f"{name}.npz", keys=REQUIRED[name])


def _w(a, prefix="w/"):
    return {k[len(prefix):]: v for k, v in a.items() if k.startswith(prefix)}


def close(name, ours, orig, rtol=RTOL):
    ours, orig = np.asarray(ours, np.float64), np.asarray(orig, np.float64)
    assert ours.shape == orig.shape, f"{name}: shape {ours.shape} vs original {orig.shape}"
    err = float(np.max(np.abs(ours - orig))) if ours.size else 0.0
    scale = float(np.max(np.abs(orig))) if orig.size else 0.0
    if os.environ.get("IREC_PARITY_REPORT"):
        print(f"PARITY {name}: {err / max(scale, 1e-30):.3g}")
    assert err <= rtol * max(scale, 1e-30), f"{name}: max |ours − original| = {err:.3g} > {rtol} · {scale:.3g}"
    return err / max(scale, 1e-30)


@pytest.fixture(scope="module")
def lossy_fx():
    return load_fixture("lossy")


@pytest.fixture(scope="module")
def lossless_fx():
    return load_fixture("lossless")


# --- lossy: Large2LevelVAE -------------------------------------------------------------------------------
def test_lossy_forward_and_loss(lossy_fx):
    a = lossy_fx
    m = import_lossy(_w(a))
    x = tf.constant(a["input"].astype(np.float32) / 255.0)
    loc_x, logscale_x = m.infer_y_stats(x)
    qz_loc, qz_scale = m.posterior_z(loc_x)
    pz_loc, pz_scale = m.prior_z(x.shape[0], qz_loc.shape[1], qz_loc.shape[2])
    z = qz_loc + qz_scale * a["eps/z"]
    py_loc, py_logscale, py_scale = m.prior_y(z)
    qy_loc, qy_scale = m.posterior_y(loc_x, logscale_x, py_loc, py_logscale)
    for k, v in dict(qz_loc=qz_loc, qz_scale=qz_scale, pz_loc=pz_loc, pz_scale=pz_scale, py_loc=py_loc,
                     py_scale=py_scale, qy_loc=qy_loc, qy_scale=qy_scale).items():
        close(k, v, a[f"out/{k}"])
    beta = _params()["beta"]
    loss, bpp, mse, x_hat, kl1, kl2 = lossy_loss(m, x, beta, "mse", noise=(a["eps/z"], a["eps/y"]))
    for k, v in dict(x_hat=x_hat, kl1=kl1, kl2=kl2, mse=mse, bpp=bpp, loss=loss).items():
        close(k, v, a[f"out/{k}"])


def test_lossy_forward_perturbed_weights(lossy_fx):
    """The same on the init weights perturbed by the generator (non-zero biases and prior_base, so every
    variable's mapping matters: at init p(z) ignores the level-2 prior kernels)."""
    a = lossy_fx
    m = import_lossy(_w(a, "wp/"))
    x = tf.constant(a["input"].astype(np.float32) / 255.0)
    loc_x, logscale_x = m.infer_y_stats(x)
    qz_loc, qz_scale = m.posterior_z(loc_x)
    pz_loc, pz_scale = m.prior_z(x.shape[0], qz_loc.shape[1], qz_loc.shape[2])
    z = qz_loc + qz_scale * a["epsp/z"]
    py_loc, py_logscale, py_scale = m.prior_y(z)
    qy_loc, qy_scale = m.posterior_y(loc_x, logscale_x, py_loc, py_logscale)
    x_hat, kl1, kl2 = m(x, noise=(a["epsp/z"], a["epsp/y"]))
    for k, v in dict(qz_loc=qz_loc, qz_scale=qz_scale, pz_loc=pz_loc, pz_scale=pz_scale, py_loc=py_loc,
                     py_scale=py_scale, qy_loc=qy_loc, qy_scale=qy_scale, x_hat=x_hat, kl1=kl1, kl2=kl2).items():
        close(f"perturbed {k}", v, a[f"outp/{k}"])


def test_lossy_legacy_flavour_differs(lossy_fx):
    """The legacy layers (SAME zero-padded up-convolution) on the same spatial kernels do NOT reproduce the
    original: the switch is real (README "Differences from the original" gives the measured sizes, on the
    init and on the perturbed weights)."""
    from rec.models.lossy import Large2LevelVAE

    a = lossy_fx
    x = tf.constant(a["input"].astype(np.float32) / 255.0)
    for wkey, okey, ekey in (("w/", "out", "eps"), ("wp/", "outp", "epsp")):
        ref = import_lossy(_w(a, wkey))
        leg = Large2LevelVAE(16, 8, layer_flavour="legacy")
        leg(x)
        for (r, l_) in zip(ref.submodules, leg.submodules):
            if hasattr(r, "_kernel_var"):
                l_._kernel_var.assign(r.kernel)
                if r.use_bias:
                    l_.bias.assign(r.bias)
        leg.prior_base.assign(ref.prior_base)
        for g_r, g_l in zip(ref.analysis_gdn + ref.synthesis_igdn, leg.analysis_gdn + leg.synthesis_igdn):
            g_l.beta_p.assign(g_r.beta_p)
            g_l.gamma_p.assign(g_r.gamma_p)
        x_hat, kl1, _ = leg(x, noise=(a[f"{ekey}/z"], a[f"{ekey}/y"]))
        ref_x = a[f"{okey}/x_hat"]
        rel_x = float(np.max(np.abs(x_hat.numpy() - ref_x)) / np.max(np.abs(ref_x)))
        rel_kl = (float(kl1) - float(a[f"{okey}/kl1"])) / float(a[f"{okey}/kl1"])
        if os.environ.get("IREC_PARITY_REPORT"):
            print(f"PARITY legacy flavour ({wkey}) x_hat: {rel_x:.3g}, KL1 {float(kl1):.4g} vs "
                  f"{float(a[f'{okey}/kl1']):.4g} ({rel_kl:+.2%})")
        assert rel_x > 1e-3, "legacy up-convolution unexpectedly reproduces the original"
        assert abs(rel_kl) > 1e-4


def _check_step(model, grads, mapping, a, make_opt, lr, eps_eff, grad_rtol=RTOL):
    """Gradients (RTOL of each tensor's largest), the optimizer alone fed the original's gradients (RTOL), and
    our end-to-end step: |ours − original| ≤ the gradient tolerance carried through the first step of Adam /
    Adamax (update = lr·g/(|g| + ε_eff), so δu ≤ lr·ε_eff·δg/(|g| + ε_eff)²) + 2 ulp of the parameter before
    and after + 4 ulp of lr (the update's own float32 rounding)."""
    by_id = {id(v): g for v, g in zip(model.trainable_variables, grads)}
    before = {k: a[f"w/{k}"] for k in mapping}
    worst = 0.0
    for k, (v, f) in mapping.items():
        g_ref = a[f"grad/{k}"]
        worst = max(worst, close(f"gradient {k}", np.reshape(f(by_id[id(v)].numpy()), g_ref.shape), g_ref,
                                 rtol=grad_rtol if np.max(np.abs(g_ref)) > 0 else 0.0))
    # the optimizer alone: the original's gradients into this project's optimizer
    opt = make_opt()
    opt.apply_gradients([(tf.constant(np.reshape(f(a[f"grad/{k}"]), v.shape)), v) for k, (v, f) in mapping.items()])
    for k, (v, f) in mapping.items():
        close(f"optimizer step {k}", np.reshape(f(v.numpy()), before[k].shape), a[f"step/{k}"])
    # end to end: our gradients through our optimizer, from the original's weights
    for k, (v, f) in mapping.items():
        v.assign(np.reshape(f(before[k]), v.shape))
    make_opt().apply_gradients(zip(grads, model.trainable_variables))
    for k, (v, f) in mapping.items():
        g_ref = a[f"grad/{k}"]
        dg = grad_rtol * np.max(np.abs(g_ref))
        g64 = np.abs(g_ref.astype(np.float64))
        bound = (lr * eps_eff * dg / (g64 + eps_eff) ** 2 + 2 * np.spacing(np.abs(a[f"step/{k}"]))
                 + 2 * np.spacing(np.abs(before[k])) + 4 * np.spacing(np.float32(lr)))
        ours = np.reshape(f(v.numpy()), g_ref.shape).astype(np.float64)
        err = np.abs(ours - a[f"step/{k}"].astype(np.float64))
        assert np.all(err <= bound), f"step {k}: max excess {np.max(err - bound):.3g} over the carried tolerance"
        if os.environ.get("IREC_PARITY_REPORT"):
            upd = np.max(np.abs(a[f"step/{k}"].astype(np.float64) - before[k]))
            print(f"PARITY end-to-end step {k}: {np.max(err) / max(np.max(np.abs(a[f'step/{k}'])), 1e-30):.3g} "
                  f"(of the update: {np.max(err) / max(upd, 1e-30):.3g})")
    return worst


def test_lossy_train_step(lossy_fx):
    """ONE step of the original's optimizer (Adam, lr 1e-4) on β·MSE·255² + bpp."""
    a = lossy_fx
    m = import_lossy(_w(a))
    x = tf.constant(a["input"].astype(np.float32) / 255.0)
    beta = _params()["beta"]
    with tf.GradientTape() as tape:
        loss = lossy_loss(m, x, beta, "mse", noise=(a["eps/z"], a["eps/y"]))[0]
    grads = tape.gradient(loss, m.trainable_variables)
    adam = tf.keras.optimizers.Adam(1e-4)
    _check_step(m, grads, lossy_map(m), a, lambda: tf.keras.optimizers.Adam(1e-4), 1e-4,
                adam.epsilon / math.sqrt(1.0 - adam.beta_2))


def _reshaper(orig_shape, var):
    """our value ↔ the original's layout for the ResNet VAE (only reshapes: log-scales are (1,1,1,F) there)."""
    return lambda arr: np.reshape(arr, orig_shape) if np.size(arr) == np.prod(orig_shape) else arr


def _orig_layout(ours, f):
    """Our variable value in the original's layout (every map of import_original is an involution)."""
    return np.asarray(f(ours))


# --- lossless: BidirectionalResNetVAE ----------------------------------------------------------------------
def _lossless_noise(a, model):
    eps = a["eps/train"]
    n = eps.size // model.num_res_blocks
    shape = (a["input"].shape[0], a["input"].shape[1] // 2, a["input"].shape[2] // 2, model.stochastic_filters)
    return [tf.constant(eps[i * n:(i + 1) * n].reshape(shape)) for i in range(model.num_res_blocks)]


def test_lossless_data_dependent_init(lossless_fx):
    """The original's first call: every weight-norm conv initialised from its first input's statistics, each
    block's z drawn from the prior (``eps/init``); from the original's pre-init weights this project's first call
    must give the original's post-init weights."""
    a = lossless_fx
    w0 = _w(a, "w0/")
    assert w0 and all(not bool(v) for k, v in w0.items() if k.endswith("/_initialized"))
    m = import_lossless({**_w(a), **w0})   # pre-init conv weights and flags; everything else as after init
    assert all(float(layer.initialized.numpy()) == 0.0 for layer in m.submodules if hasattr(layer, "initialized"))
    eps = a["eps/init"]
    n = eps.size // m.num_res_blocks
    shape = (a["input"].shape[0], a["input"].shape[1] // 2, a["input"].shape[2] // 2, m.stochastic_filters)
    m(tf.constant(a["input"]), noise=[tf.constant(eps[i * n:(i + 1) * n].reshape(shape))
                                     for i in range(m.num_res_blocks)])
    for k, (v, _) in lossless_map(m).items():
        close(f"after init {k}", np.reshape(v.numpy(), a[f"w/{k}"].shape), a[f"w/{k}"].astype(np.float32))


def test_lossless_forward_and_loss(lossless_fx):
    """With ``likelihood_form="original"`` (the original's σ(hi) − σ(lo)); the default form is checked below."""
    a = lossless_fx
    m = import_lossless(_w(a), likelihood_form="original")
    lamb = _params()["lamb"]
    m.lamb = lamb
    noise = _lossless_noise(a, m)
    loss, nll, kl, kls, recon, ll = lossless_loss(m, tf.constant(a["input"]), 1.0, noise=noise)
    close("reconstruction", recon, a["out/reconstruction"])
    close("log p(x|z)", ll, a["out/log_likelihood"])
    close("free-bits KL", kl, a["out/kl_free_bits"])
    close("loss", loss, a["out/loss"])
    # the original's kl_divergence(minimum_kl=0): per channel max(mean_batch Σ_hw KL, 0), summed
    close("empirical KL per block", [float(tf.reduce_sum(tf.maximum(tf.reduce_mean(tf.reduce_sum(k, [1, 2]), 0), 0.0)))
                                     for k in kls], a["out/kl_empirical_per_block"])
    # per block: prior and posterior of the same pass
    from rec.models.resnet_vae import gaussian_kl, to_model_range

    stats = m.inference_pass(to_model_range(tf.constant(a["input"])))
    h = m._base(*a["input"].shape[:1], a["input"].shape[1] // 2, a["input"].shape[2] // 2)
    for i, (blk, qs) in enumerate(zip(m.blocks, stats)):
        t, (pl, ps), (ql, qsc) = blk.distributions(h, qs)
        for k, v in dict(p_loc=pl, p_scale=ps, q_loc=ql, q_scale=qsc, kl_empirical=kls[i],
                         kl_analytic=gaussian_kl(ql, qsc, pl, ps)).items():
            close(f"block {i} {k}", v, a[f"out/block{i}/{k}"])
        h = blk.generate(h, t, ql + qsc * noise[i])


def test_lossless_train_step_and_ema(lossless_fx):
    """ONE Adamax(1e-3) step, then the original's EMA update (decay 0.999, no warm-up)."""
    a = lossless_fx
    m = import_lossless(_w(a), likelihood_form="original")
    m.lamb = _params()["lamb"]
    ema = [tf.Variable(v) for v in m.trainable_variables]
    with tf.GradientTape() as tape:
        loss = lossless_loss(m, tf.constant(a["input"]), 1.0, noise=_lossless_noise(a, m))[0]
    grads = tape.gradient(loss, m.trainable_variables)
    mapping = {k: (v, _reshaper(a[f"w/{k}"].shape, v)) for k, (v, _) in lossless_map(m).items()
               if not k.endswith("/_initialized")}
    _check_step(m, grads, mapping, a, lambda: tf.keras.optimizers.Adamax(1e-3), 1e-3, 1e-7,
                grad_rtol=LOSSLESS_GRAD_RTOL)
    ema_update(ema, m.trainable_variables, 0.999)
    by_var = {id(v): e for v, e in zip(m.trainable_variables, ema)}
    for k, (v, _) in lossless_map(m, ema=True).items():
        close(f"EMA {k}", by_var[id(v)].numpy().reshape(a[f"step/{k}"].shape), a[f"step/{k}"])
    # importing the original's EMA copies gives what its compression script codes with
    m_ema = import_lossless(_w(a, "step/"), ema=True)
    close("imported EMA generative_base", m_ema.generative_base.numpy(),
          a["step/model/_ema_shadow_variables/generative_base:0"])


def test_lossless_default_likelihood_form(lossless_fx):
    """The default ``likelihood_form="stable"`` (σ difference on the tail side; the original's form gives NaN
    once the learned scale is small) computes the same log-likelihood and loss to RTOL; its float32 rounding
    moves the gradients by up to STABLE_GRAD_RTOL of a tensor's largest (measured 4.7e-5, last_gen_conv)."""
    a = lossless_fx
    m = import_lossless(_w(a))
    assert m.likelihood_form == "stable"
    m.lamb = _params()["lamb"]
    with tf.GradientTape() as tape:
        loss, _, _, _, _, ll = lossless_loss(m, tf.constant(a["input"]), 1.0, noise=_lossless_noise(a, m))
    close("log p(x|z), stable form", ll, a["out/log_likelihood"])
    close("loss, stable form", loss, a["out/loss"])
    grads = tape.gradient(loss, m.trainable_variables)
    by_id = {id(v): g for v, g in zip(m.trainable_variables, grads)}
    for k, (v, _) in lossless_map(m).items():
        if not k.endswith("/_initialized"):
            g_ref = a[f"grad/{k}"]
            close(f"gradient {k}, stable form", by_id[id(v)].numpy().reshape(g_ref.shape), g_ref,
                  rtol=STABLE_GRAD_RTOL)


# --- the coder: real files vs the original's KL and code lengths --------------------------------------------
def _bound_check(kl, code_nats, n_blocks, omega, extra, what):
    """K_b = ⌈KL_b/Ω⌉ indices of ln N_s = Ω·(1+ε) nats each (N_s = ⌊e^{Ω(1+ε)}⌋ ≤ e^{Ω(1+ε)}):
    Σ K_b ln N_s ∈ [KL·ln N_s/Ω, (1+ε)·(KL + n_blocks·Ω)]."""
    n_s = int(math.exp(omega * extra))
    lo, hi = kl * math.log(n_s) / omega, extra * (kl + n_blocks * omega)
    assert lo - 1e-3 <= code_nats <= hi + 1e-3, \
        f"{what}: code length {code_nats:.2f} nats outside [{lo:.2f}, {hi:.2f}] (KL {kl:.2f}, {n_blocks} blocks)"


def _per_block_check(a, prefix, omega, n_s, what):
    """The original's own blocks: K_b = ⌈KL_b/Ω⌉ indices, i.e. code K_b·ln N_s vs KL_b (float32 KLs: ± 1e-4)."""
    kl_b, k_b = a[f"{prefix}/block_kl"], a[f"{prefix}/num_indices"]
    assert kl_b.shape == k_b.shape, f"{what}: {kl_b.shape} block KLs vs {k_b.shape} index counts"
    assert abs(float(kl_b.sum()) - float(a[f"{prefix}/kl"])) <= 1e-4 * max(1.0, float(a[f"{prefix}/kl"]))
    ratio = kl_b / omega
    assert np.all((k_b >= ratio - 1e-4) & (k_b < ratio + 1 + 1e-4)), f"{what}: K_b {k_b} vs KL_b/Ω {ratio}"
    if os.environ.get("IREC_PARITY_REPORT"):
        for b, (kl, k) in enumerate(zip(kl_b, k_b)):
            print(f"PARITY {what} block {b}: KL {kl:.3f} nats -> {k} indices = {k * math.log(n_s):.2f} nats")


def test_lossy_coder_file_vs_original_kl(lossy_fx, tmp_path):
    a = lossy_fx
    code = _params()["lossy"]["code"]
    m = import_lossy(_w(a))
    cfg = {"model": "large_level_2_vae", "layer_flavour": "original", "level_1_filters": m.level_1_filters,
           "level_2_filters": m.level_2_filters, "kl_per_partition": code["kl_per_partition"],
           "n_beams": code["n_beams"], "extra_samples": code["extra_samples"], "block_size": code["block_size"],
           "compression_seed": code["seed"]}
    save_model(m, cfg, tmp_path / "float")
    assert json.loads((tmp_path / "float" / "config.json").read_text())["layer_flavour"] == "original"
    lm = integerize_model(tmp_path / "float", tmp_path / "int")   # portable path: integer priors
    img = a["input"][0]
    res = compress(lm, img, tmp_path / "x.lic")
    omega, n_s = code["kl_per_partition"], int(a["code/n_samples"])
    assert res.levels and len(res.levels) == 2
    for name, st in zip(("z", "y"), res.levels):
        n_blocks = int(a[f"code/{name}/num_indices"].size)
        orig_kl, orig_len = float(a[f"code/{name}/kl"]), float(a[f"code/{name}/codelength"])
        _bound_check(orig_kl, orig_len, n_blocks, omega, code["extra_samples"], f"original level {name}")
        _per_block_check(a, f"code/{name}", omega, n_s, f"original lossy level {name}")
        _bound_check(st.kl_nats, st.code_nats, n_blocks, omega, code["extra_samples"], f"this coder level {name}")
        assert abs(int(round(st.code_nats / math.log(n_s))) - int(a[f"code/{name}/num_indices"].sum())) \
            <= n_blocks + abs(st.kl_nats - orig_kl) / omega + 1
    # ẑ's KL depends on x alone: equal to the original's (integer priors: within fixed-point rounding)
    assert abs(res.levels[0].kl_nats - float(a["code/z/kl"])) <= 1e-3 + 1e-3 * float(a["code/z/kl"])
    orig_bound_bits = sum(float(a[f"code/{n}/kl"]) + a[f"code/{n}/num_indices"].size * omega
                          for n in ("z", "y")) / math.log(2)
    file_bits = (tmp_path / "x.lic").stat().st_size * 8
    if os.environ.get("IREC_PARITY_REPORT"):
        for name, st in zip(("z", "y"), res.levels):
            print(f"PARITY lossy coder {name}: original KL {float(a[f'code/{name}/kl']):.3f} nats, "
                  f"{int(a[f'code/{name}/num_indices'].sum())} indices, {float(a[f'code/{name}/codelength']):.2f} "
                  f"nats; ours KL {st.kl_nats:.3f}, {st.code_nats:.2f} nats")
        print(f"PARITY lossy file: {file_bits} bits, index {res.index_nats / math.log(2):.1f} bits, "
              f"original KL bound {orig_bound_bits:.1f} bits")
    assert res.index_nats / math.log(2) <= file_bits <= max(orig_bound_bits, res.index_nats / math.log(2)) \
        + 8 * HEADER_BYTES, f"file {file_bits} bits vs the original's KL bound {orig_bound_bits:.0f} bits"
    out, lat = decompress(lm, tmp_path / "x.lic", return_latents=True)
    assert all(np.array_equal(p, q) for p, q in zip(lat, res.latents))
    assert out.shape == img.shape


def test_lossless_coder_file_vs_original_kl(lossless_fx, tmp_path):
    a = lossless_fx
    code = _params()["lossless"]["code"]
    m = import_lossless(_w(a))
    cfg = {"model": "resnet_vae", "num_res_blocks": m.num_res_blocks,
           "deterministic_filters": m.deterministic_filters, "stochastic_filters": m.stochastic_filters,
           "kl_per_partition": code["kl_per_partition"], "n_beams": code["n_beams"],
           "extra_samples": code["extra_samples"], "block_size": code["block_size"],
           "compression_seed": code["seed"]}
    save_model(m, cfg, tmp_path / "float")
    lm = load_model(tmp_path / "float")
    img = a["input"][0]
    res = compress(lm, img, tmp_path / "x.lic")
    omega = code["kl_per_partition"]
    for i, st in enumerate(res.levels):
        n_blocks = int(a[f"code/block{i}/num_indices"].size)
        _bound_check(float(a[f"code/block{i}/kl"]), float(a[f"code/block{i}/codelength"]), n_blocks, omega,
                     code["extra_samples"], f"original block {i}")
        _per_block_check(a, f"code/block{i}", omega, int(a["code/n_samples"]), f"original lossless level {i}")
        _bound_check(st.kl_nats, st.code_nats, n_blocks, omega, code["extra_samples"], f"this coder block {i}")
    if os.environ.get("IREC_PARITY_REPORT"):
        for i, st in enumerate(res.levels):
            print(f"PARITY lossless coder block {i}: original KL {float(a[f'code/block{i}/kl']):.3f} nats, "
                  f"{int(a[f'code/block{i}/num_indices'].sum())} indices, "
                  f"{float(a[f'code/block{i}/codelength']):.2f} nats; ours KL {st.kl_nats:.3f}, "
                  f"{st.code_nats:.2f} nats")
        print(f"PARITY lossless file: {(tmp_path / 'x.lic').stat().st_size * 8} bits "
              f"(residual {res.residual_bytes * 8}, ideal {res.residual_ideal_bits:.1f})")
    # block 0's KL depends on x alone (its prior is the learned base): equal to the original's
    close("KL of block 0 (coder input)", res.levels[0].kl_nats, float(a["code/block0/kl"]), rtol=1e-4)
    assert np.array_equal(decompress(lm, tmp_path / "x.lic"), img)


# --- bad fixtures fail naming the file --------------------------------------------------------------------
def test_corrupted_fixture_names_the_file(tmp_path):
    d = tmp_path / "parity"
    shutil.copytree(PARITY, d)
    man_text = (d / "MANIFEST.json").read_text()
    p = d / "lossy.npz"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(FixtureError, match=r"lossy\.npz: sha256 .* differs from MANIFEST\.json"):
        load_fixture("lossy", d)
    man = json.loads(man_text)
    man["original"]["commit"] = "deadbeef"
    (d / "MANIFEST.json").write_text(json.dumps(man))
    with pytest.raises(FixtureError, match=r"MANIFEST\.json: made from original commit deadbeef"):
        load_fixture("lossy", d)
    (d / "MANIFEST.json").write_text(man_text)
    p.unlink()
    with pytest.raises(FixtureError, match=r"lossy\.npz: listed in MANIFEST\.json but missing"):
        load_fixture("lossy", d)


def test_import_rejects_other_model(lossy_fx, lossless_fx):
    with pytest.raises(ModelError, match="not a checkpoint of the original's Large2LevelVAE"):
        import_lossy(_w(lossless_fx))
    w = dict(_w(lossy_fx))
    w.pop("model/_prior_conv/_bias")
    with pytest.raises(ModelError, match="_prior_conv/_bias.*missing"):
        import_lossy(w)


def _write_checkpoint(arrays: dict, prefix) -> str:
    """The fixture's ``model/...`` arrays as a TF object-graph checkpoint with the same keys (what the
    original's ``tf.train.Checkpoint(model=model)`` writes: nested trackables, ``/`` in names escaped)."""
    tree: dict = {}
    for k, v in arrays.items():
        parts = k.split("/")[1:]
        if parts[0] == "_ema_shadow_variables":  # one dict entry whose key holds the escaped variable name
            parts = [parts[0], "/".join(parts[1:]).replace(".S", "/")]
        node = tree
        for q in parts[:-1]:
            node = node.setdefault(q, {})
        node[parts[-1]] = tf.Variable(v)

    def tracked(d):
        out = {}
        for key, val in d.items():
            out[key] = tracked(val) if isinstance(val, dict) else val
        return out

    return tf.train.Checkpoint(model=tracked(tree)).write(str(prefix))


def test_cli_import_original_checkpoint(lossy_fx, tmp_path, monkeypatch):
    """``python -m rec import-original`` on a TF checkpoint with the original's keys → a model directory whose
    forward pass is the original's (in-process: TF's thread settings are fixed once TF has started)."""
    from rec.__main__ import main

    monkeypatch.setattr(tf.config.threading, "set_intra_op_parallelism_threads", lambda n: None)
    monkeypatch.setattr(tf.config.threading, "set_inter_op_parallelism_threads", lambda n: None)
    from rec.import_original import read_checkpoint

    a = lossy_fx
    prefix = _write_checkpoint(_w(a), tmp_path / "ckpt" / "ckpt-1")
    assert set(read_checkpoint(prefix)) == set(_w(a))
    assert main(["import-original", prefix, str(tmp_path / "m"), "--model", "large_level_2_vae"]) == 0
    lm = load_model(tmp_path / "m")
    assert lm.config["layer_flavour"] == "original"
    x_hat, _, _ = lm.model(tf.constant(a["input"].astype(np.float32) / 255.0), noise=(a["eps/z"], a["eps/y"]))
    close("x_hat via import-original", x_hat, a["out/x_hat"])
    assert main(["import-original", str(tmp_path / "nope"), str(tmp_path / "m2"), "--model", "resnet_vae"]) == 1
