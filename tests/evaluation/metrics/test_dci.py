"""DCI: closed forms of disentanglement and completeness, and the gradient-boosted-tree scores."""

import numpy as np
import pytest

from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation.metrics import dci

# Five factors of four values keep the trees (classes x 100 per factor) cheap.
DATA = IdentityObservationsData((4,) * 5)
COUNTS = {"num_train": 500, "num_test": 300}
DIAGONAL = np.diag(5.0 * np.ones(5))


def test_one_code_per_factor_is_perfect():
    assert dci.disentanglement(DIAGONAL) == pytest.approx(1.0)
    assert dci.completeness(DIAGONAL) == pytest.approx(1.0)
    # An unused code carries no weight; an uncaptured factor costs completeness nothing either.
    with_empty_code = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    assert dci.disentanglement(with_empty_code) == pytest.approx(1.0)
    assert dci.completeness(with_empty_code) == pytest.approx(1.0)


def test_a_code_capturing_two_of_ten_factors_loses_log2_over_log10():
    # Each of 5 codes splits its importance evenly over 2 of the 10 factors: its entropy in base
    # 10 is log 2 / log 10. Each factor still has one code, so completeness stays 1.
    two_factors_per_code = np.hstack([DIAGONAL, DIAGONAL])
    assert dci.disentanglement(two_factors_per_code) == pytest.approx(1 - np.log(2) / np.log(10))
    assert dci.completeness(two_factors_per_code) == pytest.approx(1.0)
    # Mirror image: each factor spread over 2 of 10 codes.
    redundant = two_factors_per_code.T
    assert dci.disentanglement(redundant) == pytest.approx(1.0)
    assert dci.completeness(redundant) == pytest.approx(1 - np.log(2) / np.log(10))


def test_weights_follow_each_codes_share_of_importance():
    # Code 0 (importance 3) is perfect; code 1 (importance 1) is uniform over both factors.
    importance = np.array([[3.0, 0.0], [0.5, 0.5]])
    assert dci.disentanglement(importance) == pytest.approx(0.75 * 1.0 + 0.25 * 0.0, abs=1e-9)


def test_no_importance_scores_zero():
    zeros = np.zeros((10, 10))
    assert dci.disentanglement(zeros) == pytest.approx(0.0, abs=1e-9)
    assert dci.completeness(zeros) == pytest.approx(0.0, abs=1e-9)


def test_identity_representation_is_disentangled_complete_and_informative():
    # Each factor's trees split on its own code only: the importance matrix is diagonal, so
    # D = C = 1 (less the 1e-11 smoothing), and the codes predict every factor without error.
    expected = {"disentanglement": 1.0, "completeness": 1.0,
                "informativeness_train": 1.0, "informativeness_test": 1.0}
    scores = dci.compute_dci(DATA, lambda x: x, np.random.RandomState(0), **COUNTS)
    assert scores == pytest.approx(expected, abs=1e-8)
    # Trees are blind to a code's scale: codes four orders of magnitude apart score the same.
    scales = np.array([100.0, 10.0, 1.0, 0.1, 0.01])
    scaled = dci.compute_dci(DATA, lambda x: scales * x, np.random.RandomState(0), **COUNTS)
    assert scaled == pytest.approx(scores, abs=1e-12)


def test_a_code_holding_two_factors_has_the_closed_form_disentanglement():
    # Code 0 = factor 0 + 4 factor 1 (16 values: both factors, nothing else does); codes 1-3 are
    # factors 2-4 on other scales. Each factor's trees use only its one informative code, so
    # R = [[1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]]: code 0 has
    # disentanglement 1 - log 2 / log 5 and weight 2/5, the others 1 and 3/5; every factor has
    # one code, so completeness is 1.
    def representation(x):
        return np.stack([100.0 * (x[:, 0] + 4 * x[:, 1]), 0.1 * x[:, 2], x[:, 3], 10.0 * x[:, 4]],
                        axis=1)

    scores = dci.compute_dci(DATA, representation, np.random.RandomState(0), **COUNTS)
    assert scores["disentanglement"] == pytest.approx(
        0.4 * (1 - np.log(2) / np.log(5)) + 0.6, abs=1e-6)
    assert scores["completeness"] == pytest.approx(1.0, abs=1e-6)
    assert scores["informativeness_train"] == scores["informativeness_test"] == 1.0


def test_constant_representation_scores_zero_and_predicts_at_chance():
    scores = dci.compute_dci(DATA, np.zeros_like, np.random.RandomState(0), **COUNTS)
    assert scores["disentanglement"] == pytest.approx(0.0, abs=1e-9)
    assert scores["completeness"] == pytest.approx(0.0, abs=1e-9)
    assert scores["informativeness_test"] <= 0.4  # chance 0.25


def test_duplicated_codes_are_disentangled_but_incomplete():
    scores = dci.compute_dci(
        DATA, lambda x: np.hstack([x, x]), np.random.RandomState(0), **COUNTS)
    assert scores["disentanglement"] >= 0.9
    # Identical copies: the trees split each factor's importance about evenly over its 2 codes.
    assert scores["completeness"] == pytest.approx(1 - np.log(2) / np.log(10), abs=0.05)

