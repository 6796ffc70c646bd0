"""Pictures of a beta-VAE in TensorBoard: reconstructions, latent traversals, per-dimension KL,
written at an interval of training steps (the pictures themselves: :mod:`tfbvae.visualization`).
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from tfbvae.training import tags
from tfbvae.training.run_dir import TRAIN_LOGS
from tfbvae.visualization import (TENSORBOARD_VIEW, TOP_LATENTS, kl_bar_chart,
                                  reconstruction_grid, traversal_grid)


class TensorBoardImages(keras.callbacks.Callback):
    """Every ``every_n_steps`` (checked at epoch ends) and at the end of training, writes to
    ``<log_dir>/train``: ``reconstructions`` (inputs above reconstructions), ``traversals``
    (each dimension swept over ``±span`` around the first image's posterior mean, ordered by
    KL, labelled with it) and ``kl_per_dim_chart``.

    The traversals and the chart are laid out for TensorBoard's default image size
    (:data:`tfbvae.visualization.TENSORBOARD_VIEW`), their text readable there: they show the
    ``top_latents`` largest-KL dimensions (all of a 10-latent model; 10 of 32, and the
    picture says so).

    Args:
        log_dir: the run's TensorBoard directory.
        images: a fixed batch of inputs (uint8 or float in [0, 1]), e.g. 8 validation images.
        every_n_steps: the interval, in training steps.
        top_latents: how many of the largest-KL dimensions the traversals and chart show.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        images,
        every_n_steps: int,
        span: float = 3.0,
        steps: int = 9,
        top_latents: int = TOP_LATENTS,
    ):
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.log_dir = os.fspath(log_dir)
        self.images = np.asarray(images)
        self.every_n_steps = int(every_n_steps)
        if top_latents < 1:
            raise ValueError(f"top_latents must be >= 1, got {top_latents}")
        self.span, self.steps, self.top_latents = span, steps, int(top_latents)
        self._writer = None
        self._last_step = None
        self._last_logs: dict = {}

    def on_train_begin(self, logs=None):
        self._last_step = int(self.model.optimizer.iterations.numpy())

    def on_epoch_end(self, epoch, logs=None):
        self._last_logs = dict(logs or {})
        step = int(self.model.optimizer.iterations.numpy())
        if step // self.every_n_steps > self._last_step // self.every_n_steps:
            self.write(step, self._last_logs)

    def on_train_end(self, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step != self._last_step and self._last_logs:
            self.write(step, self._last_logs)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write(self, step: int, logs: dict) -> None:
        """Writes the pictures of the model as it is now, at ``step``."""
        self._last_step = step
        kl = tags.kl_per_dim_from_logs(logs)
        if kl is None or not np.all(np.isfinite(kl)):
            return  # no (finite) KL to order by: nothing sensible to draw
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, TRAIN_LOGS))
        pictures = {
            tags.RECONSTRUCTIONS: reconstruction_grid(self.model, self.images),
            tags.TRAVERSALS: traversal_grid(self.model, self.images[0], kl, self.span, self.steps,
                                            max_rows=self.top_latents, fit=TENSORBOARD_VIEW),
            tags.KL_CHART: kl_bar_chart(kl, step, top=self.top_latents, fit=TENSORBOARD_VIEW),
        }
        with self._writer.as_default(step=step):
            for name, picture in pictures.items():
                tf.summary.image(name, picture[None])
        self._writer.flush()
