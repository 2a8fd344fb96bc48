"""Post-training conversion of the 3D context model to exact integer arithmetic (issue 15, stream format 3).

Following Ballé, Johnston & Minnen (2019, "Integer networks for data compression with latent-variable
models"), the probclass network of Mentzer et al. (2018, Sec. 3.2) is converted once, after training:

* the qbar centres become ``c_q = round(c · 2^frac_in)``; each masked conv's weights ``round(w · 2^frac_w)``
  (masked taps only) and biases ``round(b · 2^(frac_x + frac_w))`` at the scale of that layer's accumulator;
* activations are requantised to ``frac_act`` fractional bits by a round-half-up right shift
  (``shared_data.exact.rshift_round``), ReLU after requantisation, the residual added at ``frac_act``;
* the logits (ReLU, as in the original) end at ``frac_logit`` bits and the softmax is the integer table
  ``round(exp(-d / 2^frac_logit) · 2^prob_frac)`` (``shared_data.exact.softmax_weights``, computed with
  correctly rounded decimal arithmetic), normalised by one IEEE division per entry.

All products and sums are integers held in float64; the conversion propagates a worst-case bound through
the four layers and refuses (IntegerizeError naming the layer) any layer whose accumulator could reach 2^53,
so the result is independent of BLAS kernel, summation order, thread count and vector width.

The encoder and synthesis networks stay float: they only produce / consume symbols, and a decoder needs
nothing from them to decode the symbols (every one of the C channels is coded, masked ones too).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared_data import exact
from shared_data.exact import IntegerizeError

LAYERS = ("conv3d_conv0_mask", "res1/conv3d_conv1_mask", "res1/conv3d_conv2_mask", "conv3d_conv2_mask")
INT_FILE = "probclass_int.npz"
META_KEY = "integer"  # config.json key holding the conversion parameters
DEFAULT_BITS = {"frac_in": 16, "frac_w": 16, "frac_act": 16, "frac_logit": 10, "prob_frac": 16}
VERSION = 1


@dataclass
class IntegerPC:
    """Integer weights of the context model plus the conversion parameters (``meta``)."""

    meta: dict
    arrays: dict  # centers_q; {layer}/taps_q (ntaps*cin, cout) and {layer}/biases_q, int64

    def canonical(self) -> str:
        return json.dumps(self.meta, sort_keys=True)

    def buffers(self):
        return [np.ascontiguousarray(self.arrays[k], dtype=np.int64).tobytes() for k in sorted(self.arrays)]


def masked_taps(k: int = 3):
    """(ntaps, 3) tap positions (kd, ky, kx) of the four masked layers (first mask, then 3× the later one)."""
    # TensorFlow is imported only here and below: the CLI builds its parser from this module.
    from .model import first_mask, other_mask
    return [np.argwhere(m > 0) for m in [first_mask(k)] + [other_mask(k)] * 3]


def integerize_weights(weights: dict, bits: dict | None = None,
                       source_fingerprint: str = "") -> IntegerPC:
    """Convert float probclass weights (original slim names) to :class:`IntegerPC`; IntegerizeError names a
    layer whose worst-case accumulator (inputs at their propagated bound) could reach 2^53."""
    from .model import PC_SCOPE
    b = dict(DEFAULT_BITS, **(bits or {}))
    for k, v in b.items():
        if not isinstance(v, int) or not 0 <= v <= 30:
            raise IntegerizeError(f"bad {k}={v!r}: fractional bits must be an integer in 0..30")
    fi, fw, fa, fl = b["frac_in"], b["frac_w"], b["frac_act"], b["frac_logit"]
    if fl > fa:
        raise IntegerizeError(f"frac_logit={fl} cannot exceed frac_act={fa}")
    centers = np.asarray(weights["autoencoder/encoder/centers"], np.float64)
    arrays = {"centers_q": exact.to_fixed(centers, fi)}
    x_max = int(np.max(np.abs(arrays["centers_q"])))  # the padding (centers[0] or 0) is within this too
    taps = masked_taps(3)
    frac_x, res_max, bounds = fi, None, []
    for li, (name, tp) in enumerate(zip(LAYERS, taps), start=1):
        W = np.asarray(weights[f"{PC_SCOPE}/{name}/weights"], np.float64)
        if W.shape[:3] != (2, 3, 3):
            raise IntegerizeError(f"layer {name!r}: kernel {W.shape[:3]} is not the (2, 3, 3) of kernel_size 3")
        Wt = np.stack([W[kd, ky, kx] for kd, ky, kx in tp]).reshape(-1, W.shape[-1])
        w_q = exact.to_fixed(Wt, fw)
        b_q = exact.to_fixed(np.asarray(weights[f"{PC_SCOPE}/{name}/biases"], np.float64), frac_x + fw)
        shift = frac_x + fw - (fl if li == 4 else fa)
        bound = exact.accumulator_bound(w_q, x_max, b_q, out_axis=1) + (1 << max(shift - 1, 0))
        exact.check_bound(f"{PC_SCOPE}/{name}", bound)
        bounds.append(bound)
        out_max = (bound >> shift) + 1
        if li == 1:
            res_max = out_max
        if li == 3:
            out_max += res_max  # residual added after requantisation
            exact.check_bound(f"{PC_SCOPE}/{name} (+ residual)", out_max)
        arrays[f"{name}/taps_q"] = w_q
        arrays[f"{name}/biases_q"] = b_q
        x_max, frac_x = out_max, fa
    meta = {"version": VERSION, **b, "source_fingerprint": source_fingerprint,
            "max_accumulator_log2": round(float(np.log2(max(bounds))), 2)}
    return IntegerPC(meta, arrays)


def save(ipc: IntegerPC, model_dir: str | os.PathLike) -> None:
    """Write ``probclass_int.npz`` and the ``integer`` entry of ``config.json`` (both atomically)."""
    from shared_data.imageio import atomic_write_bytes
    d = Path(model_dir)
    tmp = d / ".probclass_int.tmp.npz"
    np.savez(tmp, **{k: np.asarray(v, np.int64) for k, v in ipc.arrays.items()})
    os.replace(tmp, d / INT_FILE)
    meta = json.loads((d / "config.json").read_text())
    meta[META_KEY] = ipc.meta
    atomic_write_bytes(d / "config.json", (json.dumps(meta, indent=1, sort_keys=True, default=list) + "\n").encode())


def load(model_dir: str | os.PathLike, meta_json: dict) -> IntegerPC | None:
    """The integer context model of a model directory, or None if it was never converted."""
    d = Path(model_dir)
    has_file, has_meta = (d / INT_FILE).is_file(), META_KEY in meta_json
    if not has_file and not has_meta:
        return None
    if has_file != has_meta:
        raise ValueError(f"{d}: {INT_FILE} and config.json[{META_KEY!r}] must both exist (rerun integerize)")
    meta = meta_json[META_KEY]
    if meta.get("version") != VERSION or any(k not in meta for k in DEFAULT_BITS):
        raise ValueError(f"{d}/config.json: unknown integer conversion {meta!r}")
    with np.load(d / INT_FILE) as z:
        arrays = {k: z[k].astype(np.int64) for k in z.files}
    want = {"centers_q"} | {f"{n}/{s}" for n in LAYERS for s in ("taps_q", "biases_q")}
    if set(arrays) != want:
        raise ValueError(f"{d}/{INT_FILE}: expected arrays {sorted(want)}, found {sorted(arrays)}")
    return IntegerPC(meta, arrays)
