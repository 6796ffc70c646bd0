"""What ``apps/evaluate.py`` adds around :func:`tfbvae.evaluation.metrics.evaluate`: count overrides, a
progress bar, and the results as strict JSON and a short Markdown table.

Result files are committed and compared across machines, so they record paths as
:func:`portable_paths` writes them: relative to this repository when inside it, ``~/...`` under
the home directory, else as given.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

import numpy as np

from tfbvae import files
from tfbvae.evaluation.metrics.presets import Preset
from tfbvae.evaluation.metrics.registry import HEADLINE_SCORES
from tfbvae.evaluation.metrics.utils import RepresentationFunction

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


def apply_overrides(preset: Preset, metrics: Sequence[str], overrides: Sequence[str]) -> dict:
    """The counts of ``metrics`` in ``preset``, changed by ``overrides``.

    Each override is ``<metric>.<count>=<int>`` (``dci.num_train=500``) or ``all.<count>=<int>``
    (every selected metric that has that count), e.g. for tiny smoke tests.
    """
    counts = {name: dict(preset[name]) for name in metrics}
    for override in overrides:
        target, _, value = override.partition("=")
        metric, _, key = target.strip().partition(".")
        if not value.strip().lstrip("-").isdigit() or not key:
            raise ValueError(f"--override {override!r} must read <metric>.<count>=<integer>, "
                             "e.g. dci.num_train=500 or all.batch_size=16")
        targets = list(counts) if metric == "all" else [metric]
        if metric != "all" and metric not in counts:
            raise ValueError(f"--override {override!r} names {metric!r}, which is not among the "
                             f"metrics evaluated ({', '.join(counts)})")
        hits = [name for name in targets if key in counts[name]]
        if not hits:
            known = sorted({k for name in targets for k in counts[name]})
            raise ValueError(f"--override {override!r}: no selected metric has a count {key!r}; "
                             f"counts are {', '.join(known)}")
        if int(value) < 1:
            raise ValueError(f"--override {override!r}: counts must be positive")
        for name in hits:
            counts[name][key] = int(value)
    return counts


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
                          f"{headline} = {_format(value)}  ({entry['seconds']:.1f}s, "
                          f"{self.encoded} images)" + ("\x1b[K" if self.interactive else "") + "\n")
        self.stream.flush()
        self.index, self.encoded = min(self.index + 1, len(self.names) - 1), 0


def strict_json(value: Any, path: str = "") -> tuple[Any, dict[str, str]]:
    """``value`` with every NaN/Inf replaced by ``None``, and the replaced values by JSON path
    (``metrics.dci.scores.informativeness_test``: ``"nan"``). JSON has no NaN or Infinity;
    Python's json writes them anyway, and strict parsers (browsers, jq) then refuse the file."""
    replaced: dict[str, str] = {}

    def clean(item: Any, where: str) -> Any:
        if isinstance(item, dict):
            return {str(k): clean(v, f"{where}.{k}" if where else str(k)) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [clean(v, f"{where}[{i}]") for i, v in enumerate(item)]
        if isinstance(item, np.ndarray):
            return clean(item.tolist(), where)
        if isinstance(item, np.generic):
            item = item.item()
        if isinstance(item, float) and not math.isfinite(item):
            replaced[where] = str(item)
            return None
        if isinstance(item, os.PathLike):
            return os.fspath(item)
        return item

    return clean(value, path), replaced


REPO_ROOT = files.repo_root()  # the checkout tfbvae runs from


def portable_paths(value: Any) -> Any:
    """``value`` (a JSON-ready record) with every path in its strings made machine-independent:
    ``<repository>/runs/x`` becomes ``runs/x`` and ``<home>/.cache/x`` becomes ``~/.cache/x``
    (also inside longer strings, e.g. "training logs (<repository>/runs/x/logs/train)")."""
    if isinstance(value, dict):
        return {k: portable_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable_paths(v) for v in value]
    if not isinstance(value, str):
        return value
    for root, shown in ((REPO_ROOT, ""), (Path.home().resolve(), "~/")):
        value = value.replace(f"{root}{os.sep}", shown)
    return value


def _format(value: Any) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4f}" if math.isfinite(float(value)) else str(float(value))
    return "n/a" if value is None else str(value)


def markdown_report(results: Mapping[str, Any]) -> str:
    """A short Markdown summary: the model, data and counts, and one row per metric."""
    model = results["model"]
    lines = [
        f"# Disentanglement of `{model.get('encoder') or model['path']}`",
        "",
        f"- model: {model['kind']}" + (f", version {model['version']}" if model.get("version") else "")
        + (f", step {model['step']}" if model.get("step") is not None else ""),
        f"- data: {results['dataset']} ({results['data_source']})",
        f"- preset: {results['preset']}" + (f" with overrides {', '.join(results['overrides'])}"
                                            if results.get("overrides") else "")
        + f", seed {results['seed']}",
        f"- time: {results['timings']['total_seconds']:.1f}s",
        "",
        "| metric | headline score | value | other scores | seconds |",
        "|---|---|---|---|---|",
    ]
    for name, entry in results["metrics"].items():
        headline = HEADLINE_SCORES[name]
        others = ", ".join(f"{k} {_format(v)}" for k, v in entry["scores"].items() if k != headline)
        lines.append(f"| {name} | {headline} | {_format(entry['scores'][headline])} | {others} "
                     f"| {entry['seconds']:.1f} |")
    heldout = results.get("heldout")
    if heldout and "skipped" not in heldout:
        lines += ["", f"Held-out images ({heldout['num_images']}, the run's validation split), "
                  "nats per image: reconstruction "
                  f"{_format(heldout['reconstruction'])} (from the posterior mean "
                  f"{_format(heldout['reconstruction_at_mean'])}), KL {_format(heldout['kl'])}, "
                  f"negative ELBO {_format(heldout['negative_elbo'])}."]
    elif heldout:
        lines += ["", f"Held-out losses not measured: {heldout['skipped']}."]
    if results.get("non_finite_values"):
        lines += ["", "Non-finite values (null in the JSON): "
                  + ", ".join(f"{k} = {v}" for k, v in results["non_finite_values"].items())]
    return "\n".join(lines) + "\n"


def write_report(results: Mapping[str, Any], output_dir: str | os.PathLike, stem: str) -> tuple[Path, Path]:
    """Writes ``<stem>.json`` (strict JSON; NaN/Inf become null and are listed under
    ``non_finite_values``; paths made portable) and ``<stem>.md``, each atomically. Returns
    their paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    clean = {**portable_record(results),
             "non_finite_note": ("NaN/Infinity are not JSON: such values are written as null and "
                                 "listed in non_finite_values by JSON path")}
    json_path, md_path = output_dir / f"{stem}.json", output_dir / f"{stem}.md"
    write_json(json_path, clean)
    files.write_text_atomically(md_path, markdown_report(clean))
    return json_path, md_path


def portable_record(record: Mapping[str, Any]) -> dict:
    """``record`` as a result file holds it: paths made portable (:func:`portable_paths`),
    NaN/Inf replaced by null and listed by JSON path under ``non_finite_values``
    (:func:`strict_json`)."""
    clean, replaced = strict_json(portable_paths(dict(record)))
    return {**clean, "non_finite_values": replaced}


def write_json(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Writes ``record`` (strict JSON: no NaN/Inf) to ``path`` atomically, indented."""
    files.write_text_atomically(path, json.dumps(record, indent=2, allow_nan=False) + "\n")

