"""Evaluates one trained model on a ground-truth data set (by default the one it trained on):
what ``apps/evaluate.py`` runs between its flags and its result files.

:func:`evaluate_model` opens the model (a run directory or an export, see
:mod:`tfbvae.trained_model`), loads the ground-truth data, checks that they fit, traces the
encoder once, runs the metrics (:func:`tfbvae.evaluation.metrics.evaluate`; the posterior mean
is the representation, as in disentanglement_lib), measures the held-out losses of the model's
run, and assembles the result record that :func:`tfbvae.evaluation.report.write_report` writes.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from typing import Any, Callable

from tfbvae import errors
from tfbvae.evaluation.model_data import DataChoice

Tell = Callable[[str], None]  # where NOTE/WARNING lines go


@dataclasses.dataclass(frozen=True)
class EvaluationSettings:
    """What to evaluate and how: the flags of ``apps/evaluate.py``, one field each."""

    model: str  # a run directory or an export (tfbvae.trained_model.open_model)
    checkpoint: str | None = None  # with a run directory: one of its checkpoints
    metrics: str = "all"  # comma-separated metric names, or "all"
    preset: str = "fast"  # "fast" or "paper" (tfbvae.evaluation.metrics.presets)
    overrides: tuple[str, ...] = ()  # <metric>.<count>=N or all.<count>=N
    seed: int = 0
    batch_size: int = 256  # images per encoder call
    data: DataChoice = DataChoice()  # the data set (default: the model's own, as its run had it)
    heldout: bool = True  # also the reconstruction and KL on the run's held-out images
    progress: bool = True  # a progress bar (or a line per metric) on stderr

    @property
    def result_stem(self) -> str:
        """The result files' name without suffix: ``metrics_<preset>[_custom]_seed<seed>``."""
        return f"metrics_{self.preset}{'_custom' if self.overrides else ''}_seed{self.seed}"


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """An evaluated model: the model opened, and the result record (JSON-ready)."""

    source: Any  # tfbvae.trained_model.ModelSource
    results: dict


class _Clock:
    """Seconds between named points, from the clock's creation."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name], self.last = now - self.last, now

    def total(self) -> float:
        return self.last - self.start


def evaluate_model(settings: EvaluationSettings, tell: Tell | None = None) -> Evaluation:
    """Evaluates the model ``settings`` names (see the module docstring).

    Args:
        settings: the model, data, metrics and counts.
        tell: receives each NOTE/WARNING line (default: printed to stderr).

    Returns:
        The model opened and the result record: :func:`tfbvae.evaluation.metrics.evaluate`'s,
        with the preset and overrides, the model's identity, warnings, held-out losses,
        timings, machine and software versions.

    Raises:
        tfbvae.errors.BadInput: unknown metrics or overrides, a path that is no model, data
            that cannot be loaded or does not fit the model.
    """
    tell = tell or _to_stderr
    names, counts = _metric_counts(settings)
    clock = _Clock()
    source = _open(settings, tell)
    clock.lap("load_model_seconds")
    options, images, data = _ground_truth_data(settings, source)
    warnings = _data_warnings(source, data, tell)
    clock.lap("load_data_seconds")
    representation_function = _traced_representation(source, data, settings.batch_size)
    clock.lap("trace_seconds")
    results = _run_metrics(settings, names, counts, data, representation_function)
    clock.lap("metrics_seconds")
    if settings.heldout:
        results["heldout"] = _heldout(source, images, settings, tell)
    clock.lap("heldout_seconds")
    return Evaluation(source, _result_record(settings, source, images.dataset, options, results,
                                             warnings, clock))


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _metric_counts(settings: EvaluationSettings) -> tuple[list[str], dict]:
    """The metric names and each one's counts (the preset's, changed by the overrides)."""
    from tfbvae.evaluation.metrics import get_preset, parse_metric_names
    from tfbvae.evaluation.metrics.presets import apply_overrides

    try:
        names = parse_metric_names(settings.metrics)
        return names, apply_overrides(get_preset(settings.preset), names, settings.overrides)
    except ValueError as err:
        raise errors.BadInput(str(err)) from None


def _open(settings: EvaluationSettings, tell: Tell):
    """The model; given an export's decoder, its encoder is what the metrics measure."""
    from tfbvae.trained_model import open_model

    source = open_model(settings.model, settings.checkpoint)
    decoder = source.decoder_dir if source.kind == "export" else None
    if decoder is not None and source.path in (decoder, decoder.parent):
        tell(f"NOTE: {settings.model} is a decoder; evaluating the encoder of the same export, "
             f"{source.encoder_dir}")
    return source


def _ground_truth_data(settings: EvaluationSettings, source):
    """Where the data set is (the model's own unless asked), the data set and its ground truth,
    refused with the fix when it has no factors (before anything is loaded), cannot be loaded
    or does not fit the model."""
    from tfbvae.data import datasets
    from tfbvae.data.ground_truth import SourceGroundTruth
    from tfbvae.evaluation.model_data import dataset_of, load_for_model, load_options

    name = dataset_of(settings.data, source)
    if name in datasets.NAMES and not datasets.get(name).has_factors:
        raise errors.BadInput(
            f"{name} has no ground-truth factors to measure disentanglement against: pass "
            "--dataset=<a data set with factors> (dsprites and its variants, shapes3d, "
            "smallnorb, cars3d, mpi3d_*) whose images have the model's shape.")
    options = load_options(settings.data, source)
    images = load_for_model(settings.data, source, options)
    return options, images, SourceGroundTruth(images)


def _traced_representation(source, data, batch_size: int):
    """The model's representation function, called once so that tracing the encoder is not
    counted in the first metric's time."""
    import numpy as np

    from tfbvae.evaluation import representation

    representation_function = representation.of_model(source, batch_size)
    representation_function(data.sample_observations(1, np.random.RandomState(0)))
    return representation_function


def _run_metrics(settings: EvaluationSettings, names: list[str], counts: dict, data,
                 representation_function) -> dict:
    """:func:`tfbvae.evaluation.metrics.evaluate`, with the progress bar when asked."""
    from tfbvae.evaluation.metrics import evaluate
    from tfbvae.evaluation.progress import MetricsProgress

    progress = MetricsProgress(names, counts) if settings.progress else None
    if progress is not None:
        representation_function = progress.wrap(representation_function)
    return evaluate(data, representation_function, names, counts, settings.seed,
                    on_metric_done=progress.metric_done if progress else None)


def _heldout(source, data, settings: EvaluationSettings, tell: Tell) -> dict:
    """Reconstruction and KL on the images the model's run held out (or why not)."""
    from tfbvae.evaluation.heldout import heldout_losses

    heldout = heldout_losses(source, data, settings.seed, settings.batch_size)
    if "skipped" in heldout:
        tell(f"NOTE: no held-out losses: {heldout['skipped']}")
    return heldout


def _data_warnings(source, data, tell: Tell) -> list[str]:
    """A warning when the model was trained on another source than it is evaluated on."""
    trained_on = source.data_source
    if not trained_on or trained_on == data.source:
        return []
    warning = f"the model was trained on {trained_on!r} and is evaluated on {data.source!r}"
    tell(f"WARNING: {warning}")
    return [warning]


def _result_record(settings: EvaluationSettings, source, dataset: str, options, results: dict,
                   warnings: list[str], clock: _Clock) -> dict:
    """The metrics' record with what says how it was made: settings, model, time, machine."""
    import tensorflow as tf

    del results["total_seconds"]  # one total: the clock's (the metrics' own is a lap)
    results["versions"]["tensorflow"] = tf.__version__
    return {
        **results,
        "preset": settings.preset,
        "overrides": list(settings.overrides),
        "dataset": dataset,
        "requested_source": options.source,
        "requested_path": None if options.path is None else str(options.path),
        "model": source.identity(),
        "model_data_source": source.data_source,
        "warnings": warnings,
        "timings": {**clock.laps, "total_seconds": clock.total()},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
    }
