"""TensorFlow Serving's ``models.config`` (a text-format ``ModelServerConfig``) for an export tree.

Every ``<base>/<model_name>/encoder`` and ``.../decoder`` directory becomes one served model,
named ``<model_name>_encoder`` / ``<model_name>_decoder`` (REST:
``/v1/models/<model_name>_encoder:predict``), with its absolute path as ``base_path``. The
server loads the highest numeric version of each (its default ``latest`` policy).
"""

from __future__ import annotations

import os
import re

from tfbvae import errors, files

MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
PARTS = ("encoder", "decoder")
CONFIG_FILENAME = "models.config"


class BadModelName(errors.BadInput, ValueError):
    """A model name that cannot be a directory and part of a REST URL."""


def check_model_name(model_name: str) -> str:
    """``model_name`` if it can be a directory and part of a REST URL, else :class:`BadModelName`."""
    if not MODEL_NAME_PATTERN.fullmatch(model_name or ""):
        raise BadModelName(
            f"model_name {model_name!r} must be letters, digits, '_', '.' or '-' (starting with "
            "a letter or digit): it names a directory and the served model's URL, "
            "e.g. 'dsprites_capacity'."
        )
    return model_name


def served_models(base_dir: str) -> list[tuple[str, str]]:
    """``(served name, absolute base_path)`` of every encoder/decoder under ``base_dir``."""
    base_dir = os.path.realpath(base_dir)  # docker mounts it at this same path (README)
    found = []
    for model_name in sorted(os.listdir(base_dir)):
        if not MODEL_NAME_PATTERN.fullmatch(model_name):
            continue
        for part in PARTS:
            path = os.path.join(base_dir, model_name, part)
            if os.path.isdir(path):
                found.append((f"{model_name}_{part}", path))
    return found


def models_config_text(models: list[tuple[str, str]]) -> str:
    """The ``ModelServerConfig`` text proto serving ``models`` (``(name, base_path)`` pairs)."""
    lines = [
        "# TensorFlow Serving model config, written by tfbvae.serving.export (regenerated on every export).",
        "# tensorflow_model_server --port=8500 --rest_api_port=8501 \\",
        "#     --model_config_file=<this file> --model_config_file_poll_wait_seconds=60",
        "model_config_list {",
    ]
    for name, base_path in models:
        lines += [
            "  config {",
            f'    name: "{name}"',
            f'    base_path: "{base_path}"',
            '    model_platform: "tensorflow"',
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_models_config(base_dir: str) -> str:
    """Writes ``<base_dir>/models.config`` for every model under ``base_dir``; returns its path.

    Written to a temporary file and renamed over the old one, so a server polling the file
    (``--model_config_file_poll_wait_seconds``) never reads half of it.
    """
    path = os.path.join(os.path.realpath(base_dir), CONFIG_FILENAME)
    files.write_text_atomically(path, models_config_text(served_models(base_dir)))
    return path
