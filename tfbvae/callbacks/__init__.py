"""Keras callbacks for beta-VAE training, usable in any ``fit`` call.

None of them does work per step beyond a Python counter (and C's assignment while it
changes): they act at epoch ends, so ``fit(steps_per_epoch=N)`` sets their interval.
"""

from tfbvae.callbacks.capacity import CapacityAnnealing
from tfbvae.callbacks.checkpointing import CheckpointSaver
from tfbvae.callbacks.images import TensorBoardImages
from tfbvae.callbacks.non_finite import TerminateOnNonFinite
from tfbvae.callbacks.progress import ProgressBar
from tfbvae.callbacks.stop_on_signal import StopOnSignal
from tfbvae.callbacks.tensorboard import TensorBoardScalars

__all__ = [
    "CapacityAnnealing",
    "CheckpointSaver",
    "ProgressBar",
    "StopOnSignal",
    "TensorBoardImages",
    "TensorBoardScalars",
    "TerminateOnNonFinite",
]
