"""The registry of data sets: ``--dataset`` name -> its module's :class:`DataSet`.

One module per data set (disentanglement_lib's ``data/ground_truth/named_data.py`` names them
the same way); each is imported only when its name is asked for, so that the apps check their
flags without reading every data set's code. Adding a data set: its module, its name here and in
:data:`tfbvae.names.DATASETS`, its flagfile and its test.
"""

from __future__ import annotations

import importlib

from tfbvae.data.datasets.base import DataSet, LoadOptions
from tfbvae.data.source import ImageSource
from tfbvae.names import DATASETS as NAMES

MODULES = {
    "dsprites": "dsprites:DATASET",
    "dsprites_noshape": "dsprites_noshape:DATASET",
    "color_dsprites": "color_dsprites:DATASET",
    "noisy_dsprites": "noisy_dsprites:DATASET",
    "scream_dsprites": "scream_dsprites:DATASET",
    "shapes3d": "shapes3d:DATASET",
    "smallnorb": "smallnorb:DATASET",
    "cars3d": "cars3d:DATASET",
    "mpi3d_toy": "mpi3d:TOY",
    "mpi3d_realistic": "mpi3d:REALISTIC",
    "mpi3d_real": "mpi3d:REAL",
    "celeba": "celeba:DATASET",
    "image_folder": "image_folder:DATASET",
}

__all__ = ["DataSet", "LoadOptions", "ImageSource", "NAMES", "get", "load"]


def get(name: str) -> DataSet:
    """The data set called ``name`` (a ``ValueError`` listing the names when there is none)."""
    if name not in MODULES:
        raise ValueError(f"unknown dataset {name!r}: expected one of {', '.join(NAMES)}")
    module, attribute = MODULES[name].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)


def load(name: str, options: LoadOptions | None = None) -> ImageSource:
    """The data set called ``name``, loaded (its cache built first when needed)."""
    data, options = get(name), options or LoadOptions()
    if options.num_images is not None and not data.takes_num_images:
        raise ValueError(f"num_images (a leading block of rendered dSprites) applies to the "
                         f"dSprites data sets only, not {name!r}: drop it.")
    return data.load(options)
