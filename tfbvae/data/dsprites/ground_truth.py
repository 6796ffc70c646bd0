"""dSprites as ground-truth data for disentanglement metrics (disentanglement_lib's interface).

Five factors vary: shape (3), scale (6), orientation (40), posX (32), posY (32); colour is
constant and is not a factor. Observations are float32 ``(n, 64, 64, 1)`` in {0, 1}.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from tfbvae.data.dsprites import layout as dsprites_layout
from tfbvae.data.dsprites import render as dsprites_render
from tfbvae.data.dsprites import sources as dsprites_sources
from tfbvae.data.ground_truth import GroundTruthData


class DSprites(GroundTruthData):
    """dSprites from one source: ``"rendered"``, ``"official"``, ``"tfds"`` or ``"auto"``.

    ``rendered`` draws the requested images on the fly with the offline renderer (the same
    pixels as its cached full set; no cache needed). ``official`` reads the user's ``.npz``
    (``path``, else the usual places); ``tfds`` reads TensorFlow Datasets' copy. ``auto`` takes
    the official file when one is found, else ``rendered``. :attr:`source` says which is in use.
    """

    def __init__(
        self,
        source: str = "auto",
        path: str | os.PathLike | None = None,
        tfds_data_dir: str | os.PathLike | None = None,
    ):
        source = dsprites_sources.resolve_source(source, path)
        if source == "rendered":
            self._arrays = None
            self._source = dsprites_sources.RENDERED_SOURCE
        elif source == "official":
            self._arrays = dsprites_sources.load_official(path)
        elif source == "tfds":
            self._arrays = dsprites_sources.load_tfds(tfds_data_dir)
        else:
            raise ValueError(
                f"unknown dSprites source {source!r}: expected 'auto', 'rendered', 'official' "
                "or 'tfds'"
            )
        if self._arrays is not None:
            self._source = self._arrays.source

    @property
    def source(self) -> str:
        return self._source

    @property
    def factors_num_values(self) -> Sequence[int]:
        return dsprites_layout.FACTORS_NUM_VALUES

    @property
    def factor_names(self) -> Sequence[str]:
        return dsprites_layout.FACTOR_NAMES

    @property
    def observation_shape(self) -> Sequence[int]:
        return (64, 64, 1)

    def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
        """uint8 0/1 images ``(n, 64, 64)`` of factor classes ``(n, 5)``."""
        classes = dsprites_layout.factors_to_classes(factors)
        if self._arrays is None:
            return dsprites_render.render(classes)
        return self._arrays.images(dsprites_layout.index_of(classes))

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState
    ) -> np.ndarray:
        """float32 ``(n, 64, 64, 1)`` in {0, 1}. dSprites has one image per factor vector, so
        ``random_state`` is unused."""
        return self.images_from_factors(factors)[..., None].astype(np.float32)
