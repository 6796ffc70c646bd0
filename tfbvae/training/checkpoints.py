"""Checkpoints of a training run, and the model of a run directory.

A checkpoint (``<run_dir>/checkpoints/ckpt-<step>``) holds the weights, the optimizer's state
(its step counter and Adam moments), C, and the reparameterisation noise generator's state.
The training data stream is a pure function of (seed, step) (:func:`tfbvae.data.pipeline.
train_dataset` starts at any step), so the step is all the data-iterator state there is: a
resumed run sees exactly the batches the uninterrupted run would have seen.

Which checkpoints exist is decided by the files, not by TensorFlow's ``checkpoint`` state
file: a checkpoint is *intact* when its ``.index`` and every ``.data`` shard are present and
every tensor reads back (TensorFlow checks each tensor's CRC32C). A killed or interrupted
write, a lost or garbled state file, a truncated or deleted file: a training start
(:meth:`RunCheckpoint.__init__`) moves whatever is not intact into ``checkpoints/damaged/``
(never deletes it), logs what and why, and rewrites the state file to list the intact ones, so
training resumes from the newest intact checkpoint. Readers (:func:`restore_model`) take the
newest intact checkpoint and move nothing (a training may be running).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import tensorflow as tf
from tensorflow.python.checkpoint import checkpoint_management

from tfbvae import errors
from tfbvae.training import run_dir as layout
from tfbvae.training import run_record
from tfbvae.training.run_dir import checkpoint_dir
from tfbvae.training.settings import Settings

if TYPE_CHECKING:
    from tfbvae.model.beta_vae import BetaVAE

log = logging.getLogger(__name__)


class NoCheckpoint(errors.BadInput, FileNotFoundError):
    """A run directory without an intact checkpoint to read."""


class NotARunDirectory(errors.BadInput, FileNotFoundError):
    """A directory without the ``run.json`` a training run writes."""


def build_model(settings: Settings) -> "BetaVAE":
    """The (uncompiled) :class:`~tfbvae.model.beta_vae.BetaVAE` a run's settings describe."""
    from tfbvae.model.beta_vae import BetaVAE
    from tfbvae.model.likelihoods import get_likelihood
    from tfbvae.model.networks import build_networks
    from tfbvae.model.objectives import get_objective

    encoder, decoder = build_networks(settings.network, settings.image_shape, settings.latent_dim)
    likelihood_args = {"sigma": settings.gaussian_sigma} if settings.likelihood == "gaussian" else {}
    if settings.objective == "beta":
        objective_args = {"beta": settings.beta}
    else:
        objective_args = {"gamma": settings.gamma}
    return BetaVAE(
        encoder,
        decoder,
        likelihood=get_likelihood(settings.likelihood, **likelihood_args),
        objective=get_objective(settings.objective, **objective_args),
        seed=settings.seed,
    )


def _trackables(model) -> dict:
    """What a checkpoint holds. The optimizer's step counter is also saved as ``step`` so that
    readers that build no optimizer (:func:`restore_model`) can read it."""
    items = {
        "model": model,
        "seed_generator": model.seed_generator.state,  # the model does not track it itself
    }
    if getattr(model, "optimizer", None) is not None:
        items["optimizer"] = model.optimizer
        items["step"] = model.optimizer.iterations
    return items


@dataclasses.dataclass(frozen=True)
class Scan:
    """The checkpoints of a directory as its files show them.

    Attributes:
        intact: prefixes (``.../ckpt-<step>``) of the intact checkpoints, oldest first.
        damaged: each file or directory that is not part of an intact checkpoint, with why.
    """

    intact: tuple[Path, ...]
    damaged: dict[Path, str]

    @property
    def newest(self) -> Path | None:
        return self.intact[-1] if self.intact else None


def _group_files(directory: Path) -> dict[int, list[Path]]:
    """The directory's checkpoint files (and unfinished writes) by checkpoint number."""
    groups: dict[int, list[Path]] = {}
    if not directory.is_dir():
        return groups
    for entry in sorted(directory.iterdir()):
        match = layout.CHECKPOINT_FILE.match(entry.name)
        if match:
            groups.setdefault(int(match.group(1)), []).append(entry)
    return groups


def _why_damaged(prefix: Path, files: list[Path]) -> str | None:
    """Why the checkpoint ``prefix`` made of ``files`` cannot be restored (``None``: intact)."""
    names = {f.name for f in files}
    if any("_temp" in n for n in names):
        return "an unfinished write (the process was stopped while saving it)"
    if f"{prefix.name}.index" not in names:
        return "its .index file is missing"
    shards = [layout.CHECKPOINT_FILE.match(n) for n in names if ".data-" in n]
    if not shards:
        return "its .data file is missing"
    count = int(shards[0].group(4))
    expected = {f"{prefix.name}.data-{i:05d}-of-{count:05d}" for i in range(count)}
    if missing := sorted(expected - names):
        return f"{', '.join(missing)} is missing"
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
    except Exception as err:  # noqa: BLE001  (any failure to read back means: not restorable)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"it does not read back ({type(err).__name__}: {reason})"
    return None


def scan(directory: str | os.PathLike) -> Scan:
    """Sorts a checkpoint directory's files into intact checkpoints and damaged files.

    Args:
        directory: a run's checkpoint directory (it may not exist yet).

    Returns:
        The :class:`Scan`: intact checkpoint prefixes by step, damaged paths with a reason.
    """
    directory = Path(directory)
    intact, damaged = [], {}
    for number, files in sorted(_group_files(directory).items()):
        prefix = directory / f"{layout.CHECKPOINT_NAME}-{number}"
        reason = _why_damaged(prefix, files)
        if reason is None:
            intact.append(prefix)
        else:
            damaged.update({f: reason for f in files})
    return Scan(tuple(intact), damaged)


def _set_aside(directory: Path, paths: list[Path]) -> list[Path]:
    """Moves ``paths`` into ``<directory>/damaged/`` (a numbered name if one is taken)."""
    target_dir = directory / layout.DAMAGED
    target_dir.mkdir(exist_ok=True)
    moved = []
    for path in paths:
        target = target_dir / path.name
        n = 1
        while target.exists():
            target, n = target_dir / f"{path.name}.{n}", n + 1
        shutil.move(str(path), str(target))
        moved.append(target)
    return moved


def _listed(directory: Path) -> list[str] | None:
    """The checkpoint names the state file lists (``None``: no readable state file)."""
    if not (directory / layout.STATE_FILE).exists():
        return None
    try:
        state = tf.train.get_checkpoint_state(str(directory))  # None when it does not parse
    except (UnicodeDecodeError, ValueError):  # not text, or names no checkpoint
        return None
    return [Path(p).name for p in state.all_model_checkpoint_paths] if state else None


def _write_state(directory: Path, intact: tuple[Path, ...]) -> None:
    """Rewrites the state file to list ``intact`` (oldest first), with the files' times so that
    ``CheckpointManager`` still keeps only the newest ``max_to_keep``."""
    times = [os.path.getmtime(f"{p}.index") for p in intact]
    checkpoint_management.update_checkpoint_state_internal(
        str(directory),
        str(intact[-1]),
        all_model_checkpoint_paths=[str(p) for p in intact],
        save_relative_paths=True,
        all_model_checkpoint_timestamps=times,
        last_preserved_timestamp=min(times) - 1,
    )


def repair(directory: str | os.PathLike) -> Scan:
    """Makes the directory's state match its files before a training starts in it.

    Moves damaged files into ``damaged/`` (logging each checkpoint and why), then rewrites the
    state file if it is missing, unreadable or lists other checkpoints than the intact ones.

    Args:
        directory: a run's checkpoint directory; the caller holds the run's lock.

    Returns:
        The scan before the move (its ``damaged`` paths are now under ``damaged/``).
    """
    directory = Path(directory)
    found = scan(directory)
    if found.damaged:
        for reason in sorted(set(found.damaged.values())):
            names = sorted(p.name for p, r in found.damaged.items() if r == reason)
            log.warning("Set aside in %s: %s: %s.", directory / layout.DAMAGED, ", ".join(names), reason)
        _set_aside(directory, sorted(found.damaged))
    listed = _listed(directory)
    names = [p.name for p in found.intact]
    if found.intact and listed != names:
        what = "missing" if not (directory / layout.STATE_FILE).exists() else (
            "unreadable" if listed is None else f"listing {listed}")
        log.warning("The checkpoint state file of %s was %s; it now lists %s (the newest intact: "
                    "%s).", directory, what, names, names[-1])
        _write_state(directory, found.intact)
    elif not found.intact and (directory / layout.STATE_FILE).exists():
        _set_aside(directory, [directory / layout.STATE_FILE])
    return found


class RunCheckpoint:
    """The checkpoints of one run: save at a step, restore the latest, keep the last few.

    The model must be compiled (its optimizer exists); its optimizer variables are created here
    so that a restore fills them instead of deferring.
    """

    def __init__(self, model, directory: str | os.PathLike, max_to_keep: int = 3):
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1 (checkpoints kept), got {max_to_keep}")
        self.model = model
        self.directory = Path(directory)
        model.optimizer.build(model.trainable_variables)
        self.checkpoint = tf.train.Checkpoint(**_trackables(model))
        repair(self.directory)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(self.directory), max_to_keep=max_to_keep,
            checkpoint_name=layout.CHECKPOINT_NAME,
        )

    @property
    def step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    @property
    def latest_step(self) -> int | None:
        """Step of the newest checkpoint on disk (``None`` when there is none)."""
        return step_of(self.latest) if self.latest else None

    def restore_latest(self) -> int:
        """Restores the newest checkpoint, if any; returns the step training continues from."""
        if self.latest is None:
            return 0
        self.checkpoint.restore(self.latest).assert_existing_objects_matched()
        return self.step

    def save(self) -> str:
        """Writes a checkpoint of the current state, numbered by the training step."""
        return self.manager.save(checkpoint_number=self.step)


def step_of(checkpoint_path: str) -> int:
    """The training step a checkpoint was written at (its number)."""
    match = re.search(rf"{layout.CHECKPOINT_NAME}-(\d+)$", str(checkpoint_path))
    if not match:
        raise ValueError(f"{checkpoint_path} is not a tfbvae checkpoint (expected .../{layout.CHECKPOINT_NAME}-<step>)")
    return int(match.group(1))


def newest_intact(run_dir: str | os.PathLike) -> Path:
    """The newest intact checkpoint of a run (logging the newer damaged ones it passes over).

    Raises:
        NoCheckpoint: the run has no intact checkpoint.
    """
    directory = checkpoint_dir(run_dir)
    found = scan(directory)
    newest_step = step_of(found.newest) if found.newest else -1
    passed_over = {p.name: r for p, r in found.damaged.items()
                   if (m := layout.CHECKPOINT_FILE.match(p.name)) and int(m.group(1)) > newest_step}
    for name, reason in sorted(passed_over.items()):
        log.warning("Skipping %s: %s.", directory / name, reason)
    if found.newest is None:
        what = "damaged (see the warnings above)" if found.damaged else "empty"
        raise NoCheckpoint(
            f"{run_dir} has no intact checkpoint ({directory} is {what}): train it until the "
            "first checkpoint (--checkpoint_every) is written."
        )
    return found.newest


def restore_model(run_dir: str, checkpoint: str | None = None) -> tuple["BetaVAE", run_record.RunFacts]:
    """The model of a run directory with its newest intact checkpoint's weights, and its facts.

    Args:
        run_dir: a training run's directory.
        checkpoint: another checkpoint of the run (a path ``.../ckpt-<step>``) to read.

    Returns:
        ``(model, facts)``: an uncompiled :class:`~tfbvae.model.beta_vae.BetaVAE` and its
        :class:`~tfbvae.training.run_record.RunFacts`: ``settings``, ``step`` (training step of
        the checkpoint), ``data_source`` (e.g. rendered or official dSprites), ``latent_dim``,
        ``capacity`` (C at that step), ``data`` (the data record), ``checkpoint`` and ``run_dir``.

    Raises:
        NotARunDirectory: ``run_dir`` has no ``run.json``.
        NoCheckpoint: it has no intact checkpoint, or ``checkpoint`` is damaged.
    """
    record = run_record.read_run(run_dir)
    if record is None:
        raise NotARunDirectory(
            f"{run_dir} is not a tfbvae run directory (no {layout.RUN_FILE}); pass the "
            "--run_dir a training run wrote."
        )
    if checkpoint is None:
        path = str(newest_intact(run_dir))
    else:
        path = str(checkpoint)
        try:
            files = _group_files(Path(path).parent).get(step_of(path), [])
            reason = _why_damaged(Path(path), files)
        except ValueError:
            reason = "not a checkpoint path (.../ckpt-<step>)"
        if reason is not None:
            raise NoCheckpoint(f"Cannot read checkpoint {path}: {reason}. Pass another "
                               "checkpoint of the run, or none for its newest intact one.")
    model = build_model(record.settings)
    step = tf.Variable(0, dtype=tf.int64)
    status = tf.train.Checkpoint(**_trackables(model), step=step).read(path)
    status.expect_partial()  # the optimizer's state is not needed to use the model
    status.assert_existing_objects_matched()
    facts = run_record.RunFacts.of_run(
        record.settings, record.data, int(step.numpy()), capacity=float(model.capacity.numpy()),
        checkpoint=path, run_dir=str(run_dir))
    return model, facts
