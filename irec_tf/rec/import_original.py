"""Load weights of the ORIGINAL code (``gergely-flamich/relative-entropy-coding``) into this project's models.

The source is the original's training checkpoint (``tf.train.Checkpoint(model=model, ...)`` as its
``train_lossy_model.py`` / ``train_generative_model.py`` write it; a checkpoint prefix or directory) or a
dict of its arrays keyed like the checkpoint without ``/.ATTRIBUTES/VARIABLE_VALUE`` (``model/...``, the
form of ``irec_tf/parity/*.npz``). Variables are mapped one by one:

* lossy ``Large2LevelVAE`` → :class:`~rec.models.lossy.Large2LevelVAE` with ``layer_flavour="original"``:
  RDFT-domain kernels are copied as they are (same parameterization), the hyper-synthesis heads' stride-1
  ``corr=False`` kernels are flipped (the original flips them before its correlation), the 1×1 combiners
  are its Keras ``Conv2D`` kernels;
* lossless ``BidirectionalResNetVAE`` → :class:`~rec.models.resnet_vae.BidirectionalResNetVAE`: the weight-norm
  ``kernel_weights`` / ``kernel_log_scale`` (reshaped to one value per output channel) / ``bias`` /
  ``_initialized``. Where the checkpoint holds the original's EMA shadow copies
  (``_ema_shadow_variables``) ``ema=True`` loads those instead — what the original codes with
  (``compression_performance.py`` calls ``swap_in_ema_variables``).

Every variable of the built model must be filled and every model variable of the source used (else
:class:`shared_data.errors.ModelError` names the first missing / unused key and the source).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from shared_data.errors import ModelError

from .models.lossy import Large2LevelVAE
from .models.resnet_vae import BidirectionalResNetVAE

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def read_checkpoint(path) -> dict[str, np.ndarray]:
    """A TF checkpoint (prefix or directory with a ``checkpoint`` file) → {``model/...``: array}."""
    p = Path(path)
    prefix = tf.train.latest_checkpoint(str(p)) if p.is_dir() else str(p)
    if not prefix:
        raise ModelError(f"{path}: no TF checkpoint found")
    try:
        r = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise ModelError(f"{path}: unreadable TF checkpoint ({e})") from None
    return {k.replace(_SUFFIX, ""): r.get_tensor(k) for k in r.get_variable_to_shape_map()
            if k.startswith("model/") and k.endswith(_SUFFIX)}


def _source(src, what) -> dict[str, np.ndarray]:
    arrays = dict(src) if isinstance(src, dict) else read_checkpoint(src)
    return {k: np.asarray(v) for k, v in arrays.items() if k.startswith("model/")}


def _lossy_map(model: Large2LevelVAE):
    """original checkpoint key (without suffix) → (our variable, transform)."""
    ident, flip = (lambda a: a), (lambda a: a[::-1, ::-1])
    m = {"model/_prior_base": (model.prior_base, ident)}

    def conv(key, layer, f=ident):
        m[f"model/{key}/_kernel"] = (layer._kernel_var, f)
        if layer.use_bias:
            m[f"model/{key}/_bias"] = (layer.bias, ident)

    def gdn(key, layer):
        m[f"model/{key}/_beta"] = (layer.beta_p, ident)
        m[f"model/{key}/_gamma"] = (layer.gamma_p, ident)

    for i in range(3):
        conv(f"analysis_transform/layers/{2 * i}", model.analysis[i])
        gdn(f"analysis_transform/layers/{2 * i + 1}", model.analysis_gdn[i])
        conv(f"synthesis_transform/layers/{2 * i}", model.synthesis[i])
        gdn(f"synthesis_transform/layers/{2 * i + 1}", model.synthesis_igdn[i])
    conv("synthesis_transform/layers/6", model.synthesis_out)
    conv("analysis_transform/_posterior_loc_head", model.analysis_loc)
    conv("analysis_transform/_posterior_log_scale_head", model.analysis_logscale)
    conv("hyper_analysis_transform/layers/0", model.hyper_analysis[0])
    conv("hyper_analysis_transform/layers/2", model.hyper_analysis[1])
    conv("hyper_analysis_transform/_posterior_loc_head", model.hyper_loc)
    conv("hyper_analysis_transform/_posterior_log_scale_head", model.hyper_scale)
    conv("_prior_conv", model.prior_conv)
    conv("_prior_loc_head", model.prior_loc)
    conv("_prior_log_scale_head", model.prior_scale)
    conv("hyper_synthesis_transform/layers/0", model.hyper_synthesis[0])
    conv("hyper_synthesis_transform/layers/2", model.hyper_synthesis[1])
    conv("hyper_synthesis_transform/_prior_loc_head", model.hyper_syn_loc, flip)
    conv("hyper_synthesis_transform/_prior_log_scale_head", model.hyper_syn_scale, flip)
    for key, layer in (("_level_1_posterior_loc_combiner", model.post_loc),
                       ("_level_1_posterior_log_scale_combiner", model.post_scale)):
        m[f"model/{key}/kernel"] = (layer._kernel_var, ident)
        m[f"model/{key}/bias"] = (layer.bias, ident)
    return m


# our ResidualBlock attribute → (original checkpoint attribute, original layer name)
_BLOCK = {"infer_conv1": ("infer_conv1", "infer_conv_0"), "infer_conv2": ("infer_conv2", "infer_conv_1"),
          "infer_loc": ("infer_posterior_loc_head",) * 2, "infer_logscale": ("infer_posterior_log_scale_head",) * 2,
          "prior_loc": ("prior_loc_head",) * 2, "prior_logscale": ("prior_log_scale_head",) * 2,
          "post_loc": ("gen_posterior_loc_head",) * 2, "post_logscale": ("gen_posterior_log_scale_head",) * 2,
          "gen_conv1": ("gen_conv1", "gen_conv_0"), "gen_conv2": ("gen_conv2", "gen_conv_1")}


def _lossless_layers(model: BidirectionalResNetVAE):
    """[(our WNConv2D, original checkpoint path, original variable-name prefix)]."""
    out = [(model.first_infer_conv, "model/first_infer_conv", "resnet_vae/reparameterized_conv2d"),
           (model.last_gen_conv, "model/last_gen_conv", "resnet_vae/reparameterized_conv2d_transpose")]
    for i, blk in enumerate(model.blocks):
        for ours, (ck, name) in _BLOCK.items():
            if hasattr(blk, ours):
                out.append((getattr(blk, ours), f"model/residual_blocks/{i}/{ck}", f"resnet_vae/resnet_block_{i}/{name}"))
    return out


def lossless_map(model: BidirectionalResNetVAE, ema=False):
    """original key → (our variable, transform); ``ema``: the keys of the EMA shadow copies instead."""
    flat = lambda a: np.reshape(a, (-1,))  # noqa: E731
    ident = lambda a: a  # noqa: E731
    m = {}

    def key(path, name, attr):
        if not ema:
            return f"{path}/{attr}"
        return f"model/_ema_shadow_variables/{(name + '/' + attr + ':0').replace('/', '.S')}"

    for layer, path, name in _lossless_layers(model):
        m[key(path, name, "kernel_weights")] = (layer.v, ident)
        m[key(path, name, "kernel_log_scale")] = (layer.log_scale, flat)
        m[key(path, name, "bias")] = (layer.bias, ident)
        if not ema:
            m[f"{path}/_initialized"] = (layer.initialized, lambda a: np.float32(bool(a)))
    m["model/_ema_shadow_variables/generative_base:0" if ema else "model/_generative_base"] = (
        model.generative_base, ident)
    m["model/_ema_shadow_variables/likelihood_log_scale:0" if ema else "model/likelihood_log_scale"] = (
        model.likelihood_log_scale, ident)
    return m


def _assign(mapping, arrays, src_name, skip=()):
    for k, (var, f) in mapping.items():
        if k not in arrays:
            raise ModelError(f"{src_name}: the original's variable {k!r} is missing (not this model / config?)")
        a = np.asarray(f(arrays[k]), np.float32)
        if tuple(var.shape) != a.shape:
            raise ModelError(f"{src_name}: {k} has shape {arrays[k].shape}, this model needs {tuple(var.shape)}")
        var.assign(a)
    unused = sorted(k for k in arrays if k not in mapping and not any(k.startswith(s) for s in skip))
    if unused:
        raise ModelError(f"{src_name}: {len(unused)} variables of the original were not used, e.g. {unused[0]!r}")


def import_lossy(src, level_1_filters=None, level_2_filters=None) -> Large2LevelVAE:
    """The original's ``Large2LevelVAE`` checkpoint/arrays → this project's model (layer flavour ``original``).
    Filter counts default to those the weights imply."""
    arrays = _source(src, "lossy")
    name = str(src) if not isinstance(src, dict) else "arrays"
    try:
        n = level_1_filters or int(arrays["model/_level_1_posterior_loc_combiner/bias"].shape[0])
        mm = level_2_filters or int(arrays["model/_prior_base"].shape[-1])
    except KeyError as e:
        raise ModelError(f"{name}: not a checkpoint of the original's Large2LevelVAE (no {e})") from None
    model = Large2LevelVAE(level_1_filters=n, level_2_filters=mm, layer_flavour="original")
    model(tf.zeros((1, 128, 128, 3)))
    _assign(_lossy_map(model), arrays, name)
    return model


def import_lossless(src, num_res_blocks=None, ema=False, **kw) -> BidirectionalResNetVAE:
    """The original's ``BidirectionalResNetVAE`` checkpoint/arrays → this project's model (``ema``: load the
    original's EMA shadow copies, as its compression script does)."""
    arrays = _source(src, "lossless")
    name = str(src) if not isinstance(src, dict) else "arrays"
    try:
        nb = num_res_blocks or len({k.split("/")[2] for k in arrays if k.startswith("model/residual_blocks/")})
        d = int(arrays["model/_generative_base"].shape[0])
        s = int(arrays["model/residual_blocks/0/prior_loc_head/bias"].shape[0])
    except KeyError as e:
        raise ModelError(f"{name}: not a checkpoint of the original's BidirectionalResNetVAE (no {e})") from None
    model = BidirectionalResNetVAE(num_res_blocks=nb, deterministic_filters=d, stochastic_filters=s, **kw)
    model(tf.zeros((1, 16, 16, 3), tf.uint8))  # creates the variables (the init is overwritten below)
    # the blocks' own "_initialized" flags (prior sample on the first call) have no counterpart here
    arrays = {k: v for k, v in arrays.items()
              if not (k.startswith("model/residual_blocks/") and k.count("/") == 3 and k.endswith("/_initialized"))}
    flags = {k: v for k, v in lossless_map(model).items() if k.endswith("/_initialized")}
    mapping = {**lossless_map(model, ema=True), **flags} if ema else lossless_map(model)
    other = "model/_ema_shadow_variables/" if not ema else "model/"
    if ema:
        arrays = {k: v for k, v in arrays.items() if k in mapping or k.startswith("model/_ema_shadow_variables/")}
    _assign(mapping, arrays, name, skip=() if ema else (other,))
    return model
