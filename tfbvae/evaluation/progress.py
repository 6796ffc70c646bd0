"""Progress of an evaluation on stderr: which metric runs and how many of its images are encoded
so far (a bar redrawn in place on a terminal; a line per finished metric elsewhere)."""

from __future__ import annotations

import sys
import time
from typing import Mapping, Sequence, TextIO

import numpy as np

from tfbvae.evaluation.metrics.registry import HEADLINE_SCORES
from tfbvae.evaluation.metrics.utils import RepresentationFunction
from tfbvae.evaluation.report import format_value

# Images each metric encodes with given counts: for the progress bar only (an estimate, exact
# for these metric implementations; the bar tolerates a wrong one).
_ENCODED = {
    "beta_vae": lambda c: 2 * c["batch_size"] * (c["num_train"] + c["num_eval"]),
    "factor_vae": lambda c: c["num_variance_estimate"] + c["batch_size"] * (c["num_train"] + c["num_eval"]),
}


def expected_encodings(metric: str, counts: Mapping[str, int]) -> int:
    """How many images ``metric`` encodes with ``counts`` (FactorVAE: when a code is active)."""
    if metric in _ENCODED:
        return int(_ENCODED[metric](counts))
    return int(counts.get("num_train", 0) + counts.get("num_test", 0))


class MetricsProgress:
    """Progress of an evaluation on ``stream``: which metric runs and how many of its images are
    encoded so far (``wrap`` counts them), redrawn in place on a terminal at most every
    ``min_interval_s``; elsewhere (a log file) one line per finished metric."""

    def __init__(self, names: Sequence[str], counts: Mapping[str, Mapping[str, int]],
                 stream: TextIO | None = None, min_interval_s: float = 0.25, width: int = 24):
        self.names = list(names)
        self.expected = {name: expected_encodings(name, counts[name]) for name in self.names}
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval_s, self.width = min_interval_s, width
        self.index, self.encoded = 0, 0
        self._started = time.perf_counter()
        self._last_draw = 0.0

    def wrap(self, representation_function: RepresentationFunction) -> RepresentationFunction:
        """``representation_function``, counting the images it encodes for the bar."""
        def counted(observations: np.ndarray) -> np.ndarray:
            codes = representation_function(observations)
            self.encoded += len(observations)
            if self.interactive and time.perf_counter() - self._last_draw >= self.min_interval_s:
                self._draw()
            return codes

        return counted

    def _prefix(self) -> str:
        return f"[{self.index + 1}/{len(self.names)}] {self.names[self.index]:<12}"

    def _draw(self) -> None:
        expected = self.expected[self.names[self.index]]
        done = min(1.0, self.encoded / expected) if expected else 1.0
        filled = int(done * self.width)
        bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
        state = "fitting" if self.encoded >= expected else "encoding"
        elapsed = time.perf_counter() - self._started
        self.stream.write(f"\r{self._prefix()} [{bar}] {self.encoded}/{expected} images "
                          f"({state}) {elapsed:.0f}s\x1b[K")
        self.stream.flush()
        self._last_draw = time.perf_counter()

    def metric_done(self, name: str, entry: dict) -> None:
        """``on_metric_done`` of :func:`tfbvae.evaluation.metrics.evaluate`: prints the metric's result."""
        headline = HEADLINE_SCORES[name]
        value = entry["scores"][headline]
        self.stream.write(("\r" if self.interactive else "") + f"{self._prefix()} "
                          f"{headline} = {format_value(value)}  ({entry['seconds']:.1f}s, "
                          f"{self.encoded} images)" + ("\x1b[K" if self.interactive else "") + "\n")
        self.stream.flush()
        self.index, self.encoded = min(self.index + 1, len(self.names) - 1), 0
