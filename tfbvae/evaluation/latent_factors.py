"""Which ground-truth factor each latent dimension encodes, for labelling pictures.

A dimension is named after the factor it shares the most information with, as a share of that
factor's entropy: the normalised mutual information MIG is built from (Chen et al. 2018; the
same histogram estimate as :mod:`tfbvae.evaluation.metrics.mig`). A dimension whose KL is below ``min_kl``
carries (almost) nothing and is called unused, whatever noise its mean correlates with.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tfbvae.data.ground_truth import GroundTruthData
from tfbvae.evaluation.metrics import utils

# Short names that fit a traversal grid's label column.
SHORT_NAMES = {"orientation": "orient.", "posX": "pos x", "posY": "pos y"}


def latent_factors(
    data: GroundTruthData,
    representation_function: utils.RepresentationFunction,
    kl_per_dim: Sequence[float],
    num_points: int = 10000,
    seed: int = 0,
    num_bins: int = 20,
    min_kl: float = 0.1,
) -> list[dict]:
    """One record per latent dimension: ``{"dim", "kl", "factor", "normalized_mi"}``.

    ``factor`` is the name of the factor with the largest normalised mutual information
    ``I(z_d; v_k) / H(v_k)`` (``normalized_mi``, in [0, 1]), or ``None`` for an unused
    dimension (KL below ``min_kl`` nats).
    """
    mus, ys = utils.generate_batch_factor_code(
        data, representation_function, num_points, np.random.RandomState(seed), batch_size=16)
    mutual_info = utils.discrete_mutual_info(utils.histogram_discretize(mus, num_bins), ys)
    normalized = mutual_info / np.maximum(utils.discrete_entropy(ys), 1e-12)[None, :]
    kl = np.asarray(kl_per_dim, np.float64)
    if kl.shape != (len(mus),):
        raise ValueError(f"kl_per_dim has {kl.size} values, the representation {len(mus)} dimensions")
    records = []
    for dim in range(len(mus)):
        best = int(np.argmax(normalized[dim]))
        records.append({
            "dim": dim,
            "kl": float(kl[dim]),
            "factor": None if kl[dim] < min_kl else str(data.factor_names[best]),
            "normalized_mi": float(normalized[dim, best]),
        })
    return records


def label(record: dict) -> str:
    """A short label: ``"pos x 0.71"`` (factor and normalised MI) or ``"unused"``."""
    if record["factor"] is None:
        return "unused"
    return f"{SHORT_NAMES.get(record['factor'], record['factor'])} {record['normalized_mi']:.2f}"
