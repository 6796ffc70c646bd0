"""The data flags of the apps that open a trained model (``apps/evaluate.py``,
``apps/visualize.py``), defined once; no TensorFlow.

Each flag left out takes the model's run's value for its own data set
(:mod:`tfbvae.evaluation.model_data`): ``--dataset`` (default the model's data set),
``--data_source``, ``--data_path``, ``--tfds_data_dir``, ``--data_dir`` and ``--scream_image``.
``--dsprites_source`` is kept as another name of ``--data_source``; the apps read the values as
:class:`tfbvae.evaluation.model_data.DataChoice` (``DataChoice.from_flags``).
"""

from __future__ import annotations

import os

from absl import flags

from tfbvae.data import datasets
from tfbvae.names import DATASETS
from tfbvae.training import run_record


def define_data_flags(fv: flags.FlagValues, purpose: str) -> None:
    """Defines the data flags on ``fv``; ``purpose`` says what the images are for (help)."""
    flags.DEFINE_enum("dataset", None, DATASETS, f"Data set of the {purpose} (default: the one "
                      "the model trained on, from its run record; dsprites for a model without "
                      "one).", flag_values=fv)
    flags.DEFINE_string("data_source", None, "Where the data set's images come from (default: "
                        "the run's --data_source for its own data set, else auto: what is on "
                        "this machine; never downloads). dsprites and its variants: auto, "
                        "rendered, official (--data_path) or tfds.", flag_values=fv)
    flags.DEFINE_alias("dsprites_source", "data_source", flag_values=fv)
    flags.DEFINE_string("data_path", None, "The data set's file or folder (the official dSprites "
                        ".npz, Cars3D's folder, an MPI3D .npz, ...; default: the run's).",
                        flag_values=fv)
    flags.DEFINE_string("tfds_data_dir", None, "TensorFlow Datasets' data directory (default: "
                        "the run's, else tfds' own).", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "tfbvae's data cache (default: the run's, else "
                        "$TFBVAE_DATA_DIR or ~/.cache/tfbvae).", flag_values=fv)
    flags.DEFINE_string("scream_image", None, "scream_dsprites: the painting of the backgrounds "
                        "(default: the run's).", flag_values=fv)
    flags.register_multi_flags_validator(["dataset", "data_source", "model"], _source_problem,
                                         flag_values=fv)


def _source_problem(values: dict) -> bool:
    """Validator: ``--data_source`` must be a source of the data set used: ``--dataset``, else
    the data set of the ``--model`` run directory's record, else any data set's."""
    source = values["data_source"]
    if source is None or source == "auto":
        return True
    name = values["dataset"] or _run_dataset(values["model"])
    names = [name] if name else list(DATASETS)
    allowed = sorted({s for n in names for s in datasets.get(n).sources} | {"auto"})
    if source in allowed:
        return True
    of = f"--dataset={name}" if name else "any data set"
    raise flags.ValidationError(f"--data_source={source} is not a source of {of}: choose one "
                                f"of {', '.join(allowed)}.")


def _run_dataset(model: str | None) -> str | None:
    """The data set recorded in ``model``'s run record when it is a run directory."""
    if not model or not os.path.isdir(os.path.expanduser(model)):
        return None
    try:
        record = run_record.read_run(os.path.expanduser(model))
    except run_record.RunRecordError:
        return None  # --model's own validator says what is wrong
    return record.settings.dataset if record is not None else None

