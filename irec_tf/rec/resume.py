"""Resumable training state (issue 17), as the original's training scripts: a ``tf.train.Checkpoint`` of
the step, the model, the optimizer (and the lossless model's EMA copies and learning rate) under a
``tf.train.CheckpointManager(..., max_to_keep=3)``, restored from the latest checkpoint when the same
command is run again (``ckpt.restore(manager.latest_checkpoint)`` in ``train_lossy_model.py`` /
``train_generative_model.py``). It lives in ``SAVE_DIR/train_state/``; ``SAVE_DIR``'s ``config.json`` +
``weights.npz`` stay what the codec loads. The manager names a checkpoint in its ``checkpoint`` state file
only after the checkpoint's files are complete, so a run killed mid-save resumes from the previous one."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

STATE_DIR = "train_state"


class TrainState:
    """``write_dir``: where this process saves (a non-chief worker of a multi-worker run: its private folder,
    :func:`shared_data.tfdist.write_dir`); the restore always reads ``save_dir`` (the chief's checkpoints, which
    hold one copy of every variable, so any replica count restores them)."""

    def __init__(self, save_dir, optimizer, variables, write_dir=None, **objects):
        optimizer.build(variables)  # slot variables exist before the restore, so they restore at once
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.ckpt = tf.train.Checkpoint(step=self.step, optimizer=optimizer, **objects)
        self.read_dir = Path(save_dir) / STATE_DIR
        self.manager = tf.train.CheckpointManager(self.ckpt, str(Path(write_dir or save_dir) / STATE_DIR),
                                                  max_to_keep=3)

    def restore(self) -> int:
        """Restore the latest checkpoint if there is one; returns the step it was saved at (0: fresh)."""
        latest = tf.train.latest_checkpoint(str(self.read_dir))
        if latest:
            self.ckpt.restore(latest).assert_existing_objects_matched()
            print(f"Restored model from {latest} at step {int(self.step.numpy())}", flush=True)
        return int(self.step.numpy())

    def save(self, step: int) -> None:
        self.step.assign(step)
        self.manager.save(checkpoint_number=step)
