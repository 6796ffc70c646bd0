"""A training run from its settings: data, model, callbacks, ``fit``, checkpoints and export.

:func:`train` is what ``apps/train.py`` runs; it takes the run's
:class:`~tfbvae.training.settings.Settings` (see ``python apps/train.py --helpfull``). A run
lives in one directory (:mod:`tfbvae.training.run_dir`): its record and ``flags.txt``,
checkpoints, TensorBoard logs and, by default, the export.

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
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfbvae import errors
from tfbvae.data import datasets, pipeline
from tfbvae.training import callbacks as tfbvae_callbacks
from tfbvae.training import checkpoints
from tfbvae.training import event_files
from tfbvae.training import run_dir as layout
from tfbvae.training import run_record
from tfbvae.training import strategies
from tfbvae.training.run_record import DataRecord, RunFacts
from tfbvae.training.settings import Settings
from tfbvae.training.tags import kl_per_dim_from_logs

log = logging.getLogger(__name__)

NUM_PICTURE_IMAGES = 8  # inputs shown as reconstructions in TensorBoard


class TrainingDiverged(errors.Failure, RuntimeError):
    """The loss or the weights became NaN/Inf; the message names the steps and likely causes."""


class DataUnavailable(errors.BadInput, RuntimeError):
    """The data set could not be loaded; the message says how to get it."""


@dataclasses.dataclass
class TrainResult:
    run_dir: str
    step: int  # the step training ended at
    start_step: int  # the step it started (resumed) from
    data: DataRecord | None  # the data trained on (None: nothing trained, no record left)
    history: dict  # Keras history of this invocation (logging-interval means)
    export: dict | None = None  # paths written by the export, when it ran


# The data module's errors name its arguments (path=, source=, manual_dir=, num_images=); these
# are the app's flags that set them, per data set.
def load_options(settings: Settings) -> datasets.LoadOptions:
    """What the settings say about where the data set's images are."""
    return datasets.LoadOptions(
        source=settings.data_source,
        path=settings.data_path,
        data_dir=settings.data_dir,
        tfds_data_dir=settings.tfds_data_dir,
        manual_dir=settings.tfds_manual_dir,
        channels=settings.channels,
        on_error=settings.on_bad_image,
        num_images=settings.dsprites_num_images or None,  # 0: all images
        scream_image=settings.scream_image,
    )


def load_data_source(settings: Settings) -> pipeline.ImageSource:
    """The data set the settings name, loaded (and cached) once; errors say how to get it.

    Nothing is downloaded unless ``--data_source=tfds`` asks for it."""
    try:
        return pipeline.load_source(settings.dataset, load_options(settings))
    except (FileNotFoundError, NotADirectoryError, RuntimeError, ValueError) as err:
        raise DataUnavailable(
            f"Cannot load the {settings.dataset!r} data set: {err}\nThe flags of apps/train.py for "
            f"these: {datasets.get(settings.dataset).flags}; --data_dir: tfbvae's cache."
        ) from err


def compile_model(settings: Settings) -> keras.Model:
    """The run's model (build it in the strategy's scope), compiled with its Adam optimizer.

    The initial weights are a function of ``settings.seed`` (Keras' global seed is set here).
    """
    keras.utils.set_random_seed(settings.seed)
    model = checkpoints.build_model(settings)
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=settings.learning_rate,
            beta_1=settings.adam_beta1,
            beta_2=settings.adam_beta2,
            epsilon=settings.adam_epsilon,
        ),
        jit_compile=settings.jit_compile,
    )
    return model


def uses_capacity(settings: Settings) -> bool:
    """Whether the run's objective has a capacity C to anneal."""
    from tfbvae.model.objectives import OBJECTIVES

    return OBJECTIVES[settings.objective].uses_capacity


def validation_epochs(settings: Settings) -> list[int]:
    """The (1-based) epochs after which Keras validates: every ``validate_every`` steps and
    at the last step."""
    every, total = settings.log_every, settings.steps // settings.log_every
    per = settings.validate_every // every
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
    settings: Settings,
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
    if uses_capacity(settings):
        callbacks.append(tfbvae_callbacks.CapacityAnnealing(settings.c_max, settings.c_stop_steps))
    if log_dir is not None:
        callbacks += [
            tfbvae_callbacks.TensorBoardScalars(log_dir, batch_size=settings.batch_size),
            tfbvae_callbacks.TensorBoardImages(log_dir, pictures, settings.image_every),
        ]
    callbacks.append(guard)
    if log_dir is not None:  # the chief alone saves (no checkpointed variable needs the others)
        callbacks.append(tfbvae_callbacks.CheckpointSaver(checkpoint, settings.checkpoint_every))
    if log_dir is not None and settings.progress:
        callbacks.append(tfbvae_callbacks.ProgressBar(settings.steps, settings.batch_size, stream))
    return callbacks


def _export_metadata(settings: Settings, step: int, data: DataRecord,
                     logs: Mapping[str, float]) -> RunFacts:
    """What the export records of the run; ``kl_per_dim``: the last logging interval's
    training means."""
    return RunFacts.of_run(settings, data, step, kl_per_dim=kl_per_dim_from_logs(dict(logs)))


def _check_run_dir(run_dir: Path, settings: Settings) -> DataRecord | None:
    """The data of the run in ``run_dir`` if it holds one these settings may resume (``None``:
    a new run, or a run whose record is lost).

    A directory with checkpoints but no ``run.json`` (deleted or lost) is resumed only when its
    ``flags.txt`` shows the same model settings; otherwise nothing says what the checkpoints
    are, and it is refused.
    """
    record = run_record.read_run(run_dir)
    if record is not None:
        old, data = record.settings, record.data
    elif checkpoints.scan(layout.checkpoint_dir(run_dir)).intact:
        old, data = run_record.settings_from_flags_file(run_dir), None
        log.warning("%s is missing: checking the settings against %s instead.",
                    layout.run_file(run_dir), layout.flags_file(run_dir))
    else:
        return None
    for change in run_record.check_resumable(old, settings, run_dir):
        log.info("Resuming %s with a changed setting: %s", run_dir, change)
    return data


def _load_checked_source(settings: Settings, resumed: DataRecord | None, run_dir: Path):
    """The run's data, checked against the run being resumed and the settings' image shape."""
    source = load_data_source(settings)
    run_record.check_data_source(resumed, source.source, run_dir)
    if tuple(source.image_shape) != settings.image_shape:
        raise DataUnavailable(
            f"The {settings.dataset} data has images of shape {source.image_shape}, the "
            f"settings say {settings.image_shape} (--image_size, --channels): make them agree."
        )
    try:
        train_rows, _ = pipeline.split_indices(source.num_examples, settings.validation_fraction,
                                               settings.seed)
    except ValueError as err:
        raise DataUnavailable(f"{source.location}: {err}: lower --validation_fraction, or use "
                              "more data.") from None
    num_train = len(train_rows)
    if settings.batch_size > num_train:
        raise DataUnavailable(
            f"--batch_size={settings.batch_size} is more than the {num_train} training images "
            f"of {source.location} ({source.num_examples} images, --validation_fraction="
            f"{settings.validation_fraction} held out): use a --batch_size of at most "
            f"{num_train}, or more data."
        )
    return source


def validation_batches(settings: Settings, num_validation: int) -> int | None:
    """How many validation batches each validation uses: ``--validation_steps`` (0: all), at
    most the batches the held-out split has (``None``: no validation split)."""
    if not num_validation:
        return None
    available = -(-num_validation // settings.batch_size)
    return min(settings.validation_steps or available, available)


def _warn_if_validation_short(settings: Settings, num_validation: int) -> None:
    available = -(-num_validation // settings.batch_size)
    if num_validation and settings.validation_steps > available:
        log.warning("--validation_steps=%d, but the %d held-out images make %d batches of %d: "
                    "each validation uses all of them.", settings.validation_steps,
                    num_validation, available, settings.batch_size)


def _data_record(settings: Settings, info: pipeline.DataInfo) -> DataRecord:
    """The data record of run.json and the export, with the validation images actually used."""
    used = min(info.num_validation,
               (validation_batches(settings, info.num_validation) or 0) * settings.batch_size)
    return DataRecord(**dataclasses.asdict(info), validation_images_used=used)


def _fit_phases(start_step: int, settings: Settings) -> list[tuple[int, int, int]]:
    """``(initial_epoch, epochs, steps_per_epoch)`` of the ``fit`` calls from ``start_step``.

    Keras epochs are logging intervals of ``log_every`` steps. A run stopped by a signal may
    have been saved inside one; it first finishes that interval (a short epoch), then goes on
    in whole intervals, so every step is trained and logged once.
    """
    every, total = settings.log_every, settings.steps // settings.log_every
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

    settings: Settings
    run_dir: Path
    chief: bool
    model: keras.Model
    checkpoint: checkpoints.RunCheckpoint
    source: pipeline.ImageSource
    start_step: int


@dataclasses.dataclass
class _Fitted:
    """What the ``fit`` calls of one invocation leave: the history, the NaN guard, the data
    trained on and the validation batches (both ``None`` when there was nothing to train)."""

    history: dict[str, list]
    guard: tfbvae_callbacks.TerminateOnNonFinite
    data: DataRecord | None = None
    val_ds: tf.data.Dataset | None = None


def _restore(settings: Settings, run_dir: Path, write_dir: Path, strategy, source) -> _Run:
    """Builds the model in the strategy's scope and restores the newest intact checkpoint."""
    with strategy.scope():
        model = compile_model(settings)
        checkpoint = checkpoints.RunCheckpoint(
            model, layout.checkpoint_dir(write_dir), settings.keep_checkpoints
        )
    checkpoint.restore_latest()
    # The other workers of a multi-worker run take the chief's restored state, step included.
    strategies.sync_from_chief(strategy, model.variables + model.optimizer.variables)
    start_step = checkpoint.step
    # Training settings come from the flags, not the checkpoint (they may change on resume).
    model.optimizer.learning_rate = settings.learning_rate
    if start_step:
        log.info("Resuming %s from step %d.", run_dir, start_step)
    chief = write_dir == run_dir
    return _Run(settings, run_dir, chief, model, checkpoint, source, start_step)


def _fit(run: _Run, stop: tfbvae_callbacks.StopOnSignal, extra_callbacks, stream) -> _Fitted:
    """Trains from the restored step to ``--steps`` (or a stop), one ``fit`` per phase
    (:func:`_fit_phases`)."""
    settings = run.settings
    fitted = _Fitted({}, tfbvae_callbacks.TerminateOnNonFinite())
    callbacks = None
    for initial_epoch, epochs, steps_per_epoch in _fit_phases(run.start_step, settings):
        first_step = initial_epoch * settings.log_every + (settings.log_every - steps_per_epoch)
        train_ds, fitted.val_ds, info = pipeline.datasets_from_source(
            run.source, settings.batch_size, seed=settings.seed,
            validation_fraction=settings.validation_fraction, start_step=first_step,
        )
        fitted.data = _data_record(settings, info)
        if callbacks is None:
            callbacks = _first_phase_callbacks(run, fitted, train_ds, info, stream)
            callbacks += list(extra_callbacks) + [stop]
        history = run.model.fit(
            train_ds, epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
            validation_data=fitted.val_ds,
            validation_steps=validation_batches(settings, info.num_validation),
            validation_freq=validation_epochs(settings), callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles (by index, per epoch, from the seed)
            verbose=0,
        ).history
        for key, values in history.items():
            fitted.history.setdefault(key, []).extend(values)
        if stop.received or fitted.guard.message:
            break
    return fitted


def _first_phase_callbacks(run: _Run, fitted: _Fitted, train_ds, info: pipeline.DataInfo,
                           stream) -> list[keras.callbacks.Callback]:
    """Before the first ``fit``: the warnings, the chief's logs and record, the callbacks."""
    _warn_if_validation_short(run.settings, info.num_validation)
    if run.chief:
        _start_logs(run, fitted.data)
    pictures = _picture_images(train_ds, fitted.val_ds) if run.chief else None
    log_dir = layout.log_dir(run.run_dir) if run.chief else None
    return make_callbacks(run.settings, run.checkpoint, fitted.guard, log_dir, pictures, stream)


def _start_logs(run: _Run, data: DataRecord) -> None:
    """Trims TensorBoard back to the resumed step and (re)writes the run record."""
    removed = event_files.trim_event_files(layout.log_dir(run.run_dir), run.start_step)
    if removed:
        log.info("Removed %d TensorBoard events logged after step %d (the checkpoint resumed "
                 "from).", removed, run.start_step)
    run_record.write_run(run.run_dir, run.settings, data)


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


@contextlib.contextmanager
def _write_dir(run_dir: Path, strategy: tf.distribute.Strategy) -> Iterator[Path]:
    """Where this process writes: the run directory on the chief. The other workers of a
    multi-worker run take the chief's state (:func:`_restore`) and write nothing: their
    checkpoint object points at an empty private directory, removed at the end."""
    if strategies.is_chief(strategy):
        yield run_dir
        return
    private = Path(tempfile.mkdtemp(prefix=f"tfbvae-{strategies.worker_id(strategy)}-"))
    try:
        yield private
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _raise_if_stopped(run: _Run, stop: tfbvae_callbacks.StopOnSignal, fitted: _Fitted) -> None:
    """Reports a diverged run, or a signal's stop: where the run was saved and how to resume."""
    if fitted.guard.message:
        raise TrainingDiverged(fitted.guard.message)
    if not stop.received:
        return
    latest = run.checkpoint.latest
    raise errors.Interrupted(
        f"Stopped by {stop.signal_name} at step {run.checkpoint.step}"
        + (f", saved as {latest}" if latest else "")
        + f". Resume with the same command, or: python apps/train.py "
        f"--flagfile={layout.flags_file(run.run_dir)}",
        stop.received,
    )


def train(
    settings: Settings,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    stream=None,
) -> TrainResult:
    """Trains (or resumes) the run ``settings.run_dir`` until ``settings.steps``, then exports it.

    Args:
        settings: the run's settings (``python apps/train.py --helpfull``).
        extra_callbacks: added to ``fit`` after the library's (their epochs are logging
            intervals).
        stream: where the progress bar draws (default stdout).

    Returns:
        The :class:`TrainResult`.

    Raises:
        TrainingDiverged: the loss became NaN/Inf (the last good checkpoint is kept).
        DataUnavailable: the data cannot be loaded (the message says how to get it).
        tfbvae.training.run_record.RunRecordError: the directory holds another model's run.
        tfbvae.training.run_dir.RunDirLocked: another process trains in the directory.
        tfbvae.errors.Interrupted: SIGINT or SIGTERM stopped it (after saving a checkpoint
            when the signal came during training).
    """
    run_dir = Path(settings.run_dir)
    with tfbvae_callbacks.StopOnSignal() as stop:
        resumed = _check_run_dir(run_dir, settings)
        strategy = strategies.make_strategy(settings.strategy, settings.tpu)
        source = _load_checked_source(settings, resumed, run_dir)
        with _write_dir(run_dir, strategy) as write_dir, layout.lock(write_dir):
            run = _restore(settings, run_dir, write_dir, strategy, source)
            with _worker_loss_as_failure(strategy):
                fitted = _fit(run, stop, extra_callbacks, stream)
            _raise_if_stopped(run, stop, fitted)
            return _finish(run, fitted)


def _finish(run: _Run, fitted: _Fitted) -> TrainResult:
    """Exports the finished run (unless its newest export is of this step already)."""
    end_step = run.checkpoint.step
    data = fitted.data
    if data is None:  # nothing left to train: the data of the run as it stands
        record = run_record.read_run(run.run_dir)
        data = record.data if record else None
    result = TrainResult(str(run.run_dir), end_step, run.start_step, data, fitted.history)
    if end_step == run.start_step:
        log.info("%s is already at step %d (--steps=%d): nothing to train.", run.run_dir,
                 end_step, run.settings.steps)
    if run.settings.export and run.chief and _exported_step(run.settings) != end_step:
        result.export = _export_run(run, fitted, end_step)
    return result


def _exported_step(settings: Settings) -> int | None:
    """The training step of the run's newest export (``None``: not exported yet)."""
    from tfbvae.serving.export import ExportMetadata
    from tfbvae.serving.layout import list_versions

    encoder_dir = Path(export_base(settings)) / settings.model_name / "encoder"
    versions = list_versions(encoder_dir)
    if not versions:
        return None
    return RunFacts.from_json(ExportMetadata.read(encoder_dir / str(max(versions))).run).step


def _export_run(run: _Run, fitted: _Fitted, end_step: int) -> dict:
    """Exports the run at ``end_step``, its per-dimension KL measured on the validation
    batches (made here when nothing was trained in this invocation)."""
    settings, val_ds, data = run.settings, fitted.val_ds, fitted.data
    if data is None:
        _, val_ds, info = pipeline.datasets_from_source(
            run.source, settings.batch_size, seed=settings.seed,
            validation_fraction=settings.validation_fraction)
        data = _data_record(settings, info)
    val_batches = validation_batches(settings, data.num_validation)
    kl_images = val_ds.take(val_batches) if val_ds is not None else None
    last_logs = {k: v[-1] for k, v in fitted.history.items() if v}
    return export(run.model, settings, _export_metadata(settings, end_step, data, last_logs),
                  kl_images)


def export_base(settings: Settings) -> str:
    """Where the run exports to: ``--export_base``, default ``<run_dir>/exported_models``."""
    return layout.export_base(settings.run_dir, settings.export_base)


def export(model: keras.Model, settings: Settings, facts: RunFacts, kl_images=None) -> dict:
    """Exports the trained model with the export module (TF Serving layout under
    :func:`export_base`, ``facts`` as its metadata's ``run``); the per-dimension KL in its
    metadata is measured on ``kl_images`` (the validation batches), else taken from
    ``facts.kl_per_dim``."""
    from tfbvae.serving.export import export_model

    base = export_base(settings)
    paths = export_model(model, base, settings.model_name, facts.to_json(), kl_images=kl_images,
                         crop=pipeline.image_crop(settings.dataset))
    log.info("Exported %s to %s.", settings.model_name, base)
    return paths
