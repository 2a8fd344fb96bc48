"""Issue 15 item 1: files record the encoder's arithmetic configuration; legacy files still decode; a float-path
file whose symbols do not reproduce fails naming both configurations (never a wrong image)."""
import numpy as np
import pytest
import tensorflow as tf
from sga import arith_config
from sga.cli import peek_threads
from sga.coding import FORMAT, Coder, SGAArithmeticError
from sga.inference import round_latents

from shared_data import container as lic


@pytest.fixture(scope="module")
def float_file(tiny_model):
    rng = np.random.default_rng(1)
    z = tf.constant(np.round(rng.normal(size=(1, 1, 2, 8)) * 3).astype(np.float32))
    mu, sigma = tiny_model.side_params(z, (1, 3, 5, 8))
    y = mu + sigma * rng.normal(size=(1, 3, 5, 8)).astype(np.float32)
    y_hat, z_hat = round_latents(tiny_model, y, z, "integer")
    coder = Coder(tiny_model, portable=False)
    return coder, coder.encode(y_hat.numpy(), z_hat.numpy(), "integer", "sga", 40, 70), y_hat.numpy()


def test_config_section_round_trip_and_is_small():
    cfg = arith_config.describe()
    assert {"tf", "tfc", "tf_intra_threads", "tf_onednn", "isa"} <= set(cfg)
    packed = arith_config.pack(cfg)
    assert arith_config.unpack(packed) == cfg and len(packed) < 40  # preset dictionary: ~10 bytes, not ~150
    with pytest.raises(lic.ContainerError, match="x.lic: corrupt arithmetic-config"):
        arith_config.unpack(b"\xff\x00garbage", path="x.lic")


def test_file_records_config_and_decoder_reads_its_threads(float_file, tmp_path):
    coder, c, y_hat = float_file
    head = lic.unpack_ints(c.sections[0])
    assert head[0] == FORMAT and len(c.sections) == 4
    cfg = dict(arith_config.unpack(c.sections[3]), tf_intra_threads="1")
    lic.write(tmp_path / "a.lic", lic.Container(c.codec, c.fingerprint, c.height, c.width,
                                                c.sections[:3] + (arith_config.pack(cfg),)))
    assert peek_threads(tmp_path / "a.lic") == 1  # the CLI sets TF's pools to this before the first op
    y2, _, _, _ = coder.decode_latents(lic.read(tmp_path / "a.lic"))
    np.testing.assert_array_equal(y2, y_hat)


def test_legacy_format_1_still_decodes(float_file):
    coder, c, y_hat = float_file
    head = lic.unpack_ints(c.sections[0])
    legacy = lic.Container(c.codec, c.fingerprint, c.height, c.width,
                           (lic.pack_ints([1] + head[1:7]), c.sections[1], c.sections[2]))
    y2, _, method, _ = coder.decode_latents(legacy)
    np.testing.assert_array_equal(y2, y_hat)
    assert method == "sga"


def test_symbol_mismatch_names_both_configurations(float_file):
    coder, c, _ = float_file
    head = lic.unpack_ints(c.sections[0])
    here = arith_config.unpack(c.sections[3])
    other = "sse4" if here.get("isa") == "avx512" else "avx512"   # an ISA other than this machine's
    cfg = dict(here, tf_intra_threads="1", isa=other)
    bad = lic.Container(c.codec, c.fingerprint, c.height, c.width,
                        (lic.pack_ints(head[:7] + [head[7] ^ 1]), c.sections[1], c.sections[2],
                         arith_config.pack(cfg)))
    with pytest.raises(SGAArithmeticError, match=rf"f.lic: symbol CRC mismatch .*encoded with isa={other}, "
                       r"tf_intra_threads=1; this decoder runs isa=.*--try-arithmetic"):
        coder.decode(bad, "f.lic")
