"""Parity with the original code (issue 18): the fixture in ``parity/`` was written by the ORIGINAL
fab-jul/imgcomp-cvpr (Mentzer et al., CVPR 2018) with ``tools/parity/make_cpm_fixture.py`` (see
``parity/PROVENANCE.md``): its freshly initialised weights (TF1 checkpoint, original variable names) of a small
``cvpr/low`` + ``res_shallow`` configuration, two 64x64 Kodak kodim23 crops, every tensor of its training and
test graphs, one step of both Adam optimisers, and its MultiScaleSSIM on extra shapes. Here the checkpoint goes
through ``cpm.import_original`` and this package's forward pass, losses, training step, MS-SSIM and float-path
codec are compared with those numbers.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from cpm.codec import load_codec
from cpm.config import load_ae_config
from cpm.import_original import convert
from cpm.losses import distortion_loss, rate_losses, weight_regularization
from cpm.model import quantize
from cpm.ms_ssim import ms_ssim
from cpm.train_loop import Trainer

from shared_data import container as cont
from shared_data import parity
from shared_data.errors import ModelError
from shared_data.imageio import write_png
from shared_data.parity import FixtureError

ROOT = Path(__file__).resolve().parents[1]
PARITY = ROOT / "parity"
AE_CONFIG, PC_CONFIG = PARITY / "ae_config_parity", ROOT / "pc_configs/cvpr/res_shallow"
EXPECTED_COMMIT = "f03ce0bfa846f7ba1bf9b7ba415b082efe5c192c"  # fab-jul/imgcomp-cvpr HEAD
FIXTURE = "cpm"  # the one fixture of this sub-project (parity/MANIFEST.json)
REGEN = ("tools/parity/make_cpm_fixture.py at that commit (see parity/PROVENANCE.md), or update EXPECTED_COMMIT "
         "with the new numbers reviewed")
FILES = ("ae_config_parity", "orig_ckpt/model.ckpt-0.data-00000-of-00001", "orig_ckpt/model.ckpt-0.index",
         "orig_msssim.npz", "orig_outputs.npz")
CKPT = "orig_ckpt/model.ckpt-0"
LR = {"Adam_AE": 8e-5, "Adam_PC": 1e-4}  # cvpr/base, pc_configs/base: the learning rates at step 0
BETA1, BETA2 = 0.9, 0.999                 # tf.train.AdamOptimizer defaults (the original)


def load_fixture(d: Path = PARITY) -> dict:
    """MANIFEST.json checked by ``shared_data.parity.load`` (schema, fixture, commit, sha256 of every file; the
    listing must be exactly FILES), then the arrays; errors name the file."""
    fx = parity.load(d, commit=EXPECTED_COMMIT, required=FILES, regen=REGEN, fixture=FIXTURE)
    if sorted(fx.manifest["files"]) != sorted(FILES):
        raise FixtureError(f"{d / 'MANIFEST.json'}: lists {sorted(fx.manifest['files'])}, expected {sorted(FILES)}")
    return {"manifest": fx.manifest, "params": fx.params, "dir": d,
            "orig": fx.npz("orig_outputs.npz"), "msssim": fx.npz("orig_msssim.npz")}


@pytest.fixture(scope="module")
def fx():
    return load_fixture()


@pytest.fixture(scope="module")
def model_dir(fx, tmp_path_factory):
    out = tmp_path_factory.mktemp("parity") / "model"
    info = convert(str(PARITY / CKPT), AE_CONFIG, PC_CONFIG, out)
    assert info["unused"] == [], info  # every checkpoint variable is a model variable (or global_step)
    return out


def nchw(t):
    return np.transpose(np.asarray(t), (0, 3, 1, 2))


def rel(a, b) -> float:
    """max |a − b| / max |b| (float64)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def test_fixture_manifest_errors_name_the_file(tmp_path):
    d = tmp_path / "parity"
    shutil.copytree(PARITY, d)
    assert load_fixture(d)["manifest"]["original"]["commit"] == EXPECTED_COMMIT
    p = d / "orig_outputs.npz"
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(FixtureError, match=r"orig_outputs\.npz: sha256 .* differs"):
        load_fixture(d)
    shutil.copy(PARITY / "orig_outputs.npz", p)
    m = json.loads((d / "MANIFEST.json").read_text())
    (d / "MANIFEST.json").write_text(json.dumps({**m, "original": {**m["original"], "commit": "8167b72" + "0" * 33}}))
    with pytest.raises(FixtureError, match=r"MANIFEST\.json: made from original commit 8167b72"):
        load_fixture(d)
    (d / "MANIFEST.json").write_text(json.dumps(m))
    (d / "orig_msssim.npz").unlink()
    with pytest.raises(FixtureError, match=r"orig_msssim\.npz: listed in MANIFEST\.json but missing"):
        load_fixture(d)


def test_checkpoint_names_and_values(fx, model_dir):
    """The original's TF1 checkpoint holds exactly this package's variables (+ global_step), imported unchanged."""
    reader = tf.train.load_checkpoint(str(PARITY / CKPT))
    model = load_codec(model_dir).model
    assert set(reader.get_variable_to_shape_map()) == set(model.vars) | {"global_step"}
    for k, v in model.vars.items():
        np.testing.assert_array_equal(v.numpy(), reader.get_tensor(k), err_msg=k)
    o = fx["orig"]
    assert np.array_equal(nchw(fx["orig"]["input_uint8"]).astype(np.float32), o["x"])
    np.testing.assert_array_equal(model.centers.numpy(), o["centers"])
    assert sum(int(np.prod(v.shape)) for v in model.ae_variables() + model.pc_variables()) == \
        fx["params"]["trainable_parameters"]
    # cpm's parser reads the parity config (use ../ae_configs/cvpr/low) as fjcommon read it for the original
    ours = {k: repr(v) for k, v in load_ae_config(AE_CONFIG).values().items()}
    assert ours == fx["params"]["original_effective_ae_config"]


def test_import_refuses_another_configuration(tmp_path):
    with pytest.raises(ModelError, match=r"model\.ckpt-0: weights do not fit this model: .* has shape"):
        convert(str(PARITY / CKPT), ROOT / "ae_configs/mini/low", PC_CONFIG, tmp_path / "out")


def test_training_forward_matches_original(fx, model_dir):
    """Training graph (batch moments): latents, importance map, quantizer, probclass logits, bit costs, output."""
    o, m = fx["orig"], load_codec(model_dir).model
    x = tf.constant(o["input_uint8"].astype(np.float32))
    enc = m.encode(x, training=True)
    assert np.array_equal(nchw(enc.symbols), o["symbols"])
    np.testing.assert_array_equal(nchw(enc.qhard), o["qhard"])
    np.testing.assert_allclose(nchw(enc.qbar), o["qbar"], rtol=0, atol=1e-6)  # qsoft + (qhard − qsoft)
    heat = nchw(enc.heatmap)
    errs = {
        # y = Σ_c m_c is the importance map itself (sigmoid·C); m_c = clip(y − c) magnifies y's rounding
        "importance map y": rel(heat.sum(1), o["heatmap"].sum(1)),
        "heatmap m": float(np.max(np.abs(heat - o["heatmap"]))),
        "z (masked latents)": rel(nchw(enc.z), o["z"]),
        "to_bn[1:] where m = 1": rel(nchw(enc.z)[o["heatmap"] == 1], o["to_bn"][:, 1:][o["heatmap"] == 1]),
        "qsoft": rel(nchw(quantize(enc.z, m.centers, 1.0)[0]), o["qsoft"]),
        "logits": rel(m.pc_logits(tf.stop_gradient(enc.qbar)), o["logits"]),
        "bitcost": rel(m.bitcost(tf.stop_gradient(enc.qbar), enc.symbols), o["bitcost"]),
        "x_out": rel(nchw(m.decode(enc.qbar, training=True)), o["x_out"]),
    }
    print("training forward, max |ours - original| / max |original|:", {k: f"{v:.1e}" for k, v in errs.items()})
    tol = {"heatmap m": 2e-4, "z (masked latents)": 1e-4, "qsoft": 1e-4}
    bad = {k: v for k, v in errs.items() if v > tol.get(k, 1e-5)}
    assert not bad, f"vs the original: {bad} (all: {errs})"


def test_losses_match_original(fx, model_dir):
    o, m = fx["orig"], load_codec(model_dir).model
    cfg = m.ae_config
    x = tf.constant(o["input_uint8"].astype(np.float32))
    enc = m.encode(x, training=True)
    x_out = m.decode(enc.qbar, training=True)
    bc = m.bitcost(tf.stop_gradient(enc.qbar), enc.symbols)
    H_real, H_mask, H_soft, pc_loss = rate_losses(bc, enc.heatmap, cfg.beta, cfg.H_target)
    d_loss, v = distortion_loss(x, x_out, cfg)
    reg = weight_regularization(m)
    ours = {"H_real": H_real, "H_mask": H_mask, "H_soft": H_soft, "pc_loss": pc_loss, "ms_ssim": v,
            "d_loss_scaled": d_loss, "reg_enc_dec": reg, "total_loss": d_loss + pc_loss + reg}
    assert float(cfg.H_target) == pytest.approx(float(o["H_target"]))
    errs = {k: rel(t, o[k]) for k, t in ours.items()}
    print("losses, relative error:", {k: f"{v:.1e}" for k, v in errs.items()})
    bad = {k: v for k, v in errs.items() if v > 1e-5}
    assert not bad, f"vs the original: {bad} (MS-SSIM ours {float(v):.6f}, original {float(o['ms_ssim']):.6f})"


def _adam_step(fx, model_dir):
    o, m = fx["orig"], load_codec(model_dir).model
    before = m.numpy_weights()
    trainer = Trainer(m, itr_per_epoch=1281167 // 2, summarize_grads=True)
    # the Python body of Trainer.train_step, run eagerly: the same ops train.py runs under tf.function, whose
    # tracing alone takes ~50 s on the shared 2-core machine
    out, (g_ae, g_pc) = trainer._train_step(tf.constant(o["input_uint8"].astype(np.float32)))
    names = {id(v): k for k, v in m.vars.items()}
    grads = {names[id(v)]: g.numpy() for v, g in zip(trainer.ae_vars + trainer.pc_vars, list(g_ae) + list(g_pc))}
    return o, m, before, out, grads


@pytest.fixture(scope="module")
def step(fx, model_dir):
    return _adam_step(fx, model_dir)


def _slot(name):
    return "Adam_PC" if name.startswith("probclass3d") else "Adam_AE"


def test_training_step_matches_original(step):
    """One train_step (two Adam optimisers, BN moving averages) against one run of the original's train op:
    losses, gradients (the original's first Adam moments are (1 − β1)·g, the second (1 − β2)·g²), BN moving
    statistics, and the update of every parameter whose gradient is not tiny (|g| ≥ 1e-2, where Adam's ε is
    immaterial; see test_adam_epsilon_matches_original)."""
    o, m, before, out, grads = step
    for k, ko in (("total", "total_loss"), ("d_loss", "d_loss_scaled"), ("pc_loss", "pc_loss"),
                  ("ms_ssim", "ms_ssim"), ("H_soft", "H_soft")):
        assert rel(out[k], o[ko]) <= 1e-5, (k, float(out[k]), float(o[ko]))
    assert int(o["after/global_step"]) == 1
    assert set(grads) == {k for k in m.vars if m._trainable[k]}
    gerr, verr, uerr = {}, {}, {}
    for k, g in grads.items():
        g_orig = o[f"after/{k}/{_slot(k)}"].astype(np.float64) / (1 - BETA1)
        gerr[k] = float(np.linalg.norm(g - g_orig) / max(np.linalg.norm(g_orig), 1e-30))
        v_orig = o[f"after/{k}/{_slot(k)}_1"].astype(np.float64) / (1 - BETA2)
        verr[k] = rel(np.square(g.astype(np.float64)), v_orig)
        sel = np.abs(g_orig) >= 1e-2
        d_ours = m.vars[k].numpy().astype(np.float64) - before[k]
        d_orig = o[f"after/{k}"].astype(np.float64) - before[k]
        uerr[k] = float(np.max(np.abs(d_ours - d_orig)[sel]) / LR[_slot(k)]) if sel.any() else 0.0
    worst = max(gerr, key=gerr.get)
    moving = {k: rel(v.numpy(), o[f"after/{k}"]) for k, v in m.vars.items() if "moving_" in k}
    pc = [k for k in gerr if k.startswith("probclass3d")]
    print(f"step: gradient norm-relative error max {gerr[worst]:.1e} ({worst}), probclass max "
          f"{max(gerr[k] for k in pc):.1e}; g² vs second moment {max(verr.values()):.1e}; updates (|g| >= 1e-2) "
          f"max {max(uerr.values()):.1e}·lr; BN moving statistics {max(moving.values()):.1e}")
    assert gerr[worst] <= 2e-4, f"gradient of {worst}: relative error {gerr[worst]:.2e} vs the original"
    assert max(verr.values()) <= 5e-4, max(verr.items(), key=lambda kv: kv[1])
    worst_u = max(uerr, key=uerr.get)
    assert uerr[worst_u] <= 1e-3, f"Adam update of {worst_u}: error {uerr[worst_u]:.2e}·lr vs the original"
    assert max(moving.values()) <= 1e-5, max(moving.items(), key=lambda kv: kv[1])


def test_adam_epsilon_matches_original(step):
    """Every parameter after the step: |Δ − Δ_orig| ≤ 5e-4·lr where |g| is above a noise floor (1e-3 of the
    variable's rms gradient; below it Adam's g/|g| turns rounding noise into ±lr), ≤ 0.5·lr everywhere."""
    o, m, before, _, grads = step
    worst, worst_below = 0.0, 0.0
    for k in grads:
        lr = LR[_slot(k)]
        g_orig = o[f"after/{k}/{_slot(k)}"].astype(np.float64) / (1 - BETA1)
        ok = np.abs(g_orig) >= 1e-3 * np.sqrt(np.mean(np.square(g_orig)))
        err = np.abs((m.vars[k].numpy().astype(np.float64) - before[k])
                     - (o[f"after/{k}"].astype(np.float64) - before[k])) / lr
        worst = max(worst, float(err[ok].max()) if ok.any() else 0.0)
        worst_below = max(worst_below, float(err.max()))
    print(f"Adam updates: max error {worst:.1e}·lr above the noise floor, {worst_below:.2f}·lr anywhere")
    assert worst <= 5e-4 and worst_below <= 0.5, (worst, worst_below)


def test_test_graph_and_real_file_match_original(fx, model_dir, tmp_path):
    """Test graph (moving BN statistics, qhard), through the float-path codec: symbols, the CE estimate against
    the original's bit costs, and a real .lic file whose payload obeys the information bound + overhead."""
    o, codec = fx["orig"], load_codec(model_dir)
    m = codec.model
    enc = m.encode(tf.constant(o["input_uint8"].astype(np.float32)), training=False)
    errs = {"logits": rel(m.pc_logits(enc.qhard), o["test/logits"]),
            "bitcost": rel(m.bitcost(enc.qhard, enc.symbols), o["test/bitcost"]),
            "x_out": rel(nchw(m.decode(enc.qhard, training=False)), o["test/x_out"])}
    print("test graph, max |ours - original| / max |original|:", {k: f"{v:.1e}" for k, v in errs.items()})
    assert max(errs.values()) <= 1e-5, errs
    for i, crop in enumerate(o["input_uint8"]):
        sym = codec.symbols_of(crop)
        assert np.array_equal(sym, o["test/symbols"][i]), f"crop {i}: symbols differ from the original's"
        bits_orig = float(o["test/bitcost"][i].astype(np.float64).sum())
        assert codec.bits_of_symbols(sym) == pytest.approx(bits_orig, rel=1e-5)
        png, lic = tmp_path / f"crop{i}.png", tmp_path / f"crop{i}.lic"
        write_png(png, crop)
        res = codec.encode_file(png, lic, portable=False)
        c = cont.read(lic, codec="cpm", model_fingerprint=codec.fingerprint_float)
        payload_bits = 8 * len(c.sections[1])
        # range coder: within 0.5 % + 64 bits of the original's −log2 P (its probabilities, float32)
        print(f"crop {i}: original {bits_orig:.1f} bits, payload {payload_bits} bits "
              f"({100 * (payload_bits / bits_orig - 1):+.2f} %), file {8 * res.num_bytes} bits")
        assert bits_orig * (1 - 1e-3) - 32 <= payload_bits <= bits_orig * 1.005 + 64, (payload_bits, bits_orig)
        assert 8 * lic.stat().st_size == 8 * res.num_bytes > payload_bits
        rec = codec.decode_file(lic, tmp_path / f"rec{i}.png")
        x_out_orig = np.transpose(o["test/x_out"][i], (1, 2, 0))
        assert np.max(np.abs(rec.astype(np.int16) - x_out_orig.astype(np.uint8).astype(np.int16))) <= 1


@pytest.mark.parametrize("case", ["160x160", "80x80", "128x96", "40x40"])
def test_ms_ssim_matches_original(fx, case):
    """cpm.ms_ssim against the original's MultiScaleSSIM on shapes with even (pad 1/0), odd and width-limited
    small scales (batch-level value, kodim23 crops vs. noisy copies)."""
    a, b = (tf.constant(fx["msssim"][f"{case}/{s}"].astype(np.float32)) for s in "ab")
    ours, orig = float(ms_ssim(a, b)), float(fx["msssim"][f"{case}/value"])
    print(f"MS-SSIM {case}: ours {ours:.7f}, original {orig:.7f} ({ours / orig - 1:+.1e})")
    assert ours == pytest.approx(orig, rel=1e-5)


def test_ms_ssim_refuses_what_the_original_cannot_compute():
    x = tf.zeros((1, 96, 128, 3))  # 6x8 at the last scale: 7 taps, no pad (the width is 8) -> the original fails
    with pytest.raises(ValueError, match="6x8 scale is too small"):
        ms_ssim(x, x)
