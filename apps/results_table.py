"""A Markdown table of evaluation results, one row per model: what the README's results show.

    python apps/results_table.py runs/*/evaluation/metrics_paper_seed0.json

Each argument is a ``metrics_<preset>_seed<seed>.json`` that ``apps/evaluate.py`` wrote. A row
gives the model, its objective, training steps, the headline score of each metric, the held-out
reconstruction and KL (nats per image), the training time from the run's TensorBoard logs (first
to last event, when the run directory is there) and the preset.

Exit status (a refusal is one ``ERROR:`` line naming the problem and the fix): 0 done; 2 bad
input (no file given, a file that cannot be read or is not a result of ``apps/evaluate.py``).
"""

from __future__ import annotations

import json

from absl import flags

from tfbvae import errors
from tfbvae.cli import app_runner
from tfbvae.training import run_dir as run_layout
from tfbvae.training.settings import Settings

FLAGS = flags.FlagValues()  # the app's own flags: importing the app defines nothing global
flags.DEFINE_string("output", None, "Also write the table to this file.", flag_values=FLAGS)

METRIC_COLUMNS = (("beta_vae", "BetaVAE"), ("factor_vae", "FactorVAE"), ("mig", "MIG"),
                  ("dci", "DCI"), ("sap", "SAP"))


def run_record(results: dict) -> dict:
    """The trained run's metadata (flags, step, ...) from an evaluation of a run or an export."""
    model = results["model"]
    return model["metadata"] if model["kind"] == "run" else model["metadata"].get("run") or {}


def run_settings(run: dict) -> Settings | None:
    """The run's settings, when the model's metadata has them (a ``.keras`` export has none)."""
    return Settings.from_json(run["flags"]) if run.get("flags") else None


def objective_text(settings: Settings | None) -> str:
    if settings is None:
        return "None"
    if settings.objective == "beta":
        return "VAE (β = 1)" if settings.beta == 1 else f"β-VAE (β = {settings.beta:g})"
    form = "\\|KL − C\\|" if settings.objective == "capacity" else "max(0, KL − C)"
    return (f"γ·{form}, γ = {settings.gamma:g}, C 0→{settings.c_max:g} over "
            f"{settings.c_stop_steps:,} steps")


def training_minutes(run: dict, settings: Settings | None) -> str:
    from tfbvae.training.event_files import wall_time_span

    run_dir = run.get("run_dir") or (settings.run_dir if settings else None)
    seconds = wall_time_span(run_layout.train_logs(run_dir)) if run_dir else None
    return "n/a" if seconds is None else f"{seconds / 60:.0f} min"


def row(results: dict) -> str:
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
    return "| " + " | ".join(cells) + " |"


def table(results: list[dict]) -> str:
    header = (["model", "objective", "steps"] + [title for _, title in METRIC_COLUMNS]
              + ["recon (nats)", "KL (nats)", "training", "preset"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + [row(r) for r in results]) + "\n"


def read_result(path: str) -> dict:
    """One ``metrics_*.json`` of ``apps/evaluate.py``; :class:`tfbvae.errors.BadInput` when the
    file cannot be read or is not one."""
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError) as err:
        raise errors.BadInput(f"cannot read {path}: {err}. Pass the metrics_<preset>_seed<seed>"
                              ".json files apps/evaluate.py writes.") from None
    fields = {"summary": dict, "model": dict, "preset": str}
    wrong = sorted(k for k, kind in fields.items()
                   if not isinstance(record, dict) or not isinstance(record.get(k), kind))
    if wrong or not {"kind", "metadata"} <= set(record["model"]):
        raise errors.BadInput(f"{path} is not a result of apps/evaluate.py (it lacks "
                              f"{', '.join(wrong or ['model.kind, model.metadata'])}): pass the "
                              "metrics_<preset>_seed<seed>.json files apps/evaluate.py writes.")
    return record


def _main(argv: list[str]) -> int:
    """Prints (and with --output writes) the table of the result files given as arguments."""
    if len(argv) < 2:
        raise errors.BadInput("pass one or more metrics_<preset>_seed<seed>.json files, e.g. "
                              "python apps/results_table.py runs/*/evaluation/metrics_fast_seed0.json")
    results = [read_result(path) for path in argv[1:]]
    text = table(results)
    print(text, end="")
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text)
    return 0



main = app_runner.main_of(_main, FLAGS, takes_arguments=True)  # main(argv) -> exit status, callable from Python

if __name__ == "__main__":
    app_runner.run(_main, FLAGS, takes_arguments=True)
