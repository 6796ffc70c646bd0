"""SAP: gap between the two single codes that best predict each factor."""

import numpy as np
import pytest

from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation.metrics import sap


def _sap(representation, continuous_factors, num_train=2000, num_test=1000):
    return sap.compute_sap(IdentityObservationsData(), representation, np.random.RandomState(0),
                           num_train=num_train, num_test=num_test,
                           continuous_factors=continuous_factors)["SAP_score"]


def test_identity_representation_scores_high_with_continuous_factors():
    assert _sap(lambda x: x, continuous_factors=True) >= 0.9


def test_noisy_codes_on_different_scales_score_their_squared_correlation():
    # Code k = SCALES[k] * (factor k + sigma * noise) with sigma^2 = 8.25, the variance of a
    # ten-valued uniform factor: each code's squared correlation with its factor is
    # 8.25 / (8.25 + 8.25) = 1/2 whatever its scale, and about 0 with the others (mean 1/2000).
    # Over 10 factors and 2000 samples the sampling error of the mean is about 0.005.
    scales = np.array([100.0, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1, 0.1, 0.1, 0.1])
    noise = np.random.RandomState(1)

    def representation(x):
        return scales * (x + np.sqrt(8.25) * noise.normal(size=x.shape))

    assert _sap(representation, continuous_factors=True) == pytest.approx(0.5, abs=0.02)


def test_constant_representation_scores_zero():
    assert _sap(np.zeros_like, continuous_factors=True) == 0.0
    assert _sap(np.zeros_like, continuous_factors=False, num_train=500, num_test=300) == 0.0


def test_a_constant_code_predicts_nothing():
    # Its squared correlation is 0 (not undefined, and not 1): each perfect code keeps its gap.
    score = _sap(lambda x: np.hstack([x, np.zeros((len(x), 1))]), continuous_factors=True)
    assert score == pytest.approx(_sap(lambda x: x, continuous_factors=True), abs=1e-12)


def test_duplicated_code_leaves_no_gap():
    assert _sap(lambda x: np.hstack([x, x]), continuous_factors=True) == pytest.approx(0.0)
    # Discrete: both copies get the same (seeded) classifier, hence exactly no gap.
    assert _sap(lambda x: np.hstack([x, x]), continuous_factors=False,
                num_train=500, num_test=300) == 0.0


def test_discrete_score_is_the_accuracy_gap_of_single_code_linear_classifiers():
    # A linear SVM on one code cannot single out middle values of a ten-valued factor, so even
    # a perfect code scores well below 1 (it is how disentanglement_lib defines it); every
    # factor still gains over the uninformative codes.
    scores = sap.compute_score_matrix(
        *_codes_and_factors(), continuous_factors=False, random_state=np.random.RandomState(0))
    diagonal = np.diag(scores)
    off_diagonal = scores[~np.eye(10, dtype=bool)]
    assert diagonal.min() > off_diagonal.max()
    assert off_diagonal.max() <= 0.2  # chance is 0.1
    assert diagonal.max() < 0.6


def _codes_and_factors():
    data = IdentityObservationsData()
    rs = np.random.RandomState(0)
    train = data.sample_factors(2000, rs).T.astype(float)
    test = data.sample_factors(1000, rs).T.astype(float)
    return train, train.astype(int), test, test.astype(int)


def test_avg_diff_top_two_is_per_factor():
    matrix = np.array([[0.9, 0.1], [0.5, 0.2], [0.0, 0.6]])
    assert sap.avg_diff_top_two(matrix) == pytest.approx(((0.9 - 0.5) + (0.6 - 0.2)) / 2)
