"""Compress/decompress through the shared container with small random-weight models (fast)."""

import numpy as np
import pytest
import tensorflow as tf
from rec.codec import (
    LoadedModel,
    build,
    compress,
    compute_fingerprint,
    decompress,
    load_model,
    model_weights,
    save_model,
)

from shared_data.errors import ContainerError, ImageError, ModelError


def _lm(cfg):
    tf.keras.utils.set_random_seed(0)  # the same random-init model on every run
    m = build(cfg)
    return LoadedModel(m, cfg, compute_fingerprint(cfg, model_weights(m)))


@pytest.fixture(scope="module")
def lossy():
    return _lm({"model": "large_level_2_vae", "level_1_filters": 16, "level_2_filters": 8})


@pytest.fixture(scope="module")
def lossless():
    return _lm({"model": "resnet_vae", "num_res_blocks": 2, "deterministic_filters": 16, "stochastic_filters": 4})


def _img(h, w, seed=0):
    rs = np.random.RandomState(seed)
    base = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
    return np.clip(base + rs.randn(h, w, 3) * 10, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(70, 100), (1, 1), (64, 64)])
def test_lossy_round_trip_reproduces_encoder_sample(lossy, tmp_path, shape):
    img = _img(*shape)
    r = compress(lossy, img, tmp_path / "a.lic", n_beams=2)
    assert r.num_bytes == (tmp_path / "a.lic").stat().st_size
    out = decompress(lossy, tmp_path / "a.lic")
    assert out.shape == img.shape                      # padded, never shrunk
    np.testing.assert_array_equal(out, r.reconstruction)
    assert r.bpp > 0 and r.ideal_bpp >= 0
    # the index stream is within Σ K_b ln N_s + constriction's ANS overhead: its 64-bit final state plus the
    # rounding up to whole 32-bit words (measured once 65.2 bits over on a random-init model: 640 vs 574.8 bits)
    assert r.index_bytes * 8 <= r.index_nats / np.log(2) + 64 + 32


def test_lossy_deterministic_bytes(lossy, tmp_path):
    img = _img(64, 128, seed=3)
    compress(lossy, img, tmp_path / "a.lic", n_beams=3)
    compress(lossy, img, tmp_path / "b.lic", n_beams=3)
    assert (tmp_path / "a.lic").read_bytes() == (tmp_path / "b.lic").read_bytes()
    compress(lossy, img, tmp_path / "c.lic", n_beams=3, compression_seed=43)
    assert (tmp_path / "a.lic").read_bytes() != (tmp_path / "c.lic").read_bytes()


@pytest.mark.parametrize("shape", [(31, 32), (3, 5)])
def test_lossless_round_trip_is_bit_exact(lossless, tmp_path, shape):
    img = _img(*shape, seed=1)
    r = compress(lossless, img, tmp_path / "l.lic", n_beams=2, extra_samples=1.2)
    np.testing.assert_array_equal(decompress(lossless, tmp_path / "l.lic"), img)
    # the residual is really coded: its bytes are within ANS overhead of −log2 p(x|ẑ)
    assert r.residual_bytes * 8 >= r.residual_ideal_bits - 1
    # (+ a 4-byte chunk length and at most two 32-bit ANS words, + ≤1% for quantised probabilities)
    assert r.residual_bytes * 8 <= r.residual_ideal_bits + 96 + 0.01 * r.residual_ideal_bits


def test_bad_files_give_clear_errors(lossy, lossless, tmp_path):
    img = _img(64, 64)
    compress(lossy, img, tmp_path / "a.lic", n_beams=1)
    data = (tmp_path / "a.lic").read_bytes()
    (tmp_path / "trunc.lic").write_bytes(data[: len(data) // 2])
    with pytest.raises(ContainerError):
        decompress(lossy, tmp_path / "trunc.lic")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    (tmp_path / "flip.lic").write_bytes(bytes(flipped))
    with pytest.raises(ContainerError, match="CRC"):
        decompress(lossy, tmp_path / "flip.lic")
    with pytest.raises(ContainerError, match="fingerprint"):
        decompress(lossless, tmp_path / "a.lic")
    (tmp_path / "junk.lic").write_bytes(b"hello world")
    with pytest.raises(ContainerError):
        decompress(lossy, tmp_path / "junk.lic")


def test_model_directory_save_load_and_errors(lossy, tmp_path):
    save_model(lossy.model, lossy.config, tmp_path / "m")
    lm = load_model(tmp_path / "m")
    assert lm.fingerprint == lossy.fingerprint
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "none")
    (tmp_path / "m2").mkdir()
    (tmp_path / "m2" / "config.json").write_text('{"model": "large_level_2_vae"}')
    with pytest.raises(ModelError, match="weights.npz"):
        load_model(tmp_path / "m2")
    import shutil
    shutil.copy(tmp_path / "m" / "weights.npz", tmp_path / "m2" / "weights.npz")
    with pytest.raises(ModelError, match="shape"):
        load_model(tmp_path / "m2")   # default filters 196/128 do not fit the 16/8 weights


def test_lossless_model_directory_keeps_every_block(lossless, tmp_path):
    """Keras names of the blocks' layers repeat; the saved file must still hold every variable."""
    save_model(lossless.model, lossless.config, tmp_path / "ll")
    lm = load_model(tmp_path / "ll")
    assert len(lm.model.weights) == len(lossless.model.weights)
    for a, b in zip(lm.model.weights, lossless.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert lm.fingerprint == lossless.fingerprint


def _repack(src, dst, **changes):
    """Rewrite a valid file with header fields changed (a CRC-valid file whose header does not belong to it)."""
    from shared_data import container

    c = container.read(src)
    ints = container.unpack_ints(c.sections[0])
    for i, key in enumerate(("kind", "ph", "pw", "seed", "block_size", "n_samples", "levels", "check")):
        if key in changes:
            ints[i] = changes[key]
    c = container.Container(c.codec, c.fingerprint, c.height, c.width,
                            (container.pack_ints(ints),) + tuple(c.sections[1:]))
    container.write(dst, c)


@pytest.mark.parametrize("which", ["lossy", "lossless"])
def test_seed_or_header_mismatch_is_refused(lossy, lossless, tmp_path, which):
    """A file decoded with another seed / block size rebuilds other latents: refused, never a wrong image."""
    from rec.codec import IrecFileError

    from shared_data import container

    lm = lossy if which == "lossy" else lossless
    img = _img(64, 64, seed=5) if which == "lossy" else _img(8, 8, seed=5)
    r = compress(lm, img, tmp_path / "a.lic", n_beams=1, compression_seed=42)
    c0 = container.unpack_ints(container.read(tmp_path / "a.lic").sections[0])
    assert c0[3] == 42 and r.num_bytes > 0
    _repack(tmp_path / "a.lic", tmp_path / "seed.lic", seed=43)
    with pytest.raises(IrecFileError, match="seed 43"):
        decompress(lm, tmp_path / "seed.lic")
    _repack(tmp_path / "a.lic", tmp_path / "check.lic", check=(c0[7] + 1) % (1 << 21))
    with pytest.raises(IrecFileError, match="check value"):
        decompress(lm, tmp_path / "check.lic")
    _repack(tmp_path / "a.lic", tmp_path / "ns.lic", n_samples=1)
    with pytest.raises(IrecFileError):
        decompress(lm, tmp_path / "ns.lic")


def test_unsupported_images_give_clear_errors(lossy, tmp_path):
    with pytest.raises(ImageError, match="empty image"):
        compress(lossy, np.zeros((0, 5, 3), np.uint8), tmp_path / "e.lic")
    with pytest.raises(ImageError, match="uint8 array of shape"):
        compress(lossy, np.zeros((8, 8), np.uint8), tmp_path / "g.lic")
    with pytest.raises(ImageError, match="uint8 array of shape"):
        compress(lossy, np.zeros((8, 8, 4), np.uint8), tmp_path / "a.lic")
    with pytest.raises(ImageError, match="uint8"):
        compress(lossy, np.zeros((8, 8, 3), np.float32), tmp_path / "f.lic")
    assert not any(tmp_path.iterdir())   # nothing half-written


def test_file_records_arithmetic_and_names_a_mismatch(lossy, tmp_path):
    """Format 2 files carry the encoder's arithmetic configuration; a check failure names what differs."""
    from rec.codec import IrecFileError
    from rec.fileformat import pack_record, read_record

    from shared_data import container

    compress(lossy, _img(64, 64, seed=6), tmp_path / "a.lic", n_beams=1)
    fmt, rec = read_record(tmp_path / "a.lic")
    assert fmt == 2 and rec["tf_threads"] and rec["tf"] and rec["constriction"] and rec["isa"]
    c = container.read(tmp_path / "a.lic")
    ints = container.unpack_ints(c.sections[0])
    ints[7] = (ints[7] + 1) % (1 << 21)
    other = "sse4" if rec["isa"] == "avx512" else "avx512"   # an ISA other than this machine's
    forged = dict(rec, isa=other, tf_threads="1/1")
    c = container.Container(c.codec, c.fingerprint, c.height, c.width,
                            (container.pack_ints(ints), pack_record(forged)) + tuple(c.sections[2:]))
    container.write(tmp_path / "b.lic", c)
    with pytest.raises(IrecFileError, match=f"encoded with isa={other}, tf_threads=1/1; this decoder runs"):
        decompress(lossy, tmp_path / "b.lic")
    assert len(c.sections[1]) < 40   # the deflated record (preset dictionary): a few bytes, not ~120
    c = container.Container(c.codec, c.fingerprint, c.height, c.width,
                            (c.sections[0], b"\x00garbage") + tuple(c.sections[2:]))
    container.write(tmp_path / "c.lic", c)
    with pytest.raises(ContainerError, match="corrupt arithmetic-config section"):
        decompress(lossy, tmp_path / "c.lic")


@pytest.mark.parametrize("which", ["lossy", "lossless"])
def test_legacy_format_1_still_decodes(lossy, lossless, tmp_path, which):
    """A format-1 file (kind 0/1, no arithmetic record: what this codec wrote before) decodes as before."""
    from shared_data import container

    lm, img = (lossy, _img(64, 64, seed=7)) if which == "lossy" else (lossless, _img(6, 8, seed=7))
    r = compress(lm, img, tmp_path / "a.lic", n_beams=1)
    c = container.read(tmp_path / "a.lic")
    ints = container.unpack_ints(c.sections[0])
    ints[0] %= 2
    c = container.Container(c.codec, c.fingerprint, c.height, c.width,
                            (container.pack_ints(ints),) + tuple(c.sections[2:]))
    container.write(tmp_path / "old.lic", c)
    np.testing.assert_array_equal(decompress(lm, tmp_path / "old.lic"), r.reconstruction)
