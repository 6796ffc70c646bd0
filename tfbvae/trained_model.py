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
functions take either), a representation function for the metrics, the per-dimension KL, and
an ``identity`` record saying exactly which model this is.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any

import numpy as np

from tfbvae import errors
from tfbvae.evaluation.metrics.utils import RepresentationFunction
from tfbvae.serving.models_config import PARTS
from tfbvae.training import run_dir as run_layout
from tfbvae.training.settings import Settings

SAVED_MODEL_FILE = "saved_model.pb"
SIGNATURE = "serving_default"


class ModelSourceError(errors.BadInput, ValueError):
    """A ``--model`` path that names no usable model; the message says what was expected."""


def _as_float_images(images) -> np.ndarray:
    """The project's image convention: uint8 0..255 -> float32 in [0, 1]; floats as they are."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32, copy=False)


class ModelSource(abc.ABC):
    """One trained model, wherever it lives. ``kind`` is ``"run"`` or ``"export"``."""

    kind: str
    path: Path  # the path the user gave, absolute
    image_shape: tuple[int, int, int]
    latent_dim: int
    step: int | None  # training step of the weights, when known
    version: int | None  # export version, when exported
    metadata: dict  # the run's metadata or the export's metadata JSON ({} when absent)
    data_source: str | None  # what the model was trained on (e.g. rendered dSprites), if known

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

    @property
    @abc.abstractmethod
    def run(self) -> dict:
        """The training run's record (``flags``, ``step``, ``data``, ...), ``{}`` when unknown."""

    @abc.abstractmethod
    def representation_function(self, batch_size: int = 256) -> RepresentationFunction:
        """Posterior means, batched through one traced function (see tfbvae.evaluation.representation)."""

    @abc.abstractmethod
    def recorded_kl_per_dim(self) -> tuple[np.ndarray | None, str]:
        """KL per latent dimension (nats) as recorded with the model, and where it came from."""

    @abc.abstractmethod
    def log_dir(self) -> Path | None:
        """The training run's TensorBoard training logs, when they can be found."""

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
        self.model, self.metadata = restore_model(str(path), checkpoint)
        self.image_shape = Settings.from_json(self.metadata["flags"]).image_shape
        self.latent_dim = int(self.model.latent_dim)
        self.step = self.metadata.get("step")
        self.version = None
        self.data_source = self.metadata.get("data_source")

    def encode(self, images):
        mean, log_var = self.model.encode(_as_float_images(images))
        return np.asarray(mean), np.asarray(log_var)

    def decode_images(self, z):
        return np.asarray(self.model.decode_images(np.asarray(z, np.float32)))

    def decode_logits(self, z):
        return np.asarray(self.model.decode(np.asarray(z, np.float32)))

    @property
    def likelihood(self):
        return self.model.likelihood

    @property
    def run(self) -> dict:
        return self.metadata

    def representation_function(self, batch_size: int = 256) -> RepresentationFunction:
        from tfbvae.evaluation.representation import from_encoder

        return from_encoder(self.model, batch_size)

    def log_dir(self) -> Path | None:
        logs = run_layout.train_logs(self.path)
        return logs if logs.is_dir() else None

    def recorded_kl_per_dim(self):
        """The training KL of each dimension logged last at or before the checkpoint's step."""
        logs = self.log_dir()
        if logs is None:
            return None, f"no TensorBoard logs in {run_layout.train_logs(self.path)}"
        from tfbvae.visualization import kl_history

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
    """An exported encoder (and, when present, its decoder) SavedModel of one version."""

    kind = "export"

    def __init__(self, path: Path, encoder_dir: Path | None, decoder_dir: Path | None):
        from tfbvae.serving.export import METADATA_PATH

        self.path = path
        self.encoder_dir, self.decoder_dir = encoder_dir, decoder_dir
        self._modules: dict[str, Any] = {}
        self.metadata = {}
        for directory in (encoder_dir, decoder_dir):
            if directory is not None and (directory / METADATA_PATH).is_file():
                from tfbvae.serving.export import read_metadata

                self.metadata = read_metadata(str(directory))
                break
        version_dir = encoder_dir or decoder_dir
        self.version = self.metadata.get("version", int(version_dir.name) if version_dir.name.isdigit() else None)
        self.step = (self.metadata.get("run") or {}).get("step")
        self.data_source = (self.metadata.get("run") or {}).get("data_source")
        if "image_shape" in self.metadata and "latent_dim" in self.metadata:
            self.image_shape = tuple(int(d) for d in self.metadata["image_shape"])
            self.latent_dim = int(self.metadata["latent_dim"])
        else:  # a SavedModel tfbvae did not write: read the shapes off its signature
            signature = self._signature("encoder" if encoder_dir else "decoder")
            if encoder_dir is not None:
                self.image_shape = tuple(signature.structured_input_signature[1]["images"].shape[1:])
                self.latent_dim = int(signature.structured_outputs["mean"].shape[-1])
            else:
                self.image_shape = tuple(signature.structured_outputs["images"].shape[1:])
                self.latent_dim = int(signature.structured_input_signature[1]["z"].shape[-1])

    def _loaded(self, part: str):
        """The part's loaded SavedModel (loaded once, on first use)."""
        import tensorflow as tf

        if part in self._modules:
            return self._modules[part]
        directory = self.encoder_dir if part == "encoder" else self.decoder_dir
        if directory is None:
            raise ModelSourceError(
                f"{self.path} has no exported {part} (looked for "
                f"<base>/<name>/{part}/{self.version}); export the model with apps/export.py, "
                f"which writes both parts")
        self._modules[part] = tf.saved_model.load(str(directory))
        return self._modules[part]

    def _signature(self, part: str):
        return self._loaded(part).signatures[SIGNATURE]

    def encode(self, images, batch_size: int = 256):
        import tensorflow as tf

        images = _as_float_images(images)
        signature = self._signature("encoder")
        outputs = [signature(images=tf.constant(images[i:i + batch_size]))
                   for i in range(0, len(images), batch_size)]
        return (np.concatenate([o["mean"].numpy() for o in outputs]),
                np.concatenate([o["log_var"].numpy() for o in outputs]))

    def _decoded(self, z, output: str, batch_size: int) -> np.ndarray:
        import tensorflow as tf

        z = np.asarray(z, np.float32)
        signature = self._signature("decoder")
        return np.concatenate([signature(z=tf.constant(z[i:i + batch_size]))[output].numpy()
                               for i in range(0, len(z), batch_size)])

    def decode_images(self, z, batch_size: int = 256):
        return self._decoded(z, "images", batch_size)

    def decode_logits(self, z, batch_size: int = 256):
        return self._decoded(z, "logits", batch_size)

    @property
    def likelihood(self):
        import keras

        import tfbvae.model.likelihoods  # noqa: F401  (registers the likelihoods for deserialising)

        if "likelihood" not in self.metadata:
            raise ModelSourceError(f"{self.path} has no tfbvae export metadata naming its "
                                   "likelihood; export the model with apps/export.py")
        return keras.saving.deserialize_keras_object(self.metadata["likelihood"])

    @property
    def run(self) -> dict:
        return self.metadata.get("run") or {}

    def representation_function(self, batch_size: int = 256) -> RepresentationFunction:
        from tfbvae.evaluation.representation import from_saved_model

        if self.encoder_dir is None:
            raise ModelSourceError(f"{self.path} is a decoder; the metrics need the encoder "
                                   f"({self.path.parent.parent / 'encoder'})")
        return from_saved_model(self.encoder_dir, batch_size)

    def recorded_kl_per_dim(self):
        kl = self.metadata.get("kl_per_dim")
        if kl is None:
            return None, self.metadata.get("kl_per_dim_source", "no tfbvae export metadata")
        return np.asarray(kl, np.float64), f"export metadata ({self.metadata.get('kl_per_dim_source')})"

    def log_dir(self) -> Path | None:
        """The logs of the run this was exported from, if its run directory is still there."""
        run_dir = ((self.metadata.get("run") or {}).get("flags") or {}).get("run_dir")
        if not run_dir:
            return None
        logs = run_layout.train_logs(run_dir)
        return logs if logs.is_dir() else None

    def identity(self) -> dict:
        import tensorflow as tf

        fingerprints = {}
        for part, directory in (("encoder", self.encoder_dir), ("decoder", self.decoder_dir)):
            if directory is not None and (directory / "fingerprint.pb").is_file():
                fingerprints[part] = str(
                    tf.saved_model.experimental.read_fingerprint(str(directory)).saved_model_checksum)
        return {
            "kind": self.kind,
            "path": str(self.path),
            "encoder": str(self.encoder_dir) if self.encoder_dir else None,
            "decoder": str(self.decoder_dir) if self.decoder_dir else None,
            "model_name": self.metadata.get("model_name"),
            "version": self.version,
            "step": self.step,
            "saved_model_checksums": fingerprints,
            "metadata": self.metadata,
        }


def _is_saved_model(path: Path) -> bool:
    return (path / SAVED_MODEL_FILE).is_file()


def _versions(part_dir: Path) -> list[int]:
    from tfbvae.serving.export import list_versions

    return list_versions(str(part_dir))


def _version_part(version_dir: Path) -> str:
    """``"encoder"`` or ``"decoder"``: from the export's metadata, else the parent directory's
    name, else the signature's outputs."""
    from tfbvae.serving.export import METADATA_PATH, read_metadata

    if (version_dir / METADATA_PATH).is_file():
        part = read_metadata(str(version_dir)).get("part")
        if part in PARTS:
            return part
    if version_dir.parent.name in PARTS:
        return version_dir.parent.name
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
    part = _version_part(version_dir)
    other = "decoder" if part == "encoder" else "encoder"
    sibling = version_dir.parent.parent / other / version_dir.name
    dirs = {part: version_dir, other: sibling if _is_saved_model(sibling) else None}
    return ExportedModel(path, dirs["encoder"], dirs["decoder"])


def open_model(path: str | os.PathLike, checkpoint: str | None = None) -> ModelSource:
    """The model at ``path`` (see the module docstring for what it may be)."""
    given = Path(path).expanduser()
    path = given.resolve()
    if not path.exists():
        raise ModelSourceError(
            f"--model {given} does not exist: pass a training run directory, an exported "
            "SavedModel (<base>/<name>/encoder/<version>) or an export <base>/<name>")
    if not path.is_dir():
        raise ModelSourceError(
            f"--model {given} is a file; pass the directory that holds it (a run directory or a "
            "SavedModel directory with saved_model.pb)")
    if run_layout.run_file(path).is_file():
        return RunModel(path, checkpoint)
    if checkpoint:
        raise ModelSourceError(f"--checkpoint picks a checkpoint of a run directory; {given} is "
                               "not one (it has no run.json)")
    if _is_saved_model(path):
        return _from_version_dir(path, path)
    if path.name in PARTS and _versions(path):  # <base>/<name>/encoder: its latest version
        return _from_version_dir(path, path / str(_versions(path)[-1]))
    parts = {part: _versions(path / part) for part in PARTS}
    if parts["encoder"]:  # <base>/<name>: the latest version exported with both parts
        both = sorted(set(parts["encoder"]) & set(parts["decoder"]))
        version = both[-1] if both else parts["encoder"][-1]
        return _from_version_dir(path, path / "encoder" / str(version))
    exports = sorted(p.name for p in path.iterdir() if _versions(p / "encoder"))
    if exports:
        raise ModelSourceError(
            f"--model {given} is an export base holding several models: pass one of "
            + ", ".join(str(given / name) for name in exports))
    raise ModelSourceError(
        f"--model {given} is not a model: expected a training run directory (with "
        f"{run_layout.RUN_FILE}), a SavedModel directory (with {SAVED_MODEL_FILE}), "
        "<base>/<name>/encoder (numbered versions inside) or an export <base>/<name> (with "
        f"encoder/<version>/). It holds: {sorted(p.name for p in path.iterdir())[:10]}")
