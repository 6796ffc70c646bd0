"""Runs ``apps/train.py`` as it is, plus one test-side callback: when training ends, the worker
writes the weights it holds (its own copy, as its process computed them) and its step to the
``.npz`` file named by ``$TFBVAE_TEST_WEIGHTS``.

Usage: ``python tests/training/multi_worker_launcher.py apps/train.py --flag=value ...``. The tests of
multi-worker training compare these files across workers and with the chief's checkpoint.
"""

from __future__ import annotations

import os
import runpy
import sys

import tfbvae  # noqa: F401  (sets TensorFlow's environment before TensorFlow is imported)
import keras
import numpy as np

from tfbvae.training import train as training


class SaveFinalWeights(keras.callbacks.Callback):
    """Writes ``step`` and the model's weights (``w0``, ``w1``, ...) to ``path`` at the end of
    each ``fit`` (the last one's survive)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def on_train_end(self, logs=None):
        weights = {f"w{i}": w for i, w in enumerate(self.model.get_weights())}
        np.savez(self.path, step=int(self.model.optimizer.iterations.numpy()), **weights)


def _train_saving_weights(config, extra_callbacks=(), stream=None):
    return _train(config, [*extra_callbacks, SaveFinalWeights(os.environ["TFBVAE_TEST_WEIGHTS"])],
                  stream)


_train = training.train
training.train = _train_saving_weights  # the app calls tfbvae.training.train.train

if __name__ == "__main__":
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
