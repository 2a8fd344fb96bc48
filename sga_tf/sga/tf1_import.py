"""Import of the released TF1 / tfc 1.3 checkpoints (``mbt2018-num_filters=N-lmbda=λ``, ``II:main``) into
:class:`sga.model.MBT2018` (survey §1, §2).

TF1 layout (``tf.train.Saver``, ``model.ckpt-<step>``): Keras-layer scopes named after the classes of
``II:main/nn_models.py``, tfc 1.3 layer variables inside them, plus optimizer slots (ignored)::

    analysis_transform/layer_{0..3}/kernel_rdft, .../bias, analysis_transform/layer_{0..2}/gdn_{i}/reparam_{beta,gamma}
    synthesis_transform/layer_{0..3}/kernel_rdft, .../bias, synthesis_transform/layer_{0..2}/igdn_{i}/reparam_{beta,gamma}
    hyper_analysis_transform/layer_{0..2}/kernel_rdft, layer_{0,1}/bias     (layer_2 has no bias)
    mbt2018_hyper_synthesis_transform/layer_{0..2}/kernel, .../bias           (kernel_parameterizer=None)
    entropy_bottleneck/{matrix,bias,factor}_{0..3}, entropy_bottleneck/quantiles (quantiles: unused here)

``II:main/mbt2018_bb.py`` checkpoints (the bits-back model) have h_a with 2N outputs and learned_prior.py's
``BMSHJ2018Prior`` variables ``{matrix,bias,factor}_i`` at the top level; they import as
:class:`sga.model_bb.MBT2018BB` (checked against the original's graph by ``tests/test_parity.py``).

Conversions:

* ``kernel_rdft`` (tfc 1.3 ``RDFTParameterizer``) has shape (kh·kw, c_in·c_out); the kernel is
  reshape(M · kernel_rdft, (kh, kw, c_in, c_out)) with M the orthonormal real-DFT basis of a kh×kw kernel
  (:func:`irdft_matrix`: scipy.fftpack's packed real DFT along each axis, non-DC/non-Nyquist terms ×√2, all
  ÷√(kh·kw)). The imported model uses the same parameterization (``rdft="tfc1"``,
  :class:`sga.model.TF1RDFTParameter`), so ``kernel_rdft`` is copied as is (training continues with the
  original's Adam steps); the test's tfc 2 models (``rdft="tfc2"``) get the kernel re-encoded as rfft2d.
* GDN ``reparam_beta`` / ``reparam_gamma``: tfc 1.3 and tfc 2 use the same square-root reparameterization
  (offset 2^-18), so the raw variables are copied.
* EntropyBottleneck ``matrix_i / bias_i / factor_i`` have the shapes and raw (pre-softplus / pre-tanh) meaning
  of tfc 2's ``DeepFactorized`` variables and are copied; ``quantiles`` (medians/tails for tfc 1.3's range
  coder) are not needed by our coder (README, Differences).
* λ comes from the run name (``...-lmbda=λ``) unless given; an unparseable name without λ is an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc
from scipy import fftpack

from shared_data.errors import ModelError

from .checkpoints import export_weights, parse_lambda
from .model import MBT2018, TF1RDFTParameter

SCOPES = {
    "analysis_transform": ("analysis_transform",),
    "synthesis_transform": ("synthesis_transform",),
    "hyper_analysis_transform": ("hyper_analysis_transform",),
    "hyper_synthesis_transform": ("mbt2018_hyper_synthesis_transform", "hyper_synthesis_transform"),
}
PRIOR_SCOPE = "entropy_bottleneck"


def irdft_matrix(shape) -> np.ndarray:
    """Orthonormal (prod(shape) × prod(shape)) matrix M with kernel.ravel() = M · rdft (tfc 1.3 layout).

    Row i of M holds the (orthonormally scaled) packed real DFT of the i-th unit impulse, i.e. M = Fᵀ = F⁻¹
    for the orthogonal forward transform F; so M · rdft is the kernel whose transform is rdft."""
    shape = tuple(int(s) for s in shape)
    size = int(np.prod(shape))
    f = np.eye(size).reshape((size,) + shape)
    for axis, n in enumerate(shape):
        f = fftpack.rfft(f, axis=axis + 1)
        index = [slice(None)] * (len(shape) + 1)
        index[axis + 1] = slice(1, None) if n % 2 else slice(1, -1)  # all but DC (and Nyquist for even n)
        f[tuple(index)] *= np.sqrt(2.0)
    f /= np.sqrt(size)
    return f.reshape(size, size)


def kernel_from_rdft(rdft: np.ndarray, kernel_shape) -> np.ndarray:
    m = irdft_matrix(kernel_shape[:2])
    return (m @ rdft).reshape(kernel_shape)


def rdft_from_kernel(kernel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`kernel_from_rdft` (M is orthonormal): what tfc 1.3 stores for a kernel."""
    shape = kernel.shape
    return irdft_matrix(shape[:2]).T @ kernel.reshape(shape[0] * shape[1], -1)


def _find(names, scopes, suffix):
    for s in scopes:
        if f"{s}/{suffix}" in names:
            return f"{s}/{suffix}"
    return None


def _set_kernel(layer, kernel):
    p = layer.kernel_parameter
    if isinstance(p, tfc.RDFTParameter):
        tmp = tfc.RDFTParameter(tf.constant(kernel, p.dtype))
        p.real.assign(tmp.real)
        p.imag.assign(tmp.imag)
    elif isinstance(p, tf.Variable):
        p.assign(kernel)
    else:
        raise TypeError(f"unsupported kernel parameter {type(p).__name__}")


def tf1_variable_names(num_filters: int) -> list[str]:
    """Every variable name the importer reads (the test writes exactly these, plus ignored extras)."""
    names = []
    for ours, scopes in SCOPES.items():
        n_layers = 3 if ours.startswith("hyper") else 4
        for i in range(n_layers):
            kern = "kernel" if ours == "hyper_synthesis_transform" else "kernel_rdft"
            names.append(f"{scopes[0]}/layer_{i}/{kern}")
            if not (ours == "hyper_analysis_transform" and i == 2):
                names.append(f"{scopes[0]}/layer_{i}/bias")
            if ours in ("analysis_transform", "synthesis_transform") and i < 3:
                g = ("gdn_" if ours == "analysis_transform" else "igdn_") + str(i)
                names += [f"{scopes[0]}/layer_{i}/{g}/reparam_beta", f"{scopes[0]}/layer_{i}/{g}/reparam_gamma"]
    names += [f"{PRIOR_SCOPE}/{k}_{i}" for i in range(4) for k in ("matrix", "bias")]
    names += [f"{PRIOR_SCOPE}/factor_{i}" for i in range(3)]
    return names


def resolve_checkpoint(path) -> str:
    p = Path(path)
    if p.is_dir():
        ck = tf.train.latest_checkpoint(str(p))
        if ck is None:
            raise ModelError(f"{p}: no TF1 checkpoint (no 'checkpoint' file / model.ckpt-* files)")
        return ck
    if Path(str(p) + ".index").is_file():
        return str(p)
    raise ModelError(f"{p}: not a TF1 checkpoint (directory or model.ckpt-N prefix)")


def import_tf1(path, out_dir=None, lmbda: float | None = None, runname: str | None = None):
    """Read a TF1/tfc 1.3 mbt2018 checkpoint (directory or prefix); return (MBT2018 model, args) and, with
    ``out_dir``, write it as a run directory of this project (args.json + weights)."""
    ck = resolve_checkpoint(path)
    runname = runname or (Path(path).name if Path(path).is_dir() else Path(ck).parent.name)
    lmbda = parse_lambda(runname, lmbda)  # clear error when neither is available
    try:
        reader = tf.train.load_checkpoint(ck)
        shapes = reader.get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as e:
        raise ModelError(f"{ck}: unreadable checkpoint ({str(e).splitlines()[0][:200]})") from None
    names = set(shapes)
    bias0 = _find(names, SCOPES["analysis_transform"], "layer_0/bias")
    # mbt2018.py: tfc 1.3 EntropyBottleneck under "entropy_bottleneck/"; mbt2018_bb.py: learned_prior.py's
    # BMSHJ2018Prior, whose matrix_i/bias_i/factor_i sit at the top level (same shapes and raw meaning)
    bits_back = f"{PRIOR_SCOPE}/matrix_0" not in names and "matrix_0" in names
    if bias0 is None or not (bits_back or f"{PRIOR_SCOPE}/matrix_0" in names):
        raise ModelError(f"{ck}: not an mbt2018 / mbt2018_bb (TF1/tfc 1.3) checkpoint: "
                             f"'analysis_transform/layer_0/bias' or '{PRIOR_SCOPE}/matrix_0' missing")
    n = int(shapes[bias0][0])
    # tfc 1.3's GDN (x / sqrt(beta + sum gamma x^2)) and RDFT parameterization: the variables copy 1:1
    if bits_back:
        from .model_bb import MBT2018BB

        model = MBT2018BB(n, "tf1", gdn="original", rdft="tfc1")
    else:
        model = MBT2018(n, "tf1", gdn="original", rdft="tfc1")
    prior_prefix = "" if bits_back else f"{PRIOR_SCOPE}/"
    used = set()

    def get(name, shape=None):
        if name is None or name not in names:
            raise ModelError(f"{ck}: variable missing: {name}")
        v = reader.get_tensor(name)
        if shape is not None and tuple(v.shape) != tuple(shape):
            raise ModelError(f"{ck}: {name} has shape {tuple(v.shape)}, expected {tuple(shape)}")
        used.add(name)
        return v

    for ours, scopes in SCOPES.items():
        net = getattr(model, ours)
        for i, layer in enumerate(net.layers):
            kshape = tuple(layer.kernel.shape)
            if isinstance(layer.kernel_parameter, TF1RDFTParameter):
                layer.kernel_parameter.rdft.assign(get(_find(names, scopes, f"layer_{i}/kernel_rdft"),
                                                       (kshape[0] * kshape[1], kshape[2] * kshape[3])))
                kernel = None
            elif isinstance(layer.kernel_parameter, tfc.RDFTParameter):
                rd = get(_find(names, scopes, f"layer_{i}/kernel_rdft"),
                         (kshape[0] * kshape[1], kshape[2] * kshape[3]))
                kernel = kernel_from_rdft(rd.astype(np.float64), kshape)
            else:
                kernel = get(_find(names, scopes, f"layer_{i}/kernel"), kshape)
            if kernel is not None:
                _set_kernel(layer, kernel.astype(np.float32))
            if layer.use_bias:
                layer.bias_parameter.assign(get(_find(names, scopes, f"layer_{i}/bias"), layer.bias.shape))
            act = layer.activation
            if isinstance(act, tfc.GDN):
                g = f"layer_{i}/{act.name}"
                act.beta_parameter.variable.assign(get(_find(names, scopes, f"{g}/reparam_beta"),
                                                       act.beta_parameter.variable.shape))
                act.gamma_parameter.variable.assign(get(_find(names, scopes, f"{g}/reparam_gamma"),
                                                        act.gamma_parameter.variable.shape))
    for v in model.hyperprior.trainable_variables:
        base = v.name.split("/")[-1].split(":")[0]
        v.assign(get(f"{prior_prefix}{base}", v.shape))
    args = {"model": "mbt2018_bb" if bits_back else "mbt2018", "num_filters": n, "lmbda": lmbda,
            "scale_semantics": "tf1", "gdn": "original", "rdft": "tfc1",
            **({} if bits_back else {"inference_scale_bound": False}),
            "imported_from": str(ck), "note": "TF1/tfc 1.3 checkpoint imported by sga.tf1_import"}
    if out_dir is not None:
        export_weights(model, args, out_dir)
        (Path(out_dir) / "import.json").write_text(json.dumps(
            {"read": sorted(used), "ignored": sorted(names - used)}, indent=1) + "\n")
    return model, args
