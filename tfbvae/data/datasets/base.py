"""The one interface every data set module implements: a :class:`DataSet` and its ``load``.

A data set module (``tfbvae/data/datasets/<name>.py``) defines ``DATASET = DataSet(...)``: the
facts the apps' flags and messages need before anything is loaded (no TensorFlow, no files
read), and ``load(options) -> ImageSource``, which reads the user's files or tfds' copy, caches
the pre-processed uint8 rows once and says where they came from. The registry
(:mod:`tfbvae.data.datasets`) maps each name to its module; the pipeline, the training and the
metrics go through it and name no data set.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

from tfbvae.data.source import ImageSource

PathLike = str | os.PathLike | None


@dataclasses.dataclass(frozen=True)
class LoadOptions:
    """What the user said about where a data set is (the apps' data flags).

    ``source``: one of the data set's :attr:`DataSet.sources`, or ``"auto"`` (what is on this
    machine; never the network). ``path``: the user's file or folder. ``data_dir``: tfbvae's
    cache root. ``tfds_data_dir``, ``manual_dir``: tfds' data and manual-download directories.
    ``channels``: 1 or 3 for the data sets whose images may be either (image folders).
    ``on_error``: an undecodable image file stops the load (``"raise"``) or is left out
    (``"skip"``). ``num_images``: a leading block of rendered dSprites (quick runs, tests).
    ``download``: whether an explicit ``source="tfds"`` may download. ``scream_image``: the
    painting of scream dSprites. ``sample_only``: the caller draws a few samples (metrics,
    pictures), so a data set that can make single rows on demand (rendered dSprites) need not
    build its whole cache.
    """

    source: str = "auto"
    path: PathLike = None
    data_dir: PathLike = None
    tfds_data_dir: PathLike = None
    manual_dir: PathLike = None
    channels: int | None = None
    on_error: str = "raise"
    num_images: int | None = None
    download: bool = True
    scream_image: PathLike = None
    sample_only: bool = False


@dataclasses.dataclass(frozen=True)
class DataSet:
    """A data set as the apps see it before it is loaded.

    ``name``: the ``--dataset`` value; ``title``: as people write it. ``summary``: one line with
    its citation. ``sources``: the ``--data_source`` values besides ``auto``. ``channels``: of
    its images (``None``: the user's ``--channels``). ``factor_names``: its ground-truth factors
    (empty: none). ``crop``: the centred square cut from a photo before resizing (exports
    prepare served images the same way; ``None``: the largest). ``flags``: the ``apps/train.py``
    flags that say where its data is, for messages. ``takes_num_images``: whether
    ``--dsprites_num_images`` (a leading block of rendered dSprites) applies. ``needs_path``:
    whether ``--data_path`` is required (no default place to look). ``load``: the loader.
    """

    name: str
    title: str
    summary: str
    sources: tuple[str, ...]
    channels: int | None
    load: Callable[[LoadOptions], ImageSource]
    factor_names: tuple[str, ...] = ()
    crop: int | None = None
    flags: str = ""
    takes_num_images: bool = False
    needs_path: bool = False

    @property
    def has_factors(self) -> bool:
        return bool(self.factor_names)
