"""SIGINT (Ctrl-C) and SIGTERM (preemption: clusters, TPU VMs, ``docker stop``) end training
after the current step, so that the step's state is saved instead of lost."""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

import keras

from tfbvae import errors

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal(keras.callbacks.Callback):
    """Turns SIGINT and SIGTERM into a clean stop of a run.

    Used as a context manager around the whole run (it installs the signal handlers and
    restores the previous ones on exit) and as a callback of the run's ``fit`` calls:

    * while ``fit`` trains, the first signal sets ``model.stop_training``: Keras finishes the
      current step and ends the epoch early, so the epoch-end callbacks log the partial
      interval and the checkpoint callback saves the state at that step when training ends;
      the caller then sees :attr:`received` and reports how to resume;
    * outside ``fit`` (loading data, building the model, exporting) nothing is lost by stopping
      (every file the run writes is written atomically), so the signal raises
      :class:`tfbvae.errors.Interrupted` at once;
    * a second signal exits at once with ``128 + signum``, without saving.

    Keras checks ``stop_training`` after every batch, so no per-step work is added. Handlers can
    only be installed from the main thread; elsewhere the context manager does nothing.
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS):
        super().__init__()
        self.signals = tuple(signals)
        self.received: int | None = None
        self._previous: dict[int, object] = {}
        self._training = False

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    @property
    def signal_name(self) -> str:
        """The received signal's name, e.g. ``SIGTERM`` (empty before one arrives)."""
        return signal.Signals(self.received).name if self.received else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            log.error("Second %s: exiting now without saving.", name)
            os._exit(128 + signum)
        self.received = signum
        if not self._training:
            raise errors.Interrupted(
                f"Stopped by {name} outside training (nothing unsaved: every file of the run "
                "is written atomically); run the same command again to continue.", signum)
        log.warning("%s received: stopping after the current step and saving a checkpoint "
                    "(send it again to quit at once without saving).", name)
        self.model.stop_training = True

    def on_train_begin(self, logs=None):
        self._training = True
        if self.received is not None:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._training = False
