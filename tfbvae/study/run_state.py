"""Where one run of a study stands, read from its directory alone (no TensorFlow needed).

A run is *finished* when its newest checkpoint is at the study's step count and its export
(``apps/train.py`` exports at the end) is of that step; it is *evaluated* when its
``evaluation/`` folder holds an ``apps/evaluate.py`` result of that step with the study's
preset, overrides and metrics seed. Everything is read from the files the apps write, so a
study can be resumed, listed or aggregated by any process at any time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tfbvae.serving import layout as export_layout
from tfbvae.serving.models_config import PARTS
from tfbvae.study.spec import Run, StudySpec
from tfbvae.training import run_dir as run_layout
from tfbvae.training import run_record
from tfbvae.training.run_record import RunFacts, RunRecord

# Every run is evaluated with the same metrics seed, so the seeds' scores differ by the model only.
EVALUATION_SEED = 0


@dataclass(frozen=True)
class RunState:
    """A run's newest checkpoint step, its export's step and its matching evaluation."""

    step: int | None
    export_step: int | None
    evaluation: Path | None
    steps: int  # the study's step count

    @property
    def finished(self) -> bool:
        return self.step == self.steps and self.export_step == self.steps

    def describe(self) -> str:
        if self.evaluation is not None and self.finished:
            return "evaluated"
        if self.finished:
            return "finished"
        if self.step == self.steps:
            return "trained, not exported"
        return "new" if self.step is None else f"at step {self.step}"


def run_state(spec: StudySpec, run: Run, repo: Path) -> RunState:
    record = run_record.read_run(run.run_dir)
    return RunState(
        step=checkpoint_step(run.run_dir),
        export_step=export_step(record, repo) if record else None,
        evaluation=find_evaluation(spec, run.run_dir),
        steps=spec.steps,
    )


def checkpoint_step(run_dir: Path) -> int | None:
    """The step of the run's newest checkpoint, found by its files as training finds it
    (``checkpoints/ckpt-<step>.index``); None before the first."""
    steps = run_layout.indexed_checkpoint_steps(run_dir)
    return steps[-1] if steps else None


def export_step(record: RunRecord, repo: Path) -> int | None:
    """The training step of the run's newest complete export (encoder and decoder), or None.
    The run exports to its ``--export_base`` (relative to ``repo``, where the study starts
    runs), else ``<run_dir>/exported_models``, as ``apps/train.py`` does."""
    settings = record.settings
    model_dir = repo / run_layout.export_base(settings.run_dir, settings.export_base) / settings.model_name
    for version in reversed(export_layout.list_versions(model_dir / PARTS[0])):
        parts = [model_dir / part / str(version) for part in PARTS]
        if all(export_layout.is_saved_model(part) for part in parts):
            metadata = json.loads(Path(export_layout.metadata_file(parts[0])).read_text())
            return RunFacts.from_json(metadata.get("run")).step
    return None


def find_evaluation(spec: StudySpec, run_dir: Path) -> Path | None:
    """The newest ``apps/evaluate.py`` result in ``<run_dir>/evaluation/`` of the run at the
    study's step count, with the study's preset and overrides and the metrics seed."""
    matches = [path for path in (run_dir / run_layout.EVALUATION).glob("*.json")
               if _is_study_evaluation(read_json(path), spec)]
    return max(matches, key=lambda p: p.stat().st_mtime) if matches else None


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; ``{}`` when the file is unreadable or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def latest_logged_step(run_dir: Path) -> int | None:
    """The newest step in the run's TensorBoard training logs (loads TensorFlow)."""
    from tfbvae.training.event_files import event_file_paths, events

    steps = [event.step for path in event_file_paths(run_layout.train_logs(run_dir))
             for event in events(path) if event.summary.value]
    return max(steps) if steps else None




def _is_study_evaluation(results: dict, spec: StudySpec) -> bool:
    model = results.get("model") or {}
    return (results.get("preset") == spec.preset
            and list(results.get("overrides") or []) == list(spec.overrides)
            and results.get("seed") == EVALUATION_SEED
            and model.get("kind") == "run" and model.get("step") == spec.steps
            and isinstance(results.get("summary"), dict))
