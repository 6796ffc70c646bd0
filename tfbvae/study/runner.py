"""Runs a study: lists its runs, trains and evaluates those not done yet, then aggregates.

Every (cell, seed) is an ordinary ``apps/train.py`` run directory, so the apps' own resume does
the hard part: a run's train command starts it, resumes it or only exports it, until its
checkpoint is at the step count and its export exists; the run is then evaluated by ``apps/evaluate.py`` (a subprocess: the
apps are the stable contract). Nothing is kept in memory that the directories do not hold, so a
study stopped at any moment continues where it was when it is run again.

Up to ``workers`` commands run at once, each at the lowest CPU priority with ``threads``
TensorFlow threads. One line is printed when a command starts or ends (``[index/total]``), and
every ``progress_every`` seconds the step each running training has logged. SIGINT, SIGTERM or
SIGHUP stop the commands in progress (they resume from their last checkpoint) and end the study
with :class:`~tfbvae.errors.Interrupted`.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO

from tfbvae.errors import BadInput, Interrupted
from tfbvae.study import aggregate
from tfbvae.study.aggregate import duration_text
from tfbvae.study.commands import NICENESS, Command, evaluate_command, train_command
from tfbvae.study.run_state import RunState, latest_logged_step, run_state
from tfbvae.study.spec import Run, StudySpec, load_study, study_runs
from tfbvae.training import run_dir as run_layout

STAGES = ("train", "evaluate", "aggregate", "all")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class StudyOptions:
    """What to do with a study file (``apps/study.py``'s flags)."""

    study: Path
    repo: Path  # the repository root: runs start here, flagfiles are found here
    study_dir: Path | None = None  # default <repo>/runs/studies/<name>
    results_dir: Path | None = None  # the aggregate's output; default the study directory
    stage: str = "all"
    workers: int = 1
    threads: int = 1  # TensorFlow threads per run (0: TensorFlow's default, every core)
    task_index: int | None = None  # only this run (a cluster array task)
    list_only: bool = False
    progress_every: float = 300.0  # seconds; 0: never
    python: str = sys.executable


@dataclass(frozen=True)
class StudyOutcome:
    """What a study invocation did: the commands that failed, and the results it wrote."""

    failures: tuple[str, ...] = ()
    results: Path | None = None


@dataclass
class _Active:
    command: Command
    process: subprocess.Popen
    started: float


def run_study(options: StudyOptions, out: TextIO = sys.stdout) -> StudyOutcome:
    """Does ``options.stage`` of the study (or lists its commands) and returns the outcome."""
    if options.stage not in STAGES:
        raise BadInput(f"--stage={options.stage} is not a stage: use one of {', '.join(STAGES)}")
    spec = load_study(options.study, options.repo)
    study_dir = options.study_dir or run_layout.default_study_dir(options.repo, spec.name)
    runs = study_runs(spec, study_dir)
    selected = select_runs(runs, options.task_index)
    if options.list_only:
        list_commands(spec, selected, options, out)
        return StudyOutcome()
    failures: tuple[str, ...] = ()
    if options.stage != "aggregate":
        failures = execute(spec, runs, selected, options, out)
    if options.stage in ("aggregate", "all") and options.task_index is None:
        results = aggregate.write_results(spec, study_dir, runs, options.repo, options.results_dir)
        _say(out, f"Results: {results} (and {results.with_suffix('.md').name}, plots) in {results.parent}")
        return StudyOutcome(failures, results)
    return StudyOutcome(failures)


def select_runs(runs: list[Run], task_index: int | None) -> list[Run]:
    """All runs, or run ``task_index`` alone."""
    if task_index is None:
        return runs
    if not 0 <= task_index < len(runs):
        raise BadInput(f"--task_index={task_index}, but the study has {len(runs)} runs: use 0 to "
                       f"{len(runs) - 1} (e.g. sbatch --array=0-{len(runs) - 1})")
    return [runs[task_index]]


def list_commands(spec: StudySpec, runs: list[Run], options: StudyOptions, out: TextIO) -> None:
    """One line per run: index, cell, seed, state and the shell command that trains it."""
    for run in runs:
        state = run_state(spec, run, options.repo)
        command = train_command(spec, run, options.python, options.threads)
        out.write(f"{run.index}\t{run.cell.name}\tseed{run.seed}\t{state.describe()}\t"
                  f"{command.shell(options.repo)}\n")


def execute(spec: StudySpec, runs: list[Run], selected: list[Run], options: StudyOptions,
            out: TextIO) -> tuple[str, ...]:
    """Trains and evaluates the selected runs that need it, ``options.workers`` at a time.
    Returns the failures, one line each."""
    stages = {"train", "evaluate"} if options.stage == "all" else {options.stage}
    states = {run.index: run_state(spec, run, options.repo) for run in selected}
    pending = collections.deque(
        command for run in selected
        if (command := next_command(spec, run, states[run.index], stages, options)) is not None)
    _announce(spec, runs, selected, states, pending, options, out)
    failures: list[str] = []
    active: list[_Active] = []
    with _stop_signals() as stop:
        try:
            last_progress = time.monotonic()
            while pending or active:
                if stop:
                    raise Interrupted(_stopped_message(stop[0], active), stop[0])
                while pending and len(active) < options.workers:
                    active.append(_start(pending.popleft(), len(runs), options.repo, out))
                for entry in [entry for entry in active if entry.process.poll() is not None]:
                    active.remove(entry)
                    follow_up = _finish(entry, spec, len(runs), stages, options, failures, out)
                    if follow_up is not None:
                        pending.append(follow_up)
                if options.progress_every and time.monotonic() - last_progress >= options.progress_every:
                    _report_progress(active, spec, len(runs), out)
                    last_progress = time.monotonic()
                time.sleep(POLL_SECONDS)
        finally:
            _stop_all(active, len(runs), out)
    _say(out, f"Study {spec.name}: {len(failures)} of the commands failed" if failures
         else f"Study {spec.name}: every selected run is done")
    return tuple(failures)


def next_command(spec: StudySpec, run: Run, state: RunState, stages: set[str],
                 options: StudyOptions) -> Command | None:
    """What the run needs next among ``stages``: training (which also exports a run stopped
    between its last checkpoint and its export), evaluation, or nothing."""
    if not state.finished:
        return train_command(spec, run, options.python, options.threads) if "train" in stages else None
    if "evaluate" in stages and state.evaluation is None:
        return evaluate_command(spec, run, options.python, options.threads)
    return None


def _announce(spec: StudySpec, runs: list[Run], selected: list[Run], states: dict[int, RunState],
              pending: collections.deque, options: StudyOptions, out: TextIO) -> None:
    kinds = collections.Counter(command.kind for command in pending)
    done = sum(1 for run in selected if states[run.index].finished)
    _say(out, f"Study {spec.name} ({spec.path}): {len(runs)} runs ({len(spec.cells)} cells x "
              f"{len(spec.seeds)} seeds), {spec.steps:,} steps, preset {spec.preset}, in "
              f"{runs[0].run_dir.parent.parent}")
    _say(out, f"{len(selected)} selected: {done} finished, {kinds['train']} to train, "
              f"{kinds['evaluate']} to evaluate now; "
              f"{options.workers} at a time, {options.threads or 'all'} thread(s) each, at nice "
              f"{NICENESS}")


def _start(command: Command, total: int, repo: Path, out: TextIO) -> _Active:
    command.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(command.log_path, "a") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {command.shell(repo)}\n")
        log.flush()
        process = subprocess.Popen(command.argv, cwd=repo, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env={**os.environ, **dict(command.env)})
    _say(out, f"{_tag(command, total)}: started (log {command.log_path})")
    return _Active(command, process, time.monotonic())


def _finish(entry: _Active, spec: StudySpec, total: int, stages: set[str], options: StudyOptions,
            failures: list[str], out: TextIO) -> Command | None:
    """Reports an ended command; returns the run's next command, or records a failure."""
    command, code = entry.command, entry.process.returncode
    took = duration_text(time.monotonic() - entry.started)
    state = run_state(spec, command.run, options.repo)
    problem = _problem(command, code, state)
    if problem:
        failures.append(f"{_tag(command, total)}: {problem} (log {command.log_path})")
        _say(out, f"{failures[-1]}, after {took}")
        return None
    _say(out, f"{_tag(command, total)}: done in {took} ({state.describe()}, step {state.step:,})")
    follow_up = next_command(spec, command.run, state, stages, options)
    return follow_up if follow_up is not None and follow_up.kind == "evaluate" else None


def _problem(command: Command, code: int, state: RunState) -> str | None:
    """Why an ended command did not do its job, or None."""
    if code != 0:
        return f"FAILED with exit status {code}: {_last_line(command.log_path)}"
    if command.kind == "train" and not state.finished:
        return (f"FAILED: the run is not finished after {command.kind} (checkpoint at step "
                f"{state.step}, export of step {state.export_step}, the study wants {state.steps})")
    if command.kind == "evaluate" and state.evaluation is None:
        return "FAILED: apps/evaluate.py wrote no result of this run with the study's preset"
    return None


def _report_progress(active: list[_Active], spec: StudySpec, total: int, out: TextIO) -> None:
    for entry in active:
        elapsed = duration_text(time.monotonic() - entry.started)
        if entry.command.kind == "train":
            step = latest_logged_step(entry.command.run.run_dir)
            where = "starting" if step is None else f"step {step:,}/{spec.steps:,}"
            _say(out, f"{_tag(entry.command, total)}: {where}, {elapsed}")
        else:
            _say(out, f"{_tag(entry.command, total)}: running, {elapsed}")


@contextlib.contextmanager
def _stop_signals() -> Iterator[list[int]]:
    """Records a stop signal instead of dying at once, so that the loop can stop its commands
    cleanly; yields the list the signal numbers are appended to."""
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum))
                for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped_message(signum: int, active: list[_Active]) -> str:
    runs = ", ".join(entry.command.run.label for entry in active) or "none"
    return (f"stopped by {signal.Signals(signum).name} (runs in progress: {runs}): run the same "
            "command again to continue; training resumes from each run's last checkpoint")


def _stop_all(active: list[_Active], total: int, out: TextIO) -> None:
    """Stops the commands still running (SIGTERM, then SIGKILL after a grace period)."""
    for entry in active:
        if entry.process.poll() is None:
            entry.process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for entry in active:
        try:
            entry.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            entry.process.kill()
            entry.process.wait()
        _say(out, f"{_tag(entry.command, total)}: stopped")


def _tag(command: Command, total: int) -> str:
    return f"[{command.run.index + 1}/{total}] {command.kind} {command.run.label}"


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(empty log)"


def _say(out: TextIO, line: str) -> None:
    out.write(f"{time.strftime('%H:%M:%S')} {line}\n")
    out.flush()
