"""BetaVAE score: a perfect code is always classified right, a constant one at chance."""

import numpy as np
import pytest

from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation.metrics import beta_vae, utils

COUNTS = {"batch_size": 16, "num_train": 300, "num_eval": 200}


def test_identity_representation_scores_perfectly():
    scores = beta_vae.compute_beta_vae(
        IdentityObservationsData(), lambda x: x, np.random.RandomState(0), **COUNTS)
    # Accuracies, i.e. fractions: exactly 1 (a count or a sum of hits would be far above).
    assert scores == {"train_accuracy": 1.0, "eval_accuracy": 1.0}


def test_constant_representation_scores_at_chance():
    # All features are 0: the classifier can only guess one of the ten factors.
    scores = beta_vae.compute_beta_vae(
        IdentityObservationsData(), np.zeros_like, np.random.RandomState(0), **COUNTS)
    assert scores["eval_accuracy"] <= 0.2


def test_the_fixed_factor_has_zero_difference_in_a_perfect_code():
    features, labels = beta_vae._generate_training_batch(
        IdentityObservationsData(), lambda x: x, 8, 50, np.random.RandomState(0))
    assert features.shape == (50, 10)
    np.testing.assert_array_equal(features[np.arange(50), labels], 0.0)
    others = np.delete(features.reshape(-1), np.arange(50) * 10 + labels)
    assert (others > 0).all()
    # Each feature is the *mean* of |z1 - z2| over the batch: for two independent uniform draws
    # from 0..K-1, E|X - Y| = (K^2 - 1) / (3K) = 3.3 for K = 10 (a sum would give 8 x 3.3).
    # 450 features of 8 pairs each: standard error about 0.04.
    assert others.mean() == pytest.approx(99 / 30, abs=0.15)


def test_pairs_of_batches_are_encoded_as_many_at_a_time_as_fit_in_an_encode_group():
    # The grouping must not change results (tested above) but is what makes the score fast:
    # every call but the last holds as many whole pairs of batches as fit in ENCODE_GROUP.
    calls = []

    def representation(x):
        calls.append(len(x))
        return x

    batch_size = 24
    beta_vae._generate_training_batch(
        IdentityObservationsData(), representation, batch_size, 100, np.random.RandomState(0))
    assert sum(calls) == 100 * 2 * batch_size
    assert max(calls) <= utils.ENCODE_GROUP
    assert all(size % (2 * batch_size) == 0 for size in calls)
    assert min(calls[:-1]) > utils.ENCODE_GROUP - 2 * batch_size
