"""Modularity (closed forms from the mutual-information matrix) and explicitness (ROC-AUC)."""

import numpy as np
import pytest

from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation.metrics import modularity_explicitness as me

DIAGONAL = np.diag(5.0 * np.ones(5))


@pytest.mark.parametrize("matrix, expected", [
    (DIAGONAL, 1.0),
    (np.vstack([DIAGONAL, DIAGONAL]), 1.0),  # redundant codes are still modular
    (DIAGONAL[:2, :], 1.0),  # factors nobody captures do not matter
    (np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), 2.0 / 3.0),  # an empty code scores 0
    (np.zeros((10, 10)), 0.0),
    # A code informative about 2 of 10 factors: 1 - 1 / (10 - 1).
    (np.hstack([DIAGONAL, DIAGONAL]), 1.0 - 1.0 / 9.0),
])
def test_modularity_closed_forms(matrix, expected):
    assert me.modularity(matrix) == pytest.approx(expected)


def _scores(representation):
    return me.compute_modularity_explicitness(
        IdentityObservationsData(), representation, np.random.RandomState(0),
        num_train=1000, num_test=500)


def test_identity_representation_is_modular_and_explicit():
    scores = _scores(lambda x: x)
    assert scores["modularity_score"] >= 0.95
    # A linear score of one code cannot rank the middle values of a ten-valued factor against
    # the rest perfectly, so explicitness is high but below 1 by definition.
    assert scores["explicitness_score_test"] >= 0.85


def test_constant_representation_has_no_modularity_and_chance_explicitness():
    scores = _scores(np.zeros_like)
    assert scores["modularity_score"] == 0.0
    assert scores["explicitness_score_train"] == pytest.approx(0.5)
    assert scores["explicitness_score_test"] == pytest.approx(0.5)


def test_a_code_split_between_two_factors_on_codes_of_different_scales():
    # Three four-valued factors. Code 0 = 100 (factor 0 + 0.1 noise) and code 1 = 0.1 factor 1
    # each tell one factor (20 bins over its range keep the four values apart): modularity 1.
    # Code 2 = 2 [factor 1 >= 2] + [factor 2 >= 2] holds log 2 nats about each of two factors:
    # 1 - (log 2)^2 / ((3 - 1) (log 2)^2) = 1/2. Mean (1 + 1 + 1/2) / 3 = 5/6; the plug-in
    # estimates on 2000 samples move it by well under 0.01.
    noise = np.random.RandomState(1)

    def representation(x):
        return np.stack([100.0 * (x[:, 0] + 0.1 * noise.normal(size=len(x))), 0.1 * x[:, 1],
                         2.0 * (x[:, 1] >= 2) + (x[:, 2] >= 2)], axis=1)

    scores = me.compute_modularity_explicitness(
        IdentityObservationsData((4, 4, 4)), representation, np.random.RandomState(0),
        num_train=2000, num_test=1000)
    assert scores["modularity_score"] == pytest.approx(5 / 6, abs=0.01)


def test_duplicated_codes_stay_modular():
    assert _scores(lambda x: np.hstack([x, x]))["modularity_score"] >= 0.95


def test_train_and_test_explicitness_come_from_their_own_sets():
    # The training set (1000 observations, one encoder call) gets the perfect code; the test set
    # (a later call) a constant one, which every classifier scores alike: test ROC-AUC exactly 1/2.
    calls = []

    def representation(x):
        calls.append(len(x))
        return x if len(calls) == 1 else np.zeros_like(x)

    scores = _scores(representation)
    assert calls == [1000, 500]
    assert scores["explicitness_score_test"] == 0.5
    assert scores["explicitness_score_train"] >= 0.85  # as the identity's, above


def test_explicitness_of_a_separable_binary_factor_is_one():
    rs = np.random.RandomState(0)
    y_train, y_test = rs.randint(2, size=200), rs.randint(2, size=100)

    def codes(y):  # code 0 is the factor, code 1 noise
        return np.stack([2.0 * y - 1.0, rs.normal(size=len(y))])

    train, test = me.explicitness_per_factor(codes(y_train), y_train, codes(y_test), y_test)
    assert train == 1.0 and test == 1.0
