"""Keras callbacks for beta-VAE training, usable in any ``fit`` call.

None of them does work per step beyond a Python counter (and C's assignment while it
changes): they act at epoch ends, so ``fit(steps_per_epoch=N)`` sets their interval.
"""

from tfbvae.training.callbacks.capacity import CapacityAnnealing
from tfbvae.training.callbacks.checkpointing import CheckpointSaver
from tfbvae.training.callbacks.images import TensorBoardImages
from tfbvae.training.callbacks.non_finite import TerminateOnNonFinite
from tfbvae.training.callbacks.progress import ProgressBar
from tfbvae.training.callbacks.stop_on_signal import StopOnSignal
from tfbvae.training.callbacks.tensorboard import TensorBoardScalars

__all__ = [
    "CapacityAnnealing",
    "CheckpointSaver",
    "ProgressBar",
    "StopOnSignal",
    "TensorBoardImages",
    "TensorBoardScalars",
    "TerminateOnNonFinite",
]
