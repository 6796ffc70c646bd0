"""BetaVAE score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts...").

A linear classifier must tell which factor was held fixed across a pair of batches from the
mean absolute difference of their codes; its accuracy is the score (chance = 1/num_factors).
Follows disentanglement_lib's ``beta_vae.compute_beta_vae_sklearn``.
"""

from __future__ import annotations

import numpy as np

from tfbvae.data.ground_truth import GroundTruthData
from tfbvae.evaluation.metrics import utils


def compute_beta_vae(
    ground_truth_data: GroundTruthData,
    representation_function: utils.RepresentationFunction,
    random_state: np.random.RandomState,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
) -> dict:
    """BetaVAE score: ``train_accuracy`` and ``eval_accuracy`` of the factor classifier.

    Each of ``num_train`` (``num_eval``) points averages ``|z(x1) - z(x2)|`` over
    ``batch_size`` pairs that share one random factor. The classifier is scikit-learn 0.20's
    default ``LogisticRegression`` (liblinear, one-vs-rest; see
    ``utils.reference_logistic_regression``), seeded from ``random_state`` as that version
    did, so a seed gives disentanglement_lib's evaluation set.
    """
    train_points, train_labels = _generate_training_batch(
        ground_truth_data, representation_function, batch_size, num_train, random_state)
    model = utils.reference_logistic_regression(utils.liblinear_seed(random_state))
    model.fit(train_points, train_labels)
    train_accuracy = np.mean(model.predict(train_points) == train_labels)
    eval_points, eval_labels = _generate_training_batch(
        ground_truth_data, representation_function, batch_size, num_eval, random_state)
    eval_accuracy = model.score(eval_points, eval_labels)
    return {"train_accuracy": float(train_accuracy), "eval_accuracy": float(eval_accuracy)}


def _generate_training_batch(
    ground_truth_data: GroundTruthData,
    representation_function: utils.RepresentationFunction,
    batch_size: int,
    num_points: int,
    random_state: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray]:
    """``num_points`` feature vectors ``(num_points, num_codes)`` and their fixed-factor labels."""
    labels = np.zeros(num_points, dtype=np.int64)
    features = []
    # Several points' observations go through the encoder together; the random draws happen in
    # the reference's order (index, factors1, factors2, observations1, observations2).
    points_per_group = max(1, utils.ENCODE_GROUP // (2 * batch_size))
    for start in range(0, num_points, points_per_group):
        groups = []
        for i in range(start, min(start + points_per_group, num_points)):
            index = random_state.randint(ground_truth_data.num_factors)
            factors1 = ground_truth_data.sample_factors(batch_size, random_state)
            factors2 = ground_truth_data.sample_factors(batch_size, random_state)
            factors2[:, index] = factors1[:, index]
            for factors in (factors1, factors2):
                groups.append(
                    ground_truth_data.sample_observations_from_factors(factors, random_state))
            labels[i] = index
        codes = utils.encode_groups(representation_function, groups)
        for codes1, codes2 in zip(codes[0::2], codes[1::2]):
            features.append(np.mean(np.abs(codes1 - codes2), axis=0))
    return np.stack(features), labels
