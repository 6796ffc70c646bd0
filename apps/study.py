"""Runs a study: many training runs described by one file, evaluated and aggregated.

    python apps/study.py --study=studies/dsprites_cpu.ini --workers=2   # train, evaluate, aggregate
    python apps/study.py --study=studies/dsprites_cpu.ini --list        # one command per run
    python apps/study.py --study=studies/dsprites_cpu.ini --task_index=3   # run 3 alone (cluster)
    python apps/study.py --study=studies/dsprites_cpu.ini --stage=aggregate

Each (cell, seed) is an ordinary ``apps/train.py`` run directory ``<study_dir>/<cell>/seed<seed>``
(log: ``<cell>/seed<seed>.log``); running the study again skips finished runs and resumes the
others. ``results.json``, ``results.md`` and the plots land in the study directory. The study
file format: ``studies/README.md``. Exit status: 0 done, 1 a run or evaluation failed, 2 bad
input (the message says what to fix), 128 + the signal's number when stopped by a signal.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import tfbvae  # noqa: F401  (sets TensorFlow's environment before anything loads it)
from absl import flags

from tfbvae import files
from tfbvae.cli import app_runner
from tfbvae.errors import EXIT_FAILURE
from tfbvae.study.runner import STAGES, StudyOptions, run_study

FLAGS = flags.FlagValues()  # the app's own flags: importing the app defines nothing global
flags.DEFINE_string("study", None, "The study file, e.g. studies/dsprites_cpu.ini.", required=True, flag_values=FLAGS)
flags.DEFINE_string("study_dir", None, "The study's directory (default <repo>/runs/studies/<study name>).", flag_values=FLAGS)
flags.DEFINE_string("results_dir", None, "Where the aggregate writes results.json, results.md and the plots (default the study's directory), e.g. docs/studies/<study> to publish them.", flag_values=FLAGS)
flags.DEFINE_enum("stage", "all", list(STAGES), "What to do: train (and export) the unfinished runs, evaluate the finished ones not evaluated yet, aggregate the results, or all three.", flag_values=FLAGS)
flags.DEFINE_integer("workers", 1, "Commands run at once on this machine.", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_integer("threads", 1, "TensorFlow threads per run (0: TensorFlow's default, every core).", lower_bound=0, flag_values=FLAGS)
flags.DEFINE_integer("task_index", None, "Only this run (0-based, as --list numbers them): train it, then evaluate it. Default: $SLURM_ARRAY_TASK_ID when set.", lower_bound=0, flag_values=FLAGS)
flags.DEFINE_boolean("list", False, "Print one line per run (index, cell, seed, state, shell command) and exit.", flag_values=FLAGS)
flags.DEFINE_float("progress_every", 300, "Seconds between progress lines of the running runs (0: none).", lower_bound=0, flag_values=FLAGS)


def task_index() -> int | None:
    """``--task_index``, else the array index a SLURM array job gives each task."""
    if FLAGS.task_index is not None:
        return FLAGS.task_index
    slurm = os.environ.get("SLURM_ARRAY_TASK_ID")
    return int(slurm) if slurm and slurm.isdigit() else None


def _main(argv: list[str]) -> int:
    outcome = run_study(StudyOptions(
        study=Path(FLAGS.study).resolve(), repo=files.repo_root(),
        study_dir=Path(FLAGS.study_dir).resolve() if FLAGS.study_dir else None,
        results_dir=Path(FLAGS.results_dir).resolve() if FLAGS.results_dir else None,
        stage=FLAGS.stage, workers=FLAGS.workers, threads=FLAGS.threads,
        task_index=task_index(), list_only=FLAGS.list, progress_every=FLAGS.progress_every))
    for failure in outcome.failures:
        print(failure, file=sys.stderr)
    return EXIT_FAILURE if outcome.failures else 0



main = app_runner.main_of(_main, FLAGS)  # main(argv) -> exit status, callable from Python

if __name__ == "__main__":
    app_runner.run(_main, FLAGS)  # tfbvae's errors: one ERROR line and their exit status
