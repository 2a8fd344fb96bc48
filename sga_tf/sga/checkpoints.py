"""Loading and exporting trained models (a run directory = ``args.json`` + a TF checkpoint)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import tensorflow as tf

from shared_data.errors import ConfigError, ModelError

_LMBDA = re.compile(r"lmbda=([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)")


def parse_lambda(runname: str, given: float | None = None) -> float:
    """λ from ``--lambda`` if given (> 0), else from ``...-lmbda=λ`` in the run name (the original's rule)."""
    if given is not None and given > 0:
        return float(given)
    m = _LMBDA.search(str(runname))
    if not m:
        raise ConfigError(f"cannot parse lambda from run name {runname!r} (expected '...-lmbda=<value>'); "
                         "pass --lambda")
    return float(m.group(1))


def load_model(model_dir, num_filters: int | None = None, integer: bool = True) -> tuple:
    """Build the model described by ``model_dir/args.json`` (mbt2018 or mbt2018_bb) and restore its newest
    checkpoint; returns (model, args). ``integer``: also attach ``integer.npz`` (portable coding) if present."""
    d = Path(model_dir)
    if not d.is_dir():
        raise ModelError(f"{d}: no such model directory")
    args_path = d / "args.json"
    if not args_path.is_file():
        raise ModelError(f"{d}: not a model directory (no args.json)")
    try:
        args = json.loads(args_path.read_text())
        n = int(args["num_filters"])
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{args_path}: unreadable model description ({e})") from None
    if num_filters is not None and num_filters > 0 and num_filters != n:
        raise ModelError(f"{d}: model has num_filters={n}, but --num_filters {num_filters} was given")
    from .model import LEGACY_GDN, LEGACY_RDFT
    from .train import build_model

    try:  # no "gdn" / "rdft" field: a checkpoint from before the fix (tfc 2's simplified GDN and RDFT)
        model = build_model(args.get("model", "mbt2018"), n, args.get("scale_semantics", "tf1"),
                            args.get("gdn", LEGACY_GDN), args.get("rdft", LEGACY_RDFT))
    except ValueError as e:
        raise ModelError(f"{args_path}: {e}") from None
    if hasattr(model, "inference_scale_bound"):  # no field: a pre-fix checkpoint (its files/goldens keep 0.11)
        model.inference_scale_bound = bool(args.get("inference_scale_bound", True))
    path = tf.train.latest_checkpoint(str(d))
    exported = path is None and (d / "weights.index").is_file()
    if exported:
        path = str(d / "weights")
    if path is None:
        raise ModelError(f"{d}: no checkpoint found (expected 'checkpoint' or 'weights.index')")
    try:
        ckpt = tf.train.Checkpoint(model=model)
        status = (ckpt.read(path) if exported else ckpt.restore(path)).expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, tf.errors.OpError, ValueError) as e:
        raise ModelError(f"{path}: checkpoint does not fit the model ({str(e).splitlines()[0][:200]})") \
            from None
    from .portable import load_integer

    try:
        integ = load_integer(d, model) if integer else None
    except ValueError as e:
        raise ModelError(str(e)) from None
    model.__dict__["integer_data"] = integ  # bypass Keras attribute tracking: not a checkpointed variable
    return model, args


def export_weights(model, args: dict, out_dir) -> Path:
    """Write ``args.json`` and the model's weights only (no optimizer state) to ``out_dir``. The model's own
    description (GDN / RDFT flavour, inference σ bound) is merged into ``args``, so that an export of a
    fixed-GDN model can never be read back as a legacy (simplified-GDN) one."""
    args = {**args, **{k: v for k, v in model.config().items() if k in ("gdn", "rdft")}}
    if hasattr(model, "inference_scale_bound") and (model.inference_scale_bound is False
                                                    or "inference_scale_bound" in args):
        args["inference_scale_bound"] = bool(model.inference_scale_bound)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "args.json").write_text(json.dumps(args, indent=2, sort_keys=True) + "\n")
    tf.train.Checkpoint(model=model).write(str(out / "weights"))
    return out
