"""Bounded memory on huge images (issue 17): the lossy model's analysis and synthesis transforms on overlapping
tiles (``shared_data.tiling``, ``rec.models.lossy.TILE_ABOVE``).

The tiles are forced small here (``tile_above = 0``, 4-latent tiles = 64 px) so that a 320×256 image has
interior tiles whose windows do not reach the border; the real threshold (2^22 padded pixels) leaves every
golden / Kodak / zoo-reference image untiled. ``bench.py --rss`` measures the 4K peak RSS."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import KODAK_DIR, ROOT
from rec.codec import decompress, encode_image, load_model

from shared_data import container
from shared_data.tiling import run_tiled, tiles


def _image(h=256, w=320):
    if (KODAK_DIR / "kodim23.png").is_file():
        from shared_data.imageio import read_image
        return read_image(KODAK_DIR / "kodim23.png")[100:100 + h, 200:200 + w]
    rs = np.random.RandomState(3)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, 128 + 100 * np.sin(x / 9.0) * np.cos(y / 7.0)], -1)
    return np.clip(base + rs.randn(h, w, 3) * 8, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def lm():
    return load_model(ROOT / "zoo" / "mini")


def _force_tiles(model, monkeypatch, tile=4, enc=None, dec=None):
    monkeypatch.setattr(model, "tile_above", 0)
    monkeypatch.setattr(model, "tile", tile)
    if enc is not None:
        monkeypatch.setattr(model, "enc_margin", enc)
    if dec is not None:
        monkeypatch.setattr(model, "dec_margin", dec)


def test_tiles_cover_the_grid_once():
    seen = np.zeros((11, 7), int)
    for (y0, y1, x0, x1), (a0, a1, b0, b1) in tiles(11, 7, 3, 2):
        seen[y0:y1, x0:x1] += 1
        assert a0 == max(0, y0 - 2) and a1 == min(11, y1 + 2) and b0 == max(0, x0 - 2) and b1 == min(7, x1 + 2)
    assert (seen == 1).all()
    with pytest.raises(ValueError, match="tile 0"):
        list(tiles(4, 4, 0, 1))


def test_run_tiled_of_a_pointwise_map_is_exact():
    x = np.arange(2 * 8 * 12 * 3, dtype=np.float32).reshape(2, 8, 12, 3)
    (out,) = run_tiled(lambda t: t[:, ::2, ::2] * 2, x, (4, 6), 3, 1, in_scale=2)
    np.testing.assert_array_equal(out, x[:, ::2, ::2] * 2)
    with pytest.raises(ValueError, match="grid"):
        run_tiled(lambda t: t, x, (5, 6), 3, 1, in_scale=2)


def test_tiled_transforms_equal_the_untiled_ones(lm, monkeypatch):
    """The default margins reproduce the whole-image analysis stats and synthesis to float rounding; a margin
    of 0 does not (the margins are not vacuous)."""
    m = lm.model
    x = tf.constant(_image()[None].astype(np.float32) / 255.0)
    loc0, ls0 = (v.numpy() for v in m.infer_y_stats(x))
    x0 = m.synthesize(tf.constant(loc0)).numpy()
    _force_tiles(m, monkeypatch)
    loc1, ls1 = (v.numpy() for v in m.analysis_stats(x))
    x1 = m.synthesize_image(tf.constant(loc0)).numpy()
    for a, b in ((loc0, loc1), (ls0, ls1), (x0, x1)):
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(a).max())
    _force_tiles(m, monkeypatch, enc=0, dec=0)
    assert np.abs(m.analysis_stats(x)[0].numpy() - loc0).max() > 1e-3
    assert np.abs(m.synthesize_image(tf.constant(loc0)).numpy() - x0).max() > 1e-3


def test_tiled_encode_decodes_and_matches_the_untiled_file(lm, monkeypatch, tmp_path):
    """A file written with tiled transforms decodes (portable: exact latents) to the untiled reconstruction
    within one grey level, and its latents are those of the untiled encode."""
    img = _image()
    c0, r0 = encode_image(lm, img, n_beams=2)
    _force_tiles(lm.model, monkeypatch)
    c1, r1 = encode_image(lm, img, n_beams=2)
    path = tmp_path / "t.lic"
    container.write(path, c1)
    out, lat = decompress(lm, path, return_latents=True)
    assert out.shape == img.shape
    assert np.abs(out.astype(int) - r1.reconstruction.astype(int)).max() <= 1
    same = all(np.array_equal(a, b) for a, b in zip(r0.latents, r1.latents, strict=True))
    if same:   # the float posteriors steer the search; equal to rounding, they pick the same samples here
        assert container.pack(c0) == container.pack(c1)
        assert np.abs(out.astype(int) - r0.reconstruction.astype(int)).max() <= 1
    else:
        pytest.fail("tiled and untiled encodes chose different samples: the tiled posteriors are off")
