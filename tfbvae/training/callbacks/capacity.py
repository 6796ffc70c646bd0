"""Capacity annealing: raises the model's C along the linear schedule, every step."""

from __future__ import annotations

import keras

from tfbvae.model.objectives import capacity_schedule


class CapacityAnnealing(keras.callbacks.Callback):
    """Sets ``model.capacity`` to ``C(step) = min(C_max, C_max * step / c_stop_steps)``.

    The step is the optimizer's iteration count, so the schedule continues where it was after
    a resume (C itself is also saved with the model). It is read once per epoch; within an
    epoch the step is that count plus the batch index, so no step waits on a device read, and
    C is only assigned when it changes. With ``steps_per_execution > 1`` Keras calls batch
    hooks once per execution, so C then moves in steps of that size.
    """

    def __init__(self, c_max: float, c_stop_steps: int):
        super().__init__()
        if c_max < 0:
            raise ValueError(f"c_max must be >= 0 nats, got {c_max}.")
        self.c_max = float(c_max)
        self.c_stop_steps = int(c_stop_steps)
        self._epoch_start_step = 0
        self._assigned = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start_step = int(self.model.optimizer.iterations.numpy())
        self._assigned = None  # C may have been restored or set since: assign again

    def on_train_batch_begin(self, batch, logs=None):
        step = self._epoch_start_step + batch
        value = float(capacity_schedule(step, self.c_max, self.c_stop_steps))
        if value != self._assigned:
            self.model.capacity.assign(value)
            self._assigned = value
