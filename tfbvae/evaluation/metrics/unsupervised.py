"""Unsupervised scores of the codes alone (no factors): how far they are from independent.

Gaussian total correlation and Wasserstein dependency of a Gaussian fitted to the codes, and the
mean pairwise mutual information of the 20-bin discretised codes (lower is more factorised).
Follows disentanglement_lib's ``unsupervised_metrics``.
"""

from __future__ import annotations

import numpy as np

from tfbvae.data.ground_truth import GroundTruthData
from tfbvae.evaluation.metrics import utils


def compute_unsupervised(
    ground_truth_data: GroundTruthData,
    representation_function: utils.RepresentationFunction,
    random_state: np.random.RandomState,
    num_train: int = 10000,
    batch_size: int = 16,
    num_bins: int = 20,
) -> dict:
    """``gaussian_total_correlation``, ``gaussian_wasserstein_correlation`` (and ``_norm``,
    divided by the total variance), ``mutual_info_score``.

    Deliberate difference: codes with zero variance are left out of the Gaussian scores. A
    constant code is independent of the others, which is the limit the formulas take;
    disentanglement_lib returns NaN (log of a zero variance) instead. With no varying code the
    Gaussian scores are 0.
    """
    mus_train, _ = utils.generate_batch_factor_code(
        ground_truth_data, representation_function, num_train, random_state, batch_size)
    num_codes = mus_train.shape[0]
    if num_codes < 2:
        raise ValueError(f"dependence between codes needs at least two codes; got {num_codes}")
    cov_mus = np.cov(mus_train)
    varying = np.diag(cov_mus) > 0
    cov_varying = cov_mus[np.ix_(varying, varying)]
    total_variance = float(np.trace(cov_mus))
    wasserstein = gaussian_wasserstein_correlation(cov_varying) if varying.any() else 0.0

    mus_discrete = utils.histogram_discretize(mus_train, num_bins)
    mutual_info_matrix = utils.discrete_mutual_info(mus_discrete, mus_discrete)
    np.fill_diagonal(mutual_info_matrix, 0)
    return {
        "gaussian_total_correlation":
            gaussian_total_correlation(cov_varying) if varying.any() else 0.0,
        "gaussian_wasserstein_correlation": wasserstein,
        "gaussian_wasserstein_correlation_norm":
            wasserstein / total_variance if total_variance > 0 else 0.0,
        "mutual_info_score": float(np.sum(mutual_info_matrix) / (num_codes**2 - num_codes)),
    }


def gaussian_total_correlation(cov: np.ndarray) -> float:
    """KL(N(0, cov) || N(0, diag(cov))) = (sum log cov_ii - log det cov) / 2."""
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1]))


def gaussian_wasserstein_correlation(cov: np.ndarray) -> float:
    """Squared 2-Wasserstein distance between N(0, cov) and N(0, D), D = diag(cov).

    ``tr(cov) + tr(D) - 2 tr((cov D)^1/2)``; as in disentanglement_lib's code, ``2 tr(cov)``
    stands for the first two terms. ``cov D`` is similar to the symmetric ``D^1/2 cov D^1/2``,
    so the trace of its square root is the sum of the square roots of that matrix's eigenvalues:
    the same number as disentanglement_lib's ``scipy.linalg.sqrtm``, without complex round-off.
    """
    sqrt_d = np.sqrt(np.diag(cov))
    eigenvalues = np.linalg.eigvalsh(sqrt_d[:, np.newaxis] * cov * sqrt_d[np.newaxis, :])
    return float(2.0 * np.trace(cov) - 2.0 * np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
