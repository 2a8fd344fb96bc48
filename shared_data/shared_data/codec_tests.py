"""The conformance tests every codec passes (the :class:`shared_data.codec.Codec` protocol), run by each
sub-project in its own environment. In ``<sub-project>/tests/test_codec_protocol.py``::

    from shared_data import codec_tests
    globals().update(codec_tests.make("cpm", ROOT / "tests/golden/protocol-32x48.lic", model="zoo/mini"))

What they check, on a fixed 32×48 image (``image()``):

* the protocol: ``codec_id``, an 8-byte ``fingerprint``, ``lossless``; ``load_codec`` finds the model from its
  path alone, from a ``.lic`` file and by codec name;
* ``encode`` -> container of this codec, model and size; ``decode`` gives ``uint8 (H, W, 3)`` of the original
  size (equal to the input when lossless); encoding twice gives the same bytes;
* the golden file (:mod:`shared_data.golden`; a missing golden fails; ``<CODEC>_UPDATE_GOLDEN=1`` rewrites
  it): the committed ``.lic`` decodes on this machine to the reconstruction its writer pinned
  (``<golden>.decoded.rgb``: exactly for a lossless codec, within ``decode_tolerance`` grey levels for a lossy
  one, whose synthesis is float), and — on a machine of the writer's ISA (``<golden>.json``), where the float
  encoder takes the same decisions — encoding writes exactly its bytes (elsewhere that check is skipped with
  the reason: encoders are float by design; what must be portable is decoding);
* ``estimate_bits`` agrees with the real payload within ``bits_rtol`` (plus 64 bits of coder overhead per
  section);
* refusals are :class:`LicError`: a non-uint8 or 2-D array, a container with another model's fingerprint,
  ``n_fuzz`` mutated files (:mod:`shared_data.fuzz`: 0 crash, 0 hang, 0 silent-wrong).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from . import codec as codec_api
from . import container as cont
from . import fuzz, golden
from .errors import ContainerError, LicError


class ToyLosslessCodec:
    """A codec that stores the pixels as they are (lossless), with the fingerprint check every codec does:
    for testing the plumbing (CLI, evaluation, sweeps) without a framework. ``factory(model)`` builds it."""

    codec_id, fingerprint, lossless = "test", b"toyraw01", True

    def encode(self, image):
        h, w = image.shape[:2]
        return cont.Container("test", self.fingerprint, h, w, (np.ascontiguousarray(image).tobytes(),))

    def decode(self, c):
        if c.fingerprint != self.fingerprint:
            raise ContainerError("written by another model")
        if len(c.sections) != 1 or len(c.sections[0]) != c.height * c.width * 3:
            raise ContainerError("payload has the wrong length")
        return np.frombuffer(c.sections[0], np.uint8).reshape(c.height, c.width, 3).copy()

    def estimate_bits(self, image):
        return 8.0 * image.size


def toy_factory(model=None, **options):
    return ToyLosslessCodec()


def image(height: int = 32, width: int = 48, seed: int = 16) -> np.ndarray:
    """A smooth image with texture (gradients + noise): what every codec's protocol test encodes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / max(width - 1, 1), y * 255 / max(height - 1, 1), (x + y) * 127 / (height + width)], -1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def make(codec_id: str, golden_path: str | os.PathLike, model: str | os.PathLike | None = None,
         options: dict | None = None, bits_rtol: float = 0.25, n_fuzz: int = 300, fuzz_time_limit: float = 30.0,
         size: tuple[int, int] = (32, 48), decode_tolerance: int = 2) -> dict:
    """Fixtures and tests for ``codec_id``'s model ``model`` (None: its default), to be put in a test
    module's globals. ``options`` go to ``load_codec``."""
    options = options or {}
    golden_path = Path(golden_path)
    decoded_path = golden_path.with_name(golden_path.stem + ".decoded.rgb")
    meta_path = golden_path.with_name(golden_path.stem + ".json")

    @pytest.fixture(scope="module")
    def protocol_codec():
        return codec_api.load_codec(model, codec=codec_id, **options)

    @pytest.fixture(scope="module")
    def protocol_encoded(protocol_codec):
        img = image(*size)
        c = protocol_codec.encode(img)
        return img, c, cont.pack(c)

    def test_protocol_attributes(protocol_codec):
        assert isinstance(protocol_codec, codec_api.Codec)
        assert protocol_codec.codec_id == codec_id
        assert isinstance(protocol_codec.fingerprint, bytes) and len(protocol_codec.fingerprint) == 8
        assert isinstance(protocol_codec.lossless, bool)

    def test_load_codec_finds_the_model(protocol_codec, protocol_encoded, tmp_path):
        if model is not None and Path(model).exists():
            assert codec_api.load_codec(model, **options).fingerprint == protocol_codec.fingerprint
        p = tmp_path / "x.lic"
        p.write_bytes(protocol_encoded[2])
        assert codec_api.codec_of_file(p) == codec_id
        with pytest.raises(LicError):
            codec_api.load_codec(tmp_path / "no-such-model", codec=codec_id)

    def test_encode_decode_roundtrip(protocol_codec, protocol_encoded):
        img, c, data = protocol_encoded
        assert (c.codec, c.fingerprint, c.height, c.width) == (codec_id, protocol_codec.fingerprint, *img.shape[:2])
        out = codec_api.decompress(protocol_codec, data)
        assert out.dtype == np.uint8 and out.shape == img.shape
        if protocol_codec.lossless:
            np.testing.assert_array_equal(out, img)
        assert codec_api.compress(protocol_codec, img) == data, "encoding is not deterministic"

    def _write_golden(codec, data):
        import json

        from .imageio import atomic_write_bytes
        img = codec_api.decompress(codec, data)
        atomic_write_bytes(golden_path, data)
        atomic_write_bytes(decoded_path, np.ascontiguousarray(img).tobytes())
        atomic_write_bytes(meta_path, (json.dumps({**golden.arith_here(), "height": img.shape[0], "width": img.shape[1]},
                                                  sort_keys=True) + "\n").encode())

    def test_golden_file_decodes(protocol_codec, protocol_encoded):
        import json
        if golden.update_requested(codec_id):
            _write_golden(protocol_codec, protocol_encoded[2])
        for p in (golden_path, decoded_path, meta_path):
            if not p.is_file():
                raise AssertionError(f"golden file {p} is missing (rerun with {codec_id.upper()}_UPDATE_GOLDEN=1 "
                                     "to write it, and commit it)")
        meta = json.loads(meta_path.read_text())
        got = codec_api.decompress(protocol_codec, golden_path.read_bytes(), path=golden_path)
        want = np.frombuffer(decoded_path.read_bytes(), np.uint8).reshape(meta["height"], meta["width"], 3)
        assert got.shape == want.shape
        if protocol_codec.lossless:
            np.testing.assert_array_equal(got, want)
        else:
            diff = int(np.abs(got.astype(np.int16) - want).max())
            assert diff <= decode_tolerance, f"{golden_path} decodes {diff} grey levels away from its pinned image"

    def test_golden_bytes(protocol_encoded):
        import json

        if golden.update_requested(codec_id):
            return  # written by test_golden_file_decodes
        if meta_path.is_file() and (why := golden.other_arith(json.loads(meta_path.read_text()))):
            pytest.skip(f"{golden_path.name} was {why}")
        golden.check(golden_path, protocol_encoded[2], codec_id)

    def test_estimate_bits_matches_the_file(protocol_codec, protocol_encoded):
        img, c, _ = protocol_encoded
        est = float(protocol_codec.estimate_bits(img))
        real = 8 * sum(len(s) for s in c.sections)
        assert est > 0
        assert abs(est - real) <= bits_rtol * real + 64 * len(c.sections), (est, real)

    def test_bad_arrays_are_refused(protocol_codec):
        for bad in (image(*size).astype(np.float32), image(*size)[..., 0], np.zeros((0, 4, 3), np.uint8)):
            with pytest.raises(LicError):
                codec_api.compress(protocol_codec, bad)

    def test_other_model_is_refused(protocol_codec, protocol_encoded):
        c = protocol_encoded[1]
        other = dataclasses.replace(c, fingerprint=bytes(b ^ 0xFF for b in c.fingerprint))
        with pytest.raises(ContainerError) as e:
            protocol_codec.decode(other)
        assert str(e.value)

    def test_fuzz_decoder(protocol_codec, protocol_encoded):
        rep = fuzz.run(lambda d: codec_api.decompress(protocol_codec, d), protocol_encoded[2], (LicError,),
                       n_cases=n_fuzz, seed=0, time_limit=fuzz_time_limit, progress=False)
        assert rep.ok, rep.summary()

    return {k: v for k, v in locals().items() if k.startswith(("test_", "protocol_"))}
