"""A training run's record, ``<run_dir>/run.json``, written and read here alone.

The record holds the run's settings (its ``flags``), the data it trained on (``data``: the data
set, the source actually used, e.g. rendered or official dSprites, the split), and the tfbvae
version; ``flags.txt`` beside it holds the same settings as ``--name=value`` lines, so that
``python apps/train.py --flagfile=<run_dir>/flags.txt`` reproduces or continues the run. It is
read by :func:`tfbvae.training.checkpoints.restore_model`, by a resumed training (settings that
would change the model are refused; training settings may change), by the apps that open a run
and by the studies. The file's format (version 1) is unchanged since it was first written: run
directories of every earlier tfbvae version still read. This module imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path
from typing import Any, Mapping

import tfbvae
from tfbvae import errors, files
from tfbvae.data.info import DataInfo
from tfbvae.training import run_dir as layout
from tfbvae.training.settings import Settings, SettingsError

FORMAT_VERSION = 1


class RunRecordError(errors.BadInput, ValueError):
    """A run directory whose record cannot be used with the settings given, or is damaged."""


@dataclasses.dataclass(frozen=True)
class DataRecord(DataInfo):
    """The data a run trained on (the :class:`~tfbvae.data.info.DataInfo` of its pipelines, e.g.
    ``source`` "dsprites-rendered (tfbvae renderer v1)" or "dsprites-official-npz"), and how
    many held-out images each validation used (``None`` in records written before it was
    recorded)."""

    validation_images_used: int | None = None

    def to_json(self) -> dict[str, Any]:
        record = self.as_dict()
        if self.validation_images_used is None:
            del record["validation_images_used"]
        return record

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> "DataRecord":
        """The data record of a ``run.json`` (or of an export's ``run``).

        Raises:
            ValueError: a field is missing (names them); unknown names are ignored.
        """
        fields = {field.name: field for field in dataclasses.fields(cls)}
        missing = [name for name, field in fields.items()
                   if field.default is dataclasses.MISSING and name not in values]
        if missing:
            raise ValueError(f"the data record lacks {', '.join(missing)}")
        known = {name: value for name, value in values.items() if name in fields}
        for name in ("image_shape", "factor_names", "factors_num_values"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What ``run.json`` holds: see the module docstring."""

    settings: Settings
    data: DataRecord
    created: str  # ISO 8601, UTC: when the run was started
    updated: str  # when the record was last written (each start or resume)
    tfbvae_version: str

    @property
    def latent_dim(self) -> int:
        return self.settings.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.settings.image_shape

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``run.json`` (format :data:`FORMAT_VERSION`)."""
        return {
            "format": FORMAT_VERSION,
            "tfbvae_version": self.tfbvae_version,
            "created": self.created,
            "updated": self.updated,
            "flags": self.settings.to_json(),
            "data": self.data.to_json(),
            "latent_dim": self.latent_dim,
            "image_shape": list(self.image_shape),
        }


@dataclasses.dataclass(frozen=True)
class RunFacts:
    """What is known of a trained model's run: built by
    :func:`~tfbvae.training.checkpoints.restore_model` (a checkpoint of a run directory), by the
    training's export and by ``apps/export.py``, stored as the ``run`` object of an export's
    metadata JSON (:meth:`to_json`; the serving code keeps it as opaque JSON) and read back by
    :mod:`tfbvae.trained_model` (:meth:`from_json`). Every field may be ``None``: a ``.keras``
    export knows no settings, a foreign SavedModel nothing at all."""

    settings: Settings | None = None  # the run's settings ("flags" in JSON)
    step: int | None = None  # training step of the weights
    data_source: str | None = None  # e.g. "dsprites-rendered (tfbvae renderer v1)"
    latent_dim: int | None = None
    capacity: float | None = None  # C at that step (restore_model)
    data: DataRecord | None = None
    checkpoint: str | None = None  # the checkpoint restored (restore_model)
    run_dir: str | None = None  # the run directory restored from (restore_model)
    kl_per_dim: tuple[float, ...] | None = None  # nats per latent, when recorded
    kl_per_dim_source: str | None = None  # where kl_per_dim came from
    source: str | None = None  # the .keras file exported (apps/export.py --keras_model)

    # JSON names in the order they are written (those of the exports already shipped).
    _JSON_ORDER = ("source", "flags", "step", "data_source", "latent_dim", "capacity", "data",
                   "checkpoint", "run_dir", "kl_per_dim", "kl_per_dim_source")

    @classmethod
    def of_run(cls, settings: Settings, data: DataRecord, step: int, **facts: Any) -> "RunFacts":
        """The facts of a run at ``step``: its settings, data (and source) and latent size,
        plus ``facts`` (e.g. ``capacity``, ``kl_per_dim``)."""
        if facts.get("kl_per_dim") is not None:
            facts["kl_per_dim"] = tuple(float(v) for v in facts["kl_per_dim"])
        return cls(settings=settings, step=int(step), data_source=data.source,
                   latent_dim=settings.latent_dim, data=data, **facts)

    @property
    def model_name(self) -> str | None:
        """The run's ``--model_name`` (``None`` without settings)."""
        return self.settings.model_name if self.settings else None

    def to_json(self) -> dict[str, Any]:
        """The JSON object (an export's ``run``): the facts known, ``None`` ones left out, but
        ``kl_per_dim`` is written (null: not recorded) whenever the settings are."""
        values = {"source": self.source,
                  "flags": self.settings.to_json() if self.settings else None,
                  "step": self.step, "data_source": self.data_source,
                  "latent_dim": self.latent_dim, "capacity": self.capacity,
                  "data": self.data.to_json() if self.data else None,
                  "checkpoint": self.checkpoint, "run_dir": self.run_dir,
                  "kl_per_dim": None if self.kl_per_dim is None else list(self.kl_per_dim),
                  "kl_per_dim_source": self.kl_per_dim_source}
        return {name: values[name] for name in self._JSON_ORDER
                if values[name] is not None or (name == "kl_per_dim" and self.settings)}

    @classmethod
    def from_json(cls, values: Mapping[str, Any] | None) -> "RunFacts":
        """The facts of :meth:`to_json`'s object (or of any export's ``run``: names not known
        here are ignored, missing ones are ``None``; ``None`` or ``{}``: nothing known).

        Raises:
            ValueError: ``flags`` or ``data`` is there but not a record this tfbvae reads.
        """
        values = values or {}
        flags, data = values.get("flags"), values.get("data")
        kl = values.get("kl_per_dim")
        try:
            return cls(
                settings=Settings.from_json(flags) if isinstance(flags, Mapping) else None,
                step=_optional(int, values.get("step")),
                data_source=_optional(str, values.get("data_source")),
                latent_dim=_optional(int, values.get("latent_dim")),
                capacity=_optional(float, values.get("capacity")),
                data=DataRecord.from_json(data) if isinstance(data, Mapping) else None,
                checkpoint=_optional(str, values.get("checkpoint")),
                run_dir=_optional(str, values.get("run_dir")),
                kl_per_dim=None if kl is None else tuple(float(v) for v in kl),
                kl_per_dim_source=_optional(str, values.get("kl_per_dim_source")),
                source=_optional(str, values.get("source")),
            )
        except (SettingsError, TypeError) as err:
            raise ValueError(f"not a run's facts: {err}") from None


def _optional(kind: type, value: Any) -> Any:
    return None if value is None else kind(value)


def read_run(run_dir: str | os.PathLike) -> RunRecord | None:
    """The record of a run directory, or ``None`` if it has no ``run.json``.

    Raises:
        RunRecordError: the file cannot be read, is not JSON, is not the record
            :func:`write_run` writes, or has another format version: the message names the file
            and what to do, since a run's settings cannot be guessed.
    """
    path = layout.run_file(run_dir)
    if not path.exists():
        return None
    fix = _fix(run_dir)
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise RunRecordError(f"cannot read {path}: {err}. {fix}") from None
    except json.JSONDecodeError as err:
        raise RunRecordError(f"{path} is not JSON ({err}): the run's record is damaged. {fix}") from None
    if not (isinstance(record, dict) and all(isinstance(record.get(k), dict) for k in ("flags", "data"))):
        raise RunRecordError(
            f"{path} is not a tfbvae run record (a JSON object with 'format', 'flags' and "
            f"'data'; it holds {_describe(record)}). {fix}"
        )
    if record.get("format") != FORMAT_VERSION:
        raise RunRecordError(
            f"{path} has format {record.get('format')!r}; this tfbvae reads format "
            f"{FORMAT_VERSION}. Use the tfbvae version that wrote it, or start a new run directory."
        )
    try:
        return RunRecord(Settings.from_json(record["flags"]), DataRecord.from_json(record["data"]),
                         str(record.get("created")), str(record.get("updated")),
                         str(record.get("tfbvae_version")))
    except (SettingsError, ValueError, TypeError) as err:
        raise RunRecordError(f"{path} is not a usable run record ({err}). {fix}") from None


def write_run(run_dir: str | os.PathLike, settings: Settings, data: DataRecord) -> RunRecord:
    """Writes ``run.json`` and ``flags.txt`` (atomically: written beside, then renamed); keeps
    the first record's creation time. Returns the record written."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    previous = read_run(run_dir)
    now = _now()
    record = RunRecord(settings, data, previous.created if previous else now, now, tfbvae.__version__)
    text = json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n"
    files.write_text_atomically(layout.run_file(run_dir), text)
    files.write_text_atomically(layout.flags_file(run_dir), settings.flagfile_text())
    return record


def settings_from_flags_file(run_dir: str | os.PathLike) -> Settings:
    """The settings of a run whose ``run.json`` is gone, from its ``flags.txt``.

    Raises:
        RunRecordError: there is no ``flags.txt`` either, or it does not parse.
    """
    path = layout.flags_file(run_dir)
    if not path.exists():
        raise RunRecordError(
            f"{run_dir} has checkpoints but neither {layout.RUN_FILE} nor {layout.FLAGS_FILE}, "
            "so the settings they were trained with are unknown. Restore "
            f"{layout.run_file(run_dir)} from a backup, or pass a new --run_dir."
        )
    try:
        return Settings.from_flags_file(path)
    except SettingsError as err:
        raise RunRecordError(f"{err} ({layout.run_file(run_dir)} is missing too): restore it "
                             "from a backup, or pass a new --run_dir.") from None


def check_resumable(old: Settings, new: Settings, run_dir: str | os.PathLike) -> list[str]:
    """Refuses settings that would change the model of the run being resumed.

    Returns:
        The training settings that changed (``"steps: 100 -> 200"``), which are allowed.

    Raises:
        RunRecordError: a model setting differs; the message lists each with both values.
    """
    refused = new.model_changes(old)
    if refused:
        lines = "\n".join(f"  --{name}: the run has {getattr(old, name)!r}, the new setting is "
                          f"{getattr(new, name)!r}" for name in refused)
        raise RunRecordError(
            f"{run_dir} holds a run whose model these settings would change:\n{lines}\n"
            f"Resume it with its own settings (--flagfile={layout.flags_file(run_dir)}, then "
            "override only training settings such as --steps), or pass a new --run_dir."
        )
    return [f"{name}: {getattr(old, name)!r} -> {getattr(new, name)!r}"
            for name in sorted(new.changes(old))]


def check_data_source(old: DataRecord | None, source: str, run_dir: str | os.PathLike) -> None:
    """A resumed run must train on the same data source (rendered vs official dSprites, ...);
    ``old`` ``None``: not known (the run's record is lost), not checked."""
    if old is not None and old.source != source:
        raise RunRecordError(
            f"{run_dir} was trained on data source {old.source!r}, but the data now resolves "
            f"to {source!r}. Point the data flags (--data_source, --data_path) at the original "
            "source, or start a new --run_dir."
        )


def _fix(run_dir: str | os.PathLike) -> str:
    """What to do about a damaged record: restore it, or start again from ``flags.txt``."""
    flags_file = layout.flags_file(run_dir)
    return "Restore it (e.g. from a backup), or train in a new --run_dir" + (
        f" with the run's settings: --flagfile={flags_file} --run_dir=<new directory>."
        if flags_file.is_file() else ".")


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def _describe(value: Any) -> str:
    """What a JSON value is, for an error message: its type, or an object's keys."""
    if isinstance(value, dict):
        return f"an object with keys {sorted(value)[:8]}"
    return _JSON_TYPES[type(value)]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
