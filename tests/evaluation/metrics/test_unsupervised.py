"""Unsupervised scores: Gaussian total correlation and Wasserstein dependency, pairwise MI."""

import numpy as np
import pytest
import scipy.linalg

from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation.metrics import unsupervised

CORRELATED = np.array([[1.0, 0.9], [0.9, 1.0]])


def test_total_correlation_is_the_kl_to_the_product_of_marginals():
    assert unsupervised.gaussian_total_correlation(np.eye(5)) == pytest.approx(0.0)
    # KL(N(0, S) || N(0, diag S)) for unit variances and correlation r: -log(1 - r^2) / 2.
    assert unsupervised.gaussian_total_correlation(CORRELATED) == pytest.approx(
        -0.5 * np.log(1 - 0.81))
    assert unsupervised.gaussian_total_correlation(4.0 * CORRELATED) == pytest.approx(
        -0.5 * np.log(1 - 0.81))


@pytest.mark.parametrize("cov", [
    CORRELATED,
    np.array([[2.0, 0.3, -0.5], [0.3, 1.0, 0.2], [-0.5, 0.2, 0.7]]),
])
def test_wasserstein_matches_the_matrix_square_root_formula(cov):
    diagonal = np.diag(np.diag(cov))
    expected = np.trace(cov + diagonal - 2 * scipy.linalg.sqrtm(cov @ diagonal)).real
    assert unsupervised.gaussian_wasserstein_correlation(cov) == pytest.approx(expected)
    assert unsupervised.gaussian_wasserstein_correlation(np.diag(np.diag(cov))) == pytest.approx(
        0.0, abs=1e-12)


def _scores(representation):
    return unsupervised.compute_unsupervised(
        IdentityObservationsData(), representation, np.random.RandomState(0), num_train=2000)


def test_independent_codes_score_near_zero():
    scores = _scores(lambda x: x)
    assert 0.0 <= scores["gaussian_total_correlation"] < 0.05
    assert 0.0 <= scores["gaussian_wasserstein_correlation_norm"] < 0.01
    assert scores["mutual_info_score"] < 0.1  # plug-in bias of 10 x 10 cells on 2000 samples


def test_dependent_codes_score_high():
    noise = np.random.RandomState(1)

    def representation(x):  # two noisy copies of factor 0
        return np.hstack([x[:, :1], x[:, :1] + 0.3 * noise.normal(size=(len(x), 1))])

    scores = _scores(representation)
    assert scores["gaussian_total_correlation"] > 1.0
    assert scores["gaussian_wasserstein_correlation_norm"] > 0.5
    assert scores["mutual_info_score"] > 1.0


def test_mutual_info_score_is_the_mean_over_pairs_of_distinct_codes():
    # Two codes that are (scaled) copies of one ten-valued factor: each of the 2 ordered pairs
    # shares the factor's log 10 nats, and the mean over pairs is log 10 (less the plug-in
    # entropy's bias, 9 / 4000 nats on 2000 samples); a code's information with itself is not
    # counted.
    score = _scores(lambda x: np.hstack([x[:, :1], 3.0 * x[:, :1]]))["mutual_info_score"]
    assert score == pytest.approx(np.log(10) - 9 / 4000, abs=0.01)


def test_small_codes_count_and_the_normalised_wasserstein_ignores_scale():
    # Codes 0.05 f and 0.05 (f + sigma n), sigma^2 = var f: correlation 1/sqrt 2, so the total
    # correlation is -log(1 - 1/2) / 2 (sampling error on 2000 samples about 0.016). Their
    # variances are far below 1; scaled up 20-fold, every normalised score is the same.
    def representation(scale):
        noise = np.random.RandomState(1)

        def codes(x):
            f = x[:, :1]
            return scale * np.hstack([f, f + np.sqrt(8.25) * noise.normal(size=f.shape)])
        return codes

    small, large = _scores(representation(0.05)), _scores(representation(1.0))
    assert small["gaussian_total_correlation"] == pytest.approx(0.5 * np.log(2), abs=0.05)
    assert small["gaussian_total_correlation"] == pytest.approx(
        large["gaussian_total_correlation"], rel=1e-9)
    # Population covariance v [[1, 1], [1, 2]]: W = 6v - 2 v sum sqrt(eig [[1, r2], [r2, 4]]),
    # r2 = sqrt 2, over the total variance 3v: 0.1347.
    eigenvalues = np.linalg.eigvalsh(np.array([[1.0, np.sqrt(2)], [np.sqrt(2), 4.0]]))
    assert small["gaussian_wasserstein_correlation_norm"] == pytest.approx(
        (6 - 2 * np.sqrt(eigenvalues).sum()) / 3, abs=0.01)
    assert small["gaussian_wasserstein_correlation_norm"] == pytest.approx(
        large["gaussian_wasserstein_correlation_norm"], rel=1e-9)
    assert small["gaussian_wasserstein_correlation"] == pytest.approx(
        0.05**2 * large["gaussian_wasserstein_correlation"], rel=1e-9)


def test_constant_codes_are_independent_of_everything():
    scores = _scores(np.zeros_like)
    assert scores == {"gaussian_total_correlation": 0.0, "gaussian_wasserstein_correlation": 0.0,
                      "gaussian_wasserstein_correlation_norm": 0.0, "mutual_info_score": 0.0}
    with_constant = _scores(lambda x: np.hstack([x, np.zeros((len(x), 1))]))
    without = _scores(lambda x: x)
    assert with_constant["gaussian_total_correlation"] == pytest.approx(
        without["gaussian_total_correlation"])
