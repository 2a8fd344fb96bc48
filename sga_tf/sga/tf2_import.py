"""Import of the ORIGINAL's branch ``tf2`` weights (``II:tf2/mbt2018.py``: ``MBT2018Model.save_weights``, a TF2
object-based checkpoint; TF 2.10 / tfc 2.10 API) into :class:`sga.model.MBT2018` (issue 18).

The branch's model is this project's mean-scale hyperprior with the *tfc 2* flavours: simplified GDN
(``gdn="simplified"``, tfc 2 ``GDN`` defaults), tfc 2's ``RDFTParameter`` kernels (``rdft="tfc2"``), the scale
index semantics (``scale_semantics="tf2"``: σ = scale_fn(clip(exp(raw), 0, 63))) and M3's ẑ on the prior's
quantization offsets (``z_grid="median"``, :meth:`sga.model.MBT2018.quantize_z`), tfc 2's log-domain
likelihoods without the 1e-9 bound (``likelihoods="tfc2"``); its pixels are in [0, 255]
(g_a divides by 255, g_s multiplies), ours in [0, 1]. One more difference: its factorized prior is tfc 2's
``NoisyDeepFactorized`` default, filters (3, 3); ours (tfc 1.3's ``EntropyBottleneck``) has (3, 3, 3), so the
imported model is built with ``prior_filters=(3, 3)``. That prior is not described by this project's ``args.json``, so
an imported model cannot be written as a run directory (``out_dir`` raises ``NotImplementedError``).

Checkpoint keys (``<path>/.ATTRIBUTES/VARIABLE_VALUE``; ``layer_with_weights-i`` is the i-th conv, the
Lambda scaling layers have none)::

    {analysis,synthesis,hyper_analysis}_transform/layer_with_weights-i/_kernel_parameter/{real,imag}
    hyper_synthesis_transform/layer_with_weights-i/_kernel_parameter          (plain kernel)
    */layer_with_weights-i/_bias_parameter
    {analysis,synthesis}_transform/layer_with_weights-i/_activation/_{beta,gamma}_parameter/variable
    hyperprior/_base/{_matrices,_biases}/{0,1,2}, hyperprior/_base/_factors/{0,1}
    my_metrics/*, optimizer/*, save_counter: ignored
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf
import tensorflow_compression as tfc

from shared_data.errors import ModelError

from .model import MBT2018

SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
TRANSFORMS = ("analysis_transform", "synthesis_transform", "hyper_analysis_transform", "hyper_synthesis_transform")
PRIOR_FILTERS = (3, 3)  # tfc 2's NoisyDeepFactorized default (II:tf2 builds it with batch_shape only)


def _resolve(path) -> str:
    p = Path(path)
    if p.is_dir():
        ck = tf.train.latest_checkpoint(str(p))
        if ck is None:
            raise ModelError(f"{p}: no TF2 checkpoint (no 'checkpoint' file)")
        return ck
    if Path(str(p) + ".index").is_file():
        return str(p)
    raise ModelError(f"{p}: not a TF2 checkpoint (directory or checkpoint prefix)")


def tf2_key_map(model: MBT2018) -> dict:
    """checkpoint key -> this model's variable (the layout of the module docstring)."""
    keys = {}
    for name in TRANSFORMS:
        for i, layer in enumerate(getattr(model, name).layers):
            base = f"{name}/layer_with_weights-{i}"
            p = layer.kernel_parameter
            if isinstance(p, tfc.RDFTParameter):
                keys[f"{base}/_kernel_parameter/real"] = p.real
                keys[f"{base}/_kernel_parameter/imag"] = p.imag
            elif isinstance(p, tf.Variable):
                keys[f"{base}/_kernel_parameter"] = p
            else:
                raise TypeError(f"{name} layer {i}: kernel parameter {type(p).__name__} has no tf2 layout")
            if layer.use_bias:
                keys[f"{base}/_bias_parameter"] = layer.bias_parameter
            act = layer.activation
            if isinstance(act, tfc.GDN):
                keys[f"{base}/_activation/_beta_parameter/variable"] = act.beta_parameter.variable
                keys[f"{base}/_activation/_gamma_parameter/variable"] = act.gamma_parameter.variable
    base = model.hyperprior.base
    for kind, vs in (("_matrices", base._matrices), ("_biases", base._biases), ("_factors", base._factors)):
        for i, v in enumerate(vs):
            keys[f"hyperprior/_base/{kind}/{i}"] = v
    return {k + SUFFIX: v for k, v in keys.items()}


def import_tf2(path, lmbda: float | None = None, out_dir=None):
    """Read an ``II:tf2`` ``MBT2018Model`` checkpoint (directory or prefix); return (MBT2018, args) with the
    branch's flavours (module docstring). ``lmbda``: recorded in args (the checkpoint does not hold it)."""
    if out_dir is not None:
        raise NotImplementedError("an imported II:tf2 model has a (3, 3)-filter prior that this project's "
                                  "args.json cannot describe; it is usable in memory only")
    ck = _resolve(path)
    try:
        reader = tf.train.load_checkpoint(ck)
        shapes = reader.get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as e:
        raise ModelError(f"{ck}: unreadable checkpoint ({str(e).splitlines()[0][:200]})") from None
    bias0 = "analysis_transform/layer_with_weights-0/_bias_parameter" + SUFFIX
    if bias0 not in shapes or "hyperprior/_base/_matrices/0" + SUFFIX not in shapes:
        raise ModelError(f"{ck}: not an II:tf2 MBT2018Model checkpoint ('{bias0}' or the hyperprior missing)")
    n = int(shapes[bias0][0])
    model = MBT2018(n, "tf2", gdn="simplified", rdft="tfc2", prior_filters=PRIOR_FILTERS)
    model.likelihoods = "tfc2"  # tfc 2 entropy models: log_prob, no 1e-9 likelihood bound
    model.z_grid = "median"  # II:tf2's ContinuousBatchedEntropyModel rounds ẑ around its quantization offsets
    if len(model.trainable_variables) != len(tf2_key_map(model)):
        raise RuntimeError("imported II:tf2 model: trainable variables and checkpoint keys disagree")
    for key, var in tf2_key_map(model).items():
        if key not in shapes:
            raise ModelError(f"{ck}: variable missing: {key}")
        v = reader.get_tensor(key)
        if tuple(v.shape) != tuple(var.shape):
            raise ModelError(f"{ck}: {key} has shape {tuple(v.shape)}, expected {tuple(var.shape)}")
        var.assign(v)
    args = {"model": "mbt2018", "num_filters": n, "lmbda": lmbda, "scale_semantics": "tf2", "gdn": "simplified",
            "rdft": "tfc2", "z_grid": "median", "likelihoods": "tfc2", "prior_filters": list(PRIOR_FILTERS), "imported_from": str(ck),
            "note": "II:tf2 checkpoint imported by sga.tf2_import (in memory only)"}
    return model, args
