"""What TensorFlow Datasets has prepared on this machine, asked without the network: the data
sets whose ``auto`` source takes tfds' prepared copy (Shapes3D, SmallNORB) check for it, and key
their cache on its files so that a re-prepared copy rebuilds the cache."""

from __future__ import annotations

import os


def is_prepared(name: str, tfds_data_dir) -> bool:
    """Whether tfds has prepared the data set ``name`` in ``tfds_data_dir`` (its default when
    ``None``)."""
    import tensorflow_datasets as tfds

    return bool(tfds.builder(name, data_dir=tfds_data_dir).is_prepared())


def prepared_files(folder) -> list[list]:
    """``[name, bytes, mtime_ns]`` of the files of tfds' prepared copy (its version folder),
    sorted: a re-prepared copy gives other values, so its cache is rebuilt. Empty when the
    folder is not a local directory."""
    folder = str(folder)
    if not os.path.isdir(folder):
        return []
    with os.scandir(folder) as entries:
        return sorted([e.name, e.stat().st_size, e.stat().st_mtime_ns]
                      for e in entries if e.is_file())


def load(name: str, split: str, tfds_data_dir, download: bool, how_to_get: str):
    """``tfds.load(name, split)`` in stored order, with its info: ``(dataset, info)``. Any tfds
    failure (network, missing data, checksums: many types) becomes a ``RuntimeError`` ending
    with ``how_to_get``."""
    import tensorflow_datasets as tfds

    try:
        return tfds.load(name, split=split, data_dir=tfds_data_dir, download=download,
                         shuffle_files=False, with_info=True)
    except Exception as err:  # tfds raises many types
        raise RuntimeError(f"tfds could not provide '{name}' ({type(err).__name__}: {err}). "
                           f"{how_to_get}") from err
