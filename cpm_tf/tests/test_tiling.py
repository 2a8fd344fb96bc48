"""Bounded memory on huge images (issue 17): tiled analysis / synthesis transforms and the ring-buffered
context model (``shared_data.tiling.tiles``, ``cpm.coding.RING``).

The tiles are forced small here (``tile_above = 0``, 16-symbol tiles) so that a 512×384 crop has interior
tiles whose windows do not reach the image border; the real threshold (``TILE_ABOVE``, 2^22 padded pixels)
leaves every golden / Kodak / zoo-reference image on the untiled path. ``bench.py --rss`` measures the 4K peak
RSS; the 12000×12000 run is ``test_12000_squared_encode_decode_within_8_gib`` (slow)."""

import os
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from cpm import coding
from cpm.codec import SUBSAMPLING, TILE_ABOVE, tiles

from shared_data import container as cont
from shared_data import limits
from shared_data.imageio import pad_to_multiple, read_image

ROOT = Path(__file__).resolve().parents[1]
TILE = 16


def full_frame_run(cm, symbols):
    """Reference: the context model with every layer's activations in one full frame (the coder before
    issue 17), same step order and shapes; returns (logits (C,h,w,L) in the frame, cost)."""
    C, h, w = symbols.shape
    P = coding.PAD
    Dp, Hp, Wp = C + P, h + 2 * P, w + 2 * P
    N = Dp * Hp * Wp
    layers, plans, (t_min, nsteps, _) = cm._plan(C, h, w)[1:]
    A = [np.full((N, 1), cm.pad_value, cm.dtype)] + [np.zeros((N, cm.k), cm.dtype) for _ in range(3)]
    A[0].reshape(Dp, Hp, Wp)[P:, P:-P, P:-P] = cm._symbol_values(symbols)
    logits = np.zeros((N, cm.L), cm.dtype)
    cost = 0.0
    frame = np.zeros(N, np.int64)
    frame.reshape(Dp, Hp, Wp)[P:, P:-P, P:-P] = symbols
    for s in range(nsteps):
        for li, layer in enumerate(layers):
            # the anchors of time t by brute force over the layer's whole region
            d, y, x = np.meshgrid(np.arange(li + 1, Dp), np.arange(li + 1, Hp - li - 1),
                                  np.arange(li + 1, Wp - li - 1), indexing="ij")
            m = (4 * d + 2 * y + x == t_min + s)
            idx = ((d * Hp + y) * Wp + x)[m]
            assert np.array_equal(idx, cm._anchors(plans[li], t_min + s, Wp))
            if idx.size == 0:
                continue
            X = np.take(A[li], (idx[:, None] + layer.offs[None, :]).ravel(), axis=0).reshape(idx.size, -1)
            out = cm._layer(li, layer, X, A, idx)
            if li < 3:
                A[li + 1][idx] = out
            else:
                logits[idx] = out
                _, log2p = cm._probs(out)
                cost -= float(log2p[np.arange(idx.size), frame[idx]].sum())
    return logits.reshape(Dp, Hp, Wp, cm.L)[P:, P:-P, P:-P], cost


@pytest.mark.parametrize("portable", [True, False])
def test_ring_context_model_equals_full_frame(zoo_codec, portable):
    """The ring-buffered wavefront gives bit-identical logits and cost to the full-frame evaluation."""
    cm = zoo_codec.icm if portable else zoo_codec.cm
    rng = np.random.default_rng(3)
    for shape in [(zoo_codec.model.C, 1, 1), (zoo_codec.model.C, 3, 7), (zoo_codec.model.C, 6, 5)]:
        sym = rng.integers(0, zoo_codec.model.L, shape)
        got_sym, cost, logits = cm.run(*shape, symbols=sym, keep_logits=True)
        ref_logits, ref_cost = full_frame_run(cm, sym)
        assert np.array_equal(got_sym, sym)
        assert np.array_equal(logits, ref_logits) and cost == ref_cost, shape


def test_context_model_memory_is_bounded(zoo_codec):
    """Peak NumPy allocation (tracemalloc) of decoding a (32, 48, 96) volume (a 384×768 image): the int16
    symbol frame and int32 row index (6 bytes per position) plus a few times the ring (3 layers × RING steps ×
    the largest step × k float64: the per-step gathers are of that size too) — here about a tenth of the
    3 × k × 8 = 576 bytes per position the full-frame coder held, a ratio that shrinks as images grow."""
    cm = zoo_codec.icm
    sym = np.random.default_rng(0).integers(0, 3, (zoo_codec.model.C, 48, 96))
    data, _ = coding.encode_symbols(cm, sym)
    C, h, w = sym.shape
    N = (C + coding.PAD) * (h + 2 * coding.PAD) * (w + 2 * coding.PAD)
    block = cm._plan(C, h, w)[3][2]
    ring = 3 * (coding.RING * block + 1) * cm.k * 8
    tracemalloc.start()
    try:
        out = coding.decode_symbols(cm, data, sym.shape)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(out, sym)
    full_frame = 3 * N * cm.k * 8
    assert peak < 6 * N + 3 * ring and peak < full_frame / 5, (peak, N, ring, full_frame)


def test_tile_plan_covers_the_grid_once():
    for h, w, tile, margin in [(1, 1, 16, 13), (33, 17, 16, 13), (270, 480, 128, 13), (5, 40, 4, 2)]:
        cover = np.zeros((h, w), int)
        for (y0, y1, x0, x1), (a0, a1, b0, b1) in tiles(h, w, tile, margin):
            cover[y0:y1, x0:x1] += 1
            assert a0 == max(0, y0 - margin) and a1 == min(h, y1 + margin)
            assert b0 == max(0, x0 - margin) and b1 == min(w, x1 + margin)
            assert a1 - a0 <= tile + 2 * margin and b1 - b0 <= tile + 2 * margin
        assert (cover == 1).all()


@pytest.fixture(scope="module")
def crop(kodak_dir):
    return read_image(kodak_dir / "kodim01.png")[:384, :512]


def test_tiled_symbols_equal_untiled(zoo_codec, crop, monkeypatch):
    """Symbols of 16-symbol tiles with the receptive-field margin equal the untiled ones (and a margin below
    the receptive field does not: the check can fail)."""
    untiled = zoo_codec.symbols_of(crop)
    shapes = []
    enc = zoo_codec._enc
    monkeypatch.setattr(zoo_codec, "_enc", lambda x: shapes.append(tuple(x.shape)) or enc(x))
    monkeypatch.setattr(zoo_codec, "tile_above", 0)
    monkeypatch.setattr(zoo_codec, "tile", TILE)
    tiled = zoo_codec.symbols_of(crop)
    assert len(shapes) == 3 * 4 and max(max(s[1:3]) for s in shapes) <= (TILE + 2 * zoo_codec.enc_margin) * 8
    assert np.array_equal(tiled, untiled)
    monkeypatch.setattr(zoo_codec, "enc_margin", 2)
    assert (zoo_codec.symbols_of(crop) != untiled).sum() > 10


def test_tiled_file_round_trip(zoo_codec, crop, monkeypatch, tmp_path):
    """A tiled encode writes the same file as the untiled one (same symbols); a tiled decode gives the same
    symbols and, up to float rounding in the synthesis convolutions (a uint8 off by at most 1 at a few
    pixels), the untiled reconstruction; a margin below the receptive field differs widely."""
    img = crop[:381, :509]  # odd size: padded to 384 x 512 (split before / after)
    c_untiled, res = zoo_codec.encode_array(img)
    _, rec_untiled, _ = zoo_codec.decode_container(c_untiled)
    monkeypatch.setattr(zoo_codec, "tile_above", 0)
    monkeypatch.setattr(zoo_codec, "tile", TILE)
    cont.write(tmp_path / "t.lic", zoo_codec.encode_array(img)[0])
    assert cont.pack(cont.read(tmp_path / "t.lic")) == cont.pack(c_untiled)
    shapes = []
    dec = zoo_codec._dec
    monkeypatch.setattr(zoo_codec, "_dec", lambda q: shapes.append(tuple(q.shape)) or dec(q))
    out, rec, sym = zoo_codec.decode_container(cont.read(tmp_path / "t.lic"))
    assert np.array_equal(sym, res.symbols) and out.shape == img.shape
    assert len(shapes) == 12 and max(max(s[1:3]) for s in shapes) <= TILE + 2 * zoo_codec.dec_margin
    diff = np.abs(rec.astype(int) - rec_untiled)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-4, (diff.max(), (diff > 0).sum())
    monkeypatch.setattr(zoo_codec, "dec_margin", 2)
    assert (zoo_codec.reconstruct(sym) != rec_untiled).mean() > 0.01


def test_threshold_keeps_small_images_untiled(zoo_codec):
    """Goldens, Kodak (768×512) and the zoo references stay on the untiled path (byte-identical files)."""
    assert zoo_codec.tile_above == TILE_ABOVE >= 2048 * 2048 > 768 * 512
    padded, _ = pad_to_multiple(np.zeros((2048, 2048, 3), np.uint8), SUBSAMPLING)
    assert padded.shape[0] * padded.shape[1] <= TILE_ABOVE < 3840 * 2160


@pytest.mark.slow
@pytest.mark.timeout(6 * 3600)   # measured 2026-12-02: encode 379 s on the quiet 2-core machine (decode similar)
def test_12000_squared_encode_decode_within_8_gib(tmp_path):
    """Issue 17: a 12000×12000 encode and decode with the pixel limit raised complete within 8 GiB (each in a
    fresh process, under an 8 GiB memory budget: the affine estimate, ``limits.RSS_AFFINE``, admits them)."""
    png = limits.write_constant_png(tmp_path / "big.png", 12000, 12000, value=97)
    for step in ("encode", "decode"):
        assert limits.estimated_peak_bytes("cpm", step, 12000 * 12000) < 8 * limits.GiB
    env = {limits.MEMORY_VAR: "8G", "TF_CPP_MIN_LOG_LEVEL": "3"}
    for step, a, b in (("encode", png, tmp_path / "big.lic"), ("decode", tmp_path / "big.lic", tmp_path / "o.png")):
        rss, wall, _ = limits.child_peak_rss([sys.executable, "-m", "cpm", step, a, b, limits.FLAG, "0"], cwd=ROOT,
                                             env=env, timeout=6 * 3600)
        print(f"12000x12000 {step}: peak RSS {rss / limits.GiB:.2f} GiB, {wall:.0f} s", file=sys.__stderr__)
        assert rss < 8 * limits.GiB, (step, rss)
    assert os.path.getsize(tmp_path / "o.png") > 0
