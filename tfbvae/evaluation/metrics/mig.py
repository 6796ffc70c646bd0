"""Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs").

For each factor, the gap between the two codes most informative about it, over the factor's
entropy; averaged over factors. Codes are discretised into 20 equal-width histogram bins.
Follows disentanglement_lib's ``mig.compute_mig``.
"""

from __future__ import annotations

import numpy as np

from tfbvae.data.ground_truth import GroundTruthData
from tfbvae.evaluation.metrics import utils


def compute_mig(
    ground_truth_data: GroundTruthData,
    representation_function: utils.RepresentationFunction,
    random_state: np.random.RandomState,
    num_train: int = 10000,
    batch_size: int = 16,
    num_bins: int = 20,
) -> dict:
    """MIG: ``discrete_mig`` in [0, 1].

    Not 1 even for a perfect code when a factor has more values than ``num_bins``: the bins
    cannot hold all of its information.
    """
    mus_train, ys_train = utils.generate_batch_factor_code(
        ground_truth_data, representation_function, num_train, random_state, batch_size)
    discretized_mus = utils.histogram_discretize(mus_train, num_bins)
    return {"discrete_mig": float(mig_from_mutual_info(
        utils.discrete_mutual_info(discretized_mus, ys_train), utils.discrete_entropy(ys_train)))}


def mig_from_mutual_info(mutual_info: np.ndarray, factor_entropy: np.ndarray) -> float:
    """Mean over factors of (top MI - second MI) / H(factor).

    ``mutual_info`` is ``(num_codes, num_factors)``: the top two are taken over codes (axis 0),
    per factor. Deliberate difference: a factor that takes one value in the sample (entropy 0)
    has no gap to measure and is left out; disentanglement_lib would return NaN.
    """
    if mutual_info.shape[0] < 2:
        raise ValueError(
            f"MIG needs at least two codes to form a gap; got {mutual_info.shape[0]}")
    sorted_m = np.sort(mutual_info, axis=0)[::-1]
    informative = factor_entropy > 0
    if not informative.any():
        raise ValueError("MIG is undefined: every factor takes a single value in the sample")
    gaps = sorted_m[0, informative] - sorted_m[1, informative]
    return float(np.mean(gaps / factor_entropy[informative]))
