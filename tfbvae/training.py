"""A training run from its settings: data, model, callbacks, ``fit``, checkpoints and export.

:func:`train` is what ``apps/train.py`` runs; it takes the app's flags as a dict (see
``python apps/train.py --helpfull``). A run lives in one directory::

    <run_dir>/run.json, flags.txt      settings (flags.txt reproduces the run)
    <run_dir>/checkpoints/ckpt-<step>  the last few checkpoints (+ TF's ``checkpoint`` index)
    <run_dir>/logs/train, validation   TensorBoard
    <run_dir>/exported_models/         the SavedModels exported at the end (default base)

Starting in a directory that holds a run resumes it from its newest checkpoint, with the exact
data stream it would have seen (the pipeline is a function of (seed, step)); settings that
would change its model are refused. Keras epochs are logging intervals: ``fit`` runs with
``steps_per_epoch = log_every``, so the library callbacks act once per interval and users'
Keras callbacks work unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfbvae import callbacks as tfbvae_callbacks
from tfbvae import checkpoints, errors, event_files, run_config, strategies
from tfbvae.callbacks.images import kl_per_dim_from_logs
from tfbvae.data import pipeline

log = logging.getLogger(__name__)

LOG_DIR = "logs"
NUM_PICTURE_IMAGES = 8  # inputs shown as reconstructions in TensorBoard


class TrainingDiverged(errors.Failure, RuntimeError):
    """The loss or the weights became NaN/Inf; the message names the steps and likely causes."""


class DataUnavailable(errors.BadInput, RuntimeError):
    """The data set could not be loaded; the message says how to get it."""


class RunDirLocked(errors.BadInput, RuntimeError):
    """Another process is training in the run directory."""


@dataclasses.dataclass
class TrainResult:
    run_dir: str
    step: int  # the step training ended at
    start_step: int  # the step it started (resumed) from
    data: dict  # the data record: source string, shapes, sizes
    history: dict  # Keras history of this invocation (logging-interval means)
    export: dict | None = None  # paths written by the export, when it ran


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Holds an exclusive lock on the run directory: two processes never train one run.

    The kernel releases it when the process dies, so a killed run can be resumed at once.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirLocked(
                f"Another process is training in {run_dir} (it holds {run_dir / '.lock'}). Wait "
                "for it to finish or stop it, or pass another --run_dir."
            ) from None
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


# The data module's errors name its arguments (path=, source=, manual_dir=, num_images=); these
# are the app's flags that set them, per data set.
_FLAG_HINTS = {
    "dsprites": "--data_path=/path/to/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz (the "
    "official file), --data_source=rendered (the offline renderer) or --data_source=tfds (tfds "
    "downloads it; --tfds_data_dir: its data), --dsprites_num_images (a leading block, rendered)",
    "celeba": "--data_path=/path/to/img_align_celeba.zip (or the folder of JPEGs it unpacks to), "
    "--tfds_manual_dir (tfds' manual-download directory), --tfds_data_dir (tfds' data), "
    "--data_source=tfds (lets tfds download it)",
    "image_folder": "--data_path=/path/to/your/images (a folder, searched recursively), "
    "--on_bad_image=skip (skip undecodable files with a warning)",
}


def load_data_source(config: Mapping[str, Any]) -> pipeline.ImageSource:
    """The data set the settings name, loaded (and cached) once; errors say how to get it.

    Nothing is downloaded unless ``--data_source=tfds`` asks for it."""
    dataset = config["dataset"]
    try:
        return pipeline.load_source(
            dataset,
            source=config["data_source"],
            path=config["data_path"],
            data_dir=config["data_dir"],
            tfds_data_dir=config["tfds_data_dir"],
            manual_dir=config["tfds_manual_dir"],
            channels=config["channels"],
            on_error=config["on_bad_image"],
            num_images=config.get("dsprites_num_images") or None,  # 0: all images
        )
    except (FileNotFoundError, NotADirectoryError, RuntimeError, ValueError) as err:
        raise DataUnavailable(
            f"Cannot load the {dataset!r} data set: {err}\nThe flags of apps/train.py for these: "
            f"{_FLAG_HINTS[dataset]}; --data_dir: tfbvae's cache."
        ) from err


def compile_model(config: Mapping[str, Any]) -> keras.Model:
    """The run's model (build it in the strategy's scope), compiled with its Adam optimizer.

    The initial weights are a function of ``config["seed"]`` (Keras' global seed is set here).
    """
    keras.utils.set_random_seed(config["seed"])
    model = run_config.build_model(config)
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=config["learning_rate"],
            beta_1=config["adam_beta1"],
            beta_2=config["adam_beta2"],
            epsilon=config["adam_epsilon"],
        ),
        jit_compile=config["jit_compile"],
    )
    return model


def validation_epochs(config: Mapping[str, Any]) -> list[int]:
    """The (1-based) epochs after which Keras validates: every ``validate_every`` steps and
    at the last step."""
    every, total = config["log_every"], config["steps"] // config["log_every"]
    per = config["validate_every"] // every
    return sorted({e for e in range(per, total + 1, per)} | {total})


def _picture_images(train: tf.data.Dataset, val: tf.data.Dataset | None) -> np.ndarray:
    """A fixed batch to draw reconstructions and traversals of: the first validation images
    (or, without validation data, the first training batch; its own iterator)."""
    source = val if val is not None else train
    images = []
    for batch in source:
        images.extend(batch.numpy())
        if len(images) >= NUM_PICTURE_IMAGES:
            break
    return np.stack(images[:NUM_PICTURE_IMAGES])


def make_callbacks(
    config: Mapping[str, Any],
    checkpoint: checkpoints.RunCheckpoint,
    guard: tfbvae_callbacks.TerminateOnNonFinite,
    log_dir: Path | None,
    pictures: np.ndarray | None,
    stream=None,
) -> list[keras.callbacks.Callback]:
    """The run's callbacks, in the order that matters: C first (it is set before each step);
    the TensorBoard writers before the checkpoint (what they logged for a step is flushed
    before the step's checkpoint exists); the NaN guard before the checkpoint. ``log_dir``
    ``None``: no TensorBoard and no progress bar (a non-chief worker)."""
    callbacks: list[keras.callbacks.Callback] = []
    if run_config.uses_capacity(config):
        callbacks.append(tfbvae_callbacks.CapacityAnnealing(config["c_max"], config["c_stop_steps"]))
    if log_dir is not None:
        callbacks += [
            tfbvae_callbacks.TensorBoardScalars(log_dir, batch_size=config["batch_size"]),
            tfbvae_callbacks.TensorBoardImages(log_dir, pictures, config["image_every"]),
        ]
    callbacks += [guard, tfbvae_callbacks.CheckpointSaver(checkpoint, config["checkpoint_every"])]
    if log_dir is not None and config["progress"]:
        callbacks.append(tfbvae_callbacks.ProgressBar(config["steps"], config["batch_size"], stream))
    return callbacks


def _export_metadata(config, step: int, data: dict, logs: Mapping[str, float]) -> dict:
    """What the export records of the run (the keys :func:`~tfbvae.checkpoints.restore_model`
    returns too); ``kl_per_dim``: the last logging interval's training means."""
    kl = kl_per_dim_from_logs(dict(logs))
    return {
        "flags": dict(config),
        "step": step,
        "data_source": data["source"],
        "latent_dim": int(config["latent_dim"]),
        "kl_per_dim": None if kl is None else [float(v) for v in kl],
        "data": data,
    }


def train(
    config: Mapping[str, Any],
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    stream=None,
) -> TrainResult:
    """Trains (or resumes) the run ``config["run_dir"]`` until ``config["steps"]``.

    ``extra_callbacks`` are added to ``fit`` after the library's (their epochs are logging
    intervals). Raises :class:`TrainingDiverged` on a NaN/Inf loss (after keeping the last
    good checkpoint), :class:`DataUnavailable` when the data cannot be loaded and
    :class:`tfbvae.run_config.RunConfigError` when the directory holds another model's run.
    """
    config = dict(config)
    run_dir = Path(config["run_dir"])
    record = run_config.read_run(run_dir)
    if record is not None:
        changed = run_config.check_resumable(record, config, run_dir)
        for change in changed:
            log.info("Resuming %s with a changed setting: %s", run_dir, change)

    strategy = strategies.make_strategy(config["strategy"], config.get("tpu"))
    chief = strategies.is_chief(strategy)
    source = load_data_source(config)
    if record is not None:
        run_config.check_data_source(record, source.source, run_dir)
    expected = run_config.image_shape(config)
    if tuple(source.image_shape) != expected:
        raise DataUnavailable(
            f"The {config['dataset']} data has images of shape {source.image_shape}, the "
            f"settings say {expected} (--image_size, --channels): make them agree."
        )

    # Non-chief workers of a multi-worker run write their (identical) files to scratch space.
    write_dir = run_dir if chief else run_dir / f".scratch-{strategies.worker_id(strategy)}"
    with run_dir_lock(write_dir):
        with strategy.scope():
            model = compile_model(config)
            checkpoint = checkpoints.RunCheckpoint(
                model, checkpoints.checkpoint_dir(write_dir), config["keep_checkpoints"]
            )
        if checkpoint.removed:
            log.warning("Removed an incomplete checkpoint write: %s", checkpoint.removed)
        start_step = checkpoint.restore_latest()
        # Training settings come from the flags, not the checkpoint (they may change on resume).
        model.optimizer.learning_rate = config["learning_rate"]
        if start_step % config["log_every"]:
            raise run_config.RunConfigError(
                f"The newest checkpoint of {run_dir} is at step {start_step}, not a multiple of "
                f"--log_every={config['log_every']}: resume with the --log_every it was trained with."
            )
        train_ds, val_ds, info = pipeline.datasets_from_source(
            source,
            config["batch_size"],
            seed=config["seed"],
            validation_fraction=config["validation_fraction"],
            start_step=start_step,
        )
        data = info.as_dict()
        log_dir = write_dir / LOG_DIR
        if chief:
            removed = event_files.trim_event_files(log_dir, start_step)
            if removed:
                log.info("Removed %d TensorBoard events logged after step %d (the checkpoint "
                         "resumed from).", removed, start_step)
            run_config.write_run(run_dir, config, data)
        if start_step:
            log.info("Resuming %s from step %d.", run_dir, start_step)

        guard = tfbvae_callbacks.TerminateOnNonFinite()
        pictures = _picture_images(train_ds, val_ds) if chief else None
        callbacks = make_callbacks(config, checkpoint, guard, log_dir if chief else None,
                                   pictures, stream) + list(extra_callbacks)
        log_every = config["log_every"]
        history = model.fit(
            train_ds,
            epochs=config["steps"] // log_every,
            initial_epoch=start_step // log_every,
            steps_per_epoch=log_every,
            validation_data=val_ds,
            validation_steps=config["validation_steps"] or None,
            validation_freq=validation_epochs(config),
            callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles (by index, per epoch, from the seed)
            verbose=0,
        )
        if guard.message:
            raise TrainingDiverged(guard.message)
        end_step = checkpoint.step
        result = TrainResult(str(run_dir), end_step, start_step, data, dict(history.history))
        last_logs = {k: v[-1] for k, v in history.history.items() if v}
        if config["export"] and chief and end_step > start_step:
            kl_images = val_ds.take(config["validation_steps"] or -1) if val_ds is not None else None
            metadata = _export_metadata(config, end_step, data, last_logs)
            result.export = export(model, config, metadata, kl_images)
        elif end_step == start_step:
            log.info("%s is already at step %d (--steps=%d): nothing to train. Export it with "
                     "apps/export.py.", run_dir, end_step, config["steps"])
    if not chief:
        shutil.rmtree(write_dir, ignore_errors=True)
    return result


def export(
    model: keras.Model, config: Mapping[str, Any], metadata: dict, kl_images=None
) -> dict:
    """Exports the trained model with the export module (TF Serving layout under the base,
    default ``<run_dir>/exported_models``); the per-dimension KL in its metadata is measured on
    ``kl_images`` (the validation batches), else taken from ``metadata["kl_per_dim"]``."""
    from tfbvae.export import export_model

    base = config["export_base"] or str(Path(config["run_dir"]) / "exported_models")
    name = run_config.default_model_name(config)
    paths = export_model(model, base, name, metadata, kl_images=kl_images)
    log.info("Exported %s to %s.", name, base)
    return paths
