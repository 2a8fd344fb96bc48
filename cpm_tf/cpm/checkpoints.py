"""Checkpoint bookkeeping of the original ``saver.py`` / ``restore_manager.py`` on TF2 object checkpoints.

Checkpoints live in ``LOG_DIR/ckpts/ckpt-{step}`` (``tf.train.CheckpointManager`` with the step as number).
For ``--restore_skip_vars`` every piece of training state gets the name it had in the original TF1 graph:
model variables their slim names (``autoencoder/encoder/h1/weights`` ...), Adam's slots
``{var}/Adam_AE`` (first moment) and ``{var}/Adam_AE_1`` (second moment) (``Adam_PC`` for the probclass),
the optimisers' counters ``Adam_AE/iterations`` / ``Adam_PC/iterations`` and the step ``global_step``.
A name is skipped when it *contains* one of the comma-separated strings, as in the original ``VarNames``.
"""

from __future__ import annotations

import re
from pathlib import Path

import tensorflow as tf

from shared_data.errors import (
    ModelError,  # a restore directory or checkpoint that does not exist / does not fit
)

_CKPT_RE = re.compile(r"^ckpt-(\d+)\.index$")


def list_checkpoints(ckpt_dir: str | Path) -> list[tuple[int, str]]:
    """Ascending ``[(step, prefix)]`` of every checkpoint in ``ckpt_dir`` (also the hourly kept ones)."""
    d = Path(ckpt_dir)
    if not d.is_dir():
        return []
    out = [(int(m.group(1)), str(d / f"ckpt-{m.group(1)}")) for f in d.iterdir() if (m := _CKPT_RE.match(f.name))]
    return sorted(out)


def checkpoint_at_or_before(ckpt_dir: str | Path, itr: int = -1) -> tuple[int, str]:
    """``itr = -1``: the latest checkpoint; else the latest one with step <= itr (``--restore_itr``)."""
    ckpts = list_checkpoints(ckpt_dir)
    if not ckpts:
        raise ModelError(f"no checkpoints (ckpt-N.index) in {ckpt_dir}")
    if itr == -1:
        return ckpts[-1]
    ok = [c for c in ckpts if c[0] <= itr]
    if not ok:
        raise ModelError(f"no checkpoint with step <= {itr} in {ckpt_dir} (have {[s for s, _ in ckpts]})")
    return ok[-1]


def log_dir_of_restore_flag(flag: str | Path) -> Path:
    """``--restore`` accepts a log dir or its ``ckpts/`` folder (the original's ``_get_restore_ckpt_dir``)."""
    p = Path(flag)
    if p.name == "ckpts" and p.is_dir():
        return p.parent
    if (p / "ckpts").is_dir():
        return p
    raise ModelError(f"--restore {flag}: not a log dir with a ckpts/ folder, nor a ckpts/ folder")


def named_state(trainer) -> dict[str, tf.Variable]:
    """Every piece of training state under its original TF1 name (see the module docstring)."""
    m = trainer.model
    out = {"global_step": trainer.step}
    out.update(m.vars)
    inv = {id(v): k for k, v in m.vars.items()}
    for opt, label, var_list in ((trainer.opt_ae, "Adam_AE", trainer.ae_vars), (trainer.opt_pc, "Adam_PC", trainer.pc_vars)):
        opt.build(var_list)
        ov = list(opt.variables)
        if len(ov) != 1 + 2 * len(var_list):
            raise ModelError(f"unexpected optimizer state layout for {label} ({len(ov)} variables)")
        out[f"{label}/iterations"] = ov[0]
        for i, v in enumerate(var_list):
            name = inv[id(v)]
            out[f"{name}/{label}"], out[f"{name}/{label}_1"] = ov[1 + 2 * i], ov[2 + 2 * i]
    return out


def _restore(ckpt: tf.train.Checkpoint, prefix: str) -> None:
    try:
        status = ckpt.restore(prefix)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise ModelError(f"{prefix} does not fit this model: {str(e).splitlines()[0][:300]}") from None


def restore_model_weights(model, prefix: str) -> None:
    """Only the model's variables of a training checkpoint (what val.py validates)."""
    _restore(tf.train.Checkpoint(model=model), prefix)


def restore_training_state(trainer, prefix: str, skip: str | None = None, make_trainer=None) -> tuple[int, int]:
    """Restore ``prefix`` into ``trainer``; names containing any comma-separated string of ``skip`` keep
    their current (fresh) values. ``make_trainer()`` builds a scratch trainer of the same model (needed
    only with ``skip``). Returns (restored, skipped) counts."""
    skips = [s.strip() for s in (skip or "").split(",") if s.strip()]
    if not skips:
        _restore(trainer.checkpoint(), prefix)
        return len(named_state(trainer)), 0
    scratch = make_trainer()
    named_state(scratch)  # build the optimisers so that their slots restore immediately
    _restore(scratch.checkpoint(), prefix)
    src, dst = named_state(scratch), named_state(trainer)
    restored = skipped = 0
    for name, var in dst.items():
        if any(s in name for s in skips):
            skipped += 1
            continue
        var.assign(src[name])
        restored += 1
    return restored, skipped
