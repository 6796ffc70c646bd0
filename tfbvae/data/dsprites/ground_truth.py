"""dSprites as ground-truth data for disentanglement metrics (disentanglement_lib's interface).

Five factors vary: shape (3), scale (6), orientation (40), posX (32), posY (32); colour is
constant and is not a factor. Observations are float32 ``(n, 64, 64, 1)`` in {0, 1}.
"""

from __future__ import annotations

import os

import numpy as np

from tfbvae.data.datasets import dsprites as dsprites_dataset
from tfbvae.data.datasets.base import LoadOptions
from tfbvae.data.dsprites import layout as dsprites_layout
from tfbvae.data.ground_truth import SourceGroundTruth


class DSprites(SourceGroundTruth):
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
        options = LoadOptions(source=source, path=path, tfds_data_dir=tfds_data_dir,
                              sample_only=True)
        super().__init__(dsprites_dataset.load_base(options))

    def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
        """uint8 0/1 images ``(n, 64, 64)`` of factor classes ``(n, 5)``."""
        rows = dsprites_layout.index_of(dsprites_layout.factors_to_classes(factors))
        return self.data.stored_pixels(rows)[..., 0] // 255
