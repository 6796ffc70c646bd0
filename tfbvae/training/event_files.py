"""TensorBoard event files of a run: read their scalars, and trim them back to a step on resume.

A run killed after its last checkpoint has logged steps that the resumed run logs again. On
resume the event files are cut back to the checkpoint's step (and a record torn by the kill is
dropped), so every reader sees one value per step: no duplicated range, none missing.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import tensorflow as tf

from tfbvae import files
from tfbvae.names import CAPACITY_OBJECTIVES
from tfbvae.training import tags

EVENT_FILE_MARK = "tfevents"
PAUSE_SECONDS = 300.0  # a silence this long, and PAUSE_FACTOR times the usual logging interval,
PAUSE_FACTOR = 20.0    # is a pause, not training (see active_seconds)


def event_file_paths(log_dir: str | os.PathLike) -> list[Path]:
    """Event files under ``log_dir`` (recursively), in TensorBoard's (name) order."""
    root = Path(log_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob(f"*{EVENT_FILE_MARK}*") if p.is_file() and not p.name.startswith("."))


def _records(path: Path) -> Iterator[bytes]:
    """The intact records of an event file; stops at a torn or corrupt record (a kill mid-write)."""
    try:
        for record in tf.data.TFRecordDataset(str(path)):
            yield record.numpy()
    except tf.errors.DataLossError:
        return


def events(path: str | os.PathLike) -> Iterator[tf.compat.v1.Event]:
    """The intact events of one event file, in order."""
    for record in _records(Path(path)):
        yield tf.compat.v1.Event.FromString(record)


def trim_event_files(log_dir: str | os.PathLike, max_step: int) -> int:
    """Removes every event after ``max_step`` (and torn records) from the event files under
    ``log_dir``; each changed file is rewritten beside and renamed into place. Returns the
    number of events removed."""
    for leftover in Path(log_dir).rglob(".*.trim"):  # a trim killed before its rename
        leftover.unlink(missing_ok=True)
    removed = 0
    for path in event_file_paths(log_dir):
        records = list(_records(path))
        kept = [r for r in records if tf.compat.v1.Event.FromString(r).step <= max_step]
        intact = sum(len(r) + 16 for r in records) == path.stat().st_size  # 16: TFRecord framing
        if len(kept) == len(records) and intact:
            continue
        removed += len(records) - len(kept)
        tmp = path.with_name(f".{path.name}.trim")
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for record in kept:
                writer.write(record)
        files.replace_atomically(tmp, path)
    return removed


def read_scalars(log_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files of ``log_dir`` (one split, e.g. ``logs/train``):
    ``{tag: [(step, value), ...]}`` sorted by step."""
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for path in event_file_paths(log_dir):
        if path.parent != Path(log_dir):
            continue
        for event in events(path):
            for value in event.summary.value:
                if value.HasField("tensor") and value.metadata.plugin_data.plugin_name == "scalars":
                    scalar = float(tf.make_ndarray(value.tensor))
                elif value.HasField("simple_value"):
                    scalar = float(value.simple_value)
                else:
                    continue
                series[value.tag].append((int(event.step), scalar))
    return {tag: sorted(points) for tag, points in series.items()}


def training_seconds(log_dir: str | os.PathLike) -> float | None:
    """Seconds the run spent training, as its logs saw it (None before any event): for each
    process that wrote to ``log_dir``, first to last event less its pauses
    (:func:`active_seconds`), summed over the processes. A process is the host and pid in
    TensorBoard's file names (``events.out.tfevents.<time>.<host>.<pid>.<n>.v2``; one process
    writes several files), so the time between a stop and its resume is not counted either."""
    times: dict[str, list[float]] = defaultdict(list)
    for path in event_file_paths(log_dir):
        times[writer_process(path)] += [event.wall_time for event in events(path) if event.summary.value]
    times = {process: t for process, t in times.items() if t}
    return sum(active_seconds(t) for t in times.values()) if times else None


def active_seconds(wall_times: list[float]) -> float:
    """First to last of one process's event times, less its pauses: a silence longer than
    :data:`PAUSE_SECONDS` and :data:`PAUSE_FACTOR` times the process's usual interval between
    logging moments (events within a second of each other are one moment) is a process stopped
    (SIGSTOP, a suspended machine) or starved, not training."""
    moments = sorted(wall_times)
    gaps = [later - earlier for earlier, later in zip(moments, moments[1:])]
    intervals = [gap for gap in gaps if gap >= 1.0]
    if not intervals:
        return sum(gaps)
    limit = max(PAUSE_SECONDS, PAUSE_FACTOR * statistics.median(intervals))
    return sum(gap for gap in gaps if gap <= limit)


def writer_process(path: Path) -> str:
    """``<host>.<pid>`` of the process that wrote the event file at ``path`` (the whole name
    when it is not TensorBoard's)."""
    parts = path.name.split(".")
    if len(parts) >= 8 and parts[2] == EVENT_FILE_MARK:
        return ".".join(parts[4:-2])
    return path.name


def image_steps(log_dir: str | os.PathLike) -> dict[str, list[int]]:
    """Steps at which each image tag was written in ``log_dir``: ``{tag: [step, ...]}``."""
    steps: dict[str, list[int]] = defaultdict(list)
    for path in event_file_paths(log_dir):
        if path.parent != Path(log_dir):
            continue
        for event in events(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    steps[value.tag].append(int(event.step))
    return {tag: sorted(s) for tag, s in steps.items()}


def kl_history(
    log_dir: str | os.PathLike, latent_dim: int, objective: str | None = None
) -> tuple[dict[int, list[tuple[int, float]]], list[tuple[int, float]] | None]:
    """Each latent dimension's KL over training, read back from a run's TensorBoard training
    logs (the training app's ``kl_per_dim/kl_<d>`` scalars), and C when the run logged one and
    its ``objective`` uses C (a beta objective's runs log a C of 0 that means nothing; with no
    objective, C as logged): ``({dim: [(step, nats), ...]}, [(step, C), ...] or None)``."""
    scalars = read_scalars(log_dir)
    kl_tags = {dim: tags.scalar_tag(tags.kl_metric(dim)) for dim in range(latent_dim)}
    per_dim = {dim: scalars[tag] for dim, tag in kl_tags.items() if tag in scalars}
    uses_capacity = objective is None or objective in CAPACITY_OBJECTIVES
    return per_dim, scalars.get(tags.scalar_tag(tags.CAPACITY)) if uses_capacity else None
