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

import datetime
import errno
import json
import os
import platform
import shutil
import tempfile
import time
from typing import Any, Iterable

import keras
import numpy as np
import tensorflow as tf

import tfbvae
from tfbvae import errors, files
from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.divergences import gaussian_kl_per_dim
from tfbvae.serving.models_config import PARTS, check_model_name, write_models_config
from tfbvae.serving.signatures import (
    DECODER_SIGNATURES,
    ENCODER_SIGNATURES,
    decoder_module,
    describe_signatures,
    encoder_module,
)

METADATA_PATH = os.path.join("assets.extra", "tfbvae_metadata.json")
METADATA_FORMAT = "tfbvae-export/1"
TMP_PREFIX = ".tmp-export-"
# Seconds to sleep between writing a version and renaming it into place: lets the kill test
# SIGKILL an export at its most delicate moment deterministically. Unset in normal use.
PAUSE_ENV = "TFBVAE_EXPORT_PAUSE_BEFORE_RENAME"


class ExportInputError(errors.BadInput, ValueError):
    """Images or a crop given to :func:`export_model` that do not fit the model."""


def list_versions(model_dir: str) -> list[int]:
    """The numeric version directories of one served model (what TensorFlow Serving sees)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(name)
        for name in os.listdir(model_dir)
        if name.isdigit() and os.path.isdir(os.path.join(model_dir, name))
    )


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
    image_shape = tuple(int(d) for d in model.encoder.inputs[0].shape[1:])
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


def _json_default(value: Any):
    """JSON for the numpy scalars/arrays and paths that flags and metrics carry."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tf.Tensor)):
        return np.asarray(value).tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _normalise_crop(crop) -> tuple[int, int] | None:
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


def data_crop(run: dict) -> int | None:
    """The centre crop of the run's training images (``None``: largest centred square), so
    that ``encode_image_bytes`` prepares a raw photo as training did."""
    if (run.get("flags") or {}).get("dataset") == "celeba":
        from tfbvae.data.celeba import CROP

        return CROP
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_temporaries(model_dir: str) -> None:
    """Deletes the temporary directories of exports whose process has died (e.g. SIGKILL)."""
    for name in os.listdir(model_dir):
        if not name.startswith(TMP_PREFIX):
            continue
        pid = name[len(TMP_PREFIX) :].split("-")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(os.path.join(model_dir, name), ignore_errors=True)


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


def _publish(model_dirs: dict, temporaries: dict, write_metadata) -> int:
    """Renames each part's temporary directory to the next free version number; returns it.

    The encoder and decoder get the same number: the encoder's rename claims it, so a
    concurrent export that loses it moves on to the next number for both.
    """
    version = 1 + max(max(list_versions(d), default=0) for d in model_dirs.values())
    pause = float(os.environ.get(PAUSE_ENV, "0") or 0)
    while True:
        for part, tmp in temporaries.items():
            write_metadata(tmp, part, version)
            files.fsync_tree(tmp)
        if pause:
            time.sleep(pause)
            pause = 0.0
        published = []
        for part in PARTS:
            if not _rename_unless_exists(temporaries[part], os.path.join(model_dirs[part], str(version))):
                break
            published.append(part)
        else:
            for directory in model_dirs.values():
                files.fsync_dir(directory)
            return version
        for part in published:  # give the number back; it is taken on the other side
            os.rename(os.path.join(model_dirs[part], str(version)), temporaries[part])
        latest = max(max(list_versions(d), default=0) for d in model_dirs.values())
        version = max(version, latest) + 1


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
            training data's crop when ``metadata["flags"]["dataset"]`` names one (CelebA:
            148), else the largest centred square.

    Returns:
        ``{"version", "encoder", "decoder", "encoder_metadata", "decoder_metadata",
        "models_config"}``: the version number and the paths written.
    """
    if not isinstance(model, BetaVAE):
        raise TypeError(f"export_model exports a tfbvae BetaVAE, got {type(model).__name__}.")
    check_model_name(model_name)
    run = dict(metadata or {})
    crop = _normalise_crop(crop if crop is not None else data_crop(run))
    if kl_images is not None:
        kl, kl_source = kl_per_dim(model, kl_images), "measured on kl_images at export"
    elif run.get("kl_per_dim") is not None:
        kl = [float(k) for k in run["kl_per_dim"]]
        kl_source = run.get("kl_per_dim_source") or "metadata['kl_per_dim']"
    else:
        kl, kl_source = None, "not measured (export_model got no kl_images)"

    modules = {"encoder": encoder_module(model, crop), "decoder": decoder_module(model)}
    docs = {"encoder": ENCODER_SIGNATURES, "decoder": DECODER_SIGNATURES}
    signatures = {part: describe_signatures(modules[part][1], docs[part]) for part in PARTS}
    serialize = keras.saving.serialize_keras_object
    common = {
        "format": METADATA_FORMAT,
        "model_name": model_name,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "image_shape": [int(d) for d in model.encoder.inputs[0].shape[1:]],
        "latent_dim": int(model.latent_dim),
        "likelihood": serialize(model.likelihood),
        "objective": serialize(model.objective),
        "capacity": float(model.capacity.numpy()),
        "kl_per_dim": kl,
        "kl_per_dim_source": kl_source,
        "image_bytes_crop": list(crop) if crop else "largest centred square",
        "signatures": signatures,
        "versions": {
            "tfbvae": tfbvae.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
        },
        "run": run,
    }

    def write_metadata(directory: str, part: str, version: int) -> None:
        path = os.path.join(directory, METADATA_PATH)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        record = {**common, "part": part, "served_name": f"{model_name}_{part}", "version": version}
        with open(path, "w") as f:
            json.dump(record, f, indent=2, default=_json_default)
            f.write("\n")

    base_dir = os.path.abspath(base_dir)
    model_dirs = {part: os.path.join(base_dir, model_name, part) for part in PARTS}
    temporaries = {}
    try:
        for part in PARTS:
            os.makedirs(model_dirs[part], exist_ok=True)
            _remove_dead_temporaries(model_dirs[part])
            temporaries[part] = tempfile.mkdtemp(
                prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=model_dirs[part]
            )
            os.chmod(temporaries[part], 0o755)  # mkdtemp's 0700 would hide it from a server user
            module, fns = modules[part]
            tf.saved_model.save(module, temporaries[part], signatures=fns)
        version = _publish(model_dirs, temporaries, write_metadata)
    finally:
        for tmp in temporaries.values():  # gone after a successful rename
            shutil.rmtree(tmp, ignore_errors=True)

    paths = {part: os.path.join(model_dirs[part], str(version)) for part in PARTS}
    return {
        "version": version,
        **paths,
        **{f"{part}_metadata": os.path.join(paths[part], METADATA_PATH) for part in PARTS},
        "models_config": write_models_config(base_dir),
    }


def read_metadata(version_dir: str) -> dict:
    """The metadata JSON of one exported version directory."""
    with open(os.path.join(version_dir, METADATA_PATH)) as f:
        return json.load(f)
