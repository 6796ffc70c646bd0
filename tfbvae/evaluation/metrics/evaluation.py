"""Runs a set of metrics on one representation and records everything needed to reproduce it."""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import scipy
import sklearn

import tfbvae
from tfbvae.data.ground_truth import GroundTruthData
from tfbvae.evaluation.metrics.presets import Preset, get_preset
from tfbvae.evaluation.metrics.registry import HEADLINE_SCORES, METRICS
from tfbvae.evaluation.metrics.utils import RepresentationFunction


def evaluate(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    metrics: Sequence[str] | None = None,
    preset: str | Preset = "fast",
    seed: int = 0,
    on_metric_done: Callable[[str, dict], None] | None = None,
) -> dict:
    """Computes ``metrics`` (default: all, see ``registry.METRICS``) with a preset's counts.

    ``preset`` is ``"paper"``, ``"fast"`` or a mapping metric -> counts (recorded as
    ``"custom"``). Every metric starts from its own ``np.random.RandomState(seed)``, as each
    disentanglement_lib evaluation does. ``on_metric_done(name, entry)`` is called after each
    metric (for progress reporting). Returns a JSON-serialisable dict::

        {"preset", "seed", "data_source", "factor_names", "factors_num_values",
         "metrics": {name: {"scores": {...}, "counts": {...}, "seconds": float}},
         "summary": {name: headline score}, "total_seconds", "versions"}
    """
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {', '.join(METRICS)}")
    preset_name = preset if isinstance(preset, str) else "custom"
    counts = get_preset(preset) if isinstance(preset, str) else preset
    missing = [name for name in names if name not in counts]
    if missing:
        raise ValueError(f"preset {preset_name!r} gives no counts for {missing}; add them")

    results: dict = {}
    start = time.perf_counter()
    for name in names:
        metric_start = time.perf_counter()
        scores = METRICS[name](ground_truth_data, representation_function,
                               np.random.RandomState(seed), **counts[name])
        results[name] = {
            "scores": scores,
            "counts": dict(counts[name]),
            "seconds": time.perf_counter() - metric_start,
        }
        if on_metric_done is not None:
            on_metric_done(name, results[name])
    return {
        "preset": preset_name,
        "seed": int(seed),
        "data_source": ground_truth_data.source,
        "factor_names": list(ground_truth_data.factor_names),
        "factors_num_values": [int(n) for n in ground_truth_data.factors_num_values],
        "metrics": results,
        "summary": {name: results[name]["scores"][HEADLINE_SCORES[name]] for name in names},
        "total_seconds": time.perf_counter() - start,
        "versions": {"tfbvae": tfbvae.__version__, "numpy": np.__version__,
                     "scikit-learn": sklearn.__version__, "scipy": scipy.__version__},
    }

