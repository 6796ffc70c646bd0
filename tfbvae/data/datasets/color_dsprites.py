"""Colour dSprites: each dSprites image's sprite in one random RGB colour (64x64x3, 5 factors).

Factors: shape (3), scale (6), orientation (40), posX (32), posY (32), as dSprites'
(:mod:`tfbvae.data.datasets.dsprites`); the colour is not a factor: every observation draws a
fresh one, so the same factors give differently coloured sprites. Stored rows are dSprites'
(bit-packed, one channel; sources: the offline renderer, the official ``.npz`` or tfds
``dsprites``); the colour is applied when a row is observed (:class:`~tfbvae.data.source.
Observation`): by the training pipeline from a random state seeded per batch (so a resumed run
sees the same colours), by the metrics from their ``RandomState``. Data set: Matthey et al. 2017
(https://github.com/deepmind/dsprites-dataset); the variant: Locatello et al. 2019,
"Challenging Common Assumptions in the Unsupervised Learning of Disentangled Representations"
(disentanglement_lib's ``color_dsprites``, one of the seven data sets of its
unsupervised_study_v1).

disentanglement_lib (google-research/disentanglement_lib at commit
86a644d4ed35c771560dc3360756363d35477357), followed exactly:

* ``data/ground_truth/named_data.py`` L44-45: ``dsprites.ColorDSprites([1, 2, 3, 4, 5])``.
* ``data/ground_truth/dsprites.py`` L120-131: the 0/1 sprite (float32, L95) repeated to three
  channels and multiplied by one colour per image, ``random_state.uniform(0.5, 1, [n, 1, 1, 3])``
  (each channel uniform in [0.5, 1)), drawn in one call for the batch after the nuisance draw
  (colour's ``randint(1)``, ``util.py`` L62-71, which consumes no random state). The background
  stays 0. :func:`observe` computes the same float64 numbers from the same draws (broadcasting
  the colour where dlib ``np.repeat``-s it), so ``SourceGroundTruth`` gives dlib's observations
  for the same factors and ``RandomState`` (as float32: dlib's tf.data input casts to float32
  too, ``util.py`` L34-35).

Differences: the images may be tfbvae's offline rendering (recorded in the source string); the
training pipeline serves uint8 pixels (the colour rounded to the nearest of 256 levels,
:func:`tfbvae.pixels.floats_to_uint8`) where dlib feeds float32, and visits the stored rows in
reshuffled epochs with one random state per batch where dlib draws each training image i.i.d.
from one ``RandomState`` (``util.py`` L25-35): the same distribution, not the same stream.
"""

from __future__ import annotations

import numpy as np

from tfbvae import pixels
from tfbvae.data.datasets import dsprites
from tfbvae.data.datasets.base import LoadOptions
from tfbvae.data.source import ImageSource, Observation

NAME = "color_dsprites"
COLOR_LOW, COLOR_HIGH = 0.5, 1.0  # dsprites.py L126: uniform(0.5, 1, [n, 1, 1, 3])


def observe(stored: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
    """dSprites pixels (uint8 0/255, ``(n, 64, 64, 1)``) -> float64 ``(n, 64, 64, 3)``: the
    sprite times one colour per image, each channel ``uniform(0.5, 1)`` (dlib L120-131)."""
    no_color_observations = pixels.images_to_float(stored)  # float32 0/1, as dlib's L95
    observations = np.repeat(no_color_observations, 3, axis=3)
    color = random_state.uniform(COLOR_LOW, COLOR_HIGH, [observations.shape[0], 1, 1, 3])
    return observations * color


OBSERVATION = Observation(
    channels=3,
    apply=observe,
    recipe=("color_dsprites v1: the sprite times one RGB colour per image, each channel "
            "uniform in [0.5, 1) (disentanglement_lib ColorDSprites)"),
)


def load(options: LoadOptions) -> ImageSource:
    """dSprites from the chosen source, observed in random colours."""
    return dsprites.observed(options, NAME, OBSERVATION)


DATASET = dsprites.variant(
    NAME, "Colour dSprites",
    "dSprites (Matthey et al. 2017) with each sprite in a random RGB colour, as "
    "disentanglement_lib's color_dsprites (Locatello et al. 2019): 64x64x3; 5 factors.",
    load)
