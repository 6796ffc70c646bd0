"""Checkpoints at an interval of training steps and at the end, never of a NaN state."""

from __future__ import annotations

import logging
import math

import keras

from tfbvae.training.callbacks.non_finite import weights_finite
from tfbvae.training.checkpoints import RunCheckpoint

log = logging.getLogger(__name__)


class CheckpointSaver(keras.callbacks.Callback):
    """Saves a :class:`~tfbvae.training.checkpoints.RunCheckpoint` every ``every_n_steps`` (checked at
    epoch ends) and when training ends.

    A state whose epoch loss or weights are NaN/Inf is never saved, so the newest checkpoint is
    always a good one. Put it after the logging callbacks: they flush what they wrote for a
    step before its checkpoint exists.
    """

    def __init__(self, checkpoint: RunCheckpoint, every_n_steps: int):
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.checkpoint = checkpoint
        self.every_n_steps = int(every_n_steps)
        self._last_saved = 0
        self._last_logs: dict = {}

    def on_train_begin(self, logs=None):
        self._last_saved = self.checkpoint.latest_step or 0

    def _save_if_finite(self, step: int, logs: dict) -> None:
        loss = logs.get("loss")
        if (loss is not None and not math.isfinite(loss)) or not weights_finite(self.model):
            log.error("Not writing a checkpoint at step %d: the loss or weights are NaN/Inf.", step)
            return
        path = self.checkpoint.save()
        self._last_saved = step
        log.info("Checkpoint %s written.", path)

    def on_epoch_end(self, epoch, logs=None):
        self._last_logs = dict(logs or {})
        step = self.checkpoint.step
        if step // self.every_n_steps > self._last_saved // self.every_n_steps:
            self._save_if_finite(step, self._last_logs)

    def on_train_end(self, logs=None):
        step = self.checkpoint.step
        if step != self._last_saved:
            self._save_if_finite(step, self._last_logs)
