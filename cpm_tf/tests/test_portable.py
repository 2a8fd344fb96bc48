"""The exact integer context model (stream format 3, ``cpm.integer``) and the ``integerize`` conversion."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from cpm.coding import ContextModelInt, ContextModelNumpy, decode_symbols, encode_symbols
from cpm.integer import INT_FILE, LAYERS, integerize_weights

from shared_data import container as cont
from shared_data import exact
from shared_data.exact import IntegerizeError

ROOT = Path(__file__).resolve().parents[1]


def _int64_reference_logits(ipc, L, pad_first, symbols):
    """The integer context model as plain int64 full-volume masked convolutions (no BLAS, no floats)."""
    from cpm.integer import masked_taps
    m = ipc.meta
    C, h, w = symbols.shape
    P = 4
    cq = ipc.arrays["centers_q"]
    vol = np.full((C + P, h + 2 * P, w + 2 * P), cq[0] if pad_first else 0, np.int64)
    vol[P:, P:-P, P:-P] = cq[symbols]
    x = vol[..., None]
    shifts = [m["frac_in"] + m["frac_w"] - m["frac_act"], m["frac_w"], m["frac_w"],
              m["frac_act"] + m["frac_w"] - m["frac_logit"]]
    res = None
    for li, (name, taps) in enumerate(zip(LAYERS, masked_taps(3))):
        W = ipc.arrays[f"{name}/taps_q"].reshape(len(taps), x.shape[-1], -1)
        D, H, Wd = x.shape[0] - 1, x.shape[1] - 2, x.shape[2] - 2
        acc = np.zeros((D, H, Wd, W.shape[-1]), np.int64)
        for t, (kd, ky, kx) in enumerate(taps):
            acc += x[kd:kd + D, ky:ky + H, kx:kx + Wd] @ W[t]
        acc += ipc.arrays[f"{name}/biases_q"]
        out = exact.rshift_round(acc, shifts[li])
        if li in (0, 1, 3):
            out = np.maximum(out, 0)
        if li == 0:
            res = out
        if li == 2:
            out = out + res[2:, 2:-2, 2:-2]
        x = out
    return x  # (C, h, w, L)


@pytest.fixture(scope="module")
def perturbed():
    """A mini model with non-trivial random context-model weights and its integer conversion."""
    from cpm.config import load_ae_config, load_pc_config
    from cpm.model import CPM
    m = CPM(load_ae_config(ROOT / "ae_configs/mini/low"), load_pc_config(ROOT / "pc_configs/mini/res_shallow"), seed=7)
    rng = np.random.RandomState(3)
    for v in m.pc_variables():
        v.assign_add(rng.normal(0, 0.05, v.shape).astype(np.float32))
    ipc = integerize_weights(m.numpy_weights())
    return m, ipc


def test_integer_logits_are_exact_and_close_to_float(perturbed):
    m, ipc = perturbed
    rng = np.random.RandomState(4)
    sym = rng.randint(0, m.L, (m.C, 5, 7))
    icm = ContextModelInt(m.L, True, ipc)
    _, bits_int, logits = icm.run(*sym.shape, symbols=sym, keep_logits=True)
    ref = _int64_reference_logits(ipc, m.L, True, sym)
    np.testing.assert_array_equal(logits, ref.astype(np.float64))  # BLAS float64 == pure int64
    flt = m.pc_logits(tf.constant(m.centers.numpy()[sym.transpose(1, 2, 0)][None])).numpy()[0]
    np.testing.assert_allclose(logits / 2.0 ** ipc.meta["frac_logit"], flt, atol=3e-3)
    _, bits_float = ContextModelNumpy(m).run(*sym.shape, symbols=sym)
    assert bits_int == pytest.approx(bits_float, rel=2e-3)
    data, bits = encode_symbols(icm, sym)
    np.testing.assert_array_equal(decode_symbols(icm, data, sym.shape), sym)
    # the coder's cached softmax table = shared_data.exact's (also far beyond the span and at ties)
    lq = np.concatenate([logits.reshape(-1, m.L), [[0, 0, 0, 0, 0, 1 << 20], [7] * m.L]]).astype(np.int64)
    ref_w = exact.softmax_weights(lq, in_frac=icm.frac_logit, out_frac=icm.prob_frac)
    np.testing.assert_array_equal(icm.softmax_weights(lq.astype(np.float64)), ref_w)
    p, _ = icm._probs(lq.astype(np.float64))
    np.testing.assert_array_equal(p, exact.normalise(ref_w))


def test_integer_probabilities_do_not_depend_on_blas_threads(perturbed):
    """The probabilities fed to constriction are identical with 1 and 2 OpenBLAS threads (in-process)."""
    from cpm import arithcfg
    m, ipc = perturbed
    sym = np.random.RandomState(5).randint(0, m.L, (m.C, 6, 9))
    icm = ContextModelInt(m.L, True, ipc)
    before = arithcfg.blas_threads()
    try:
        outs = []
        for n in (1, 2):
            arithcfg.set_blas_threads(n)
            outs.append(icm.run(*sym.shape, symbols=sym, keep_logits=True)[2])
    finally:
        arithcfg.set_blas_threads(max(before, 1))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_conversion_refuses_an_accumulator_beyond_2_53(perturbed):
    m, _ = perturbed
    with pytest.raises(IntegerizeError, match=r"layer 'probclass3d/logits/conv3d_conv0_mask'.*2\^53"):
        integerize_weights(m.numpy_weights(), {"frac_in": 30, "frac_w": 30, "frac_act": 30})
    w = dict(m.numpy_weights())
    name = f"probclass3d/logits/{LAYERS[2]}/weights"
    w[name] = w[name] * np.float32(1e6)  # a layer that blows up the propagated bound
    with pytest.raises(IntegerizeError, match=LAYERS[2]):
        integerize_weights(w)


def test_integerize_cli_and_format_errors(mini_codec, zoo_codec, tmp_path):
    """``python -m cpm integerize``: conversion recorded in config.json and the fingerprint; a portable file
    on a float-only model (and a float file under the integer fingerprint) names both formats and the
    conversion command; errors of the CLI are one line naming the checkpoint."""
    from cpm.__main__ import main
    from cpm.codec import DEFAULT_MODEL, load_codec, save_model

    from shared_data.errors import ModelError
    src = tmp_path / "float"
    save_model(mini_codec.model, src, "mini/low", "mini/res_shallow")
    assert main(["integerize", str(src), str(tmp_path / "int"), "--frac_logit", "8"]) == 0
    meta = json.loads((tmp_path / "int" / "config.json").read_text())["integer"]
    assert meta["frac_logit"] == 8 and meta["source_fingerprint"] == mini_codec.fingerprint_float.hex()
    conv = load_codec(tmp_path / "int")
    assert conv.portable and conv.fingerprint_float == mini_codec.fingerprint_float
    assert conv.fingerprint_int not in (None, conv.fingerprint_float)
    assert load_codec(tmp_path / "int").fingerprint_int == conv.fingerprint_int  # deterministic conversion
    flt = load_codec(src)
    img = np.random.RandomState(0).randint(0, 256, (16, 24, 3)).astype(np.uint8)
    c, res = conv.encode_array(img)
    with pytest.raises(cont.ContainerError, match=r"format 3.*format 2.*python -m cpm integerize"):
        flt.decode_container(c)
    with pytest.raises(ModelError, match=r"python -m cpm integerize .*--float"):
        flt.encode_array(img, portable=True)
    with pytest.raises(ModelError, match=r"python -m cpm integerize .*--float"):
        load_codec(src, portable=True)
    assert not flt.portable  # the library default of a float-only model (training checkpoints) is the float path
    from shared_data.imageio import write_png
    write_png(tmp_path / "in.png", img)
    assert main(["encode", str(tmp_path / "in.png"), str(tmp_path / "o.lic"), "--model", str(src)]) == 1  # CLI: portable
    assert main(["encode", str(tmp_path / "in.png"), str(tmp_path / "o.lic"), "--model", str(src), "--float"]) == 0
    cf, _ = conv.encode_array(img, portable=False)
    np.testing.assert_array_equal(flt.decode_container(cf)[2], res.symbols)  # same float model: decodes
    forged = cont.Container("cpm", conv.fingerprint_int, cf.height, cf.width, cf.sections)
    with pytest.raises(cont.ContainerError, match="format 2"):
        conv.decode_container(forged)
    # another conversion (other bits) is another model for format 3
    assert main(["integerize", str(src), str(tmp_path / "int10")]) == 0
    with pytest.raises(cont.ContainerError, match="fingerprint"):
        load_codec(tmp_path / "int10").decode_container(c)
    # half-converted directories and bad bits are refused
    shutil.copytree(tmp_path / "int", tmp_path / "half")
    (tmp_path / "half" / INT_FILE).unlink()
    from shared_data.errors import ModelError
    with pytest.raises(ModelError, match="integerize"):
        load_codec(tmp_path / "half")
    # weights trained further in place after the conversion: refused, naming the command
    shutil.copytree(tmp_path / "int", tmp_path / "stale")
    stale = load_codec(tmp_path / "stale")
    v = stale.model.pc_variables()[0]
    v.assign(v + 0.01)
    save_model(stale.model, tmp_path / "stale", "mini/low", "mini/res_shallow")
    meta_stale = json.loads((tmp_path / "stale" / "config.json").read_text())
    meta_stale["integer"] = meta
    (tmp_path / "stale" / "config.json").write_text(json.dumps(meta_stale))
    with pytest.raises(ModelError, match="converted from other float weights.*integerize"):
        load_codec(tmp_path / "stale")
    assert main(["integerize", str(tmp_path / "nope"), str(tmp_path / "x")]) == 1
    assert main(["integerize", str(src), str(tmp_path / "y"), "--frac_w", "40"]) == 1
    assert not (tmp_path / "y" / INT_FILE).exists()
    # the committed zoo model is converted, and the conversion is reproducible from its float weights
    assert zoo_codec.portable and (DEFAULT_MODEL / INT_FILE).is_file()
    again = integerize_weights(zoo_codec.model.numpy_weights(), {k: zoo_codec.ipc.meta[k] for k in
                               ("frac_in", "frac_w", "frac_act", "frac_logit", "prob_frac")},
                               source_fingerprint=zoo_codec.fingerprint_float.hex())
    assert again.meta == zoo_codec.ipc.meta
    for k, v in zoo_codec.ipc.arrays.items():
        np.testing.assert_array_equal(again.arrays[k], v, err_msg=k)


def test_decoder_reproduces_recorded_thread_counts():
    """A float-path file's record sets TF's and OpenBLAS's thread counts in the decoding process (here 1, as
    recorded); LIC_THREADS, the shared policy's override, wins over the record."""
    import subprocess
    import sys

    from shared_data import arith
    script = ("import os\nfrom cpm import arithcfg\narithcfg.reproduce({'tf_threads': '1', 'blas_threads': '1'})\n"
              "print(arithcfg.tf_threads(), arithcfg.blas_threads())\nos.environ['LIC_THREADS'] = '2'\n"
              "arithcfg.reproduce({'tf_threads': '1', 'blas_threads': '1'})\nprint(arithcfg.blas_threads())\n")
    env = arith.env_for("default")
    p = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["1", "1", "2"], p.stdout
