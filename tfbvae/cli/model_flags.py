"""The flags of the apps that open a trained model, defined once and checked before TensorFlow.

``apps/evaluate.py`` and ``apps/visualize.py`` take ``--model`` (anything
:func:`tfbvae.trained_model.open_model` opens) and ``--checkpoint``; ``apps/export.py`` takes a
run's ``--run_dir``. Their checks need only the file system and
:func:`tfbvae.training.run_record.read_run`, so a path that names nothing, or a run whose
``run.json`` is damaged, is refused as a flag error at once instead of after TensorFlow's
import. This module imports no TensorFlow.
"""

from __future__ import annotations

import os

from absl import flags

from tfbvae.training import run_dir as run_layout
from tfbvae.training import run_record
from tfbvae.training.run_record import RunRecord

MODEL_HELP = ("Run directory, exported SavedModel (<base>/<name>/encoder/<version>) or export "
              "<base>/<name>.")


def _check_run_record(directory: str) -> RunRecord | None:
    """The run record of ``directory`` (``None`` without one), a damaged one refused."""
    try:
        return run_record.read_run(directory)
    except run_record.RunRecordError as err:
        raise flags.ValidationError(str(err)) from None


def check_model(value: str | None) -> bool:
    """Validator of ``--model``: an existing path; a run directory's record must be readable."""
    if value is None:
        return True  # required=True says so
    path = os.path.expanduser(value)
    if not os.path.exists(path):
        raise flags.ValidationError(
            f"--model {value} does not exist: pass a training run directory, an exported "
            "SavedModel (<base>/<name>/encoder/<version>) or an export <base>/<name>.")
    if os.path.isdir(path):
        _check_run_record(path)
    return True


def check_run_dir(value: str | None) -> bool:
    """Validator of ``--run_dir`` (export): a directory holding a readable ``run.json``."""
    if value is None:
        return True
    if not os.path.isdir(value) or _check_run_record(value) is None:
        raise flags.ValidationError(
            f"--run_dir {value} is not a training run directory (it has no "
            f"{run_layout.RUN_FILE}): pass the --run_dir of an apps/train.py run.")
    return True


def define_model_flags(fv: flags.FlagValues) -> None:
    """Defines ``--model`` (required, checked by :func:`check_model`) and ``--checkpoint``."""
    flags.DEFINE_string("model", None, MODEL_HELP, required=True, flag_values=fv)
    flags.DEFINE_string("checkpoint", None, "With a run directory: one of its checkpoints "
                        "(.../checkpoints/ckpt-<step>) instead of the latest.", flag_values=fv)
    flags.register_validator("model", check_model, flag_values=fv)
