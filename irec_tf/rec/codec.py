"""The iREC codec (Flamich, Havasi & Hernández-Lobato 2020): model directories, the file format (shared
container, codec "irec") and the project's one codec interface (:class:`shared_data.codec.Codec`).

A model directory holds ``config.json`` (the model's sacred config keys plus coding defaults) and
``weights.npz`` (every variable by name). :func:`load_model` builds the model and loads the weights.
:func:`load_codec` wraps a model directory as an :class:`IrecCodec` (``encode`` / ``decode`` on containers,
``estimate_bits``); :func:`encode_image` / :func:`decode_container` are its implementation and
:func:`compress` / :func:`decompress` the same on files (with the encoder's statistics).

Container sections (codec "irec"):

0. varints: [kind (0 lossy, 1 lossless), padded H, padded W, seed, block_size, N_s, num_levels,
   check, K_min/K_max per level]; ``check`` = the low 21 bits of the CRC-32 of the decoded uint8 image, so
   a decoder that rebuilds different latents (a header with another seed or block size, another machine's
   float results) fails with a clear error instead of returning a wrong image
1. the ANS stream of all K_b and indices (:mod:`rec.coding.index_coding`)
2. lossless only: the ANS-coded pixel residual under p(x|ẑ) (:mod:`rec.coding.residual`)

Images whose sides are not multiples of the model's downsampling (64 lossy, 2 lossless) are padded at the
bottom/right by edge replication and cropped back after decoding — never resized or shrunk.
"""

from __future__ import annotations

import json
import math
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from shared_data import arith, container
from shared_data.errors import ConfigError, ContainerError, ImageError, LicError, ModelError
from shared_data.imageio import check_rgb_uint8, crop_to_original, pad_to_multiple

from . import fileformat as ff
from .coding.beam_search import BeamSearchCoder
from .coding.index_coding import decode_levels, encode_levels
from .coding.residual import decode_residual, encode_residual, ideal_bits
from .fileformat import IrecFileError
from .models import MODELS, build_model
from .portable import IntNet, PortableError, split_arrays

CODEC = CODEC_ID = ff.CODEC
KIND_LOSSY, KIND_LOSSLESS = 0, 1
DEFAULT_MODEL = DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "zoo" / "mini"
CODING_DEFAULTS = {"kl_per_partition": 3.0, "block_size": 1000, "n_beams": 10, "extra_samples": 1.0,
                   "compression_seed": 42}


# Sanity limits on header ints a decoder believes before allocating (block_size x n_samples candidates per
# block) or looping; the encoder's defaults are block size 1000 and tens of samples.
MAX_BLOCK_SIZE = 1 << 20
MAX_SAMPLES = 1 << 24
MAX_BLOCK_SAMPLES = 1 << 26


@dataclass
class LoadedModel:
    model: tf.keras.Model
    config: dict
    fingerprint: bytes                   # of everything (config incl. "integerized", float + integer arrays)
    path: Path | None = None
    intnet: IntNet | None = None         # the integer network of an integerised model (portable path)
    float_fingerprint: bytes | None = None   # of the float part alone = the unconverted model's fingerprint

    def __post_init__(self):
        if self.float_fingerprint is None:
            self.float_fingerprint = self.fingerprint

    @property
    def lossless(self) -> bool:
        return self.config["model"] == "resnet_vae"

    @property
    def portable(self) -> bool:
        return self.intnet is not None


def model_weights(model) -> dict[str, np.ndarray]:
    """Every variable, keyed ``NNNN:name`` by its position in ``model.weights`` (Keras names of layers nested
    in lists are not unique: the ResNet VAE's 24 blocks all have a ``resnet_vae/infer_q_loc/v:0``)."""
    return {f"{i:04d}:{v.name}": v.numpy() for i, v in enumerate(model.weights)}


def _assign_weights(model, weights: dict[str, np.ndarray], directory) -> None:
    own = list(model.weights)
    if all(k[:4].isdigit() and k[4:5] == ":" for k in weights):
        keyed = {f"{i:04d}:{v.name}": v for i, v in enumerate(own)}
    else:  # plain names (older files); only valid where names are unique
        keyed = {v.name: v for v in own}
        if len(keyed) != len(own):
            raise ModelError(f"{directory}: weights.npz keyed by non-unique variable names; re-save the model")
    if set(keyed) != set(weights):
        missing, extra = sorted(set(keyed) - set(weights)), sorted(set(weights) - set(keyed))
        raise ModelError(f"{directory}: weights do not match this model "
                         f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for name, var in keyed.items():
        if tuple(var.shape) != weights[name].shape:
            raise ModelError(f"{directory}: weight {name} has shape {weights[name].shape}, "
                             f"the model needs {tuple(var.shape)}")
        var.assign(weights[name])


def compute_fingerprint(config: dict, weights: dict[str, np.ndarray]) -> bytes:
    """SHA-256 (8 bytes) of the config (without coding defaults) and every array; an integerised model's
    ``integerized`` config entry and ``int/...`` arrays are part of it."""
    cfg = json.dumps({k: config[k] for k in sorted(config) if k not in CODING_DEFAULTS}, sort_keys=True)
    return container.fingerprint(cfg, (np.ascontiguousarray(weights[k]).tobytes() for k in sorted(weights)))


def build(config: dict):
    """Build the model of ``config`` and create its variables (one eager call on a dummy input)."""
    model = build_model(config)
    size = 64 if config["model"] != "resnet_vae" else 32
    if config["model"] == "resnet_vae":
        model(tf.zeros((1, size, size, 3), tf.uint8))
    else:
        model(tf.zeros((1, size, size, 3)))
    return model


def save_model(model, config: dict, directory, extra_arrays: dict | None = None) -> Path:
    """Write config.json and weights.npz atomically into ``directory`` (``extra_arrays``: the integer network)."""
    import io

    from shared_data.imageio import atomic_write_bytes

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    flavour = getattr(model, "layer_flavour", "legacy")
    if config.get("layer_flavour", "legacy") != flavour:
        raise ModelError(f"{directory}: config says layer_flavour={config.get('layer_flavour', 'legacy')!r} "
                         f"(absent = legacy) but the model was built with {flavour!r}")
    buf = io.BytesIO()
    np.savez(buf, **model_weights(model), **(extra_arrays or {}))
    atomic_write_bytes(directory / "weights.npz", buf.getvalue())
    atomic_write_bytes(directory / "config.json", (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    return directory


def load_model(directory=None) -> LoadedModel:
    directory = Path(directory) if directory else DEFAULT_MODEL_DIR
    cfg_path, w_path = directory / "config.json", directory / "weights.npz"
    if not directory.is_dir():
        raise ModelError(f"{directory}: model directory does not exist")
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise ModelError(f"{directory}: missing {p.name} (not an irec model directory)")
    try:
        config = json.loads(cfg_path.read_text())
        if "model" not in config:
            raise ModelError(f"{cfg_path}: no 'model' key")
        with np.load(w_path) as f:
            weights = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise ModelError(f"{directory}: unreadable model files ({e})") from None
    float_w, int_w = split_arrays(weights)
    # a lossy checkpoint without "layer_flavour" predates it: this project's legacy layers (build_model)
    try:
        model = build(config)
    except ValueError as e:
        raise ModelError(f"{cfg_path}: {e}") from None
    _assign_weights(model, float_w, directory)
    float_cfg = {k: v for k, v in config.items() if k != "integerized"}
    intnet = None
    if "integerized" in config:
        if not int_w:
            raise ModelError(f"{directory}: config says integerised but weights.npz has no int/ arrays")
        try:
            intnet = IntNet(model, int_w, config["integerized"])
        except PortableError as e:
            raise ModelError(f"{directory}: {e}") from None
    elif int_w:
        raise ModelError(f"{directory}: weights.npz has int/ arrays but config.json no 'integerized' entry")
    return LoadedModel(model, config, compute_fingerprint(config, weights), directory, intnet,
                       compute_fingerprint(float_cfg, float_w))


def integerize_model(src, out) -> LoadedModel:
    """``python -m rec integerize SRC OUT``: add the integer network (:mod:`rec.portable`) to a trained float
    model directory; OUT may be SRC. Re-runnable: an integerised SRC is re-converted from its float weights."""
    import shutil

    from . import portable

    lm = load_model(src)
    arrays = portable.integerize(lm.model, lm.config)
    config = {**{k: v for k, v in lm.config.items() if k != "integerized"}, "integerized": portable.params()}
    save_model(lm.model, config, out, extra_arrays=arrays)
    for name in ("TRAINING.md", "measures.csv"):   # the model's documentation travels with it
        if (lm.path / name).is_file() and not (Path(out) / name).exists():
            shutil.copy(lm.path / name, Path(out) / name)
    return load_model(out)


def make_coder(config: dict, **overrides) -> BeamSearchCoder:
    c = {**CODING_DEFAULTS, **{k: config[k] for k in CODING_DEFAULTS if k in config},
         **{k: v for k, v in overrides.items() if v is not None}}
    return BeamSearchCoder(kl_per_partition=c["kl_per_partition"], block_size=c["block_size"],
                           n_beams=c["n_beams"], extra_samples=c["extra_samples"], seed=c["compression_seed"])


@dataclass
class CompressResult:
    num_bytes: int
    height: int
    width: int
    kl_nats: float                 # Σ_levels KL(q‖p): the ideal latent code length
    index_nats: float              # Σ K_b ln N_s: the uniform-index code length
    index_bytes: int               # the real ANS bytes of section 1
    residual_ideal_bits: float = 0.0
    residual_bytes: int = 0
    reconstruction: np.ndarray | None = None
    enc_s: float = 0.0
    levels: list = field(default_factory=list)
    latents: list | None = None    # portable path: every level's int64 ẑ_q (what the decoder rebuilds)

    @property
    def bpp(self) -> float:
        return self.num_bytes * 8.0 / (self.height * self.width)

    @property
    def ideal_bpp(self) -> float:
        return (self.kl_nats / math.log(2) + self.residual_ideal_bits) / (self.height * self.width)


def _latent_blocks(lm: LoadedModel, coder: BeamSearchCoder, ph: int, pw: int) -> list[int]:
    cfg = lm.config
    if lm.lossless:
        n = (ph // 2) * (pw // 2) * cfg.get("stochastic_filters", 32)
        sizes = [n] * cfg["num_res_blocks"]
    else:
        sizes = [(ph // 64) * (pw // 64) * cfg["level_2_filters"], (ph // 16) * (pw // 16) * cfg["level_1_filters"]]
    return [-(-s // coder.block_size) for s in sizes]


def encode_image(lm: LoadedModel, image: np.ndarray, progress=None, portable: bool | None = None,
                 **coding) -> tuple[container.Container, CompressResult]:
    """Code a uint8 (H, W, 3) image: (the container, sizes / KLs / the decoder's reconstruction).

    ``portable`` (default: whether the model is integerised) writes format 3 through the integer network;
    ``portable=False`` is the float path (format 2: decodes only where TF computes the model identically).
    ``coding``: the beam-search settings (:data:`CODING_DEFAULTS`; None keeps the model's)."""
    try:
        check_rgb_uint8(image)
    except ValueError as e:
        raise ImageError(str(e)) from None
    if portable is None:
        portable = lm.portable
    if portable and not lm.portable:
        raise PortableError(f"{lm.path}: model is not integerised, so it cannot write the portable format 3; "
                            f"convert it with `python -m rec integerize {lm.path} OUT` or use the float path")
    t0 = time.perf_counter()
    coder = make_coder(lm.config, **coding)
    k = lm.model.downsampling
    padded, info = pad_to_multiple(image, k, mode="edge", split="end")
    ph, pw = padded.shape[:2]
    H, W = image.shape[:2]
    latents = None
    if lm.lossless:
        if portable:
            loc_q, codes, stats, latents = lm.model.rec_encode_exact(tf.constant(padded[None]), coder, lm.intnet,
                                                               progress=progress)
            loc, probs = loc_q[0][:H, :W], lm.intnet.pixel_probabilities
        else:
            loc, codes, stats = lm.model.rec_encode(tf.constant(padded[None]), coder, progress=progress)
            loc, probs = loc.numpy()[0][:H, :W], None
        log_scale = float(lm.model.likelihood_log_scale.numpy())
        residual = encode_residual(image, loc, log_scale, probs)
        res_ideal = ideal_bits(image, loc, log_scale, probs)
        recon = image.copy()
        check = image_check(recon)
    else:
        x = tf.constant(padded[None].astype(np.float32) / 255.0)
        if portable:
            x_hat, codes, stats, latents = lm.model.rec_encode_exact(x, coder, lm.intnet, progress=progress)
        else:
            x_hat, codes, stats = lm.model.rec_encode(x, coder, progress=progress)
        recon = crop_to_original(_to_uint8(x_hat.numpy()[0]), info)
        residual, res_ideal = b"", 0.0
        check = latent_check(latents, (H, W)) if portable else image_check(recon)
    header, index_bytes = encode_levels(codes, coder.n_samples)
    fmt = ff.FORMAT_PORTABLE if portable else ff.FORMAT_FLOAT
    ints = [ff.kind_code(fmt, lm.lossless), ph, pw, coder.seed, coder.block_size,
            coder.n_samples, len(codes), check] + header
    record = ff.pack_record(describe_here())
    sections = [container.pack_ints(ints), record, index_bytes] + ([residual] if lm.lossless else [])
    fp = lm.fingerprint if portable else lm.float_fingerprint
    c = container.Container(CODEC, fp, H, W, tuple(sections))
    return c, CompressResult(num_bytes=len(container.pack(c)), height=H, width=W,
                          kl_nats=sum(s.kl_nats for s in stats), index_nats=sum(s.code_nats for s in stats),
                          index_bytes=len(index_bytes), residual_ideal_bits=res_ideal,
                          residual_bytes=len(residual), reconstruction=recon,
                          enc_s=time.perf_counter() - t0, levels=stats, latents=latents)


def compress(lm: LoadedModel, image: np.ndarray, out_path, progress=None, portable: bool | None = None,
             **coding) -> CompressResult:
    """:func:`encode_image` written to ``out_path`` (atomically); returns the encoder's statistics."""
    c, r = encode_image(lm, image, progress=progress, portable=portable, **coding)
    r.num_bytes = container.write(out_path, c)
    return r


SIZED_CHECK = 1 << 21   # flag bit of the check value: the CRC also covers the image's H x W (files since issue 17)


def latent_check(latents, size: tuple[int, int] | None = None) -> int:
    """21-bit check of the portable lossy latents (CRC-32 of every level's int64 ẑ_q, little-endian): the
    exact part of a lossy file; the float synthesis after it may differ by a grey level between machines.

    With ``size`` = (H, W) the CRC starts from the image size and the value carries :data:`SIZED_CHECK`, so a
    container whose H x W was changed (CRC-32 trailer recomputed) fails the check; older files (no flag bit)
    are checked over the latents only."""
    crc = zlib.crc32(struct.pack("<II", *size)) if size is not None else 0
    for z in latents:
        crc = zlib.crc32(np.ascontiguousarray(z, dtype="<i8").tobytes(), crc)
    return (crc & 0x1FFFFF) | (SIZED_CHECK if size is not None else 0)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def image_check(img: np.ndarray) -> int:
    """21-bit check value of a decoded uint8 image (the low bits of its CRC-32; 3 varint bytes)."""
    return zlib.crc32(np.ascontiguousarray(img).tobytes()) & 0x1FFFFF


def describe_here() -> dict:
    """The arithmetic configuration of this process as recorded in (and compared against) files."""
    return ff.describe(tf.config.threading.get_intra_op_parallelism_threads(),
                       tf.config.threading.get_inter_op_parallelism_threads())


def decompress(lm: LoadedModel, path, return_latents: bool = False):
    """Read an .lic file written by :func:`compress` with the same model; returns the uint8 image (and, with
    ``return_latents``, the portable path's int64 latents per level, else None). Every refusal is a
    :class:`~shared_data.errors.LicError` naming ``path``."""
    c = container.read(path, codec=CODEC)
    with container.reading(path):
        return decode_container(lm, c, return_latents=return_latents)


def decode_container(lm: LoadedModel, c: container.Container, return_latents: bool = False):
    """The image of an irec container (see :func:`decompress`); a file of another model, a corrupt payload or
    latents that fail the file's check value raise :class:`IrecFileError` (a ContainerError)."""
    if c.codec != CODEC:
        raise ContainerError(f"a {c.codec} file, not an irec file")
    try:
        if len(c.sections) < 2:
            raise IrecFileError(f"irec payload has {len(c.sections)} sections, expected >= 2")
        ints = container.unpack_ints(c.sections[0])
        if len(ints) < 8:
            raise IrecFileError(f"irec header too short ({len(ints)} values)")
        kind, ph, pw, seed, block_size, n_samples, n_levels, check = ints[:8]
        fmt, lossless = ff.split_kind(kind)
        portable = fmt == ff.FORMAT_PORTABLE
        if portable and not lm.portable:
            raise IrecFileError(
                f"the file is in the {ff.FORMAT_NAMES[fmt]} (integer network), the model {lm.path} is "
                f"float-only (it decodes the {ff.FORMAT_NAMES[ff.FORMAT_FLOAT]}); convert the model with "
                f"`python -m rec integerize {lm.path} OUT` (the encoder's model, integerised)")
        want = lm.fingerprint if portable else lm.float_fingerprint
        if c.fingerprint != want:
            raise ContainerError(f"model fingerprint mismatch: the file ({ff.FORMAT_NAMES[fmt]}) was "
                                 f"written by model {c.fingerprint.hex()}, the loaded model is {want.hex()}")
        record = None
        sections = list(c.sections)
        if fmt != ff.FORMAT_LEGACY:
            if len(sections) < 3:
                raise IrecFileError(f"irec payload has {len(sections)} sections, expected >= 3")
            record = ff.unpack_record(sections.pop(1))
        if lossless != lm.lossless:
            raise IrecFileError(f"file is {'lossless' if lossless else 'lossy'}, the model is "
                                f"{'lossless' if lm.lossless else 'lossy'}")
        k = lm.model.downsampling
        if (ph % k or pw % k or ph < c.height or pw < c.width or ph - c.height >= k or pw - c.width >= k):
            raise IrecFileError(f"padded size {ph}x{pw} does not fit image {c.height}x{c.width}")
        if n_levels != lm.model.num_levels() or block_size < 1 or n_samples < 2:
            raise IrecFileError(f"{n_levels} levels / block size {block_size} / {n_samples} "
                                "samples do not fit this model")
        if block_size > MAX_BLOCK_SIZE or n_samples > MAX_SAMPLES or block_size * n_samples > MAX_BLOCK_SAMPLES:
            raise IrecFileError(f"corrupt header: block size {block_size} x {n_samples} samples exceeds "
                                f"the limits (block size <= {MAX_BLOCK_SIZE}, samples <= {MAX_SAMPLES}, "
                                f"product <= {MAX_BLOCK_SAMPLES})")
        coder = BeamSearchCoder(block_size=block_size, seed=seed, n_samples=n_samples)
        blocks = _latent_blocks(lm, coder, ph, pw)
        # every block codes >= 1 index of log2(N_s) bits (uniform ANS): a header that declares more blocks than
        # the index section can hold is corrupt (and would make the decoder loop over them for nothing)
        need_bits = sum(blocks) * math.log2(n_samples)
        if 0.9 * need_bits > 8 * len(sections[1]) + 64:
            raise IrecFileError(f"corrupt header: block size {block_size} gives {sum(blocks)} blocks "
                                f"(>= {need_bits / 8:.0f} bytes of indices), the index section has "
                                f"{len(sections[1])} bytes")
        codes = decode_levels(ints[8:], sections[1], blocks, n_samples)
        latents = None
        if lm.lossless:
            if len(sections) != 3:
                raise IrecFileError("lossless file without a residual section")
            log_scale = float(lm.model.likelihood_log_scale.numpy())
            if portable:
                loc_q, latents = lm.model.rec_decode_exact(codes, coder, lm.intnet, ph, pw)
                img = decode_residual(sections[2], loc_q[0][: c.height, : c.width], log_scale,
                                      lm.intnet.pixel_probabilities)
            else:
                loc = lm.model.rec_decode(codes, coder, ph, pw).numpy()[0][: c.height, : c.width]
                img = decode_residual(sections[2], loc, log_scale)
            ok = image_check(img) == check
        elif portable:
            x_hat, latents = lm.model.rec_decode_exact(codes, coder, lm.intnet, ph, pw)
            img = _to_uint8(x_hat.numpy()[0])[: c.height, : c.width]
            ok = latent_check(latents, (c.height, c.width) if check & SIZED_CHECK else None) == check
        else:
            x_hat = lm.model.rec_decode(codes, coder, ph, pw).numpy()[0]
            img = _to_uint8(x_hat)[: c.height, : c.width]
            ok = image_check(img) == check
        if not ok and portable:
            raise IrecFileError(f"the {'image' if lossless else 'latents'} decoded by the integer network "
                                f"fail the file's check value: the indices or the header (seed {seed}, block size "
                                f"{block_size}) do not belong to this file (the portable format does not depend "
                                f"on the machine; recorded arithmetic: {arith.explain(record, describe_here())})")
        if not ok:
            why = ("not recorded (format 1 file)" if record is None
                   else arith.explain(record, describe_here()))
            raise IrecFileError(f"the decoded image fails the file's check value: the latents rebuilt "
                                f"from seed {seed}, block size {block_size} and the indices are not the encoder's "
                                "(a seed/header that does not belong to this file, corrupt indices, or a "
                                f"machine whose TF computes this float-path model's outputs differently: {why}; "
                                "`decode --try-arithmetic` retries under other configurations)")
        return (img, latents) if return_latents else img
    except LicError:
        raise
    except (ValueError, IndexError, OverflowError, tf.errors.OpError) as e:  # a payload no check caught
        raise IrecFileError(f"corrupt irec payload ({type(e).__name__}: {e})") from None


# --- the project's codec interface (shared_data.codec.Codec) -----------------------------------------------
def estimate_bits(lm: LoadedModel, image: np.ndarray) -> float:
    """The model's rate for ``image`` in bits without coding: KL(q‖p) summed over the levels with every latent
    at its posterior mean (the ideal REC code length, Flamich et al. 2020, §3), plus for the lossless model
    −log₂ p(x|ẑ) of the pixels (the residual). Computed by the float model on the padded image."""
    try:
        check_rgb_uint8(image)
    except ValueError as e:
        raise ImageError(str(e)) from None
    padded, _ = pad_to_multiple(image, lm.model.downsampling, mode="edge", split="end")
    if lm.lossless:
        _, ll, kls = lm.model(tf.constant(padded[None]), noise=[0.0] * lm.model.num_res_blocks)
        nats = sum(float(tf.reduce_sum(kl)) for kl in kls) - float(ll[0])
    else:
        _, kl1, kl2 = lm.model(tf.constant(padded[None].astype(np.float32) / 255.0), noise=(0.0, 0.0))
        nats = float(kl1 + kl2)
    return nats / math.log(2)


class IrecCodec:
    """One iREC model as a :class:`shared_data.codec.Codec`: ``encode`` writes the portable format 3 when the
    model is integerised (every committed one), else — or with ``portable=False`` — the float-path format 2;
    ``decode`` reads formats 1-3 written by this model. ``coding`` holds the beam-search settings
    (kl_per_partition Ω, n_beams B, extra_samples 1+ε, compression_seed, block_size; None = the model's)."""

    codec_id = CODEC_ID

    def __init__(self, lm: LoadedModel, portable: bool | None = None, **coding):
        unknown = set(coding) - set(CODING_DEFAULTS)
        if unknown:
            raise ModelError(f"unknown irec coding option(s) {sorted(unknown)}; known: {sorted(CODING_DEFAULTS)}")
        self.lm = lm
        self.portable = lm.portable if portable is None else bool(portable)
        if self.portable and not lm.portable:
            raise PortableError(f"{lm.path}: model is not integerised, so it cannot write the portable format 3; "
                                f"convert it with `python -m rec integerize {lm.path} OUT` or use the float path")
        self.coding = {k: v for k, v in coding.items() if v is not None}
        try:  # refuse bad settings now (one line), not half-way through an encode
            seed = make_coder(lm.config, **self.coding).seed
            if not 0 <= seed < 1 << 64:
                raise ValueError(f"compression_seed must be in [0, 2**64), got {seed}")
        except ValueError as e:
            raise ConfigError(f"irec coding options {self.coding}: {e}") from None
        self.lossless = bool(lm.lossless)
        self.fingerprint = lm.fingerprint if self.portable else lm.float_fingerprint

    def encode(self, image: np.ndarray) -> container.Container:
        return encode_image(self.lm, image, portable=self.portable, **self.coding)[0]

    def encode_with_stats(self, image: np.ndarray) -> tuple[container.Container, CompressResult]:
        """:meth:`encode` plus the encoder's statistics (KL, index and residual bytes, reconstruction)."""
        return encode_image(self.lm, image, portable=self.portable, **self.coding)

    def decode(self, c: container.Container) -> np.ndarray:
        return decode_container(self.lm, c)

    def estimate_bits(self, image: np.ndarray) -> float:
        return estimate_bits(self.lm, image)


def is_model(path) -> bool:
    """Whether ``path`` looks like an irec model directory (config.json naming an iREC model + weights.npz);
    reads config.json only."""
    p = Path(path)
    if not (p.is_dir() and (p / "config.json").is_file() and (p / "weights.npz").is_file()):
        return False
    try:
        return json.loads((p / "config.json").read_text()).get("model") in MODELS
    except (OSError, ValueError, AttributeError):
        return False


def load_codec(path=None, portable: bool | None = None, **coding) -> IrecCodec:
    """The model directory ``path`` (default :data:`DEFAULT_MODEL`, the lossy ``zoo/mini``) as an
    :class:`IrecCodec`; ``ModelError`` naming the directory when it is not a usable irec model."""
    return IrecCodec(load_model(path), portable=portable, **coding)
