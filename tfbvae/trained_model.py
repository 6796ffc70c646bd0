"""A trained model to evaluate or draw: a training run directory or an exported SavedModel.

:func:`open_model` takes any of

* a run directory (it holds ``run.json``): the latest checkpoint, or ``checkpoint``;
* an exported version ``<base>/<name>/encoder/<version>`` (or ``.../decoder/<version>``);
* a part directory ``<base>/<name>/encoder``: its latest version;
* an export ``<base>/<name>``: the latest version that has both an encoder and a decoder;
* any other encoder SavedModel whose ``serving_default`` maps ``images`` to ``mean`` (a model
  served elsewhere can be audited too),

and gives the same interface for all of them: ``encode(images) -> (mean, log_var)`` and
``decode_images(z)`` as numpy (the methods of :class:`tfbvae.model.beta_vae.BetaVAE`, so the picture
functions take either), the per-dimension KL, and
an ``identity`` record saying exactly which model this is.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any

import numpy as np

from tfbvae import errors
from tfbvae.pixels import images_to_float
from tfbvae.serving import layout as export_layout
from tfbvae.serving.models_config import PARTS
from tfbvae.training import run_dir as run_layout
from tfbvae.training.run_record import RunFacts

SIGNATURE = "serving_default"


class ModelSourceError(errors.BadInput, ValueError):
    """A ``--model`` path that names no usable model; the message says what was expected."""


class ModelSource(abc.ABC):
    """One trained model, wherever it lives. ``kind`` is ``"run"`` or ``"export"``."""

    kind: str
    path: Path  # the path the user gave, absolute
    image_shape: tuple[int, int, int]
    latent_dim: int
    step: int | None  # training step of the weights, when known
    version: int | None  # export version, when exported
    model_name: str | None  # the run's or the export's model name, when known
    run: RunFacts  # what is known of the training run (its fields None when unknown)
    data_source: str | None  # what the model was trained on (e.g. rendered dSprites), if known

    @property
    @abc.abstractmethod
    def metadata(self) -> dict:
        """As JSON: the run's facts, or the export's metadata JSON (``{}`` when absent)."""

    @abc.abstractmethod
    def encode(self, images) -> tuple[np.ndarray, np.ndarray]:
        """Posterior ``(mean, log_var)`` of images (uint8 0..255 or float in [0, 1])."""

    @abc.abstractmethod
    def decode_images(self, z) -> np.ndarray:
        """The likelihood's mean images for codes ``z``, float32 in [0, 1]."""

    @abc.abstractmethod
    def decode_logits(self, z) -> np.ndarray:
        """The decoder's per-pixel logits for codes ``z``, float32 (what the likelihood scores)."""

    @property
    @abc.abstractmethod
    def likelihood(self):
        """The :class:`tfbvae.model.likelihoods.Likelihood` the model was trained with."""

    @abc.abstractmethod
    def recorded_kl_per_dim(self) -> tuple[np.ndarray | None, str]:
        """KL per latent dimension (nats) as recorded with the model, and where it came from."""

    @abc.abstractmethod
    def log_dir(self) -> Path | None:
        """The training run's TensorBoard training logs, when they can be found."""

    def kl_history(self) -> tuple[dict[int, list[tuple[int, float]]], list[tuple[int, float]] | None,
                                  Path | None]:
        """Each latent's KL over training and C (when logged and the run's objective uses C:
        :func:`tfbvae.training.event_files.kl_history`), from the training logs, and the logs
        read: ``({dim: [(step, nats), ...]}, [(step, C), ...] or None, log_dir)``;
        ``({}, None, None)`` when no logs are found."""
        logs = self.log_dir()
        if logs is None:
            return {}, None, None
        from tfbvae.training.event_files import kl_history

        settings = self.run.settings
        history, capacity = kl_history(logs, self.latent_dim, settings.objective if settings else None)
        return history, capacity, logs

    @abc.abstractmethod
    def identity(self) -> dict:
        """JSON-ready record of which model this is (paths, version, step, metadata)."""

    def kl_per_dim(self, images=None) -> tuple[np.ndarray, str]:
        """KL per latent dimension, and its source: the recorded values, else measured on
        ``images`` (the mean over them of KL(q(z|x) || N(0, I)))."""
        recorded, source = self.recorded_kl_per_dim()
        if recorded is not None:
            return recorded, source
        if images is None:
            raise ModelSourceError(f"{self.path} records no KL per dimension ({source}); pass "
                                   "images to measure it on")
        from tfbvae.model.divergences import gaussian_kl_per_dim

        mean, log_var = self.encode(images)
        kl = np.mean(np.asarray(gaussian_kl_per_dim(mean, log_var), np.float64), axis=0)
        return kl, f"measured on {len(mean)} pictured images (none recorded: {source})"


class RunModel(ModelSource):
    """The model of a training run directory, restored from one of its checkpoints."""

    kind = "run"

    def __init__(self, path: Path, checkpoint: str | None = None):
        from tfbvae.training.checkpoints import restore_model

        self.path = path
        self.model, self.run = restore_model(str(path), checkpoint)
        self.image_shape = self.run.settings.image_shape
        self.latent_dim = int(self.model.latent_dim)
        self.step, self.data_source = self.run.step, self.run.data_source
        self.version, self.model_name = None, self.run.model_name

    @property
    def metadata(self) -> dict:
        return self.run.to_json()

    def encode(self, images):
        mean, log_var = self.model.encode(images)  # BetaVAE.encode takes uint8 or [0, 1]
        return np.asarray(mean), np.asarray(log_var)

    def decode_images(self, z):
        return np.asarray(self.model.decode_images(np.asarray(z, np.float32)))

    def decode_logits(self, z):
        return np.asarray(self.model.decode(np.asarray(z, np.float32)))

    @property
    def likelihood(self):
        return self.model.likelihood

    def log_dir(self) -> Path | None:
        logs = run_layout.train_logs(self.path)
        return logs if logs.is_dir() else None

    def recorded_kl_per_dim(self):
        """The training KL of each dimension logged last at or before the checkpoint's step."""
        logs = self.log_dir()
        if logs is None:
            return None, f"no TensorBoard logs in {run_layout.train_logs(self.path)}"
        from tfbvae.training.event_files import kl_history

        history, _ = kl_history(logs, self.latent_dim)
        values = []
        for dim in range(self.latent_dim):
            points = [v for s, v in history.get(dim, []) if self.step is None or s <= self.step]
            if not points:
                return None, f"{logs} has no kl_{dim} logged by step {self.step}"
            values.append(points[-1])
        return np.array(values), f"training logs ({logs}) at the checkpoint's step"

    def identity(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), "step": self.step,
                "version": None, "metadata": self.metadata}


class ExportedModel(ModelSource):
    """An exported encoder (and, when present, its decoder) SavedModel of one version.

    Shapes come from tfbvae's export metadata, or, for a SavedModel tfbvae did not write, from
    its ``serving_default`` signature; each part is loaded on first use.
    """

    kind = "export"

    def __init__(self, path: Path, encoder_dir: Path | None, decoder_dir: Path | None):
        self.path = path
        self.encoder_dir, self.decoder_dir = encoder_dir, decoder_dir
        self._parts = _SavedModelParts(path, {"encoder": encoder_dir, "decoder": decoder_dir})
        self.described = _export_metadata(encoder_dir, decoder_dir)
        self.run = _run_facts(self.described, encoder_dir or decoder_dir)
        self.step, self.data_source = self.run.step, self.run.data_source
        self.model_name = self.described.model_name if self.described else None
        if self.described is not None:
            self.version = self.described.version
            self.image_shape, self.latent_dim = self.described.image_shape, self.described.latent_dim
        else:  # a SavedModel tfbvae did not write
            self.version = _version_number(encoder_dir or decoder_dir)
            self.image_shape, self.latent_dim = self._parts.shapes()

    @property
    def metadata(self) -> dict:
        """The export's metadata JSON (``{}`` for a SavedModel tfbvae did not write)."""
        return self.described.to_record() if self.described else {}

    def encode(self, images, batch_size: int = 256):
        mean, log_var = self._parts.call("encoder", "images", images_to_float(images),
                                         ("mean", "log_var"), batch_size)
        return mean, log_var

    def decode_images(self, z, batch_size: int = 256):
        return self._parts.call("decoder", "z", np.asarray(z, np.float32), ("images",), batch_size)[0]

    def decode_logits(self, z, batch_size: int = 256):
        return self._parts.call("decoder", "z", np.asarray(z, np.float32), ("logits",), batch_size)[0]

    @property
    def likelihood(self):
        import keras

        import tfbvae.model.likelihoods  # noqa: F401  (registers the likelihoods for deserialising)

        if self.described is None:
            raise ModelSourceError(f"{self.path} has no tfbvae export metadata naming its "
                                   "likelihood; export the model with apps/export.py")
        return keras.saving.deserialize_keras_object(self.described.likelihood)

    def encoder_saved_model(self) -> Path:
        """The encoder SavedModel's directory (what the metrics encode with)."""
        if self.encoder_dir is None:
            raise ModelSourceError(f"{self.path} is a decoder; the metrics need the encoder "
                                   f"({self.path.parent.parent / 'encoder'})")
        return self.encoder_dir

    def recorded_kl_per_dim(self):
        if self.described is None:
            return None, "no tfbvae export metadata"
        if self.described.kl_per_dim is None:
            return None, self.described.kl_per_dim_source
        return (np.asarray(self.described.kl_per_dim, np.float64),
                f"export metadata ({self.described.kl_per_dim_source})")

    def log_dir(self) -> Path | None:
        """The logs of the run this was exported from, if its run directory is still there."""
        run_dir = (self.run.settings.run_dir if self.run.settings else None) or self.run.run_dir
        if not run_dir:
            return None
        logs = run_layout.train_logs(run_dir)
        return logs if logs.is_dir() else None

    def identity(self) -> dict:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "encoder": str(self.encoder_dir) if self.encoder_dir else None,
            "decoder": str(self.decoder_dir) if self.decoder_dir else None,
            "model_name": self.model_name,
            "version": self.version,
            "step": self.step,
            "saved_model_checksums": self._parts.checksums(),
            "metadata": self.metadata,
        }


def _export_metadata(*version_dirs: Path | None):
    """The tfbvae export metadata of the first of ``version_dirs`` that has it, else None."""
    from tfbvae.serving.export import ExportMetadata

    for directory in version_dirs:
        if directory is not None and Path(export_layout.metadata_file(directory)).is_file():
            return ExportMetadata.read(directory)
    return None


def _run_facts(described, version_dir: Path) -> RunFacts:
    """The run's facts in an export's metadata (all ``None`` for a SavedModel tfbvae did not
    write, or for a ``.keras`` export the settings and data)."""
    try:
        return RunFacts.from_json(described.run if described else None)
    except ValueError as err:
        raise ModelSourceError(
            f"{export_layout.metadata_file(version_dir)} has a 'run' record this tfbvae cannot "
            f"read ({err}); re-export the model with apps/export.py") from None


def _version_number(version_dir: Path) -> int | None:
    """The version a directory's name gives (``<part>/3``), None for any other name."""
    return int(version_dir.name) if version_dir.name.isdigit() else None


class _SavedModelParts:
    """The SavedModels of an export's parts (a part may be missing), each loaded on first use
    and called through its ``serving_default`` signature."""

    def __init__(self, path: Path, directories: dict[str, Path | None]):
        self.path, self.directories = path, directories
        self._loaded: dict[str, Any] = {}

    def signature(self, part: str):
        """The part's ``serving_default`` (loading the SavedModel the first time)."""
        import tensorflow as tf

        if part not in self._loaded:
            directory = self.directories[part]
            if directory is None:
                raise ModelSourceError(
                    f"{self.path} has no exported {part} (looked for <base>/<name>/{part}/ beside "
                    "the other part's version); export the model with apps/export.py, which "
                    "writes both parts")
            self._loaded[part] = tf.saved_model.load(str(directory))
        return self._loaded[part].signatures[SIGNATURE]

    def call(self, part: str, input_name: str, values: np.ndarray, outputs: tuple[str, ...],
             batch_size: int) -> list[np.ndarray]:
        """``outputs`` of the part's signature on ``values``, ``batch_size`` rows per call."""
        import tensorflow as tf

        signature = self.signature(part)
        batches = [signature(**{input_name: tf.constant(values[i:i + batch_size])})
                   for i in range(0, len(values), batch_size)]
        return [np.concatenate([batch[name].numpy() for batch in batches]) for name in outputs]

    def shapes(self) -> tuple[tuple[int, ...], int]:
        """``(image_shape, latent_dim)`` read off a signature: the encoder's if there is one."""
        if self.directories["encoder"] is not None:
            signature = self.signature("encoder")
            images, latents = signature.structured_input_signature[1]["images"], signature.structured_outputs["mean"]
        else:
            signature = self.signature("decoder")
            images, latents = signature.structured_outputs["images"], signature.structured_input_signature[1]["z"]
        return tuple(images.shape[1:]), int(latents.shape[-1])

    def checksums(self) -> dict[str, str]:
        """Each part's SavedModel fingerprint checksum, where the SavedModel has a fingerprint."""
        import tensorflow as tf

        return {part: str(tf.saved_model.experimental.read_fingerprint(str(directory)).saved_model_checksum)
                for part, directory in self.directories.items()
                if directory is not None and (directory / "fingerprint.pb").is_file()}


def _is_saved_model(path: Path) -> bool:
    return export_layout.is_saved_model(path)


def _versions(part_dir: Path) -> list[int]:
    return export_layout.list_versions(part_dir)


def _version_part(version_dir: Path) -> str:
    """``"encoder"`` or ``"decoder"``: from the export's metadata, else the parent directory's
    name, else the signature's outputs."""
    described = _export_metadata(version_dir)
    if described is not None and described.part in PARTS:
        return described.part
    if version_dir.parent.name in PARTS:
        return version_dir.parent.name
    return _part_from_signature(version_dir)


def _part_from_signature(version_dir: Path) -> str:
    """``"encoder"`` when the SavedModel's ``serving_default`` returns ``mean``, ``"decoder"``
    when it returns ``images``."""
    import tensorflow as tf

    signatures = tf.saved_model.load(str(version_dir)).signatures
    if SIGNATURE not in signatures:
        raise ModelSourceError(
            f"{version_dir} has no {SIGNATURE!r} signature (it has {list(signatures)}): pass an "
            "encoder SavedModel exported by apps/export.py")
    outputs = signatures[SIGNATURE].structured_outputs
    if "mean" in outputs:
        return "encoder"
    if "images" in outputs:
        return "decoder"
    raise ModelSourceError(
        f"{version_dir}:{SIGNATURE} returns {sorted(outputs)}: neither an encoder ('mean', "
        "'log_var') nor a decoder ('images')")


def _from_version_dir(path: Path, version_dir: Path) -> ExportedModel:
    """The export of one version directory, with the other part of the same version if any."""
    part = _version_part(version_dir)
    other = "decoder" if part == "encoder" else "encoder"
    sibling = version_dir.parent.parent / other / version_dir.name
    dirs = {part: version_dir, other: sibling if _is_saved_model(sibling) else None}
    return ExportedModel(path, dirs["encoder"], dirs["decoder"])


def open_model(path: str | os.PathLike, checkpoint: str | None = None) -> ModelSource:
    """The model at ``path`` (see the module docstring for what it may be).

    Args:
        path: a run directory, an exported version, part or export, or an encoder SavedModel.
        checkpoint: with a run directory, one of its checkpoints instead of the latest.

    Returns:
        A :class:`RunModel` or an :class:`ExportedModel`.
    """
    given = Path(path).expanduser()
    path = _existing_directory(given)
    if run_layout.run_file(path).is_file():
        return RunModel(path, checkpoint)
    if checkpoint:
        raise ModelSourceError(f"--checkpoint picks a checkpoint of a run directory; {given} is "
                               "not one (it has no run.json)")
    version_dir = _export_version_dir(path)
    if version_dir is not None:
        return _from_version_dir(path, version_dir)
    raise _not_a_model(given, path)


def _existing_directory(given: Path) -> Path:
    """``given``, resolved, if it is a directory; else the error that says what to pass."""
    path = given.resolve()
    if not path.exists():
        raise ModelSourceError(
            f"--model {given} does not exist: pass a training run directory, an exported "
            "SavedModel (<base>/<name>/encoder/<version>) or an export <base>/<name>")
    if not path.is_dir():
        raise ModelSourceError(
            f"--model {given} is a file; pass the directory that holds it (a run directory or a "
            "SavedModel directory with saved_model.pb)")
    return path


def _export_version_dir(path: Path) -> Path | None:
    """The version directory ``path`` names: itself (a SavedModel), a part's latest version
    (``<base>/<name>/encoder``), or an export's latest version with both parts (``<base>/<name>``,
    else its latest encoder); None when it names none."""
    if _is_saved_model(path):
        return path
    if path.name in PARTS and _versions(path):
        return path / str(_versions(path)[-1])
    parts = {part: _versions(path / part) for part in PARTS}
    if not parts["encoder"]:
        return None
    both = sorted(set(parts["encoder"]) & set(parts["decoder"]))
    return path / "encoder" / str(both[-1] if both else parts["encoder"][-1])


def _not_a_model(given: Path, path: Path) -> ModelSourceError:
    """The error for a directory that holds no model: the exports under it, or what it holds."""
    exports = sorted(p.name for p in path.iterdir() if _versions(p / "encoder"))
    if exports:
        return ModelSourceError(
            f"--model {given} is an export base holding several models: pass one of "
            + ", ".join(str(given / name) for name in exports))
    return ModelSourceError(
        f"--model {given} is not a model: expected a training run directory (with "
        f"{run_layout.RUN_FILE}), a SavedModel directory (with {export_layout.SAVED_MODEL_FILE}), "
        "<base>/<name>/encoder (numbered versions inside) or an export <base>/<name> (with "
        f"encoder/<version>/). It holds: {sorted(p.name for p in path.iterdir())[:10]}")
