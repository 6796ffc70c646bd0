"""dSprites without shape: the 737,280 dSprites images, shape a nuisance (4 factors).

Factors: scale (6), orientation (40), posX (32), posY (32). The images, sources (offline
renderer, the official ``.npz``, tfds ``dsprites``) and the bit-packed storage are dSprites'
(:mod:`tfbvae.data.datasets.dsprites`, :func:`~tfbvae.data.datasets.dsprites.load_base`); only
the factor layout differs: shape (3 values) and colour (1 value) are nuisance axes, drawn
uniformly whenever an observation of given factors is sampled. Data set: Matthey et al. 2017,
"dSprites: Disentanglement testing Sprites dataset"
(https://github.com/deepmind/dsprites-dataset); this variant is disentanglement_lib's
(Locatello et al. 2019, "Challenging Common Assumptions in the Unsupervised Learning of
Disentangled Representations"), not used in its unsupervised_study_v1 sweep.

disentanglement_lib (google-research/disentanglement_lib at commit
86a644d4ed35c771560dc3360756363d35477357), followed exactly:

* ``data/ground_truth/named_data.py`` L42-43: ``dsprites_noshape`` is
  ``dsprites.DSprites([2, 3, 4, 5])``: the latent factors are axes 2..5 of the official
  (colour, shape, scale, orientation, posX, posY) grid (``dsprites.py`` L65, L76-77).
* ``data/ground_truth/util.py`` L62-71 (``SplitDiscreteStateSpace.sample_all_factors``): the
  other axes are drawn in increasing order, ``randint(1)`` for colour (which consumes no random
  state) then ``randint(3)`` for shape, per batch; :class:`~tfbvae.data.source.FactorLayout`
  draws the nuisance axes the same way, so ``SourceGroundTruth`` returns the same observations
  as dlib's ``sample_observations_from_factors`` (``dsprites.py`` L91-95) for the same factors
  and ``RandomState``, and leaves the state where dlib leaves it.

Differences: the images may be tfbvae's offline rendering (``--data_source=rendered``,
recorded in the source string) instead of the official file dlib reads
(``$DISENTANGLEMENT_LIB_DATA/dsprites/...npz``, ``dsprites.py`` L28-30, which
``--data_source=official`` also finds); training visits the stored rows in reshuffled epochs
(:mod:`tfbvae.data.pipeline`), where dlib's input draws each training image i.i.d. over the
factors and the nuisances (``util.py`` L25-35) — with shape uniform either way, the same
distribution of images.
"""

from __future__ import annotations

import dataclasses

from tfbvae.data.datasets import dsprites
from tfbvae.data.datasets.base import LoadOptions
from tfbvae.data.source import FactorLayout, ImageSource

NAME = "dsprites_noshape"
# The official axes (color, shape, scale, orientation, posX, posY); factors: dlib's [2, 3, 4, 5].
LAYOUT = FactorLayout(dsprites.LAYOUT.names, dsprites.LAYOUT.sizes, (2, 3, 4, 5))


def load(options: LoadOptions) -> ImageSource:
    """dSprites from the chosen source, with shape (and colour) as nuisance axes."""
    return dataclasses.replace(dsprites.load_base(options, NAME), layout=LAYOUT)


DATASET = dsprites.variant(
    NAME, "dSprites without shape",
    "dSprites (Matthey et al. 2017) with shape a nuisance, as disentanglement_lib's "
    "dsprites_noshape (Locatello et al. 2019): 737,280 binary 64x64 images; 4 factors.",
    load, channels=1, factor_names=LAYOUT.factor_names)
