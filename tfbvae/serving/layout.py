"""The on-disk layout of an export tree, without TensorFlow (readers such as the studies use it)::

    <base_dir>/<model_name>/encoder/<version>/saved_model.pb, variables/,
                                              assets.extra/tfbvae_metadata.json
    <base_dir>/<model_name>/decoder/<version>/...

:mod:`tfbvae.serving.export` writes it; TensorFlow Serving serves the highest numeric version.
"""

from __future__ import annotations

import os

METADATA_PATH = os.path.join("assets.extra", "tfbvae_metadata.json")  # inside a version directory
SAVED_MODEL_FILE = "saved_model.pb"


def list_versions(model_dir: str | os.PathLike) -> list[int]:
    """The numeric version directories of one served model (what TensorFlow Serving sees)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(name)
        for name in os.listdir(model_dir)
        if name.isdigit() and os.path.isdir(os.path.join(model_dir, name))
    )


def is_saved_model(version_dir: str | os.PathLike) -> bool:
    """Whether a directory holds a SavedModel (its ``saved_model.pb``)."""
    return os.path.isfile(os.path.join(version_dir, SAVED_MODEL_FILE))


def metadata_file(version_dir: str | os.PathLike) -> str:
    """``<version_dir>/assets.extra/tfbvae_metadata.json``."""
    return os.path.join(version_dir, METADATA_PATH)
