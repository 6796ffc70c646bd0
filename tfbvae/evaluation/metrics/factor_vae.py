"""FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising").

Hold one factor fixed over a batch, find the code whose variance (relative to its global
variance) drops the most, and vote; a majority-vote classifier from code to factor gives the
score (chance = 1/num_factors). Follows disentanglement_lib's ``factor_vae.compute_factor_vae``.
"""

from __future__ import annotations

import numpy as np

from tfbvae.data.ground_truth import GroundTruthData
from tfbvae.evaluation.metrics import utils


def compute_factor_vae(
    ground_truth_data: GroundTruthData,
    representation_function: utils.RepresentationFunction,
    random_state: np.random.RandomState,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
) -> dict:
    """FactorVAE score: ``train_accuracy``, ``eval_accuracy`` and ``num_active_dims``.

    Codes whose global standard deviation is below ``prune_threshold`` are ignored as collapsed
    to the prior (disentanglement_lib's code default is 0, its unsupervised study sets 0.05;
    0.05 is the default here). With no active code both accuracies are 0.

    Deliberate difference: ``num_active_dims`` counts the active codes; disentanglement_lib
    reports ``len`` of the boolean mask, i.e. the total number of codes.
    """
    observations = ground_truth_data.sample_observations(num_variance_estimate, random_state)
    global_variances = np.var(utils.encode(representation_function, observations), axis=0, ddof=1)
    active_dims = np.sqrt(global_variances) >= prune_threshold
    if not active_dims.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}

    training_votes = _generate_training_batch(
        ground_truth_data, representation_function, batch_size, num_train, random_state,
        global_variances, active_dims)
    classifier = np.argmax(training_votes, axis=0)
    other_index = np.arange(training_votes.shape[1])
    train_accuracy = np.sum(training_votes[classifier, other_index]) / np.sum(training_votes)

    eval_votes = _generate_training_batch(
        ground_truth_data, representation_function, batch_size, num_eval, random_state,
        global_variances, active_dims)
    eval_accuracy = np.sum(eval_votes[classifier, other_index]) / np.sum(eval_votes)
    return {
        "train_accuracy": float(train_accuracy),
        "eval_accuracy": float(eval_accuracy),
        "num_active_dims": int(np.sum(active_dims)),
    }


def _generate_training_batch(
    ground_truth_data: GroundTruthData,
    representation_function: utils.RepresentationFunction,
    batch_size: int,
    num_points: int,
    random_state: np.random.RandomState,
    global_variances: np.ndarray,
    active_dims: np.ndarray,
) -> np.ndarray:
    """Votes ``(num_factors, num_codes)``: how often fixing a factor singled out a code.

    As in disentanglement_lib, the code index is the argmin's position among the active codes.
    """
    votes = np.zeros((ground_truth_data.num_factors, global_variances.shape[0]), dtype=np.int64)
    points_per_group = max(1, utils.ENCODE_GROUP // batch_size)
    for start in range(0, num_points, points_per_group):
        groups, factor_indices = [], []
        for _ in range(min(points_per_group, num_points - start)):
            factor_index = random_state.randint(ground_truth_data.num_factors)
            factors = ground_truth_data.sample_factors(batch_size, random_state)
            factors[:, factor_index] = factors[0, factor_index]
            groups.append(ground_truth_data.sample_observations_from_factors(factors, random_state))
            factor_indices.append(factor_index)
        for factor_index, codes in zip(
                factor_indices, utils.encode_groups(representation_function, groups)):
            local_variances = np.var(codes, axis=0, ddof=1)
            argmin = np.argmin(local_variances[active_dims] / global_variances[active_dims])
            votes[factor_index, argmin] += 1
    return votes
