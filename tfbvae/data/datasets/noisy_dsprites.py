"""Noisy dSprites: each dSprites image on a background of uniform colour noise (64x64x3, 5 factors).

Factors: shape (3), scale (6), orientation (40), posX (32), posY (32), as dSprites'
(:mod:`tfbvae.data.datasets.dsprites`). Every observation adds fresh noise, uniform in [0, 1)
per pixel and per channel, and clips at 1: the sprite stays white, the background is coloured
noise. Stored rows are dSprites' (bit-packed, one channel; sources: the offline renderer, the
official ``.npz`` or tfds ``dsprites``); the noise is drawn when a row is observed
(:class:`~tfbvae.data.source.Observation`): by the training pipeline from a random state seeded
per batch (so a resumed run sees the same noise), by the metrics from their ``RandomState``.
Data set: Matthey et al. 2017 (https://github.com/deepmind/dsprites-dataset); the variant:
Locatello et al. 2019, "Challenging Common Assumptions in the Unsupervised Learning of
Disentangled Representations" (disentanglement_lib's ``noisy_dsprites``, one of the seven data
sets of its unsupervised_study_v1).

disentanglement_lib (google-research/disentanglement_lib at commit
86a644d4ed35c771560dc3360756363d35477357), followed exactly:

* ``data/ground_truth/named_data.py`` L46-47: ``dsprites.NoisyDSprites([1, 2, 3, 4, 5])``.
* ``data/ground_truth/dsprites.py`` L153-158: the 0/1 sprite (float32, L95) repeated to three
  channels, plus ``random_state.uniform(0, 1, [n, 64, 64, 3])`` drawn in one call for the batch
  after the nuisance draw (colour's ``randint(1)``, ``util.py`` L62-71, which consumes no random
  state), then ``np.minimum(x + noise, 1.)``. :func:`observe` computes the same float64 numbers
  from the same draw, so ``SourceGroundTruth`` gives dlib's observations for the same factors and
  ``RandomState`` (as float32: dlib's tf.data input casts to float32 too, ``util.py`` L34-35).

Differences: the images may be tfbvae's offline rendering (recorded in the source string); dlib
hard-codes the noise's 64x64 (L157), :func:`observe` takes the stored images' size (the same
for dSprites); the training pipeline serves uint8 pixels (the noise rounded to the nearest of
256 levels, :func:`tfbvae.pixels.floats_to_uint8`) where dlib feeds float32, and visits the
stored rows in reshuffled epochs with one random state per batch where dlib draws each training
image i.i.d. from one ``RandomState`` (``util.py`` L25-35): the same distribution, not the same
stream.
"""

from __future__ import annotations

import numpy as np

from tfbvae import pixels
from tfbvae.data.datasets import dsprites
from tfbvae.data.datasets.base import LoadOptions
from tfbvae.data.source import ImageSource, Observation

NAME = "noisy_dsprites"


def observe(stored: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
    """dSprites pixels (uint8 0/255, ``(n, 64, 64, 1)``) -> float64 ``(n, 64, 64, 3)``:
    ``min(sprite + uniform(0, 1) per pixel and channel, 1)`` (dlib L153-158)."""
    no_color_observations = pixels.images_to_float(stored)  # float32 0/1, as dlib's L95
    observations = np.repeat(no_color_observations, 3, axis=3)
    noise = random_state.uniform(0, 1, list(observations.shape[:3]) + [3])
    return np.minimum(observations + noise, 1.)


OBSERVATION = Observation(
    channels=3,
    apply=observe,
    recipe=("noisy_dsprites v1: min(sprite + noise, 1), noise uniform in [0, 1) per pixel and "
            "channel (disentanglement_lib NoisyDSprites)"),
)


def load(options: LoadOptions) -> ImageSource:
    """dSprites from the chosen source, observed on noise."""
    return dsprites.observed(options, NAME, OBSERVATION)


DATASET = dsprites.variant(
    NAME, "Noisy dSprites",
    "dSprites (Matthey et al. 2017) on uniform colour noise, as disentanglement_lib's "
    "noisy_dsprites (Locatello et al. 2019): 64x64x3; 5 factors.",
    load)
