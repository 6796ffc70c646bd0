"""A study file: many training runs of ``apps/train.py`` described as one experiment.

A study is an INI file (read with the standard library's :mod:`configparser`), e.g.
``studies/dsprites_cpu.ini``::

    [study]
    name = dsprites_cpu          # the default study directory: runs/studies/<name>
    steps = 20000                # every run's --steps
    seeds = 0, 1, 2              # every cell runs once per seed (--seed)
    preset = fast                # apps/evaluate.py --preset
    # optional: flags = ...      (after every cell's flags), metrics = mig,dci (default all),
    #           overrides = all.num_train=40 ... (apps/evaluate.py --override), description = ...

    [cell capacity]              # one cell: a name (its directory) and its train flags
    flags = --flagfile=dsprites.flags --c_stop_steps=20000

Flags are written as on the command line (shell quoting, several lines allowed); a
``--flagfile`` path is relative to the repository root, where the runs are started. The study
sets ``--seed``, ``--steps``, ``--run_dir`` and ``--progress`` itself, so cells may not. Each
(cell, seed) is one :class:`Run`: the ordinary run directory ``<study_dir>/<cell>/seed<seed>``
with its log beside it, ``<study_dir>/<cell>/seed<seed>.log``. Runs are numbered seed by seed
(every cell's seed 0 first), so the first runs of a study already cover every cell.

This module imports no TensorFlow: listing a study costs nothing.
"""

from __future__ import annotations

import configparser
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from tfbvae.errors import BadInput

STUDY_SECTION = "study"
CELL_PREFIX = "cell "
REQUIRED_KEYS = ("name", "steps", "seeds", "preset")
OPTIONAL_KEYS = ("flags", "metrics", "overrides", "description")
# Flags the study sets for every run: a cell setting them would be overridden or break the layout.
STUDY_FLAGS = ("seed", "steps", "run_dir", "progress")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
FORMAT_HELP = "see studies/README.md for the format"


@dataclass(frozen=True)
class Cell:
    """One setting of the study: its name (a directory name) and its ``apps/train.py`` flags."""

    name: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class StudySpec:
    """A parsed study file."""

    path: Path
    name: str
    steps: int
    seeds: tuple[int, ...]
    preset: str
    cells: tuple[Cell, ...]
    flags: tuple[str, ...] = ()  # after every cell's flags: they apply to all
    metrics: str = "all"  # apps/evaluate.py --metrics
    overrides: tuple[str, ...] = ()  # apps/evaluate.py --override
    description: str = ""


@dataclass(frozen=True)
class Run:
    """One (cell, seed) of a study: an ordinary ``apps/train.py`` run directory."""

    index: int
    cell: Cell
    seed: int
    run_dir: Path
    log_path: Path

    @property
    def label(self) -> str:
        return f"{self.cell.name} seed {self.seed}"


def load_study(path: str | Path, repo: Path) -> StudySpec:
    """Parses and checks the study file ``path``; flagfiles are looked up under ``repo``.

    Raises :class:`~tfbvae.errors.BadInput` with one line naming the problem and its fix.
    """
    path = Path(path)
    parser = _read_ini(path)
    _check_sections(parser, path)
    study = parser[STUDY_SECTION]
    _check_keys(study, path)
    spec = StudySpec(
        path=path,
        name=_name(study["name"], path, "[study] name"),
        steps=_positive_int(study["steps"], path, "steps"),
        seeds=_seeds(study["seeds"], path),
        preset=study["preset"].strip(),
        cells=tuple(_cell(parser, section, path, repo) for section in parser.sections()
                    if section != STUDY_SECTION),
        flags=_flags(study.get("flags", ""), path, "[study] flags", repo),
        metrics=study.get("metrics", "all").strip() or "all",
        overrides=tuple(shlex.split(study.get("overrides", ""))),
        description=" ".join(study.get("description", "").split()),
    )
    _check_evaluation_settings(spec)
    return spec


def study_runs(spec: StudySpec, study_dir: Path) -> list[Run]:
    """Every (cell, seed) of the study, seed by seed, numbered from 0."""
    pairs = [(cell, seed) for seed in spec.seeds for cell in spec.cells]
    return [Run(index, cell, seed, study_dir / cell.name / f"seed{seed}",
                study_dir / cell.name / f"seed{seed}.log")
            for index, (cell, seed) in enumerate(pairs)]


def _read_ini(path: Path) -> configparser.ConfigParser:
    if not path.is_file():
        raise BadInput(f"no study file {path}: pass --study=<file>, e.g. studies/dsprites_cpu.ini")
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#",))
    try:
        parser.read(path)
    except configparser.Error as err:
        first_line = str(err).splitlines()[0]
        raise BadInput(f"{path} is not a study file ({first_line}): {FORMAT_HELP}") from None
    return parser


def _check_sections(parser: configparser.ConfigParser, path: Path) -> None:
    if STUDY_SECTION not in parser:
        raise BadInput(f"{path} has no [study] section: add one with "
                       f"{', '.join(REQUIRED_KEYS)} ({FORMAT_HELP})")
    for section in parser.sections():
        if section != STUDY_SECTION and not section.startswith(CELL_PREFIX):
            raise BadInput(f"{path}: unknown section [{section}]: sections are [study] and "
                           f"[cell <name>] ({FORMAT_HELP})")
    if len(parser.sections()) < 2:
        raise BadInput(f"{path} has no cells: add a [cell <name>] section with flags = ... "
                       f"({FORMAT_HELP})")


def _check_keys(study: configparser.SectionProxy, path: Path) -> None:
    missing = [key for key in REQUIRED_KEYS if not study.get(key, "").strip()]
    if missing:
        raise BadInput(f"{path}: [study] lacks {', '.join(missing)}: add "
                       f"{' and '.join(f'{k} = ...' for k in missing)} ({FORMAT_HELP})")
    unknown = sorted(set(study) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise BadInput(f"{path}: [study] has unknown keys {', '.join(unknown)}: the keys are "
                       f"{', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}")


def _cell(parser: configparser.ConfigParser, section: str, path: Path, repo: Path) -> Cell:
    name = _name(section[len(CELL_PREFIX):].strip(), path, f"[{section}]")
    unknown = sorted(set(parser[section]) - {"flags"})
    if unknown:
        raise BadInput(f"{path}: [{section}] has unknown keys {', '.join(unknown)}: a cell has "
                       "only flags = ...")
    return Cell(name, _flags(parser[section].get("flags", ""), path, f"[{section}] flags", repo))


def _name(text: str, path: Path, where: str) -> str:
    if not NAME_PATTERN.fullmatch(text.strip()):
        raise BadInput(f"{path}: {where}: {text.strip()!r} cannot name a directory: use letters, "
                       "digits, '_', '.' or '-'")
    return text.strip()


def _positive_int(text: str, path: Path, key: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise BadInput(f"{path}: [study] {key} = {text.strip()!r} must be a positive integer")
    return int(text)


def _seeds(text: str, path: Path) -> tuple[int, ...]:
    items = [item.strip() for item in text.replace(",", " ").split()]
    if not items or not all(item.isdigit() for item in items) or len(set(items)) != len(items):
        raise BadInput(f"{path}: [study] seeds = {text.strip()!r} must list distinct "
                       "non-negative integers, e.g. seeds = 0, 1, 2")
    return tuple(int(item) for item in items)


def _flags(text: str, path: Path, where: str, repo: Path) -> tuple[str, ...]:
    """The flags of ``text`` (shell-split), checked: ``--name[=value]`` each, none the study
    sets, and every ``--flagfile`` present under ``repo``."""
    try:
        flags = tuple(shlex.split(text))
    except ValueError as err:
        raise BadInput(f"{path}: {where}: {err}: quote flags as in a shell") from None
    for flag in flags:
        name, _, value = flag.lstrip("-").partition("=")
        if not flag.startswith("--") or not name:
            raise BadInput(f"{path}: {where}: {flag!r} is not a flag: write --name=value")
        if name in STUDY_FLAGS or name.removeprefix("no") in STUDY_FLAGS:
            raise BadInput(f"{path}: {where} sets --{name}, which the study sets for every run "
                           "([study] steps and seeds; the run directory is the study's layout): "
                           "remove it")
        if name == "flagfile" and not (repo / value).is_file():
            raise BadInput(f"{path}: {where}: no flagfile {value} in {repo}: name a flagfile "
                           "of the repository, e.g. --flagfile=dsprites.flags")
    return flags


def _check_evaluation_settings(spec: StudySpec) -> None:
    """The preset, metric names and count overrides, as apps/evaluate.py will read them (this
    loads the metrics package, and with it scikit-learn)."""
    from tfbvae.evaluation.metrics import PRESETS, parse_metric_names
    from tfbvae.evaluation.metrics.presets import apply_overrides

    if spec.preset not in PRESETS:
        raise BadInput(f"{spec.path}: [study] preset = {spec.preset!r} is not a metrics preset: "
                       f"use one of {', '.join(sorted(PRESETS))}")
    try:
        apply_overrides(PRESETS[spec.preset], parse_metric_names(spec.metrics), spec.overrides)
    except ValueError as err:
        raise BadInput(f"{spec.path}: [study] metrics or overrides: {err}") from None
