"""TensorBoard scalars of a beta-VAE run, on the global-step axis."""

from __future__ import annotations

import os
import time

import keras
import tensorflow as tf

from tfbvae.training.run_dir import TRAIN_LOGS, VALIDATION_LOGS
from tfbvae.training.tags import scalar_tag


class TensorBoardScalars(keras.callbacks.Callback):
    """Writes every logged metric (loss, reconstruction, KL, regulariser, C, ELBO and each
    latent dimension's KL), the learning rate and images/second at each epoch end.

    Training values go to ``<log_dir>/train``, ``val_`` values to ``<log_dir>/validation`` under
    the same tags, so TensorBoard overlays them. The step is the optimizer's iteration count,
    so the axis continues across resumes. Each write is flushed: everything logged before a
    checkpoint is on disk when the checkpoint is. With ``fit(steps_per_epoch=N)`` it logs every
    N steps, each value the mean over those N steps; no work is done per step.

    Args:
        log_dir: the run's TensorBoard directory.
        batch_size: the global batch size; when given, ``images_per_second`` is logged.
    """

    def __init__(self, log_dir: str | os.PathLike, batch_size: int | None = None):
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        self.batch_size = batch_size
        self._writers: dict[str, tf.summary.SummaryWriter] = {}
        self._last = None  # (time, step) of the previous write

    def _writer(self, split: str) -> tf.summary.SummaryWriter:
        if split not in self._writers:
            self._writers[split] = tf.summary.create_file_writer(os.path.join(self.log_dir, split))
        return self._writers[split]

    def on_train_begin(self, logs=None):
        self._last = (time.perf_counter(), int(self.model.optimizer.iterations.numpy()))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        step = int(self.model.optimizer.iterations.numpy())
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        train["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        now = time.perf_counter()
        if self.batch_size and self._last and step > self._last[1]:
            train["images_per_second"] = (step - self._last[1]) * self.batch_size / (now - self._last[0])
        self._last = (now, step)
        for split, values in ((TRAIN_LOGS, train), (VALIDATION_LOGS, val)):
            if not values:
                continue
            writer = self._writer(split)
            with writer.as_default(step=step):
                for name, value in sorted(values.items()):
                    tf.summary.scalar(scalar_tag(name), value)
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
