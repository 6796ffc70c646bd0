"""Stops training when the loss or the weights stop being finite, and says why that happens."""

from __future__ import annotations

import logging
import math

import keras
import tensorflow as tf

log = logging.getLogger(__name__)


@tf.function
def _all_finite(variables) -> tf.Tensor:
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in variables])


def weights_finite(model) -> bool:
    """Whether every trainable weight of ``model`` is finite (one fused device check)."""
    return bool(_all_finite([v.value for v in model.trainable_variables]))


def likely_causes(model) -> str:
    """What usually makes a beta-VAE's loss NaN/Inf, with this model's own settings."""
    causes = []
    lr = getattr(getattr(model, "optimizer", None), "learning_rate", None)
    if lr is not None:
        causes.append(
            f"the learning rate ({float(keras.ops.convert_to_numpy(lr)):g}) is too high: "
            "lower it (--learning_rate)"
        )
    objective = getattr(model, "objective", None)
    if hasattr(objective, "gamma"):
        causes.append(
            f"gamma ({objective.gamma:g}) is too high for this learning rate: gamma*|KL - C| "
            "gradients are gamma times the KL's (lower --gamma or --learning_rate)"
        )
    if hasattr(objective, "beta"):
        causes.append(f"beta ({objective.beta:g}) is very large (--beta)")
    sigma = getattr(getattr(model, "likelihood", None), "sigma", None)
    if sigma is not None:
        causes.append(f"the Gaussian sigma ({sigma:g}) is very small (--gaussian_sigma)")
    causes.append(
        "the data is not in [0, 1]: uint8 images are divided by 255 in the model, float images "
        "must already be in [0, 1] (check the pipeline)"
    )
    causes.append("mixed precision overflowed (train in float32 to check)")
    return "; ".join(causes)


class TerminateOnNonFinite(keras.callbacks.Callback):
    """At each epoch end, stops training if the epoch's mean loss or any weight is NaN/Inf.

    Checked per epoch (the logging interval of the training app), not per step, so training
    never waits on a device read: a non-finite step makes the epoch's mean loss non-finite.
    :attr:`message` then names the steps and the likely causes; the training app exits with it,
    and :class:`~tfbvae.training.callbacks.CheckpointSaver` writes no checkpoint of that state, so the
    last good checkpoint stays the latest.
    """

    def __init__(self):
        super().__init__()
        self.message: str | None = None
        self._first_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._first_step = int(self.model.optimizer.iterations.numpy()) + 1

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        loss_bad = loss is not None and not math.isfinite(loss)
        if not loss_bad and weights_finite(self.model):
            return
        step = int(self.model.optimizer.iterations.numpy())
        what = f"the loss ({loss})" if loss_bad else "the weights"
        self.message = (
            f"Training stopped at step {step}: {what} became NaN/Inf during steps "
            f"{self._first_step}-{step}. The last checkpoint written before it is kept, so "
            "resuming repeats this unless a setting changes. Likely causes: "
            f"{likely_causes(self.model)}."
        )
        log.error(self.message)
        self.model.stop_training = True
