"""The layout of a training run's directory, in one place::

    <run_dir>/run.json, flags.txt          the settings (flags.txt reproduces the run)
    <run_dir>/checkpoints/ckpt-<step>      the newest checkpoints (+ TensorFlow's state file)
    <run_dir>/checkpoints/damaged/         files of checkpoints that did not read back
    <run_dir>/logs/train, logs/validation  TensorBoard
    <run_dir>/exported_models/             the export at the end (default --export_base)
    <run_dir>/evaluation/, pictures/       what apps/evaluate.py and apps/visualize.py write
    <run_dir>/.lock                        held by the process that trains in it

and the lock that keeps two trainings out of one directory. This module imports no TensorFlow.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path
from typing import Iterator

from tfbvae import errors

RUN_FILE = "run.json"
FLAGS_FILE = "flags.txt"
CHECKPOINTS = "checkpoints"
DAMAGED = "damaged"
LOGS = "logs"
TRAIN_LOGS = "train"  # TensorBoard's split of the training values, under logs/
VALIDATION_LOGS = "validation"
EXPORTS = "exported_models"
EVALUATION = "evaluation"
PICTURES = "pictures"
LOCK_FILE = ".lock"
DEFAULT_RUNS = "runs"  # run directories default to runs/<model_name>
STUDIES = "studies"  # a study's runs default to runs/studies/<study name>
CHECKPOINT_NAME = "ckpt"  # checkpoints/ckpt-<step>.index, .data-<i>-of-<n>
STATE_FILE = "checkpoint"  # TensorFlow's name for the file that lists a directory's checkpoints
# A checkpoint's files: group 1 the step, group 2 the suffix (group 3/4 a data shard's i, n).
CHECKPOINT_FILE = re.compile(rf"^{CHECKPOINT_NAME}-(\d+)(\.index|\.data-(\d+)-of-(\d+)|_temp.*)$")


class RunDirLocked(errors.BadInput, RuntimeError):
    """Another process is training in the run directory."""


def run_file(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / RUN_FILE


def flags_file(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / FLAGS_FILE


def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    """Where a run keeps its checkpoints: ``<run_dir>/checkpoints``."""
    return Path(run_dir) / CHECKPOINTS


def indexed_checkpoint_steps(run_dir: str | os.PathLike) -> list[int]:
    """The steps of the run's checkpoints that have an ``.index`` file, oldest first (whether
    their data shards are intact is :mod:`tfbvae.training.checkpoints`' business)."""
    return sorted(int(match.group(1)) for path in checkpoint_dir(run_dir).glob(f"{CHECKPOINT_NAME}-*.index")
                  if (match := CHECKPOINT_FILE.match(path.name)))


def default_study_dir(repo: str | os.PathLike, study_name: str) -> Path:
    """``<repo>/runs/studies/<study_name>``: where a study's runs go without ``--study_dir``."""
    return Path(repo) / DEFAULT_RUNS / STUDIES / study_name


def log_dir(run_dir: str | os.PathLike) -> Path:
    """The run's TensorBoard directory: ``tensorboard --logdir <run_dir>/logs``."""
    return Path(run_dir) / LOGS


def train_logs(run_dir: str | os.PathLike) -> Path:
    """The run's TensorBoard training values and pictures: ``<run_dir>/logs/train``."""
    return log_dir(run_dir) / TRAIN_LOGS


def validation_logs(run_dir: str | os.PathLike) -> Path:
    return log_dir(run_dir) / VALIDATION_LOGS


def default_run_dir(model_name: str) -> str:
    """``runs/<model_name>``: where a run goes without ``--run_dir``."""
    return f"{DEFAULT_RUNS}/{model_name}"


def export_base(run_dir: str | os.PathLike, export_base: str | None) -> str:
    """Where a run exports: ``export_base`` (``--export_base``), else ``<run_dir>/exported_models``."""
    return export_base or str(Path(run_dir) / EXPORTS)


def output_dir(folder: str, kind: str, path: str | os.PathLike, name: str,
               version: int | None) -> str:
    """Where an app writes about a model: ``<run_dir>/<folder>`` for a run (``kind`` ``"run"``),
    ``<folder>/<name>_v<version>`` for an export.

    Args:
        folder: :data:`EVALUATION` or :data:`PICTURES`.
        kind: ``"run"`` or ``"export"`` (:attr:`tfbvae.trained_model.ModelSource.kind`).
        path: the run directory or the export's path.
        name: the exported model's name.
        version: the export's version, when it has one.
    """
    if kind == "run":
        return os.path.join(path, folder)
    return os.path.join(folder, f"{name}_v{version}" if version else name)


@contextlib.contextmanager
def lock(run_dir: Path) -> Iterator[None]:
    """Holds an exclusive lock on the run directory: two processes never train one run.

    The kernel releases it when the process dies, so a killed run can be resumed at once.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    with open(path, "w") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirLocked(
                f"Another process is training in {run_dir} (it holds {path}). Wait for it to "
                "finish or stop it, or pass another --run_dir."
            ) from None
        held.write(f"{os.getpid()}\n")
        held.flush()
        yield
