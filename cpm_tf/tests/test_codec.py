"""Real bitstreams: exact symbol round trips on real images, information bounds, golden bytes, bad files."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cpm.coding import decode_symbols, encode_symbols

from shared_data import container as cont
from shared_data.imageio import read_image, sample_images, write_png

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def codec(zoo_codec):
    """The committed zoo/mini model (meaningful probabilities; a missing one fails)."""
    return zoo_codec


def real_images(kodak_dir):
    k1 = read_image(kodak_dir / "kodim01.png")
    k7 = read_image(kodak_dir / "kodim07.png")
    chelsea = sample_images(("chelsea",))["chelsea"]  # 300 x 451: padded to 304 x 456
    return {"kodim01_77x123": k1[100:177, 200:323], "kodim07_128x96": k7[:128, 300:396], "chelsea": chelsea,
            "kodim01_5x3": k1[:5, :3]}


def test_roundtrip_exact_on_real_images(codec, kodak_dir):
    for name, img in real_images(kodak_dir).items():
        c, res = codec.encode_array(img)
        data = cont.pack(c)
        assert len(data) == res.num_bytes
        img2, rec, symbols = codec.decode_container(cont.unpack(data, codec="cpm", model_fingerprint=c.fingerprint))
        np.testing.assert_array_equal(symbols, res.symbols, err_msg=name)
        assert img2.shape == img.shape, name
        Hp, Wp = res.padded_shape[:2]
        assert rec.shape == (Hp, Wp, 3) and Hp % 8 == 0 and Wp % 8 == 0
        np.testing.assert_array_equal(rec, codec.reconstruct(res.symbols))
        # information bound: payload >= ideal bits; overhead <= 0.5 % + the coder's final 32-bit word
        payload_bits = 8 * len(c.sections[1])
        assert payload_bits >= res.bits_estimated - 1e-6, name
        assert payload_bits <= res.bits_estimated * 1.005 + 64, (name, payload_bits, res.bits_estimated)
        # the coder's probabilities are the TF model's (one full-volume pass) up to float rounding
        assert codec.bits_of_symbols(res.symbols) == pytest.approx(res.bits_estimated, rel=1e-4, abs=1e-2)


def test_coder_roundtrip_random_symbols(mini_codec):
    rng = np.random.RandomState(1)
    m = mini_codec.model
    sym = rng.randint(0, m.L, (m.C, 3, 7))
    data, bits = encode_symbols(mini_codec.cm, sym)
    np.testing.assert_array_equal(decode_symbols(mini_codec.cm, data, sym.shape), sym)
    assert 8 * len(data) >= bits


def tiny_image():
    y, x = np.mgrid[0:20, 0:27]
    return np.stack([(7 * x + 3 * y) % 256, (x * y) % 256, (255 - 9 * y) % 256], -1).astype(np.uint8)


GOLDEN_V3 = GOLDEN / "tiny_20x27_v3.lic"      # portable format 3 (integer context model)
# tiny_20x27.lic: float format 2, written before issue 15; decoded in tests/test_cross_arith.py under the
# emulated AVX2 CPU (OpenBLAS Haswell kernels, the family of the machine that wrote it)
GOLDEN_PIN = GOLDEN / "tiny_20x27_pins.json"  # what both must decode to (symbols, reconstruction digest)


def test_golden_decode(zoo_codec):
    """The committed portable file decodes to the pinned symbols and reconstruction (what must be portable;
    the encoder's bytes are not pinned here: the float encoder network may choose other symbols elsewhere;
    tests/test_codec_protocol.py pins a file's bytes on this machine). CPM_UPDATE_GOLDEN=1 rewrites the file
    and the pins (shared_data.golden); a missing file fails."""
    import json

    from shared_data import golden
    if golden.update_requested("cpm"):
        c, res = zoo_codec.encode_array(tiny_image())
        rec = zoo_codec.reconstruct(res.symbols)
        golden.check(GOLDEN_V3, cont.pack(c), "cpm")
        golden.check(GOLDEN_PIN, (json.dumps({"shape": list(res.symbols.shape), "symbols": res.symbols.ravel().tolist(),
                                              "rec_sha256": hashlib.sha256(rec.tobytes()).hexdigest(),
                                              "rec": rec.ravel().tolist()}) + "\n").encode(), "cpm")
    for p in (GOLDEN_V3, GOLDEN_PIN):
        if not p.exists():
            pytest.fail(f"{p} missing; run with CPM_UPDATE_GOLDEN=1 to create it")
    pin = json.loads(GOLDEN_PIN.read_text())
    c = cont.read(GOLDEN_V3, codec="cpm")
    assert cont.unpack_ints(c.sections[0])[0] == 3
    img, rec, symbols = zoo_codec.decode_container(c, GOLDEN_V3)
    np.testing.assert_array_equal(symbols.ravel(), pin["symbols"])
    assert list(symbols.shape) == pin["shape"] and img.shape == (20, 27, 3)
    ref = np.asarray(pin["rec"], np.int16).reshape(rec.shape)
    assert np.abs(rec.astype(np.int16) - ref).max() <= 1  # the synthesis is float: within 1 grey level


def test_float_path_roundtrip_in_process(zoo_codec):
    """Float path (--float, format 2): a round trip within one process, with the arithmetic record."""
    from shared_data import arith
    img = tiny_image()
    c, res = zoo_codec.encode_array(img, portable=False)
    assert cont.unpack_ints(c.sections[0])[0] == 2 and c.fingerprint == zoo_codec.fingerprint_float
    rec = arith.unpack(c.sections[2])
    assert rec["cpm_path"] == "float" and "blas_core" in rec and "tf_threads" in rec
    c2 = cont.unpack(cont.pack(c), codec="cpm")
    np.testing.assert_array_equal(zoo_codec.decode_container(c2)[2], res.symbols)


def test_bad_files(codec, mini_codec, tmp_path):
    img = tiny_image()
    c, _ = codec.encode_array(img)
    p = tmp_path / "a.lic"
    cont.write(p, c)
    data = p.read_bytes()
    bad = {"trunc": data[: len(data) // 2], "empty": b"", "flip": data[:30] + bytes([data[30] ^ 1]) + data[31:],
           "notlic": b"\x89PNG\r\n\x1a\n" + data}
    for name, b in bad.items():
        (tmp_path / name).write_bytes(b)
        with pytest.raises(cont.ContainerError):
            codec.decode_file(tmp_path / name, tmp_path / "out.png")
    other = mini_codec if codec is not mini_codec and codec.fingerprint_float != mini_codec.fingerprint_float else None
    if other is not None:
        pf = tmp_path / "float.lic"
        cont.write(pf, codec.encode_array(img, portable=False)[0])
        with pytest.raises(cont.ContainerError, match="fingerprint"):
            other.decode_file(pf, tmp_path / "out.png")
    # a well-formed container whose cpm header disagrees with the model
    wrong = cont.Container("cpm", c.fingerprint, c.height, c.width, (cont.pack_ints([3, 7, 1, 1, 0]), c.sections[1]))
    with pytest.raises(cont.ContainerError, match="header"):
        codec.decode_container(wrong)
    # a CRC-valid file whose payload has extra words: refused (the range decoder reads one word ahead, so
    # exhaustion is checkable from the second extra word on)
    extra = cont.Container("cpm", c.fingerprint, c.height, c.width, (c.sections[0], c.sections[1] + bytes(range(1, 9))))
    with pytest.raises(cont.ContainerError, match="payload"):
        codec.decode_container(extra)
    other_codec = cont.Container("sga", c.fingerprint, c.height, c.width, c.sections)
    cont.write(tmp_path / "sga.lic", other_codec)
    with pytest.raises(cont.ContainerError, match="codec"):
        codec.decode_file(tmp_path / "sga.lic", tmp_path / "out.png")


def test_cli(zoo_codec, tmp_path):
    src = tmp_path / "in.png"
    write_png(src, tiny_image())
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = (f"import sys; sys.argv=['cpm']; from cpm.__main__ import main\n"
              f"assert main(['encode', r'{src}', r'{tmp_path / 'o.lic'}']) == 0\n"
              f"assert main(['decode', r'{tmp_path / 'o.lic'}', r'{tmp_path / 'r.png'}']) == 0\n"
              f"open(r'{tmp_path / 'bad.lic'}', 'wb').write(b'LIC')\n"
              f"sys.exit(main(['decode', r'{tmp_path / 'bad.lic'}', r'{tmp_path / 'x.png'}']))\n")
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "truncated" in err[0], r.stderr
    assert read_image(tmp_path / "r.png").shape == (20, 27, 3)
    assert not (tmp_path / "x.png").exists()


def test_wavefront_logits_equal_tf_conv3d():
    """The incremental NumPy evaluation gives the TF full-volume logits (non-trivial random weights)."""
    import tensorflow as tf
    from cpm.coding import ContextModelNumpy
    from cpm.config import load_ae_config, load_pc_config
    from cpm.model import CPM
    m = CPM(load_ae_config(ROOT / "ae_configs/mini/low"), load_pc_config(ROOT / "pc_configs/mini/res_shallow"), seed=5)
    rng = np.random.RandomState(2)
    for v in m.pc_variables():
        v.assign_add(rng.normal(0, 0.05, v.shape).astype(np.float32))
    sym = rng.randint(0, m.L, (m.C, 6, 9))
    _, bits, logits = ContextModelNumpy(m).run(*sym.shape, symbols=sym, keep_logits=True)
    ref = m.pc_logits(tf.constant(m.centers.numpy()[sym.transpose(1, 2, 0)][None])).numpy()[0]
    np.testing.assert_allclose(logits, ref, atol=1e-4)
    assert bits == pytest.approx(float(tf.reduce_sum(m.bitcost(
        tf.constant(m.centers.numpy()[sym.transpose(1, 2, 0)][None]), tf.constant(sym.transpose(1, 2, 0)[None])))), rel=1e-5)


def test_symbol_crc_detects_desync(codec):
    """The header stores the CRC-32 of the symbols: a decoder whose float probabilities differ (context-model
    weights nudged by 1e-3, standing in for another machine's float arithmetic) raises instead of returning
    a wrong image; a wrong CRC is refused (formats 2 and 3); format-1 files (no CRC) still decode."""
    import copy

    from cpm.codec import symbols_crc
    img = sample_images(("coffee",))["coffee"][:96, :128]
    for portable in (True, False):
        c, res = codec.encode_array(img, portable)
        head = cont.unpack_ints(c.sections[0])
        assert head[0] == (3 if portable else 2) and head[4] == symbols_crc(res.symbols, img.shape[:2])
        bad = cont.Container("cpm", c.fingerprint, c.height, c.width,
                             (cont.pack_ints(head[:4] + [head[4] ^ 1]),) + c.sections[1:])
        with pytest.raises(cont.ContainerError, match="CRC"):
            codec.decode_container(bad)
    v1 = cont.Container("cpm", c.fingerprint, c.height, c.width, (cont.pack_ints([1] + head[1:4]), c.sections[1]))
    np.testing.assert_array_equal(codec.decode_container(v1)[2], res.symbols)
    other = copy.copy(codec)
    other.cm = copy.deepcopy(codec.cm)
    for W, _ in other.cm.weights:
        W += np.float32(1e-3)
    with pytest.raises(cont.ContainerError, match="corrupt cpm payload"):
        other.decode_container(c)
