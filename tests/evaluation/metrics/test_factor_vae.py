"""FactorVAE score: majority vote from the code whose variance a fixed factor removes."""

import numpy as np

from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation.metrics import factor_vae, utils

COUNTS = {"batch_size": 16, "num_train": 300, "num_eval": 200, "num_variance_estimate": 1000}
# Ten codes on scales four orders of magnitude apart (all above the 0.05 pruning threshold).
SCALES = np.array([100.0, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1, 0.1, 0.1, 0.1])


def test_identity_representation_scores_perfectly():
    scores = factor_vae.compute_factor_vae(
        IdentityObservationsData(), lambda x: x, np.random.RandomState(0), **COUNTS)
    # Accuracies are fractions of the votes: exactly 1 (a count of hits would be 300).
    assert scores == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 10}


def test_noisy_codes_on_different_scales_score_perfectly_only_relative_to_their_variance():
    # Code k = SCALES[k] * (factor k + 0.3 * noise). Fixing factor j leaves code j a variance
    # of 0.3^2 / (8.25 + 0.3^2) ~ 0.011 of its global one (a ten-valued uniform factor has
    # variance 8.25) and every other code about all of its own (a sample variance of 16 draws
    # below 0.3 of the true one has probability < 1e-3). So the relative variance singles out
    # code j every time: both accuracies are exactly 1. Comparing raw variances instead would
    # pick the small-scale codes 6-9 whatever factor is fixed (0.1^2 * 8.3 < 0.3^2): about 0.5.
    noise = np.random.RandomState(1)

    def representation(x):
        return SCALES * (x + 0.3 * noise.normal(size=x.shape))

    scores = factor_vae.compute_factor_vae(
        IdentityObservationsData(), representation, np.random.RandomState(0), **COUNTS)
    assert scores == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 10}


def test_constant_representation_has_no_active_code_and_scores_zero():
    scores = factor_vae.compute_factor_vae(
        IdentityObservationsData(), np.zeros_like, np.random.RandomState(0), **COUNTS)
    assert scores == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_codes_with_stddev_under_the_threshold_are_pruned_and_counted_out():
    noise = np.random.RandomState(1)

    def representation(x):  # ten perfect codes and one nearly constant (stddev 0.01)
        return np.hstack([x, 0.01 * noise.normal(size=(len(x), 1))])

    scores = factor_vae.compute_factor_vae(
        IdentityObservationsData(), representation, np.random.RandomState(0), **COUNTS)
    assert scores["num_active_dims"] == 10
    assert scores["eval_accuracy"] == 1.0
    unpruned = factor_vae.compute_factor_vae(
        IdentityObservationsData(), representation, np.random.RandomState(0),
        prune_threshold=0.0, **COUNTS)
    assert unpruned["num_active_dims"] == 11


def test_a_code_exactly_at_the_threshold_is_kept():
    # disentanglement_lib's _prune_dims keeps sqrt(var(code, ddof=1)) >= threshold. Code 10
    # alternates +-0.05 along each call; the variance estimate encodes its 1000 observations in
    # one call, so the code's estimated stddev is exactly `at` (computed as numpy rounds it).
    def representation(x):
        return np.hstack([x, np.where(np.arange(len(x)) % 2 == 0, 0.05, -0.05)[:, None]])

    at = np.sqrt(np.var(representation(np.zeros((1000, 10))), axis=0, ddof=1))[10]
    assert COUNTS["num_variance_estimate"] == 1000 <= utils.ENCODE_GROUP
    for threshold, active in ((at, 11), (np.nextafter(at, 1.0), 10)):
        scores = factor_vae.compute_factor_vae(
            IdentityObservationsData(), representation, np.random.RandomState(0),
            prune_threshold=threshold, **COUNTS)
        assert scores["num_active_dims"] == active


def test_votes_count_every_point_once_and_groups_fill_an_encode_group():
    calls = []

    def representation(x):
        calls.append(len(x))
        return x

    batch_size, num_points = 24, 100  # 42 batches fit in a group: groups of 42, 42 and 16
    votes = factor_vae._generate_training_batch(
        IdentityObservationsData(), representation, batch_size, num_points,
        np.random.RandomState(0), np.ones(10), np.ones(10, bool))
    assert votes.shape == (10, 10) and votes.sum() == num_points
    np.testing.assert_array_equal(votes, np.diag(np.diag(votes)))  # a perfect code
    assert sum(calls) == num_points * batch_size
    assert max(calls) <= utils.ENCODE_GROUP
    assert min(calls[:-1]) > utils.ENCODE_GROUP - batch_size
