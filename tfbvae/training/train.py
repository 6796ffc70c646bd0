"""A training run from its settings: data, model, callbacks, ``fit``, checkpoints and export.

:func:`train` is what ``apps/train.py`` runs; it takes the app's flags as a dict (see
``python apps/train.py --helpfull``). A run lives in one directory::

    <run_dir>/run.json, flags.txt      settings (flags.txt reproduces the run)
    <run_dir>/checkpoints/ckpt-<step>  the last few checkpoints (+ TF's ``checkpoint`` index)
    <run_dir>/logs/train, validation   TensorBoard
    <run_dir>/exported_models/         the SavedModels exported at the end (default base)

Starting in a directory that holds a run resumes it from its newest intact checkpoint (damaged
ones are set aside, see :mod:`tfbvae.training.checkpoints`), with the exact data stream it would have
seen (the pipeline is a function of (seed, step)); settings that would change its model are
refused. Keras epochs are logging intervals: ``fit`` runs with ``steps_per_epoch = log_every``,
so the library callbacks act once per interval and users' Keras callbacks work unchanged.
SIGINT and SIGTERM stop a run after the current step and save it there
(:class:`~tfbvae.training.callbacks.StopOnSignal`); the resumed run first completes that logging
interval, so no step is lost or repeated. A finished run whose export is missing is exported
when it is started again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfbvae import errors
from tfbvae.data import pipeline
from tfbvae.training import callbacks as tfbvae_callbacks
from tfbvae.training import checkpoints
from tfbvae.training import config as run_config
from tfbvae.training import event_files
from tfbvae.training import strategies
from tfbvae.training.callbacks.images import kl_per_dim_from_logs

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
    ``None``: no TensorBoard, no progress bar and no checkpoints (a non-chief worker)."""
    callbacks: list[keras.callbacks.Callback] = []
    if run_config.uses_capacity(config):
        callbacks.append(tfbvae_callbacks.CapacityAnnealing(config["c_max"], config["c_stop_steps"]))
    if log_dir is not None:
        callbacks += [
            tfbvae_callbacks.TensorBoardScalars(log_dir, batch_size=config["batch_size"]),
            tfbvae_callbacks.TensorBoardImages(log_dir, pictures, config["image_every"]),
        ]
    callbacks.append(guard)
    if log_dir is not None:  # the chief alone saves (no checkpointed variable needs the others)
        callbacks.append(tfbvae_callbacks.CheckpointSaver(checkpoint, config["checkpoint_every"]))
    if log_dir is not None and config["progress"]:
        callbacks.append(tfbvae_callbacks.ProgressBar(config["steps"], config["batch_size"], stream))
    return callbacks


def _export_metadata(config, step: int, data: dict, logs: Mapping[str, float]) -> dict:
    """What the export records of the run (the keys :func:`~tfbvae.training.checkpoints.restore_model`
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


def _check_run_dir(run_dir: Path, config: Mapping[str, Any]) -> dict | None:
    """The run record of ``run_dir`` if it holds a run these settings may resume.

    A directory with checkpoints but no ``run.json`` (deleted or lost) is resumed only when its
    ``flags.txt`` shows the same model settings; otherwise nothing says what the checkpoints
    are, and it is refused.
    """
    record = run_config.read_run(run_dir)
    if record is None:
        if not checkpoints.scan(checkpoints.checkpoint_dir(run_dir)).intact:
            return None
        record = _record_from_flags_file(run_dir, config)
    for change in run_config.check_resumable(record, config, run_dir):
        log.info("Resuming %s with a changed setting: %s", run_dir, change)
    return record


def _record_from_flags_file(run_dir: Path, config: Mapping[str, Any]) -> dict:
    """A run record rebuilt from ``flags.txt`` when ``run.json`` is gone; refuses if both are."""
    flags_file = run_dir / run_config.FLAGS_FILE
    if not flags_file.exists():
        raise run_config.RunConfigError(
            f"{run_dir} has checkpoints but neither {run_config.RUN_FILE} nor "
            f"{run_config.FLAGS_FILE}, so the settings they were trained with are unknown. "
            f"Restore {run_dir / run_config.RUN_FILE} from a backup, or pass a new --run_dir."
        )
    log.warning("%s is missing: checking the settings against %s instead.",
                run_dir / run_config.RUN_FILE, flags_file)
    return {"flags": run_config.read_flags_file(flags_file, like=config), "data": {}}


def _load_checked_source(config: Mapping[str, Any], record: dict | None, run_dir: Path):
    """The run's data, checked against the run being resumed and the settings' image shape."""
    source = load_data_source(config)
    if record is not None:
        run_config.check_data_source(record, source.source, run_dir)
    expected = run_config.image_shape(config)
    if tuple(source.image_shape) != expected:
        raise DataUnavailable(
            f"The {config['dataset']} data has images of shape {source.image_shape}, the "
            f"settings say {expected} (--image_size, --channels): make them agree."
        )
    try:
        train_rows, _ = pipeline.split_indices(source.num_examples, config["validation_fraction"],
                                               config["seed"])
    except ValueError as err:
        raise DataUnavailable(f"{source.location}: {err}: lower --validation_fraction, or use "
                              "more data.") from None
    num_train = len(train_rows)
    if config["batch_size"] > num_train:
        raise DataUnavailable(
            f"--batch_size={config['batch_size']} is more than the {num_train} training images "
            f"of {source.location} ({source.num_examples} images, --validation_fraction="
            f"{config['validation_fraction']} held out): use a --batch_size of at most "
            f"{num_train}, or more data."
        )
    return source


def validation_batches(config: Mapping[str, Any], num_validation: int) -> int | None:
    """How many validation batches each validation uses: ``--validation_steps`` (0: all), at
    most the batches the held-out split has (``None``: no validation split)."""
    if not num_validation:
        return None
    available = -(-num_validation // config["batch_size"])
    return min(config["validation_steps"] or available, available)


def _warn_if_validation_short(config: Mapping[str, Any], num_validation: int) -> None:
    available = -(-num_validation // config["batch_size"])
    if num_validation and config["validation_steps"] > available:
        log.warning("--validation_steps=%d, but the %d held-out images make %d batches of %d: "
                    "each validation uses all of them.", config["validation_steps"],
                    num_validation, available, config["batch_size"])


def _data_record(info: pipeline.DataInfo, val_batches: int | None, batch_size: int) -> dict:
    """The data record of run.json and the export, with the validation images actually used."""
    data = info.as_dict()
    data["validation_images_used"] = min(info.num_validation, (val_batches or 0) * batch_size)
    return data


def _fit_phases(start_step: int, config: Mapping[str, Any]) -> list[tuple[int, int, int]]:
    """``(initial_epoch, epochs, steps_per_epoch)`` of the ``fit`` calls from ``start_step``.

    Keras epochs are logging intervals of ``log_every`` steps. A run stopped by a signal may
    have been saved inside one; it first finishes that interval (a short epoch), then goes on
    in whole intervals, so every step is trained and logged once.
    """
    every, total = config["log_every"], config["steps"] // config["log_every"]
    epoch, done = divmod(start_step, every)
    phases = []
    if done:
        phases.append((epoch, epoch + 1, every - done))
        epoch += 1
    if epoch < total:
        phases.append((epoch, total, every))
    return phases


@dataclasses.dataclass
class _Run:
    """What one training invocation works with, once set up."""

    config: dict
    run_dir: Path
    chief: bool
    model: keras.Model
    checkpoint: checkpoints.RunCheckpoint
    source: pipeline.ImageSource
    start_step: int


def _restore(config: dict, run_dir: Path, write_dir: Path, strategy, source) -> _Run:
    """Builds the model in the strategy's scope and restores the newest intact checkpoint."""
    with strategy.scope():
        model = compile_model(config)
        checkpoint = checkpoints.RunCheckpoint(
            model, checkpoints.checkpoint_dir(write_dir), config["keep_checkpoints"]
        )
    checkpoint.restore_latest()
    # The other workers of a multi-worker run take the chief's restored state, step included.
    strategies.sync_from_chief(strategy, model.variables + model.optimizer.variables)
    start_step = checkpoint.step
    # Training settings come from the flags, not the checkpoint (they may change on resume).
    model.optimizer.learning_rate = config["learning_rate"]
    if start_step:
        log.info("Resuming %s from step %d.", run_dir, start_step)
    chief = write_dir == run_dir
    return _Run(config, run_dir, chief, model, checkpoint, source, start_step)


def _fit(run: _Run, stop: tfbvae_callbacks.StopOnSignal, extra_callbacks, stream):
    """Trains from the restored step to ``--steps`` (or a stop); returns the history, the
    NaN guard and the data record."""
    config, chief = run.config, run.chief
    guard = tfbvae_callbacks.TerminateOnNonFinite()
    history: dict[str, list] = {}
    callbacks = None
    data = val_ds = None
    for initial_epoch, epochs, steps_per_epoch in _fit_phases(run.start_step, config):
        first_step = initial_epoch * config["log_every"] + (config["log_every"] - steps_per_epoch)
        train_ds, val_ds, info = pipeline.datasets_from_source(
            run.source, config["batch_size"], seed=config["seed"],
            validation_fraction=config["validation_fraction"], start_step=first_step,
        )
        val_batches = validation_batches(config, info.num_validation)
        data = _data_record(info, val_batches, config["batch_size"])
        if callbacks is None:
            _warn_if_validation_short(config, info.num_validation)
            if chief:
                _start_logs(run, data)
            pictures = _picture_images(train_ds, val_ds) if chief else None
            log_dir = run.run_dir / LOG_DIR if chief else None
            callbacks = make_callbacks(config, run.checkpoint, guard, log_dir, pictures, stream)
            callbacks += list(extra_callbacks) + [stop]
        fitted = run.model.fit(
            train_ds, epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
            validation_data=val_ds, validation_steps=val_batches,
            validation_freq=validation_epochs(config), callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles (by index, per epoch, from the seed)
            verbose=0,
        )
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(values)
        if stop.received or guard.message:
            break
    return history, guard, data, val_ds


def _start_logs(run: _Run, data: dict) -> None:
    """Trims TensorBoard back to the resumed step and (re)writes the run record."""
    log_dir = run.run_dir / LOG_DIR
    removed = event_files.trim_event_files(log_dir, run.start_step)
    if removed:
        log.info("Removed %d TensorBoard events logged after step %d (the checkpoint resumed "
                 "from).", removed, run.start_step)
    run_config.write_run(run.run_dir, run.config, data)


class WorkerLost(errors.Failure):
    """Another worker of a multi-worker run stopped."""


@contextlib.contextmanager
def _worker_loss_as_failure(strategy: tf.distribute.Strategy) -> Iterator[None]:
    """Reports a lost worker of a multi-worker run (TensorFlow's collectives then fail on the
    others with ``UnavailableError``) as what to do, instead of a traceback."""
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as err:
        if strategies.num_workers(strategy) < 2:
            raise
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WorkerLost(
            f"A worker of this multi-worker run stopped ({type(err).__name__}: {first_line[:200]}). "
            "Start every worker again with its same command: training resumes from the chief's "
            "newest checkpoint."
        ) from None


def _interrupted(run: _Run, stop: tfbvae_callbacks.StopOnSignal) -> errors.Interrupted:
    """The error that reports a signal's stop: where the run was saved and how to resume."""
    latest = run.checkpoint.latest
    return errors.Interrupted(
        f"Stopped by {stop.signal_name} at step {run.checkpoint.step}"
        + (f", saved as {latest}" if latest else "")
        + f". Resume with the same command, or: python apps/train.py "
        f"--flagfile={run.run_dir / run_config.FLAGS_FILE}",
        stop.received,
    )


def _exported_step(config: Mapping[str, Any]) -> int | None:
    """The training step of the run's newest export (``None``: not exported yet)."""
    from tfbvae.serving.export import list_versions, read_metadata

    encoder_dir = Path(export_base(config)) / run_config.default_model_name(config) / "encoder"
    versions = list_versions(str(encoder_dir)) if encoder_dir.is_dir() else []
    if not versions:
        return None
    return read_metadata(str(encoder_dir / str(max(versions)))).get("run", {}).get("step")


def train(
    config: Mapping[str, Any],
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    stream=None,
) -> TrainResult:
    """Trains (or resumes) the run ``config["run_dir"]`` until ``config["steps"]``, then exports it.

    Args:
        config: the app's settings (``python apps/train.py --helpfull``).
        extra_callbacks: added to ``fit`` after the library's (their epochs are logging
            intervals).
        stream: where the progress bar draws (default stdout).

    Returns:
        The :class:`TrainResult`.

    Raises:
        TrainingDiverged: the loss became NaN/Inf (the last good checkpoint is kept).
        DataUnavailable: the data cannot be loaded (the message says how to get it).
        tfbvae.training.config.RunConfigError: the directory holds another model's run.
        RunDirLocked: another process trains in the directory.
        tfbvae.errors.Interrupted: SIGINT or SIGTERM stopped it (after saving a checkpoint
            when the signal came during training).
    """
    config = dict(config)
    run_dir = Path(config["run_dir"])
    with tfbvae_callbacks.StopOnSignal() as stop:
        record = _check_run_dir(run_dir, config)
        strategy = strategies.make_strategy(config["strategy"], config.get("tpu"))
        chief = strategies.is_chief(strategy)
        source = _load_checked_source(config, record, run_dir)
        # Only the chief writes the run's files. The other workers of a multi-worker run take
        # the chief's state (_restore) and write nothing: their checkpoint object points at an
        # empty private directory, removed at the end.
        write_dir = run_dir if chief else Path(
            tempfile.mkdtemp(prefix=f"tfbvae-{strategies.worker_id(strategy)}-"))
        try:
            with run_dir_lock(write_dir):
                run = _restore(config, run_dir, write_dir, strategy, source)
                with _worker_loss_as_failure(strategy):
                    history, guard, data, val_ds = _fit(run, stop, extra_callbacks, stream)
                if guard.message:
                    raise TrainingDiverged(guard.message)
                if stop.received:
                    raise _interrupted(run, stop)
                result = _finish(run, history, data, val_ds)
        finally:
            if not chief:
                shutil.rmtree(write_dir, ignore_errors=True)
    return result


def _finish(run: _Run, history: dict, data: dict | None, val_ds) -> TrainResult:
    """Exports the finished run (unless its newest export is of this step already)."""
    config = run.config
    end_step = run.checkpoint.step
    if data is None:  # nothing left to train: the record of the run as it stands
        data = (run_config.read_run(run.run_dir) or {}).get("data", {})
    result = TrainResult(str(run.run_dir), end_step, run.start_step, data, history)
    if end_step == run.start_step:
        log.info("%s is already at step %d (--steps=%d): nothing to train.", run.run_dir,
                 end_step, config["steps"])
    if not (config["export"] and run.chief) or _exported_step(config) == end_step:
        return result
    if val_ds is None and data.get("num_validation"):
        _, val_ds, _ = pipeline.datasets_from_source(
            run.source, config["batch_size"], seed=config["seed"],
            validation_fraction=config["validation_fraction"])
    val_batches = validation_batches(config, data.get("num_validation", 0))
    kl_images = val_ds.take(val_batches) if val_ds is not None else None
    last_logs = {k: v[-1] for k, v in history.items() if v}
    metadata = _export_metadata(config, end_step, data, last_logs)
    result.export = export(run.model, config, metadata, kl_images)
    return result


def export_base(config: Mapping[str, Any]) -> str:
    """Where the run exports to: ``--export_base``, default ``<run_dir>/exported_models``."""
    return config["export_base"] or str(Path(config["run_dir"]) / "exported_models")


def export(
    model: keras.Model, config: Mapping[str, Any], metadata: dict, kl_images=None
) -> dict:
    """Exports the trained model with the export module (TF Serving layout under the base,
    default ``<run_dir>/exported_models``); the per-dimension KL in its metadata is measured on
    ``kl_images`` (the validation batches), else taken from ``metadata["kl_per_dim"]``."""
    from tfbvae.serving.export import export_model

    base = export_base(config)
    name = run_config.default_model_name(config)
    paths = export_model(model, base, name, metadata, kl_images=kl_images)
    log.info("Exported %s to %s.", name, base)
    return paths
