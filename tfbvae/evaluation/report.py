"""The result files of an evaluation: strict JSON (:func:`write_report`, :func:`write_json`) and a
short Markdown table (:func:`markdown_report`). The count overrides are
:func:`tfbvae.evaluation.metrics.presets.apply_overrides`; the progress bar is
:mod:`tfbvae.evaluation.progress`.

Result files are committed and compared across machines, so they record paths as
:func:`portable_paths` writes them: relative to this repository when inside it, ``~/...`` under
the home directory, else as given.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tfbvae import files
from tfbvae.evaluation.metrics.registry import HEADLINE_SCORES

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


def format_value(value: Any) -> str:
    """A score as the reports show it: integers as they are, floats to 4 decimals, None as n/a."""
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
        others = ", ".join(f"{k} {format_value(v)}" for k, v in entry["scores"].items() if k != headline)
        lines.append(f"| {name} | {headline} | {format_value(entry['scores'][headline])} | {others} "
                     f"| {entry['seconds']:.1f} |")
    heldout = results.get("heldout")
    if heldout and "skipped" not in heldout:
        lines += ["", f"Held-out images ({heldout['num_images']}, the run's validation split), "
                  "nats per image: reconstruction "
                  f"{format_value(heldout['reconstruction'])} (from the posterior mean "
                  f"{format_value(heldout['reconstruction_at_mean'])}), KL {format_value(heldout['kl'])}, "
                  f"negative ELBO {format_value(heldout['negative_elbo'])}."]
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

