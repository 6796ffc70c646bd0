"""beta-VAE objectives: what is added to the reconstruction term, and the capacity schedule.

Every objective receives the batch-mean reconstruction term (nats per image) and the
batch-mean KL summed over latents, plus the current capacity C (nats), and returns the
regulariser; the loss is ``reconstruction + regulariser``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfbvae.model.named import build_named


class Objective:
    """Base class: ``regulariser(kl, capacity)``; ``uses_capacity`` says whether C matters."""

    name = "objective"
    uses_capacity = False

    def regulariser(self, kl, capacity):
        raise NotImplementedError

    def __call__(self, reconstruction, kl, capacity):
        """Returns (loss, regulariser)."""
        reg = self.regulariser(kl, capacity)
        return reconstruction + reg, reg

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Objective":
        return cls(**config)


def _check_non_negative(name: str, value: float) -> float:
    value = float(value)
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}.")
    return value


@keras.saving.register_keras_serializable(package="tfbvae")
class BetaObjective(Objective):
    """Higgins et al. 2017: recon + beta * KL (beta = 1 is the plain VAE's negative ELBO)."""

    name = "beta"

    def __init__(self, beta: float = 1.0):
        self.beta = _check_non_negative("beta", beta)

    def regulariser(self, kl, capacity):
        return self.beta * kl

    def get_config(self) -> dict:
        return {"beta": self.beta}


@keras.saving.register_keras_serializable(package="tfbvae")
class CapacityObjective(Objective):
    """Burgess et al. 2018, eq. 8: recon + gamma * |KL - C|, C raised during training."""

    name = "capacity"
    uses_capacity = True

    def __init__(self, gamma: float = 1000.0):
        self.gamma = _check_non_negative("gamma", gamma)

    def regulariser(self, kl, capacity):
        return self.gamma * ops.abs(kl - capacity)

    def get_config(self) -> dict:
        return {"gamma": self.gamma}


@keras.saving.register_keras_serializable(package="tfbvae")
class HingeCapacityObjective(CapacityObjective):
    """recon + gamma * max(0, KL - C): the KL may stay below C at no cost."""

    name = "hinge"

    def regulariser(self, kl, capacity):
        return self.gamma * ops.relu(kl - capacity)


OBJECTIVES = {cls.name: cls for cls in (BetaObjective, CapacityObjective, HingeCapacityObjective)}


def get_objective(name: str, **kwargs) -> Objective:
    """The objective called ``name`` ('beta', 'capacity' or 'hinge')."""
    return build_named(OBJECTIVES, "objective", name, **kwargs)


def capacity_schedule(step, c_max: float, c_stop_steps: int):
    """C(step) = min(C_max, C_max * step / C_stop_steps): Burgess et al.'s linear increase.

    The one place the schedule lives. Takes a Python number, a numpy array or a tensor (then
    returns a float32 tensor); ``c_stop_steps <= 0`` means C = C_max from the first step.
    """
    if ops.is_tensor(step):
        step = ops.cast(step, "float32")
        if c_stop_steps <= 0:
            return ops.full_like(step, c_max)
        return ops.minimum(float(c_max), float(c_max) * step / float(c_stop_steps))
    fraction = 1.0 if c_stop_steps <= 0 else np.asarray(step, dtype=np.float64) / c_stop_steps
    return np.minimum(float(c_max), float(c_max) * fraction)
