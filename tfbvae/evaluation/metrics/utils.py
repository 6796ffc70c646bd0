"""Shared pieces of the disentanglement metrics, as disentanglement_lib defines them.

Orientation follows disentanglement_lib's ``evaluation/metrics/utils.py``: codes are
``(num_codes, num_points)`` and factors ``(num_factors, num_points)``, so every matrix built from
them is ``(num_codes, num_factors)``. (A PyTorch port got MIG wrong by ``.view``-ing such a
matrix instead of transposing it; keeping one orientation everywhere avoids that.)
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import sklearn.metrics
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from tfbvae.data.ground_truth import GroundTruthData

RepresentationFunction = Callable[[np.ndarray], np.ndarray]

# Observations are sampled in the reference's small batches (so a seed draws the same factors
# as disentanglement_lib does) but handed to the representation function in groups of about
# this many, because an encoder runs far faster on large batches. Encoding consumes no
# randomness, so the grouping changes no result.
ENCODE_GROUP = 1024


def generate_batch_factor_code(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    num_points: int,
    random_state: np.random.RandomState,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``num_points`` (factors, observation) pairs and encodes the observations.

    Returns codes ``(num_codes, num_points)`` and factors ``(num_factors, num_points)``.
    Factors are drawn ``batch_size`` at a time, as in disentanglement_lib.
    """
    factors, codes, pending = [], [], []
    pending_count = 0
    drawn = 0
    while drawn < num_points:
        count = min(num_points - drawn, batch_size)
        batch_factors, batch_observations = ground_truth_data.sample(count, random_state)
        factors.append(batch_factors)
        pending.append(batch_observations)
        pending_count += count
        drawn += count
        if pending_count >= ENCODE_GROUP or drawn == num_points:
            codes.append(_encode(representation_function, np.concatenate(pending)))
            pending, pending_count = [], 0
    return np.concatenate(codes).T, np.concatenate(factors).T


def _encode(representation_function: RepresentationFunction,
            observations: np.ndarray) -> np.ndarray:
    codes = np.asarray(representation_function(observations))
    if codes.ndim != 2 or codes.shape[0] != observations.shape[0]:
        raise ValueError(
            f"the representation function must map {observations.shape[0]} observations to "
            f"codes shaped (n, num_codes); it returned shape {codes.shape}"
        )
    return codes


def encode(representation_function: RepresentationFunction, observations: np.ndarray) -> np.ndarray:
    """Codes ``(n, num_codes)`` of ``observations``, encoded ``ENCODE_GROUP`` at a time."""
    return np.concatenate([
        _encode(representation_function, observations[i:i + ENCODE_GROUP])
        for i in range(0, len(observations), ENCODE_GROUP)
    ])


def encode_groups(
    representation_function: RepresentationFunction,
    observation_groups: list[np.ndarray],
) -> list[np.ndarray]:
    """Encodes several groups of observations in one call; returns each group's codes.

    The BetaVAE and FactorVAE scores build every training point from its own small batch; this
    encodes several such batches at once (see ``ENCODE_GROUP``).
    """
    codes = _encode(representation_function, np.concatenate(observation_groups))
    sizes = np.cumsum([len(group) for group in observation_groups])[:-1]
    return np.split(codes, sizes)


def histogram_discretize(target: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Discretises each row of ``target`` into ``num_bins`` equal-width bins (values 1..num_bins).

    disentanglement_lib's ``_histogram_discretize``: ``np.digitize`` against the left edges of
    ``np.histogram``'s bins, so the maximum falls in the last bin rather than past it.
    """
    discretized = np.zeros_like(target)
    for i in range(target.shape[0]):
        edges = np.histogram(target[i, :], num_bins)[1]
        discretized[i, :] = np.digitize(target[i, :], edges[:-1])
    return discretized


def discrete_mutual_info(mus: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Mutual information (nats) between each discrete code row and each factor row.

    Returns ``(num_codes, num_factors)``.
    """
    m = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            m[i, j] = sklearn.metrics.mutual_info_score(ys[j, :], mus[i, :])
    return m


def discrete_entropy(ys: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each factor row, as its mutual information with itself."""
    return np.array([sklearn.metrics.mutual_info_score(y, y) for y in ys])


def normalize_data(
    data: np.ndarray, mean: np.ndarray | None = None, stddev: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardises each row of ``data`` (with the given or its own mean and stddev).

    Differs from disentanglement_lib on purpose: a constant row (stddev 0) is centred but left
    unscaled instead of becoming NaN, which would make the classifiers that follow raise.
    """
    if mean is None:
        mean = np.mean(data, axis=1)
    if stddev is None:
        stddev = np.std(data, axis=1)
        stddev = np.where(stddev > 0, stddev, 1.0)
    return (data - mean[:, np.newaxis]) / stddev[:, np.newaxis], mean, stddev


def reference_logistic_regression(random_state: int | None = None) -> OneVsRestClassifier:
    """``LogisticRegression()`` as the scikit-learn of disentanglement_lib's studies (0.20) ran it.

    Then the defaults were the liblinear solver, one-vs-rest for several classes, C=1,
    tol=1e-4, max_iter=100; since 0.22 they are lbfgs and a multinomial model, and the
    ``multi_class`` switch is gone from today's scikit-learn. A one-vs-rest wrapper around
    liblinear fits the same binary problems and, like the old class, normalises the per-class
    probabilities to sum to one.
    """
    return OneVsRestClassifier(
        LogisticRegression(solver="liblinear", C=1.0, tol=1e-4, max_iter=100,
                           random_state=random_state)
    )


def liblinear_seed(random_state: np.random.RandomState) -> int:
    """Draws the seed that scikit-learn 0.20 drew from a RandomState handed to liblinear.

    Drawing it keeps the rest of the random stream (e.g. the BetaVAE evaluation set) the same as
    disentanglement_lib's for a given seed.
    """
    return int(random_state.randint(np.iinfo(np.int32).max))
