"""A training run's settings: one typed, frozen value, checked once, built from the app's flags.

:class:`Settings` has one field per flag of ``apps/train.py`` (the app defines its flags from
these fields: name, type, default, help and choices). Each field's metadata also says

* whether it defines the model (``model``): the weights and what they mean (network, latent
  size, likelihood, objective, image shape, data set, seed, split), which a resumed run may not
  change; the other fields are training settings (steps, learning rate, intervals, ...), which
  it may;
* which objective or likelihood it applies to (``applies_to``): ``--gamma`` means nothing to
  ``--objective=beta``, and is left out of ``flags.txt`` there;
* the check of its own value (``check``).

The checks across fields are :data:`RULES`. All of them run when a :class:`Settings` is made
(:class:`SettingsError`: one line naming the flag and the fix), and the app registers the same
checks as flag validators, so a bad flag is refused before TensorFlow is imported. This module
imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from tfbvae import errors
from tfbvae.names import (CAPACITY_OBJECTIVES, DATASETS, LIKELIHOODS, NETWORKS, OBJECTIVES,
                          STRATEGIES)
from tfbvae.data import datasets
from tfbvae.training import run_dir as run_layout

INTERVALS = ("checkpoint_every", "image_every", "validate_every")


class SettingsError(errors.BadInput, ValueError):
    """Settings that cannot be trained with; the message names the flag and a fix."""


@dataclasses.dataclass(frozen=True)
class Applies:
    """The values of another setting under which a setting means something."""

    setting: str
    values: tuple[str, ...]


Check = tuple[Callable[[Any], bool], str]  # (holds for the value, the message when it does not)


def _setting(default: Any, help: str, *, choices: Sequence[str] | None = None,
             model: bool = False, applies_to: Applies | None = None,
             check: Check | None = None, recorded_when_set: bool = False) -> Any:
    """A :class:`Settings` field with its flag's help and choices, and the metadata described
    in the module docstring. ``recorded_when_set``: a setting added after records were first
    written, left out of :meth:`Settings.to_json` at its default so that older records read
    and write back unchanged."""
    return dataclasses.field(default=default, metadata={
        "help": help, "choices": choices, "model": model, "applies_to": applies_to,
        "check": check, "recorded_when_set": recorded_when_set})


def _at_least(low: int, name: str, hint: str = "") -> Check:
    return (lambda v: v >= low), f"--{name} must be >= {low}{hint}."


def _positive(name: str, hint: str = "") -> Check:
    return (lambda v: v > 0), f"--{name} must be > 0{hint}."


def _unit(name: str, hint: str) -> Check:
    return (lambda v: 0 <= v < 1), f"--{name} must be in [0, 1) ({hint})."


_CAPACITY = Applies("objective", CAPACITY_OBJECTIVES)
_INTERVAL = " (steps)"


@dataclasses.dataclass(frozen=True)
class Settings:
    """The settings of a training run (``python apps/train.py --helpfull``); the defaults are
    dsprites.flags' (that file cites their sources). ``model_name`` and ``run_dir`` left
    ``None`` are derived: ``<dataset>_<objective>`` (with ``_<network>`` for a network other
    than the default, so that ``--flagfile=dsprites.flags --flagfile=dlib_beta_vae.flags`` does
    not meet dsprites.flags' run) and ``runs/<model_name>``."""

    # -- data --
    dataset: str = _setting("dsprites", "Data set (README 'Data'; image_folder: any tree of images, e.g. 3D chairs).", choices=DATASETS, model=True)
    data_source: str = _setting("auto", "Where the images come from: auto (what is on this machine; never downloads) or one of the data set's sources. dsprites and its variants: rendered|official|tfds (auto: the official .npz when found, else rendered offline). celeba: tfds|zip|folder. shapes3d: tfds|h5. smallnorb: tfds. cars3d, mpi3d_*: the user's files (--data_path).")
    data_path: str | None = _setting(None, "The data set's file or folder: the official dSprites .npz, Shapes3D's 3dshapes.h5, CelebA's img_align_celeba.zip or folder, Cars3D's folder of .mat files, an MPI3D .npz, or the image folder.")
    scream_image: str | None = _setting(None, "scream_dsprites: the painting whose patches are the backgrounds (disentanglement_lib's The_Scream.jpg).", recorded_when_set=True)
    data_dir: str | None = _setting(None, "tfbvae's data cache (default $TFBVAE_DATA_DIR or ~/.cache/tfbvae).")
    tfds_data_dir: str | None = _setting(None, "TensorFlow Datasets' data directory (default: tfds' own).")
    tfds_manual_dir: str | None = _setting(None, "tfds' manual-download directory (CelebA when Google Drive refuses the download).")
    dsprites_num_images: int = _setting(0, "Use only the first N rendered dSprites images (a multiple of 1024; 0 = all 737,280): quick trials and tests.", model=True, check=(
        lambda v: v >= 0 and v % 1024 == 0,
        "--dsprites_num_images must be a multiple of 1024 (whole sprites of the official order), or 0 for all."))
    on_bad_image: str = _setting("raise", "An undecodable image file: stop naming it, or skip it with a warning.", choices=("raise", "skip"))
    image_size: int = _setting(64, "Image height and width (the paper networks take 64).", model=True, check=(
        lambda v: v == 64,
        "--image_size must be 64: the paper networks take 64x64 images (the pipelines resize to it)."))
    channels: int = _setting(1, "Image channels: 1 (grey, dSprites) or 3 (RGB).", model=True, check=(
        lambda v: v in (1, 3), "--channels must be 1 (grey) or 3 (RGB)."))
    validation_fraction: float = _setting(0.01, "Fraction of the images held out for validation (fixed by --seed).", model=True,
                                          check=_unit("validation_fraction", "0: no validation"))
    validation_steps: int = _setting(20, "Validation batches per validation (0: all held-out images).",
                                     check=_at_least(0, "validation_steps", " (0: the whole held-out set)"))
    # -- model --
    network: str = _setting("burgess", "Encoder/decoder architecture.", choices=NETWORKS, model=True)
    latent_dim: int = _setting(10, "Number of latent dimensions z.", model=True,
                               check=_at_least(1, "latent_dim", " (10 on dSprites)"))
    likelihood: str = _setting("bernoulli", "p(x|z): bernoulli (binary images) or gaussian (fixed sigma).", choices=LIKELIHOODS, model=True)
    gaussian_sigma: float = _setting(1.0, "Sigma of the gaussian likelihood.", model=True,
                                     applies_to=Applies("likelihood", ("gaussian",)), check=_positive("gaussian_sigma"))
    objective: str = _setting("capacity", "beta: recon + beta*KL; capacity: recon + gamma*|KL - C|; hinge: recon + gamma*max(0, KL - C).", choices=OBJECTIVES, model=True)
    beta: float = _setting(1.0, "beta of the beta objective (1: the plain VAE).", model=True, applies_to=Applies("objective", ("beta",)), check=(
        lambda v: v >= 0, "--beta must be >= 0: it weighs the KL term (1: the plain VAE; Higgins et al. use 4 on dSprites)."))
    gamma: float = _setting(1000.0, "gamma of the capacity and hinge objectives.", model=True, applies_to=_CAPACITY,
                            check=_at_least(0, "gamma", " (Burgess et al. use 1000)"))
    c_max: float = _setting(25.0, "Capacity C reached at --c_stop_steps, in nats.", applies_to=_CAPACITY,
                            check=_at_least(0, "c_max", " nats (Burgess et al. use 25 on dSprites)"))
    c_stop_steps: int = _setting(100000, "Steps over which C rises linearly from 0 to --c_max.", applies_to=_CAPACITY,
                                 check=_at_least(0, "c_stop_steps", " (0: C = --c_max from the first step)"))
    # -- optimisation --
    learning_rate: float = _setting(5e-4, "Adam learning rate.", check=_positive("learning_rate", " (5e-4 in Burgess et al.)"))
    adam_beta1: float = _setting(0.9, "Adam beta_1.", check=_unit("adam_beta1", "default 0.9"))
    adam_beta2: float = _setting(0.999, "Adam beta_2.", check=_unit("adam_beta2", "default 0.999"))
    adam_epsilon: float = _setting(1e-8, "Adam epsilon.", check=_positive("adam_epsilon", " (default 1e-8)"))
    batch_size: int = _setting(64, "Global batch size (split across replicas).", check=_at_least(1, "batch_size", " (64 in the papers)"))
    steps: int = _setting(100000, "Training steps in all (a resumed run stops here too).", check=_at_least(1, "steps"))
    seed: int = _setting(0, "Seed of the weights, the noise, the data split and the data order.", model=True)
    jit_compile: bool = _setting(False, "Compile the train step with XLA (measured slower on CPUs; try it on GPUs).")
    # -- logging, checkpoints, output --
    log_every: int = _setting(100, "Steps per logging interval (TensorBoard scalars; a Keras epoch).", check=_at_least(1, "log_every", _INTERVAL))
    checkpoint_every: int = _setting(5000, "Steps between checkpoints (a multiple of --log_every).", check=_at_least(1, "checkpoint_every", _INTERVAL))
    image_every: int = _setting(5000, "Steps between TensorBoard pictures (a multiple of --log_every).", check=_at_least(1, "image_every", _INTERVAL))
    validate_every: int = _setting(1000, "Steps between validations (a multiple of --log_every).", check=_at_least(1, "validate_every", _INTERVAL))
    keep_checkpoints: int = _setting(3, "Checkpoints kept (older ones are deleted).", check=_at_least(1, "keep_checkpoints"))
    run_dir: str | None = _setting(None, f"The run directory (default {run_layout.DEFAULT_RUNS}/<model_name>); an existing run there is resumed.")
    export: bool = _setting(True, "Export encoder and decoder SavedModels at the end.")
    export_base: str | None = _setting(None, f"Export base directory (default <run_dir>/{run_layout.EXPORTS}).")
    model_name: str | None = _setting(None, "Exported model name (default <dataset>_<objective>, with _<network> for a network other than burgess).")
    progress: bool = _setting(True, "Show the progress bar.")
    # -- distribution --
    strategy: str = _setting("default", "tf.distribute strategy: default (one device), mirrored (this machine's GPUs), multi_worker (TF_CONFIG), tpu.", choices=STRATEGIES)
    tpu: str | None = _setting(None, "With --strategy=tpu: the TPU's name or grpc:// address (empty: local).")

    def __post_init__(self) -> None:
        for name, value in self.to_json().items():
            problem = field_problem(name, value)
            if problem:
                raise SettingsError(problem)
        for rule in RULES:
            problem = rule.problem({name: getattr(self, name) for name in rule.names})
            if problem:
                raise SettingsError(problem)
        if not self.model_name:
            network = "" if self.network == _FIELDS["network"].default else f"_{self.network}"
            object.__setattr__(self, "model_name", f"{self.dataset}_{self.objective}{network}")
        if not self.run_dir:
            object.__setattr__(self, "run_dir", run_layout.default_run_dir(self.model_name))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` of the run's images."""
        return (self.image_size, self.image_size, self.channels)

    def to_json(self) -> dict[str, Any]:
        """Every setting by name: ``run.json``'s ``flags`` and the export's ``run.flags``
        (those recorded only when set are left out at their default)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                if not (field.metadata["recorded_when_set"]
                        and getattr(self, field.name) == field.default)}

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> "Settings":
        """Settings from their JSON (``run.json``'s ``flags``), each value given its field's
        type; names this tfbvae has no setting for are ignored, missing ones take their
        default (a record of another tfbvae version still reads)."""
        return cls(**{name: _typed(_FIELDS[name], value) for name, value in values.items()
                      if name in _FIELDS})

    def inapplicable(self) -> set[str]:
        """The settings the run's objective and likelihood ignore."""
        return {name for applies, names in _BY_APPLICABILITY.items()
                if getattr(self, applies.setting) not in applies.values for name in names}

    def model_changes(self, other: "Settings") -> list[str]:
        """The model-defining settings whose values differ from ``other``'s."""
        return [name for name in MODEL_SETTINGS if getattr(self, name) != getattr(other, name)]

    def changes(self, other: "Settings") -> list[str]:
        """Every setting whose value differs from ``other``'s."""
        return [field.name for field in dataclasses.fields(self)
                if getattr(self, field.name) != getattr(other, field.name)]

    def flagfile_text(self) -> str:
        """``--name=value`` lines that the app parses back to these settings (``flags.txt``);
        ``None`` values and the settings the objective and likelihood ignore are left out
        (the app refuses them)."""
        lines = ["# Settings of this run: python apps/train.py --flagfile=<this file>"]
        ignored = self.inapplicable()
        for name, value in sorted(self.to_json().items()):
            if value is None or name in ignored:
                continue
            if isinstance(value, bool):
                lines.append(f"--{name}" if value else f"--no{name}")
            else:
                lines.append(f"--{name}={value}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_flags_file(cls, path: str | Path) -> "Settings":
        """The settings a ``flags.txt`` (:meth:`flagfile_text`'s lines) holds; settings it leaves
        out take their default.

        Raises:
            SettingsError: a value that is not of its setting's type, or fails its check.
        """
        values: dict[str, Any] = {}
        for line in Path(path).read_text().splitlines():
            if not line.startswith("--"):
                continue
            name, has_value, text = line[2:].partition("=")
            if not has_value:  # a boolean: --name or --noname
                negated = name.startswith("no") and name[2:] in _FIELDS and field_type(
                    _FIELDS[name[2:]]) is bool
                values[name[2:] if negated else name] = not negated
            elif name in _FIELDS:
                values[name] = _parsed(_FIELDS[name], text, path)
        return cls.from_json(values)


_FIELDS = {field.name: field for field in dataclasses.fields(Settings)}
MODEL_SETTINGS = tuple(name for name, field in _FIELDS.items() if field.metadata["model"])
# The types of the fields (annotations are strings under ``from __future__ import annotations``).
_TYPES = typing.get_type_hints(Settings)


def field_type(field: dataclasses.Field) -> type:
    """The field's type without ``| None``."""
    hint = _TYPES[field.name]
    if isinstance(hint, types.UnionType):
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def _typed(field: dataclasses.Field, value: Any) -> Any:
    """A JSON value as the field's type (JSON writes 1000.0 as 1000.0 but a user may write 4)."""
    kind = field_type(field)
    if value is None or isinstance(value, bool) or kind is not float:
        return value
    return float(value) if isinstance(value, (int, float)) else value


def _parsed(field: dataclasses.Field, text: str, path) -> Any:
    """A flags file's text value as the field's type."""
    kind = field_type(field)
    try:
        return kind(text) if kind in (int, float) else text
    except ValueError:
        raise SettingsError(f"{path}: --{field.name}={text} is not {kind.__name__}: correct it, "
                            "or remove it to take the default.") from None


def field_problem(name: str, value: Any) -> str | None:
    """What is wrong with one setting's value on its own (``None``: nothing)."""
    field = _FIELDS[name]
    choices, check = field.metadata["choices"], field.metadata["check"]
    if choices is not None and value not in choices:
        return f"--{name}={value} is not one of {', '.join(choices)}: choose one of them."
    if check is not None and not check[0](value):
        return check[1]
    return None


@dataclasses.dataclass(frozen=True)
class Rule:
    """A check across settings: ``problem`` takes their values by name, and returns what is
    wrong (naming the flags and the fix) or ``None``."""

    names: tuple[str, ...]
    problem: Callable[[Mapping[str, Any]], str | None]


def _problem_if(broken: Callable[[Mapping[str, Any]], bool], message: str):
    return lambda v: message if broken(v) else None


def _unknown_source(v: Mapping[str, Any]) -> str | None:
    allowed = ("auto",) + datasets.get(v["dataset"]).sources
    if v["data_source"] in allowed:
        return None
    return (f"--data_source={v['data_source']} is not a source of --dataset={v['dataset']}: "
            f"choose one of {', '.join(allowed)}.")


def _wrong_channels(v: Mapping[str, Any]) -> str | None:
    data = datasets.get(v["dataset"])
    if data.channels is None or data.channels == v["channels"]:
        return None
    kind = "have one channel" if data.channels == 1 else "are RGB"
    return (f"{data.title} images {kind}: use --channels={data.channels} with "
            f"--dataset={data.name}.")


def _missing_path(v: Mapping[str, Any]) -> str | None:
    data = datasets.get(v["dataset"])
    if not data.needs_path or v["data_path"]:
        return None
    return f"--dataset={data.name} needs --data_path: {data.flags}."


def _not_whole_intervals(v: Mapping[str, Any]) -> str | None:
    every = v["log_every"]
    for name in ("steps",) + INTERVALS:
        if v[name] % every:
            low = max(every, v[name] // every * every)
            return (f"--{name}={v[name]} is not a multiple of --log_every={every} (a logging "
                    f"interval is one Keras epoch): use --{name}={low} or {low + every}, or "
                    "change --log_every.")
    return None


RULES = (
    Rule(("dataset", "data_source"), _unknown_source),
    Rule(("dataset", "channels"), _wrong_channels),
    Rule(("likelihood", "channels", "dataset"), _problem_if(
        lambda v: v["likelihood"] == "bernoulli" and v["channels"] == 3
        and not datasets.get(v["dataset"]).has_factors,
        "--likelihood=bernoulli models binary pixels, but --channels=3 images are colour "
        "photographs: use --likelihood=gaussian (and --gaussian_sigma) for RGB data.")),
    Rule(("dataset", "data_path"), _missing_path),
    Rule(("dataset", "data_source", "dsprites_num_images"), _problem_if(
        lambda v: bool(v["dsprites_num_images"]) and not (
            datasets.get(v["dataset"]).takes_num_images
            and v["data_source"] in ("auto", "rendered")),
        "--dsprites_num_images takes a leading block of rendered dSprites: use it with "
        "--dataset=dsprites (or a variant) and --data_source=rendered (or auto), or remove it.")),
    Rule(("strategy", "tpu"), _problem_if(
        lambda v: v["tpu"] is not None and v["strategy"] != "tpu",
        "--tpu names the TPU of --strategy=tpu: add --strategy=tpu, or remove --tpu.")),
    Rule(("log_every", "steps") + INTERVALS, _not_whole_intervals),
)


def inapplicable_given(values: Mapping[str, Any], given: Iterable[str]) -> str | None:
    """What is wrong with settings ``given`` explicitly (flags typed on the command line; a
    flagfile's are a recipe that later flags may override, e.g. ``--flagfile=shapes3d.flags
    --flagfile=dlib_annealed_vae.flags``) that the objective or likelihood in ``values``
    ignore (``None``: nothing).

    Args:
        values: the values of :data:`APPLICABILITY_NAMES` (at least).
        given: the names of the settings given explicitly.
    """
    given = set(given)
    for applies, names in _BY_APPLICABILITY.items():
        current = values[applies.setting]
        refused = [f"--{name}" for name in names if name in given and current not in applies.values]
        if refused:
            many = len(refused) > 1
            return (f"{', '.join(refused)} only appl{'y' if many else 'ies'} to --{applies.setting}="
                    f"{' or '.join(applies.values)}, but --{applies.setting}={current}: remove "
                    f"{'them' if many else 'it'}, or use --{applies.setting}={applies.values[0]}.")
    return None


_BY_APPLICABILITY: dict[Applies, list[str]] = {}  # the settings that apply only under each
for _name, _field in _FIELDS.items():
    if _field.metadata["applies_to"]:
        _BY_APPLICABILITY.setdefault(_field.metadata["applies_to"], []).append(_name)
# What inapplicable_given reads: the settings it judges and those that decide.
APPLICABILITY_NAMES = tuple(sorted({name for applies, names in _BY_APPLICABILITY.items()
                                    for name in (applies.setting, *names)}))
