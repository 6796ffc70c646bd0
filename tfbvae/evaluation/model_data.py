"""The data a trained model is evaluated or drawn on: the data set it trained on, unless asked.

``apps/evaluate.py`` and ``apps/visualize.py`` take the same data flags (:class:`DataChoice`).
Without ``--dataset`` they use the model's own data set, found where its run recorded it (the
run directory's ``run.json``, or the run facts in an export's metadata), with the run's own
data flags (``--data_source``, ``--data_path``, ``--tfds_data_dir``, ...) unless the user gives
other ones; a model without a run record (a foreign SavedModel) is taken to be a dSprites
model. The data set is loaded for sampling (:attr:`~tfbvae.data.datasets.LoadOptions.sample_only`:
rendered dSprites is drawn on demand rather than cached whole) and checked against the
model's image shape.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tfbvae import errors
from tfbvae.data import datasets
from tfbvae.data.source import ImageSource

DEFAULT_DATASET = "dsprites"  # a model that records no data set


@dataclasses.dataclass(frozen=True)
class DataChoice:
    """The data flags of the apps that open a trained model (``None``: the run's value)."""

    dataset: str | None = None
    source: str | None = None
    path: str | None = None
    tfds_data_dir: str | None = None
    data_dir: str | None = None
    scream_image: str | None = None

    @classmethod
    def from_flags(cls, fv: Any) -> "DataChoice":
        """The parsed data flags (:mod:`tfbvae.cli.data_flags`) of an app's ``FLAGS``."""
        return cls(fv.dataset, fv.data_source, fv.data_path, fv.tfds_data_dir, fv.data_dir,
                   fv.scream_image)

    def record(self) -> dict:
        return dataclasses.asdict(self)


def dataset_of(choice: DataChoice, model: Any) -> str:
    """The data set to use: the one asked for, else the model's run's, else dSprites."""
    settings = model.run.settings
    return choice.dataset or (settings.dataset if settings else DEFAULT_DATASET)


def load_options(choice: DataChoice, model: Any) -> datasets.LoadOptions:
    """Where the data set's images are: the flags given, else (for the model's own data set)
    the run's data flags. ``--data_source`` and ``--data_path`` are one choice: given either,
    neither is taken from the run (the source then defaults to ``auto``). Never downloads; a
    leading block of dSprites (a quick run's ``--dsprites_num_images``) is not kept: the
    metrics sample the whole grid."""
    settings = model.run.settings
    own = settings is not None and dataset_of(choice, model) == settings.dataset

    def pick(given, recorded_name: str):
        if given is not None or not own:
            return given
        return getattr(settings, recorded_name)

    if choice.source is not None or choice.path is not None or not own:
        source, path = choice.source or "auto", choice.path
    else:
        source, path = settings.data_source, settings.data_path
    return datasets.LoadOptions(
        source=source,
        path=path,
        data_dir=pick(choice.data_dir, "data_dir"),
        tfds_data_dir=pick(choice.tfds_data_dir, "tfds_data_dir"),
        manual_dir=settings.tfds_manual_dir if own else None,
        channels=int(model.image_shape[-1]),
        on_error=settings.on_bad_image if own else "raise",
        scream_image=pick(choice.scream_image, "scream_image"),
        download=False,
        sample_only=True,
    )


def load_for_model(choice: DataChoice, model: Any,
                   options: datasets.LoadOptions | None = None) -> ImageSource:
    """The data set for ``model`` (a :class:`tfbvae.trained_model.ModelSource`), loaded and
    checked to fit it; ``options``: :func:`load_options` when not given.

    Raises:
        tfbvae.errors.BadInput: the data set cannot be loaded (the message says which flags
            point at it) or its images do not have the model's shape.
    """
    name = dataset_of(choice, model)
    try:
        data = datasets.load(name, options or load_options(choice, model))
    except (FileNotFoundError, NotADirectoryError, OSError, RuntimeError, ValueError) as err:
        raise errors.BadInput(f"cannot load the {name!r} data set: {str(err).rstrip('.')}."
                              f"{_flag_hint(name)}") from None
    if tuple(model.image_shape) != tuple(data.image_shape):
        raise errors.BadInput(
            f"the model takes images shaped {tuple(model.image_shape)}, but {name} images are "
            f"{tuple(data.image_shape)}: pass the --dataset the model was trained on.")
    return data


def _flag_hint(name: str) -> str:
    """Which flags of the apps that open a model point at the data set ``name``."""
    return (" Point the data flags at it: --data_source, --data_path, --tfds_data_dir, "
            "--data_dir, --scream_image (these apps never download: let apps/train.py "
            f"--dataset={name} --data_source=tfds fetch a tfds data set first).")


def sample_rows(data: ImageSource, count: int, seed: int,
                rows: np.ndarray | None = None) -> np.ndarray:
    """``count`` rows drawn without replacement (seeded) from ``rows`` (default: every row), in
    the order drawn (the first is the one traversed: not always the lowest row)."""
    pool = np.arange(data.num_examples) if rows is None else np.asarray(rows, np.int64)
    if len(pool) == 0:
        raise errors.BadInput(f"{data.dataset} has no images to draw")
    return pool[np.random.default_rng(seed).choice(len(pool), min(count, len(pool)),
                                                   replace=False)]
