"""A study's results from its run directories alone: ``results.json``, ``results.md`` and plots.

Per cell: each metric's median and range (min–max) over the seeds evaluated, the held-out
reconstruction and KL (``apps/evaluate.py``'s ``heldout`` section), the steps reached, the
training time (each training process's first to last TensorBoard event, summed, less silences of
over 5 minutes: neither a stop before a resume nor a stopped process counts) and the data
source, with the protocol (the cell's flags, its objective's settings, steps, preset). Medians
and ranges over seeds, every seed shown, follow Locatello et al. 2019 (Challenging common
assumptions in the unsupervised learning of disentangled representations): seed variance there
is as large as the effect of the method, so one seed per setting proves nothing. A seed not
evaluated yet is listed as missing, never dropped silently.
"""

from __future__ import annotations

import datetime
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tfbvae import files
from tfbvae.evaluation.report import portable_paths, write_json
from tfbvae.study.run_state import EVALUATION_SEED, read_json, run_state
from tfbvae.study.spec import Run, StudySpec
from tfbvae.study.tracking import tracking_of_run
from tfbvae.training import run_dir as run_layout
from tfbvae.training import run_record

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
METRICS_PNG = "metrics.png"
HELDOUT_KEYS = ("reconstruction", "kl")
OBJECTIVE_KEYS = ("objective", "beta", "gamma", "c_max", "c_stop_steps")


@dataclass(frozen=True)
class RunSummary:
    """What the aggregate uses of one run, read from its directory."""

    cell: str
    seed: int
    run_dir: str
    step: int | None
    finished: bool
    evaluation: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    heldout: dict[str, float | None] = field(default_factory=dict)
    training_seconds: float | None = None
    data_source: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # the objective's, from run.json
    tracking: dict[str, Any] = field(default_factory=dict)  # tfbvae.study.tracking, from the logs


def write_results(spec: StudySpec, study_dir: Path, runs: Sequence[Run], repo: Path,
                  results_dir: Path | None = None) -> Path:
    """Writes ``results.json``, ``results.md``, ``metrics.png`` and ``kl_curves_<cell>.png``
    in ``results_dir`` (default ``study_dir``, where the runs are); returns the JSON's path."""
    from tfbvae.study import plots

    records = [collect_summary(spec, run, repo) for run in runs]
    results = portable_paths(summarise(spec, study_dir, records))  # runs/..., not /home/...
    out = results_dir or study_dir
    out.mkdir(parents=True, exist_ok=True)
    plots.metric_scatter(results, out / METRICS_PNG)
    curves = {cell.name: plots.kl_curves_of_cell(
        cell.name, [run for run in runs if run.cell == cell], out / f"kl_curves_{cell.name}.png")
        for cell in spec.cells}
    write_json(out / RESULTS_JSON, results)
    files.write_text_atomically(out / RESULTS_MD, markdown(results, curves))
    return out / RESULTS_JSON


def collect_summary(spec: StudySpec, run: Run, repo: Path) -> RunSummary:
    """The run's state, evaluation scores, held-out losses, training time and settings."""
    state = run_state(spec, run, repo)
    record = run_record.read_run(run.run_dir)
    settings = record.settings.to_json() if record else {}
    ignored = record.settings.inapplicable() if record else set()
    results = read_json(state.evaluation) if state.evaluation else {}
    heldout = results.get("heldout") or {}
    return RunSummary(
        cell=run.cell.name, seed=run.seed, run_dir=str(run.run_dir), step=state.step,
        finished=state.finished,
        evaluation=str(state.evaluation) if state.evaluation else None,
        scores=dict(results.get("summary") or {}),
        heldout={key: heldout.get(key) for key in HELDOUT_KEYS} if results else {},
        training_seconds=training_seconds(run.run_dir),
        data_source=record.data.source if record else None,
        settings={k: settings[k] for k in OBJECTIVE_KEYS if k not in ignored} if record else {},
        tracking=(tracking_of_run(run.run_dir, record.latent_dim, record.settings.objective,
                                  spec.steps) if record else {}),
    )


def training_seconds(run_dir: str | Path) -> float | None:
    """The time the run spent training, from its training logs (None before any): the training
    time of the study's runs and of :mod:`tfbvae.study.results_table`'s rows
    (:func:`tfbvae.training.event_files.training_seconds`)."""
    log_dir = run_layout.train_logs(run_dir)
    if not log_dir.is_dir():
        return None
    from tfbvae.training import event_files  # loads TensorFlow

    return event_files.training_seconds(log_dir)


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Median, min and max of the values that are there, and how many there are."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(present), "min": min(present), "max": max(present),
            "n": len(present)}


def summarise(spec: StudySpec, study_dir: Path, records: Sequence[RunSummary]) -> dict[str, Any]:
    """The study's results as a JSON-ready dict: protocol, per-cell summaries, every run."""
    from tfbvae.evaluation.metrics import parse_metric_names

    metric_names = parse_metric_names(spec.metrics)
    cells = [summarise_cell(spec, cell.name, cell.flags,
                            [r for r in records if r.cell == cell.name], metric_names)
             for cell in spec.cells]
    return {
        "study": spec.name, "study_file": str(spec.path), "study_dir": str(study_dir),
        "description": spec.description, "steps": spec.steps, "seeds": list(spec.seeds),
        "preset": spec.preset, "overrides": list(spec.overrides),
        "evaluation_seed": EVALUATION_SEED, "flags": list(spec.flags), "metrics": metric_names,
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cells": cells, "runs": [asdict(record) for record in records],
    }


def summarise_cell(spec: StudySpec, name: str, flags: Sequence[str],
                   records: Sequence[RunSummary], metric_names: Sequence[str]) -> dict[str, Any]:
    """One cell: each metric's spread over its evaluated seeds, and each seed's value."""
    evaluated = [r for r in records if r.evaluation]
    return {
        "cell": name,
        "flags": list(flags) + list(spec.flags),
        "settings": next((r.settings for r in records if r.settings), {}),
        "seeds_evaluated": [r.seed for r in evaluated],
        "seeds_missing": [r.seed for r in records if not r.evaluation],
        "metrics": {metric: {**spread([r.scores.get(metric) for r in evaluated]),
                             "by_seed": {str(r.seed): r.scores.get(metric) for r in records}}
                    for metric in metric_names},
        "heldout": {key: spread([r.heldout.get(key) for r in evaluated]) for key in HELDOUT_KEYS},
        "steps": {str(r.seed): r.step for r in records},
        "training_seconds": spread([r.training_seconds for r in records if r.finished]),
        "kl_minus_c": kl_minus_c_spread(records),
        "data_sources": sorted({r.data_source for r in records if r.data_source}),
    }


def kl_minus_c_spread(records: Sequence[RunSummary]) -> dict[str, Any] | None:
    """Over the finished seeds: how far the KL was from C (capacity cells; ``None`` for the
    others, and while no seed has finished: a run's last tenth is not reached before its end)."""
    tracked = [r.tracking["kl_minus_c"] for r in records
               if r.finished and (r.tracking or {}).get("kl_minus_c")]
    if not tracked:
        return None
    return {key: spread([t[key] for t in tracked])
            for key in ("last_tenth_mean", "max_abs_after_first_tenth")}


def _switch_on_lines(results: dict[str, Any]) -> list[str]:
    """One line per run: its latents in the order their KL passed 0.1 nats, with the step."""
    lines = []
    for run in results["runs"]:
        order = (run.get("tracking") or {}).get("switch_on")
        if order:
            on = [f"z{latent} @{step:,}" for latent, step in order if step is not None]
            never = sum(step is None for _, step in order)
            rest = ("every latent switched on" if not never
                    else f"{never} latent{'s' * (never > 1)} never switched on")
            lines.append(f"- {run['cell']} seed {run['seed']}: {', '.join(on) or 'none'} ({rest})")
    return lines


def markdown(results: dict[str, Any], curves: dict[str, Path | None]) -> str:
    """``results.md``: the protocol, one table row per cell, the plots."""
    metrics = results["metrics"]
    header = (["cell", "settings", "seeds evaluated"] + metrics
              + ["recon (nats)", "KL (nats)", "steps", "training", "data"])
    lines = [f"# Study {results['study']}", ""]
    if results["description"]:
        lines += [results["description"], ""]
    lines += [
        f"Protocol: {results['steps']:,} steps, seeds {', '.join(map(str, results['seeds']))}, "
        f"`apps/evaluate.py --preset={results['preset']}`"
        + (f" with overrides {', '.join(results['overrides'])}" if results["overrides"] else "")
        + f", metrics seed {results['evaluation_seed']}. Study file `{results['study_file']}`; "
        f"runs in `{results['study_dir']}/<cell>/seed<seed>`.",
        "",
        "Each score: median over the seeds evaluated [min–max]. Recon and KL: nats per image on "
        "the run's held-out images. Training: each training process's first to last TensorBoard "
        "event, summed, less silences of over 5 minutes (neither a stop before a resume nor a "
        "stopped process counts), median over the finished seeds.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += [_row(cell, results) for cell in results["cells"]]
    tracked = [cell for cell in results["cells"] if cell.get("kl_minus_c")]
    if tracked:
        lines += ["", "Runs with a capacity C, KL − C in nats (Burgess et al. 2018: under "
                  "γ·|KL − C| the KL should track C; under the hinge γ·max(0, KL − C), C is a "
                  "ceiling and a KL below it costs nothing; median over the finished seeds "
                  "[min–max]):", "",
                  "| cell | mean over the last tenth | largest after the first tenth |",
                  "|---|---|---|"]
        lines += [f"| {cell['cell']} | {_spread_text(cell['kl_minus_c']['last_tenth_mean'], '+.2f')} "
                  f"| {_spread_text(cell['kl_minus_c']['max_abs_after_first_tenth'], '.2f')} |"
                  for cell in tracked]
    switch_on = _switch_on_lines(results)
    if switch_on:
        lines += ["", "Latents in the order their training KL passed 0.1 nats (step):", ""]
        lines += switch_on
    lines += ["", "Flags of each cell (the study's last, then `--seed --steps --run_dir`):", ""]
    lines += [f"- {cell['cell']}: `{' '.join(cell['flags'])}`" for cell in results["cells"]]
    lines += ["", f"![metrics per cell, every seed a point]({METRICS_PNG})", ""]
    for cell in results["cells"]:
        path = curves.get(cell["cell"])
        lines.append(f"![KL per latent, {cell['cell']}]({path.name})" if path
                     else f"KL per latent, {cell['cell']}: no training logs yet.")
    return "\n".join(lines) + "\n"


def _row(cell: dict[str, Any], results: dict[str, Any]) -> str:
    total = len(results["seeds"])
    evaluated = f"{len(cell['seeds_evaluated'])} of {total}" + (
        f" (missing: seed {', '.join(map(str, cell['seeds_missing']))})" if cell["seeds_missing"] else "")
    steps = [s for s in cell["steps"].values() if s is not None]
    step_text = "none yet" if not steps else (f"{min(steps):,}" if min(steps) == max(steps)
                                              else f"{min(steps):,}–{max(steps):,}")
    if len(steps) < total or any(s != results["steps"] for s in steps):
        step_text += f" (of {results['steps']:,})"
    cells = [cell["cell"], _settings_text(cell["settings"]), evaluated]
    cells += [_spread_text(cell["metrics"][m], ".3f") for m in results["metrics"]]
    cells += [_spread_text(cell["heldout"][k], ".1f") for k in HELDOUT_KEYS]
    cells += [step_text, _minutes_text(cell["training_seconds"]),
              ", ".join(cell["data_sources"]) or "–"]
    return "| " + " | ".join(cells) + " |"


def _settings_text(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v:g}" if isinstance(v, float)
                     else f"{k} {v}" for k, v in settings.items()) or "–"


def _spread_text(values: dict[str, Any], fmt: str) -> str:
    if not values["n"]:
        return "–"
    median = format(values["median"], fmt)
    if values["n"] == 1:
        return median
    return f"{median} [{format(values['min'], fmt)}–{format(values['max'], fmt)}]"


def _minutes_text(values: dict[str, Any]) -> str:
    if not values["n"]:
        return "–"
    return duration_text(values["median"]) + (
        f" [{duration_text(values['min'])}–{duration_text(values['max'])}]" if values["n"] > 1 else "")


def duration_text(seconds: float) -> str:
    """``"45 s"``, ``"12 min"`` or ``"2 h 05 min"``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min" if minutes else f"{secs} s"
