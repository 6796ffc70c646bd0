"""MIG: gap between the two codes most informative about each factor, over its entropy."""

import numpy as np
import pytest

from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation.metrics import mig


# Ten codes on scales four orders of magnitude apart.
SCALES = np.array([100.0, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1, 0.1, 0.1, 0.1])
# Plug-in bias of the mutual information between two independent ten-valued variables on 3000
# samples, (10 - 1)(10 - 1) / (2 * 3000) nats (Miller 1955), as a share of a factor's log 10:
# the second-best code of each factor shows about this much, so the gaps fall short of 1 by it.
BIAS = 81 / (2 * 3000) / np.log(10)


def _mig(representation, data=None, num_train=3000):
    data = IdentityObservationsData() if data is None else data
    return mig.compute_mig(data, representation, np.random.RandomState(0),
                           num_train=num_train)["discrete_mig"]


def test_identity_representation_scores_one_less_the_estimator_bias():
    assert _mig(lambda x: x) == pytest.approx(1 - BIAS, abs=0.005)  # ten values fit in 20 bins


def test_codes_on_different_scales_and_a_lossy_code():
    # Each code is binned over its own range, so scales do not matter; code 0 keeps only
    # factor 0 // 2 (five values): log 5 of its log 10 nats. MIG = (9 + log 5 / log 10) / 10.
    def representation(x):
        codes = SCALES * x
        codes[:, 0] = 100.0 * (x[:, 0] // 2)
        return codes

    expected = (9 + np.log(5) / np.log(10)) / 10 - BIAS
    assert _mig(representation) == pytest.approx(expected, abs=0.005)
    assert _mig(lambda x: SCALES * x) == pytest.approx(_mig(lambda x: x), abs=1e-12)


def test_constant_representation_scores_zero():
    assert _mig(np.zeros_like) == 0.0


def test_duplicated_code_leaves_no_gap():
    assert _mig(lambda x: np.hstack([x, x])) <= 0.1


def test_20_bins_cannot_hold_a_40_valued_factor():
    # 40 values fall two to a bin: the code keeps log 20 of the factor's log 40 nats.
    score = _mig(lambda x: x, IdentityObservationsData((40, 3)), num_train=20000)
    np.testing.assert_allclose(score, (np.log(20) / np.log(40) + 1.0) / 2, atol=0.01)


def test_gap_is_taken_over_codes_of_the_codes_by_factors_matrix():
    # 3 codes x 2 factors. Factor 0: (0.9 - 0.3) / 1.0; factor 1: (0.45 - 0.1) / 0.5.
    m = np.array([[0.2, 0.45], [0.9, 0.1], [0.3, 0.0]])
    entropy = np.array([1.0, 0.5])
    assert mig.mig_from_mutual_info(m, entropy) == pytest.approx(0.65)
    # The PyTorch-port bug: the matrix re-read with .view/.reshape instead of transposed.
    assert mig.mig_from_mutual_info(m.reshape(2, 3).T, entropy) == pytest.approx(0.425)


def test_a_factor_with_a_single_value_is_left_out():
    m = np.array([[1.0, 0.0], [0.2, 0.0]])
    assert mig.mig_from_mutual_info(m, np.array([1.0, 0.0])) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="single value"):
        mig.mig_from_mutual_info(m, np.zeros(2))


def test_two_codes_are_enough_for_a_gap_even_for_one_factor():
    assert mig.mig_from_mutual_info(np.array([[0.6], [0.2]]), np.array([0.8])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least two codes"):
        mig.mig_from_mutual_info(np.array([[0.6, 0.1]]), np.array([0.8, 0.5]))
