"""Shared metric pieces: sampling stream, discretiser, mutual information, reference classifier."""

import numpy as np
import pytest

from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation.metrics import utils


def test_generate_batch_factor_code_draws_the_reference_stream_and_orients_codes_by_rows():
    data = IdentityObservationsData((3, 5, 7))
    calls = []

    def representation(x):
        calls.append(len(x))
        return 2.0 * x

    codes, factors = utils.generate_batch_factor_code(
        data, representation, 2500, np.random.RandomState(0), batch_size=16)
    # disentanglement_lib samples 16 at a time: the same seed must give the same factors.
    reference_rs = np.random.RandomState(0)
    expected = np.concatenate(
        [data.sample_factors(min(16, 2500 - i), reference_rs) for i in range(0, 2500, 16)])
    np.testing.assert_array_equal(factors, expected.T)
    assert codes.shape == (3, 2500) and factors.shape == (3, 2500)
    np.testing.assert_array_equal(codes, 2.0 * factors)
    # ... but encodes in large groups, and never an observation twice.
    assert sum(calls) == 2500 and max(calls) >= utils.ENCODE_GROUP and len(calls) == 3


def test_encode_codes_every_observation_once_in_order_a_group_at_a_time():
    calls = []

    def representation(x):
        calls.append(len(x))
        return x[:, :2] * 3.0

    observations = np.arange(2500 * 3, dtype=np.float32).reshape(2500, 3)
    codes = utils.encode(representation, observations)
    np.testing.assert_array_equal(codes, observations[:, :2] * 3.0)
    assert calls == [utils.ENCODE_GROUP, utils.ENCODE_GROUP, 2500 - 2 * utils.ENCODE_GROUP]


def test_encode_groups_returns_each_groups_codes_from_one_call():
    calls = []

    def representation(x):
        calls.append(len(x))
        return -x

    groups = [np.full((size, 2), float(size)) for size in (3, 1, 2, 4)]
    codes = utils.encode_groups(representation, groups)
    assert calls == [10]
    assert len(codes) == 4
    for group, group_codes in zip(groups, codes):
        np.testing.assert_array_equal(group_codes, -group)


def test_encode_rejects_a_representation_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"codes shaped \(n, num_codes\)"):
        utils.encode(lambda x: x[:, 0], np.zeros((4, 3), np.float32))


def test_histogram_discretize_uses_20_equal_bins_with_the_maximum_in_the_last():
    row = np.array([0.0, 0.049, 0.05, 0.5, 0.999, 1.0])
    np.testing.assert_array_equal(utils.histogram_discretize(row[None, :])[0],
                                  [1, 1, 2, 11, 20, 20])
    # Bins follow each row's own range.
    two_rows = np.stack([row, 10 * row - 3])
    discretized = utils.histogram_discretize(two_rows)
    np.testing.assert_array_equal(discretized[0], discretized[1])
    assert utils.histogram_discretize(row[None, :], num_bins=2)[0].tolist() == [1, 1, 1, 2, 2, 2]


def test_discrete_mutual_info_is_codes_by_factors_in_nats():
    rs = np.random.RandomState(0)
    ys = rs.randint(4, size=(2, 4000))
    mus = np.stack([ys[1], ys[0], rs.randint(4, size=4000)])  # 3 codes, 2 factors
    m = utils.discrete_mutual_info(mus, ys)
    assert m.shape == (3, 2)
    np.testing.assert_allclose(m[0, 1], np.log(4), atol=1e-3)
    np.testing.assert_allclose(m[1, 0], np.log(4), atol=1e-3)
    assert m[0, 0] < 0.01 and m[2].max() < 0.01
    np.testing.assert_allclose(utils.discrete_entropy(ys), np.log(4), atol=1e-3)


def test_normalize_data_keeps_a_constant_code_finite():
    data = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    normalised, mean, stddev = utils.normalize_data(data)
    np.testing.assert_allclose(normalised[0], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    np.testing.assert_array_equal(normalised[1], 0.0)
    test_normalised, _, _ = utils.normalize_data(data + 1.0, mean, stddev)
    np.testing.assert_array_equal(test_normalised[1], 1.0)


def test_reference_logistic_regression_is_one_vs_rest_liblinear_with_normalised_probabilities():
    from sklearn.linear_model import LogisticRegression

    rs = np.random.RandomState(0)
    y = rs.randint(3, size=300)
    x = rs.normal(size=(300, 2)) + np.array([[-3.0, 0.0], [0.0, 3.0], [3.0, 0.0]])[y]
    clf = utils.reference_logistic_regression().fit(x, y)
    # scikit-learn 0.20's LogisticRegression(): one liblinear binary fit per class, sigmoid
    # probabilities normalised over the classes.
    one_vs_rest = np.stack([
        LogisticRegression(solver="liblinear").fit(x, y == k).predict_proba(x)[:, 1]
        for k in range(3)], axis=1)
    np.testing.assert_allclose(
        clf.predict_proba(x), one_vs_rest / one_vs_rest.sum(axis=1, keepdims=True), rtol=1e-6)
    assert clf.score(x, y) > 0.95
    # scikit-learn 0.20's defaults, which cap liblinear at 100 iterations.
    params = clf.estimator.get_params()
    assert (params["solver"], params["C"], params["tol"], params["max_iter"]) == (
        "liblinear", 1.0, 1e-4, 100)


def test_liblinear_seed_draws_once_from_the_random_state():
    rs, reference = np.random.RandomState(0), np.random.RandomState(0)
    seed = utils.liblinear_seed(rs)
    assert seed == reference.randint(np.iinfo(np.int32).max)
    assert rs.randint(1000) == reference.randint(1000)
