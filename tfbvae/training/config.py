"""A training run's configuration: the model it defines, and its record in the run directory.

A run directory holds ``run.json`` (the settings of the run, the data source and the tfbvae
version; read by :func:`tfbvae.training.checkpoints.restore_model`) and ``flags.txt`` (the same
settings as ``--name=value`` lines: ``python apps/train.py --flagfile=<run_dir>/flags.txt``
reproduces or continues the run). Settings that define the model or its data (network,
latent size, likelihood, objective, image shape, data set, seed, ...) may not change when a run
is resumed; training settings (steps, learning rate, intervals, ...) may.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any, Mapping

from tfbvae import errors, files

RUN_FILE = "run.json"
FLAGS_FILE = "flags.txt"
FORMAT_VERSION = 1

# Settings a resumed run must share with the run it continues: they define the model's
# weights and what they mean (the data, its split and order).
MODEL_KEYS = (
    "dataset",
    "network",
    "latent_dim",
    "likelihood",
    "gaussian_sigma",
    "objective",
    "beta",
    "gamma",
    "image_size",
    "channels",
    "seed",
    "validation_fraction",
    "dsprites_num_images",
)


# Settings that only mean something for some objectives or likelihoods.
CAPACITY_KEYS = ("gamma", "c_max", "c_stop_steps")
BETA_KEYS = ("beta",)
GAUSSIAN_KEYS = ("gaussian_sigma",)


def inapplicable_keys(config: Mapping[str, Any]) -> set[str]:
    """The settings that the run's objective and likelihood ignore."""
    keys = set(CAPACITY_KEYS if config.get("objective") == "beta" else BETA_KEYS)
    if config.get("likelihood") != "gaussian":
        keys.update(GAUSSIAN_KEYS)
    return keys


class RunConfigError(errors.BadInput, ValueError):
    """A run directory that cannot be used with the settings given."""


def image_shape(config: Mapping[str, Any]) -> tuple[int, int, int]:
    return (int(config["image_size"]), int(config["image_size"]), int(config["channels"]))


def build_model(config: Mapping[str, Any]):
    """The (uncompiled) :class:`~tfbvae.model.beta_vae.BetaVAE` a run's settings describe."""
    from tfbvae.model.beta_vae import BetaVAE
    from tfbvae.model.likelihoods import get_likelihood
    from tfbvae.model.networks import build_networks
    from tfbvae.model.objectives import get_objective

    encoder, decoder = build_networks(
        config["network"], image_shape(config), int(config["latent_dim"])
    )
    likelihood_args = {"sigma": config["gaussian_sigma"]} if config["likelihood"] == "gaussian" else {}
    if config["objective"] == "beta":
        objective_args = {"beta": config["beta"]}
    else:
        objective_args = {"gamma": config["gamma"]}
    return BetaVAE(
        encoder,
        decoder,
        likelihood=get_likelihood(config["likelihood"], **likelihood_args),
        objective=get_objective(config["objective"], **objective_args),
        seed=int(config["seed"]),
    )


def uses_capacity(config: Mapping[str, Any]) -> bool:
    """Whether the run's objective has a capacity C to anneal."""
    from tfbvae.model.objectives import OBJECTIVES

    return OBJECTIVES[config["objective"]].uses_capacity


def default_model_name(config: Mapping[str, Any]) -> str:
    """The run's ``model_name`` setting, else ``<dataset>_<objective>`` (e.g.
    ``dsprites_capacity``): the name its export is served under."""
    return config.get("model_name") or f"{config['dataset']}_{config['objective']}"


def read_run(run_dir: str | os.PathLike) -> dict | None:
    """The ``run.json`` record of a run directory, or ``None`` if there is none.

    Raises :class:`RunConfigError` when the file cannot be read, is not JSON, is not the record
    :func:`write_run` writes, or has another format version: the message names the file and
    what to do, since a run's settings cannot be guessed.
    """
    path = Path(run_dir) / RUN_FILE
    if not path.exists():
        return None
    flags_file = Path(run_dir) / FLAGS_FILE
    fix = "Restore it (e.g. from a backup), or train in a new --run_dir" + (
        f" with the run's settings: --flagfile={flags_file} --run_dir=<new directory>."
        if flags_file.is_file() else ".")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise RunConfigError(f"cannot read {path}: {err}. {fix}") from None
    except json.JSONDecodeError as err:
        raise RunConfigError(f"{path} is not JSON ({err}): the run's record is damaged. {fix}") from None
    if not (isinstance(record, dict) and all(isinstance(record.get(k), dict) for k in ("flags", "data"))):
        raise RunConfigError(
            f"{path} is not a tfbvae run record (a JSON object with 'format', 'flags' and "
            f"'data'; it holds {_describe(record)}). {fix}"
        )
    if record.get("format") != FORMAT_VERSION:
        raise RunConfigError(
            f"{path} has format {record.get('format')!r}; this tfbvae reads format "
            f"{FORMAT_VERSION}. Use the tfbvae version that wrote it, or start a new run directory."
        )
    return record


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def _describe(value: Any) -> str:
    """What a JSON value is, for an error message: its type, or an object's keys."""
    if isinstance(value, dict):
        return f"an object with keys {sorted(value)[:8]}"
    return _JSON_TYPES[type(value)]


def check_resumable(record: Mapping[str, Any], config: Mapping[str, Any], run_dir) -> list[str]:
    """Refuses settings that would change the model of the run being resumed.

    Returns the training settings that changed (``"steps: 100 -> 200"``), which are allowed.
    """
    old = record["flags"]
    refused = [k for k in MODEL_KEYS if k in old and k in config and old[k] != config[k]]
    if refused:
        lines = "\n".join(f"  --{k}: the run has {old[k]!r}, the new setting is {config[k]!r}" for k in refused)
        raise RunConfigError(
            f"{run_dir} holds a run whose model these settings would change:\n{lines}\n"
            f"Resume it with its own settings (--flagfile={Path(run_dir) / FLAGS_FILE}, then "
            "override only training settings such as --steps), or pass a new --run_dir."
        )
    return [
        f"{k}: {old[k]!r} -> {config[k]!r}"
        for k in sorted(config)
        if k in old and old[k] != config[k]
    ]


def check_data_source(record: Mapping[str, Any], source: str, run_dir) -> None:
    """A resumed run must train on the same data source (rendered vs official dSprites, ...)."""
    old = record.get("data", {}).get("source")
    if old is not None and old != source:
        raise RunConfigError(
            f"{run_dir} was trained on data source {old!r}, but the data now resolves to "
            f"{source!r}. Point the data flags (--data_source, --data_path) at the original "
            "source, or start a new --run_dir."
        )


def write_run(run_dir: str | os.PathLike, config: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """Writes ``run.json`` and ``flags.txt`` (atomically: written beside, then renamed)."""
    from tfbvae import __version__

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    previous = read_run(run_dir)
    record = {
        "format": FORMAT_VERSION,
        "tfbvae_version": __version__,
        "created": previous["created"] if previous else _now(),
        "updated": _now(),
        "flags": dict(config),
        "data": dict(data),
        "latent_dim": int(config["latent_dim"]),
        "image_shape": list(image_shape(config)),
    }
    files.write_text_atomically(run_dir / RUN_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")
    files.write_text_atomically(run_dir / FLAGS_FILE, flagfile_text(config))


def flagfile_text(config: Mapping[str, Any]) -> str:
    """``--name=value`` lines that absl parses back to ``config``; ``None`` values and the
    settings the run's objective and likelihood ignore are left out (the app refuses them)."""
    lines = ["# Settings of this run: python apps/train.py --flagfile=<this file>"]
    ignored = inapplicable_keys(config)
    for name in sorted(config):
        value = config[name]
        if value is None or name in ignored:
            continue
        if isinstance(value, bool):
            lines.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, (list, tuple)):
            lines.append(f"--{name}={','.join(str(v) for v in value)}")
        else:
            lines.append(f"--{name}={value}")
    return "\n".join(lines) + "\n"


def read_flags_file(path: str | os.PathLike, like: Mapping[str, Any]) -> dict:
    """The settings of a ``flags.txt`` (:func:`flagfile_text`'s lines), each given the type of
    ``like``'s value of the same name (the settings it is compared with); names ``like`` does
    not hold stay strings.

    Args:
        path: the flags file.
        like: settings whose value types the file's values take (e.g. the new run's).
    """
    settings: dict[str, Any] = {}
    for line in Path(path).read_text().splitlines():
        if not line.startswith("--"):
            continue
        name, has_value, value = line[2:].partition("=")
        if not has_value:  # a boolean: --name or --noname
            negated = name.startswith("no") and isinstance(like.get(name[2:]), bool)
            settings[name[2:] if negated else name] = not negated
        else:
            settings[name] = _typed(value, like.get(name))
    return settings


def _typed(text: str, like: Any) -> Any:
    """``text`` as a number when ``like`` is one (and it parses), else as it is."""
    if isinstance(like, bool) or not isinstance(like, (int, float)):
        return text
    try:
        return int(float(text)) if isinstance(like, int) else float(text)
    except ValueError:
        return text


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
