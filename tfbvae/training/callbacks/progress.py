"""A one-line progress bar: step, loss, KL, C, images/second and the time left."""

from __future__ import annotations

import datetime
import sys
import time
from typing import TextIO

import keras


def _format_duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(max(0.0, seconds))))


class ProgressBar(keras.callbacks.Callback):
    """Shows ``step 1200/30000 [=====>    ] loss 123.4 recon 100.1 KL 12.3 C 3.00 812 img/s
    ETA 0:35:12`` on one line that updates in place on a terminal (at most every
    ``min_interval_s``), or as one line per epoch (logging interval) when the output is a file.

    Values are the running means of the current epoch (at an epoch end: the epoch's training
    means). The hook runs at batch *begin*, so Keras keeps dispatching batch-end hooks
    asynchronously, and it reads the metrics only when it redraws.

    Args:
        total_steps: the step training ends at.
        batch_size: the global batch size (for images/second).
    """

    def __init__(
        self,
        total_steps: int,
        batch_size: int,
        stream: TextIO | None = None,
        min_interval_s: float = 0.5,
        width: int = 20,
    ):
        super().__init__()
        self.total_steps = int(total_steps)
        self.batch_size = int(batch_size)
        self.stream = stream or sys.stdout
        self.min_interval_s = min_interval_s
        self.width = width
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._epoch_start_step = 0
        self._mark = None  # (time, step) the speed is measured from
        self._rate = None  # steps per second, smoothed
        self._last_draw = 0.0
        self._epoch_logs: dict = {}

    def _metric_values(self) -> dict:
        """Running means of the current epoch's training metrics."""
        return {m.name: m.result() for m in self.model.metrics}

    def line(self, step: int, now: float, values: dict) -> str:
        """The progress line at ``step`` showing ``values`` (metric name -> value); updates
        the speed estimate."""
        if self._mark is not None and step > self._mark[1] and now > self._mark[0]:
            rate = (step - self._mark[1]) / (now - self._mark[0])
            self._rate = rate if self._rate is None else 0.7 * self._rate + 0.3 * rate
        self._mark = (now, step)
        done = min(1.0, step / self.total_steps) if self.total_steps else 1.0
        filled = int(done * self.width)
        bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
        parts = [f"step {step}/{self.total_steps} [{bar}]"]
        for label, name, fmt in (
            ("loss", "loss", ".1f"),
            ("recon", "reconstruction", ".1f"),
            ("KL", "kl", ".2f"),
            ("C", "capacity", ".2f"),
        ):
            if name in values:
                parts.append(f"{label} {float(keras.ops.convert_to_numpy(values[name])):{fmt}}")
        if self._rate:
            parts.append(f"{self._rate * self.batch_size:.0f} img/s")
            parts.append(f"ETA {_format_duration((self.total_steps - step) / self._rate)}")
        return " ".join(parts)

    def _draw(self, step: int, values: dict, final: bool = False) -> None:
        now = time.perf_counter()
        text = self.line(step, now, values)
        if self.interactive:
            self.stream.write("\r" + text + "\x1b[K" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._last_draw = now

    def on_train_begin(self, logs=None):
        self._mark = (time.perf_counter(), int(self.model.optimizer.iterations.numpy()))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start_step = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_begin(self, batch, logs=None):
        if batch and self.interactive and time.perf_counter() - self._last_draw >= self.min_interval_s:
            # batch steps of this epoch are done; the metrics hold their running means
            self._draw(self._epoch_start_step + batch, self._metric_values())

    def on_epoch_end(self, epoch, logs=None):
        # From the logs: after a validation the model's metrics hold the validation values.
        self._epoch_logs = dict(logs or {})
        if not self.interactive:
            self._draw(int(self.model.optimizer.iterations.numpy()), self._epoch_logs)

    def on_train_end(self, logs=None):
        if self.interactive:  # a file already has the last epoch's line
            self._draw(int(self.model.optimizer.iterations.numpy()), self._epoch_logs, final=True)
