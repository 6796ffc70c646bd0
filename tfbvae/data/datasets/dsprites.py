"""dSprites (Matthey et al. 2017): 737,280 binary 64x64 images of 2D shapes, five factors.

Factors: shape (3), scale (6), orientation (40), posX (32), posY (32); colour (1 value) is an
axis of the official layout but not a factor, as in disentanglement_lib's ``dsprites_full``
(``data/ground_truth/named_data.py``: ``DSprites([1, 2, 3, 4, 5])``). Sources: the offline
renderer (no download), the official ``.npz`` or tfds ``dsprites``
(:mod:`tfbvae.data.dsprites.sources`); rows are bit-packed, in the official order. The dSprites
variants (no-shape, colour, noisy, scream) are built on :func:`load_base`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from tfbvae.data.datasets.base import DataSet, LoadOptions
from tfbvae.data.dsprites import layout as dsprites_layout
from tfbvae.data.dsprites import render as dsprites_render
from tfbvae.data.dsprites import sources as dsprites_sources
from tfbvae.data.source import FactorLayout, ImageSource, Observation

# The official file's axes, row-major (colour has one value: a nuisance that draws nothing).
LAYOUT = FactorLayout(dsprites_layout.LATENTS_NAMES,
                      tuple(int(n) for n in dsprites_layout.LATENTS_SIZES), (1, 2, 3, 4, 5))
FLAGS = ("--data_path=/path/to/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz (the official "
         "file), --data_source=rendered (the offline renderer) or --data_source=tfds (tfds "
         "downloads it; --tfds_data_dir: its data), --dsprites_num_images (a leading block, "
         "rendered)")


class RenderedRows:
    """Rendered dSprites rows made on demand (bit-packed, like the cache): for callers that
    draw a few thousand samples, so that the 737,280-image cache need not be built."""

    shape = (dsprites_layout.NUM_IMAGES,) + dsprites_sources.PACKED_ROW_SHAPE
    dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return dsprites_layout.NUM_IMAGES

    def __getitem__(self, rows) -> np.ndarray:
        classes = dsprites_layout.latents_classes(np.atleast_1d(np.asarray(rows, np.int64)))
        return dsprites_sources.pack(dsprites_render.render(classes))


def load_base(options: LoadOptions, dataset: str = "dsprites") -> ImageSource:
    """dSprites from the chosen source as an :class:`ImageSource` named ``dataset``."""
    source = options.source
    if options.sample_only and options.num_images is None and (
            dsprites_sources.resolve_source(source, options.path) == "rendered"):
        return ImageSource(dataset, RenderedRows(), dsprites_sources.RENDERED_SOURCE,
                           "rendered on demand", bit_packed=True, layout=LAYOUT)
    arrays = dsprites_sources.load_dsprites(
        source, options.path, options.data_dir, options.tfds_data_dir,
        num_images=options.num_images, download=options.download)
    return ImageSource(dataset, arrays.packed, arrays.source, arrays.location, bit_packed=True,
                       layout=LAYOUT)


def load(options: LoadOptions) -> ImageSource:
    return load_base(options)


def observed(options: LoadOptions, dataset: str, observation: Observation) -> ImageSource:
    """dSprites from the chosen source as ``dataset``, its pixels drawn by ``observation``
    (colour, noisy, scream dSprites); the source string names the observation too."""
    base = load_base(options, dataset)
    return dataclasses.replace(base, source=f"{base.source}; {observation.recipe}",
                               observe=observation)


def variant(name: str, title: str, summary: str, load: Callable[[LoadOptions], ImageSource],
            channels: int = 3, factor_names: tuple[str, ...] = dsprites_layout.FACTOR_NAMES,
            flags: str = FLAGS) -> DataSet:
    """The :class:`DataSet` of a dSprites variant: dSprites' sources, flags and leading blocks."""
    return DataSet(name=name, title=title, summary=summary, sources=dsprites_sources.SOURCES,
                   channels=channels, load=load, factor_names=factor_names, flags=flags,
                   takes_num_images=True)


DATASET = DataSet(
    name="dsprites",
    title="dSprites",
    summary="dSprites (Matthey et al. 2017): 737,280 binary 64x64 shapes; 5 factors.",
    sources=dsprites_sources.SOURCES,
    channels=1,
    load=load,
    factor_names=dsprites_layout.FACTOR_NAMES,
    flags=FLAGS,
    takes_num_images=True,
)
