"""A study's pictures: every seed's score per cell and metric, and each cell's KL curves.

The score plot follows Locatello et al. 2019's figures: one panel per metric, the cells along
the x axis, every seed a point (so the spread over seeds is seen, not summarised away) and the
median marked; a seed without an evaluation is drawn as a grey cross at the panel's foot and
counted under the cell's name. The KL curves are :func:`tfbvae.visualization.kl_curves` of each
seed's TensorBoard logs, stacked.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tfbvae.evaluation.metrics import HEADLINE_SCORES
from tfbvae.study.spec import Run
from tfbvae.training import run_dir as run_layout
from tfbvae.training import run_record

PANEL_INCHES = (3.6, 3.0)
PANELS_PER_ROW = 4
NOTE_HEIGHT = 60  # pixels of a "no logs yet" strip in the KL picture
KL_PICTURE_SIZE = (900, 600)


def metric_scatter(results: dict[str, Any], path: Path) -> Path:
    """One panel per metric: each cell's seeds as points, their median as a black bar."""
    from matplotlib.figure import Figure

    metrics, cells, seeds = results["metrics"], results["cells"], results["seeds"]
    columns = min(PANELS_PER_ROW, len(metrics))
    rows = math.ceil(len(metrics) / columns)
    figure = Figure(figsize=(PANEL_INCHES[0] * columns, PANEL_INCHES[1] * rows + 0.6), dpi=100)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for panel, metric in zip(axes, metrics):
        _metric_panel(panel, metric, cells, seeds)
    for panel in axes[len(metrics):]:
        panel.set_visible(False)
    figure.suptitle(f"Study {results['study']}: {results['steps']:,} steps, preset "
                    f"{results['preset']}; every seed a point, black bar: median, grey x: not "
                    "evaluated yet, (n/m): seeds evaluated", fontsize="medium")
    figure.tight_layout()
    figure.savefig(path)
    return path


def _metric_panel(panel, metric: str, cells: Sequence[dict], seeds: Sequence[int]) -> None:
    offsets = np.linspace(-0.2, 0.2, len(seeds)) if len(seeds) > 1 else np.zeros(1)
    foot = panel.get_xaxis_transform()  # x in data, y in axes fractions
    for x, cell in enumerate(cells):
        entry = cell["metrics"][metric]
        for offset, seed in zip(offsets, seeds):
            value = entry["by_seed"].get(str(seed))
            if value is None:
                panel.plot(x + offset, 0.03, "x", color="grey", transform=foot)
            else:
                panel.plot(x + offset, value, "o", color=f"C{seeds.index(seed) % 10}",
                           label=f"seed {seed}")
        if entry["median"] is not None:
            panel.plot([x - 0.3, x + 0.3], [entry["median"]] * 2, color="black", linewidth=2)
    panel.set_xticks(range(len(cells)))
    panel.set_xticklabels([f"{c['cell']} ({c['metrics'][metric]['n']}/{len(seeds)})"
                           for c in cells], fontsize="small", rotation=30, ha="right",
                          rotation_mode="anchor")  # long cell names do not overlap
    panel.set_xlim(-0.6, len(cells) - 0.4)
    values = [v for c in cells for v in c["metrics"][metric]["by_seed"].values() if v is not None]
    if values and min(values) >= 0:  # differences in proportion: scores start at 0
        panel.set_ylim(0, max(values) * 1.1 or 1.0)
    panel.set_title(f"{metric} ({HEADLINE_SCORES[metric]})", fontsize="medium")
    panel.grid(axis="y", alpha=0.3)
    handles, labels = panel.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if len(unique) > 1:
        panel.legend(unique.values(), unique.keys(), fontsize="x-small")


def kl_curves_of_cell(cell: str, runs: Sequence[Run], path: Path) -> Path | None:
    """Each seed's per-latent KL over training (its TensorBoard ``kl_per_dim`` scalars),
    stacked top to bottom; a seed without logs gets a one-line note. None when no seed has
    logs yet (nothing is written)."""
    from tfbvae.training.event_files import kl_history
    from tfbvae.visualization import kl_curves, save_png

    pictures, drawn = [], False
    for run in runs:
        log_dir, record = run_layout.train_logs(run.run_dir), run_record.read_run(run.run_dir)
        history, capacity = (kl_history(log_dir, record.latent_dim, record.settings.objective)
                             if record and log_dir.is_dir() else ({}, None))
        if history:
            pictures.append(kl_curves(history, capacity, f"{cell} seed {run.seed}: KL per "
                                      "latent dimension", KL_PICTURE_SIZE))
            drawn = True
        else:
            pictures.append(_note(f"{cell} seed {run.seed}: no training logs yet"))
    return save_png(np.concatenate(pictures), path) if drawn else None


def _note(text: str) -> np.ndarray:
    """A white strip as wide as a KL chart with ``text`` on it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(KL_PICTURE_SIZE[0] / 100, NOTE_HEIGHT / 100), dpi=100)
    canvas = FigureCanvasAgg(figure)
    figure.text(0.02, 0.5, text, va="center", color="grey")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
