"""The commands a study runs for each run: train it (which exports it at the end), evaluate it.

Each is an ordinary app of the repository (``apps/train.py``, ``apps/evaluate.py``) started
from the repository root, with TensorFlow limited to ``threads`` threads and at the lowest CPU
priority (``nice -n 19``): on a small CPU, single-
threaded runs side by side train faster in all than one run on every core (the README's
Performance section), and the study never slows interactive work. :meth:`Command.shell` is the
same command as one shell line, for ``--list`` and cluster scripts.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from tfbvae.study.run_state import EVALUATION_SEED
from tfbvae.study.spec import Run, StudySpec

THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
NICENESS = 19


@dataclass(frozen=True)
class Command:
    """One app invocation for one run: what it does, its argv, environment and log file."""

    kind: str  # "train" or "evaluate"
    run: Run
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    log_path: Path

    def shell(self, repo: Path) -> str:
        """The command as a shell line that can be run from anywhere."""
        env = " ".join(f"{name}={value}" for name, value in self.env)
        return (f"cd {shlex.quote(str(repo))} && {env + ' ' if env else ''}{shlex.join(self.argv)}"
                f" >> {shlex.quote(str(self.log_path))} 2>&1")


def train_command(spec: StudySpec, run: Run, python: str, threads: int) -> Command:
    """``apps/train.py`` with the cell's flags, the study's (after them: they apply to every
    cell), then the run's seed, steps and directory: re-running it resumes the run."""
    args = [*run.cell.flags, *spec.flags, f"--seed={run.seed}", f"--steps={spec.steps}",
            f"--run_dir={run.run_dir}", "--progress=false"]
    return _command("train", run, python, threads, "apps/train.py", args, run.log_path)


def evaluate_command(spec: StudySpec, run: Run, python: str, threads: int) -> Command:
    """``apps/evaluate.py`` of the run's last checkpoint with the study's preset; its results go
    to ``<run_dir>/evaluation/``, its output to ``<cell>/seed<seed>.evaluate.log``."""
    args = [f"--model={run.run_dir}", f"--preset={spec.preset}", f"--metrics={spec.metrics}",
            f"--seed={EVALUATION_SEED}", "--progress=false"]
    if spec.overrides:
        args.append(f"--override={','.join(spec.overrides)}")
    log_path = run.log_path.with_suffix(".evaluate.log")
    return _command("evaluate", run, python, threads, "apps/evaluate.py", args, log_path)


def _command(kind: str, run: Run, python: str, threads: int, app: str, args: list[str],
             log_path: Path) -> Command:
    env = tuple((name, str(threads)) for name in THREAD_VARIABLES) if threads else ()
    argv = ("nice", "-n", str(NICENESS), python, app, *args)
    return Command(kind, run, argv, env, log_path)
