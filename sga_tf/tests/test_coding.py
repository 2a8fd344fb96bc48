"""Real range coding: exact symbols after a round trip, information bound, clear errors on bad files."""
import numpy as np
import pytest
import tensorflow as tf
from sga.coding import Coder, SGAFormatError
from sga.inference import round_latents

from shared_data import container as lic


@pytest.fixture(scope="module")
def coded(tiny_model):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(1, 70, 100, 3)).astype(np.float32))
    # latents drawn from the model's own distributions, so that the information bound is meaningful
    z = tf.constant(np.round(rng.normal(size=(1, 2, 2, 8)) * 3).astype(np.float32))
    mu, sigma = tiny_model.side_params(z, (1, 5, 7, 8))
    y = mu + sigma * rng.normal(size=(1, 5, 7, 8)).astype(np.float32)
    return Coder(tiny_model), x, y, z


@pytest.mark.parametrize("grid,method", [("integer", "sga"), ("offset", "m3")])
def test_round_trip_exact(coded, tiny_model, grid, method, tmp_path):
    coder, x, y, z = coded
    y_hat, z_hat = round_latents(tiny_model, y, z, grid)
    c = coder.encode(y_hat.numpy(), z_hat.numpy(), grid, method, 70, 100)
    size = lic.write(tmp_path / "a.lic", c)
    y2, z2, m, g = coder.decode_latents(lic.read(tmp_path / "a.lic", codec="sga",
                                                 model_fingerprint=coder.fingerprint))
    assert (m, g) == (method, grid)
    np.testing.assert_array_equal(z2, z_hat.numpy())
    if grid == "integer":
        np.testing.assert_array_equal(y2, y_hat.numpy())
    else:  # ŷ = k + μ: same integers k, μ recomputed at batch size 1
        np.testing.assert_allclose(y2, y_hat.numpy(), atol=1e-4)
    _, yb, zb, _ = tiny_model.rd_terms(x, y_hat, z_hat)
    est_bits = float(yb[0] + zb[0])
    payload_bits = 8 * (len(c.sections[1]) + len(c.sections[2]))
    # information bound: the coder cannot beat the model by more than table quantization allows
    assert payload_bits >= 0.97 * est_bits
    assert payload_bits <= 1.05 * est_bits + 64
    assert size * 8 > payload_bits
    rec, used = coder.decode(lic.read(tmp_path / "a.lic"))
    assert rec.shape == (70, 100, 3) and rec.dtype == np.uint8 and used == method


def test_corrupt_and_mismatched_files(coded, tiny_model, tmp_path):
    coder, x, y, z = coded
    y_hat, z_hat = round_latents(tiny_model, y, z, "integer")
    c = coder.encode(y_hat.numpy(), z_hat.numpy(), "integer", "sga", 70, 100)
    data = lic.pack(c)
    p = tmp_path / "t.lic"
    p.write_bytes(data[:-7])
    with pytest.raises(lic.ContainerError):
        coder.decode(lic.read(p))
    bad = bytearray(data)
    bad[40] ^= 0xFF
    p.write_bytes(bytes(bad))
    with pytest.raises(lic.ContainerError):
        coder.decode(lic.read(p))
    with pytest.raises(lic.ContainerError, match="fingerprint"):
        lic.unpack(data, codec="sga", model_fingerprint=b"\0" * 8)
    wrong_shape = lic.Container("sga", coder.fingerprint, 300, 100, c.sections)
    with pytest.raises(SGAFormatError, match="latent shapes"):
        coder.decode(wrong_shape)
    with pytest.raises(SGAFormatError, match="4 sections for format 3"):
        coder.decode(lic.Container("sga", coder.fingerprint, 70, 100, (c.sections[0],)))
