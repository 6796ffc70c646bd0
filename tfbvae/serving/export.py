"""Export a trained BetaVAE as TensorFlow Serving SavedModels: versioned, atomic, self-describing.

Layout (TensorFlow Serving's ``<model>/<version>/``; see ``exported_models/README.md``)::

    <base_dir>/models.config                        # serves every model under base_dir
    <base_dir>/<model_name>/encoder/<version>/saved_model.pb, variables/,
                                              assets.extra/tfbvae_metadata.json
    <base_dir>/<model_name>/decoder/<version>/...  # same version number as its encoder

Each version is written into a hidden temporary directory beside its target
(``.tmp-export-<pid>-*``, which TensorFlow Serving ignores: not a number) and renamed into
place, so a server watching the base path never sees a half-written version, and a failed or
killed export leaves no version directory. The metadata lives inside the version directory
(``assets.extra/`` is the SavedModel's place for extra files, ignored by the loader), so it
appears atomically with the model it describes.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import json
import os
import platform
import shutil
import tempfile
from typing import Any, Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

import tfbvae
from tfbvae import errors, files
from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.divergences import gaussian_kl_per_dim
from tfbvae.serving.layout import METADATA_PATH, list_versions
from tfbvae.serving.models_config import PARTS, check_model_name, write_models_config
from tfbvae.serving.signatures import (
    DECODER_SIGNATURES,
    ENCODER_SIGNATURES,
    decoder_module,
    describe_signatures,
    encoder_module,
)

METADATA_FORMAT = "tfbvae-export/1"
TMP_PREFIX = ".tmp-export-"
SIGNATURE_DOCS = {"encoder": ENCODER_SIGNATURES, "decoder": DECODER_SIGNATURES}

ServingModules = dict[str, tuple[tf.Module, dict]]  # part -> (module, its signatures)
WriteMetadata = Callable[[str, str, int], None]  # (version directory, part, version)


class ExportInputError(errors.BadInput, ValueError):
    """Images or a crop given to :func:`export_model` that do not fit the model."""


def _image_batches(images: Any, batch_size: int) -> Iterable:
    """Batches of ``images``: an array ``(n, H, W, C)``, or an iterable of batches such as a
    ``tf.data.Dataset`` (elements may be ``(images, ...)`` tuples)."""
    if isinstance(images, (np.ndarray, tf.Tensor)):
        for start in range(0, int(images.shape[0]), batch_size):
            yield images[start : start + batch_size]
        return
    for element in images:
        yield element[0] if isinstance(element, (tuple, list)) else element


def kl_per_dim(model: BetaVAE, images: Any, batch_size: int = 256) -> list[float]:
    """Mean KL(q(z|x) || N(0, I)) of each latent dimension over ``images``, in nats.

    The posterior's information per dimension: the numbers that say which latents a trained
    model uses (dimensions near 0 nats are unused).
    """
    total = np.zeros(model.latent_dim, np.float64)
    count = 0
    image_shape = model.image_shape
    for batch in _image_batches(images, batch_size):
        if len(batch.shape) != 4 or tuple(batch.shape[1:]) != image_shape:
            raise ExportInputError(
                f"kl_images must hold the model's images, shaped (n, "
                f"{', '.join(map(str, image_shape))}); got a batch shaped {tuple(batch.shape)}."
            )
        mean, log_var = model.encode(batch)
        total += np.sum(np.asarray(gaussian_kl_per_dim(mean, log_var), np.float64), axis=0)
        count += int(batch.shape[0])
    if count == 0:
        raise ExportInputError("kl_images holds no image: pass at least one, or leave it out (None).")
    return (total / count).tolist()


def export_model(
    model: BetaVAE,
    base_dir: str,
    model_name: str,
    metadata: dict | None = None,
    kl_images: Any = None,
    crop: int | tuple[int, int] | None = None,
) -> dict:
    """Writes the next version of ``<model_name>``'s encoder and decoder SavedModels.

    Args:
        model: the trained model.
        base_dir: the export tree's root (e.g. ``exported_models``); created if missing.
        model_name: e.g. ``dsprites_capacity``; served as ``<model_name>_encoder`` and
            ``<model_name>_decoder``.
        metadata: facts about the run, stored verbatim under ``"run"`` in the metadata JSON:
            the training app passes ``flags``, ``step``, ``data_source`` and ``latent_dim``.
        kl_images: images (array ``(n, H, W, C)`` uint8 or float in [0, 1], or a
            ``tf.data.Dataset`` of batches) over which the per-dimension KL is measured now;
            without them, ``metadata["kl_per_dim"]`` is used if present.
        crop: the centre crop that ``encode_image_bytes`` takes before resizing (as in
            ``tfbvae.data.images.crop_box``): a side or ``(height, width)``. ``None``: the
            largest centred square. The training data's crop, when its pipeline takes one,
            comes from :func:`tfbvae.data.pipeline.image_crop` (CelebA: 148).

    Returns:
        ``{"version", "encoder", "decoder", "encoder_metadata", "decoder_metadata",
        "models_config"}``: the version number and the paths written.
    """
    _check_exportable(model, model_name)
    run = dict(metadata or {})
    crop = _normalise_crop(crop)
    modules = {"encoder": encoder_module(model, crop), "decoder": decoder_module(model)}
    described = describe_export(model, model_name, run, crop, modules, kl_images)
    model_dirs = {part: os.path.join(os.path.abspath(base_dir), model_name, part) for part in PARTS}
    version = _save_and_publish(modules, model_dirs, described)
    return _written_paths(base_dir, model_dirs, version)


def _check_exportable(model: Any, model_name: str) -> None:
    """Refuses anything but a tfbvae BetaVAE, and a name that cannot be a directory and a URL."""
    if not isinstance(model, BetaVAE):
        raise TypeError(f"export_model exports a tfbvae BetaVAE, got {type(model).__name__}.")
    check_model_name(model_name)


def _normalise_crop(crop: int | Iterable[int] | None) -> tuple[int, int] | None:
    """``(height, width)`` of a crop given as a side or a pair; ``None`` stays ``None``."""
    if crop is None:
        return None
    if isinstance(crop, int):
        crop = (crop, crop)
    crop = tuple(int(c) for c in crop)
    if len(crop) != 2 or min(crop) <= 0:
        raise ExportInputError(
            f"crop must be None (largest centred square), a side or (height, width) > 0; got {crop}."
        )
    return crop


@dataclasses.dataclass(frozen=True)
class ExportMetadata:
    """``assets.extra/tfbvae_metadata.json`` of one exported version: what the served model is
    (shapes, likelihood, objective, capacity, each latent's KL, its signatures), the software
    that wrote it, and the run it came from. Written here, read by
    :mod:`tfbvae.trained_model`."""

    format: str
    model_name: str
    exported_at: str  # UTC, ISO 8601
    image_shape: tuple[int, int, int]
    latent_dim: int
    likelihood: dict  # keras.saving.serialize_keras_object(model.likelihood)
    objective: dict
    capacity: float
    kl_per_dim: list[float] | None  # nats per latent; None when not measured
    kl_per_dim_source: str
    image_bytes_crop: list[int] | str  # encode_image_bytes' centre crop, or "largest centred square"
    signatures: dict  # describe_signatures() of each part
    versions: dict[str, str]  # tfbvae, tensorflow, keras, python
    run: dict  # the training run's facts, as export_model was given them
    part: str | None = None  # "encoder" or "decoder": set per version by of_version
    served_name: str | None = None
    version: int | None = None

    def of_version(self, part: str, version: int) -> "ExportMetadata":
        """This record for one part's version directory."""
        return dataclasses.replace(self, part=part, served_name=f"{self.model_name}_{part}",
                                   version=version)

    def to_record(self) -> dict:
        """The JSON object written, field by field (shallow: ``run`` as given)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    def write(self, version_dir: str) -> None:
        """Writes ``<version_dir>/assets.extra/tfbvae_metadata.json`` (fsynced with the version
        by the caller, which renames the whole directory into place)."""
        path = os.path.join(version_dir, METADATA_PATH)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(self.to_record(), f, indent=2, default=_json_default)
            f.write("\n")

    @classmethod
    def read(cls, version_dir: str | os.PathLike) -> "ExportMetadata":
        """The metadata of an exported version directory; :class:`ExportMetadataError` when it
        is not tfbvae's ``tfbvae-export/1``."""
        record = read_metadata(os.fspath(version_dir))
        names = [field.name for field in dataclasses.fields(cls)]
        missing = [name for name in names[:names.index("part")] if name not in record]
        if record.get("format") != METADATA_FORMAT or missing:
            raise ExportMetadataError(
                f"{os.path.join(version_dir, METADATA_PATH)} is not {METADATA_FORMAT} metadata "
                f"(format {record.get('format')!r}, missing {missing}): re-export the model "
                "with apps/export.py")
        values = {name: record[name] for name in names if name in record}
        return cls(**{**values, "image_shape": tuple(int(d) for d in record["image_shape"])})


class ExportMetadataError(errors.BadInput, ValueError):
    """An exported version whose metadata JSON tfbvae cannot read."""


def read_metadata(version_dir: str) -> dict:
    """The metadata JSON of one exported version directory, as written."""
    with open(os.path.join(version_dir, METADATA_PATH)) as f:
        return json.load(f)


def describe_export(model: BetaVAE, model_name: str, run: dict, crop: tuple[int, int] | None,
                    modules: ServingModules, kl_images: Any = None) -> ExportMetadata:
    """The metadata shared by both parts of a version (:meth:`ExportMetadata.of_version` adds
    the part and the number). Arguments as :func:`export_model`'s; ``crop`` normalised."""
    kl, kl_source = _kl_per_dim_of(model, run, kl_images)
    return ExportMetadata(
        format=METADATA_FORMAT,
        model_name=model_name,
        exported_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        image_shape=model.image_shape,
        latent_dim=int(model.latent_dim),
        likelihood=keras.saving.serialize_keras_object(model.likelihood),
        objective=keras.saving.serialize_keras_object(model.objective),
        capacity=float(model.capacity.numpy()),
        kl_per_dim=kl,
        kl_per_dim_source=kl_source,
        image_bytes_crop=list(crop) if crop else "largest centred square",
        signatures={part: describe_signatures(modules[part][1], SIGNATURE_DOCS[part])
                    for part in PARTS},
        versions={"tfbvae": tfbvae.__version__, "tensorflow": tf.__version__,
                  "keras": keras.__version__, "python": platform.python_version()},
        run=run,
    )


def _kl_per_dim_of(model: BetaVAE, run: dict, kl_images: Any) -> tuple[list[float] | None, str]:
    """Each latent's KL and where it came from: measured on ``kl_images``, else the run's."""
    if kl_images is not None:
        return kl_per_dim(model, kl_images), "measured on kl_images at export"
    if run.get("kl_per_dim") is not None:
        return ([float(k) for k in run["kl_per_dim"]],
                run.get("kl_per_dim_source") or "metadata['kl_per_dim']")
    return None, "not measured (export_model got no kl_images)"


def _json_default(value: Any) -> Any:
    """JSON for the numpy scalars/arrays and paths that flags and metrics carry."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tf.Tensor)):
        return np.asarray(value).tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _save_and_publish(modules: ServingModules, model_dirs: dict[str, str],
                      described: ExportMetadata) -> int:
    """Saves each part into a temporary directory beside its versions, then publishes both
    under the next free number (:func:`_publish`); returns it. Whatever fails on the way, no
    temporary directory is left behind (after a successful rename there is none)."""
    temporaries: dict[str, str] = {}
    try:
        for part in PARTS:
            temporaries[part] = _save_to_temporary(modules[part], model_dirs[part])
        return _publish(model_dirs, temporaries,
                        lambda directory, part, version: described.of_version(part, version).write(directory))
    finally:
        for tmp in temporaries.values():
            shutil.rmtree(tmp, ignore_errors=True)


def _save_to_temporary(module: tuple[tf.Module, dict], model_dir: str) -> str:
    """Saves one part's SavedModel into a new ``.tmp-export-<pid>-*`` directory in
    ``model_dir`` (first removing those of exports that died); returns its path."""
    os.makedirs(model_dir, exist_ok=True)
    _remove_dead_temporaries(model_dir)
    tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=model_dir)
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide it from a server user
    tf.saved_model.save(module[0], tmp, signatures=module[1])
    return tmp


def _remove_dead_temporaries(model_dir: str) -> None:
    """Deletes the temporary directories of exports whose process has died (e.g. SIGKILL)."""
    for name in os.listdir(model_dir):
        if not name.startswith(TMP_PREFIX):
            continue
        pid = name[len(TMP_PREFIX) :].split("-")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(os.path.join(model_dir, name), ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _publish(model_dirs: dict[str, str], temporaries: dict[str, str],
             write_metadata: WriteMetadata) -> int:
    """Renames each part's temporary directory to the next free version number; returns it.

    Each try writes the metadata for the number, flushes the directories to disk and renames
    them into place (:func:`_rename_into_place`). The encoder and decoder get the same number:
    the encoder's rename claims it, so a concurrent export that loses it moves on to the next
    number for both.
    """
    version = _latest_version(model_dirs) + 1
    while True:
        for part, tmp in temporaries.items():
            write_metadata(tmp, part, version)
            files.fsync_tree(tmp)
        if _rename_into_place(temporaries, model_dirs, version):
            for directory in model_dirs.values():
                files.fsync_dir(directory)
            return version
        version = max(version, _latest_version(model_dirs)) + 1


def _latest_version(model_dirs: dict[str, str]) -> int:
    """The highest version number of either part (0 when there is none)."""
    return max(max(list_versions(d), default=0) for d in model_dirs.values())


def _rename_into_place(temporaries: dict[str, str], model_dirs: dict[str, str], version: int) -> bool:
    """Renames every part's finished temporary directory to ``<part>/<version>``, encoder
    first: the step at which a server starts to see the version. False, with every rename
    undone, when another export holds the number for either part."""
    renamed = []
    for part in PARTS:
        if not _rename_unless_exists(temporaries[part], os.path.join(model_dirs[part], str(version))):
            for done in renamed:  # give the number back; it is taken on the other side
                os.rename(os.path.join(model_dirs[done], str(version)), temporaries[done])
            return False
        renamed.append(part)
    return True


def _rename_unless_exists(source: str, target: str) -> bool:
    """Renames ``source`` to ``target``; False (nothing done) if ``target`` already exists.

    ``rename`` of a directory fails when the target is a non-empty directory, which every
    version is: of two exports racing for one number, the second gets False.
    """
    if os.path.lexists(target):
        return False
    try:
        os.rename(source, target)
    except OSError as err:
        if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        raise
    return True


def _written_paths(base_dir: str, model_dirs: dict[str, str], version: int) -> dict:
    """What :func:`export_model` returns; writes ``models.config`` for the tree."""
    paths = {part: os.path.join(model_dirs[part], str(version)) for part in PARTS}
    return {
        "version": version,
        **paths,
        **{f"{part}_metadata": os.path.join(paths[part], METADATA_PATH) for part in PARTS},
        "models_config": write_models_config(os.path.abspath(base_dir)),
    }
