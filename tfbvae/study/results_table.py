"""A Markdown table of evaluation results, one row per model: what the README's results show and
what ``apps/results_table.py`` prints.

Each result is a ``metrics_<preset>_seed<seed>.json`` that ``apps/evaluate.py`` wrote. A row
gives the model, its objective, training steps, the headline score of each metric, the held-out
reconstruction and KL (nats per image), the training time from the run's TensorBoard logs (first
to last event, when the run directory is there; the study aggregate's
:func:`tfbvae.study.aggregate.training_seconds`) and the preset.

It lives with the study code, not in :mod:`tfbvae.evaluation`, because it reads the run behind
each result (its settings and its logs), which is training's business.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

from tfbvae import errors
from tfbvae.training.settings import Settings

METRIC_COLUMNS = (("beta_vae", "BetaVAE"), ("factor_vae", "FactorVAE"), ("mig", "MIG"),
                  ("dci", "DCI"), ("sap", "SAP"))
HEADER = (["model", "objective", "steps"] + [title for _, title in METRIC_COLUMNS]
          + ["recon (nats)", "KL (nats)", "training", "preset"])
_FIX = "pass the metrics_<preset>_seed<seed>.json files apps/evaluate.py writes."


def results_table(paths: Sequence[str | os.PathLike]) -> str:
    """The Markdown table of the result files at ``paths``, one row each, in order.

    Args:
        paths: ``metrics_*.json`` files of ``apps/evaluate.py``.

    Returns:
        The table, ending with a newline.

    Raises:
        tfbvae.errors.BadInput: no path given, or a file that cannot be read or is not a result.
    """
    if not paths:
        raise errors.BadInput("pass one or more metrics_<preset>_seed<seed>.json files, e.g. "
                              "python apps/results_table.py runs/*/evaluation/metrics_fast_seed0.json")
    return table([read_result(path) for path in paths])


def table(results: Sequence[dict]) -> str:
    """The Markdown table of result records, one row each."""
    lines = [_cells_line(HEADER), "|" + "---|" * len(HEADER)]
    return "\n".join(lines + [row(r) for r in results]) + "\n"


def row(results: dict) -> str:
    """One result record's row (see the module docstring for the columns)."""
    run = run_record(results)
    settings = run_settings(run)
    name = (results["model"]["metadata"].get("model_name")
            or (settings.model_name if settings else None) or "?")
    scores = [results["summary"].get(metric) for metric, _ in METRIC_COLUMNS]
    heldout = results.get("heldout") or {}
    cells = [name, objective_text(settings), f"{run.get('step', 0):,}"]
    cells += ["–" if s is None else f"{s:.3f}" for s in scores]
    cells += [f"{heldout[k]:.1f}" if k in heldout else "n/a" for k in ("reconstruction", "kl")]
    cells += [training_minutes(run, settings), results["preset"]]
    return _cells_line(cells)


def _cells_line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def run_record(results: dict) -> dict:
    """The trained run's metadata (flags, step, ...) from an evaluation of a run or an export."""
    model = results["model"]
    return model["metadata"] if model["kind"] == "run" else model["metadata"].get("run") or {}


def run_settings(run: dict) -> Settings | None:
    """The run's settings, when the model's metadata has them (a ``.keras`` export has none)."""
    return Settings.from_json(run["flags"]) if run.get("flags") else None


def objective_text(settings: Settings | None) -> str:
    """The objective and its weights as the README writes them (``"None"`` when unknown)."""
    if settings is None:
        return "None"
    if settings.objective == "beta":
        return "VAE (β = 1)" if settings.beta == 1 else f"β-VAE (β = {settings.beta:g})"
    form = "\\|KL − C\\|" if settings.objective == "capacity" else "max(0, KL − C)"
    return (f"γ·{form}, γ = {settings.gamma:g}, C 0→{settings.c_max:g} over "
            f"{settings.c_stop_steps:,} steps")


def training_minutes(run: dict, settings: Settings | None) -> str:
    """The run's training time in minutes from its logs, ``"n/a"`` without them."""
    from tfbvae.study.aggregate import training_seconds

    run_dir = run.get("run_dir") or (settings.run_dir if settings else None)
    seconds = training_seconds(run_dir) if run_dir else None
    return "n/a" if seconds is None else f"{seconds / 60:.0f} min"


def read_result(path: str | os.PathLike) -> dict:
    """One ``metrics_*.json`` of ``apps/evaluate.py``.

    Raises:
        tfbvae.errors.BadInput: the file cannot be read or is not such a result.
    """
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError) as err:
        raise errors.BadInput(f"cannot read {path}: {err}. {_FIX[0].upper()}{_FIX[1:]}") from None
    fields = {"summary": dict, "model": dict, "preset": str}
    wrong = sorted(k for k, kind in fields.items()
                   if not isinstance(record, dict) or not isinstance(record.get(k), kind))
    if wrong or not {"kind", "metadata"} <= set(record["model"]):
        raise errors.BadInput(f"{path} is not a result of apps/evaluate.py (it lacks "
                              f"{', '.join(wrong or ['model.kind, model.metadata'])}): {_FIX}")
    return record

