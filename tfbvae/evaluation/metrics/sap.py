"""SAP score, Separated Attribute Predictability (Kumar et al. 2018, Section 3).

Score how well each single code predicts each factor, then average over factors the gap
between the best and second-best code. Follows disentanglement_lib's ``sap_score``; its
unsupervised study treats the factors as discrete (a linear SVM per code and factor, scored
by test accuracy), which is the default here.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import svm
from sklearn.exceptions import ConvergenceWarning

from tfbvae.data.ground_truth import GroundTruthData
from tfbvae.evaluation.metrics import utils


def compute_sap(
    ground_truth_data: GroundTruthData,
    representation_function: utils.RepresentationFunction,
    random_state: np.random.RandomState,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    continuous_factors: bool = False,
) -> dict:
    """SAP: ``SAP_score`` in [0, 1] (the key disentanglement_lib uses)."""
    mus, ys = utils.generate_batch_factor_code(
        ground_truth_data, representation_function, num_train, random_state, batch_size)
    mus_test, ys_test = utils.generate_batch_factor_code(
        ground_truth_data, representation_function, num_test, random_state, batch_size)
    score_matrix = compute_score_matrix(
        mus, ys, mus_test, ys_test, continuous_factors, random_state)
    return {"SAP_score": float(avg_diff_top_two(score_matrix))}


def compute_score_matrix(
    mus: np.ndarray, ys: np.ndarray, mus_test: np.ndarray, ys_test: np.ndarray,
    continuous_factors: bool, random_state: np.random.RandomState,
) -> np.ndarray:
    """``(num_codes, num_factors)`` predictability of each factor from each single code.

    Continuous factors: squared correlation (0 for a constant code). Discrete factors: test
    accuracy of ``LinearSVC(C=0.01, class_weight="balanced")`` on the one code, pinned to the
    dual solver that scikit-learn used by default before 1.5 (now ``dual="auto"``). As in
    disentanglement_lib, it often stops at its 1000-iteration limit; that warning is silenced
    because the limit is part of the definition. Deliberate difference: the SVMs share a seed drawn
    from ``random_state`` (disentanglement_lib leaves them unseeded, so irreproducible).
    """
    num_codes, num_factors = mus.shape[0], ys.shape[0]
    score_matrix = np.zeros([num_codes, num_factors])
    # One seed for all the SVMs: identical codes then score identically.
    seed = None if continuous_factors else random_state.randint(2**31 - 1)
    for i in range(num_codes):
        for j in range(num_factors):
            mu_i, y_j = mus[i, :], ys[j, :]
            if continuous_factors:
                cov = np.cov(mu_i, y_j, ddof=1)
                var_mu, var_y = cov[0, 0], cov[1, 1]
                score_matrix[i, j] = cov[0, 1] ** 2 / (var_mu * var_y) if var_mu > 1e-12 else 0.0
            else:
                classifier = svm.LinearSVC(C=0.01, class_weight="balanced", dual=True,
                                           random_state=seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    classifier.fit(mu_i[:, np.newaxis], y_j)
                pred = classifier.predict(mus_test[i, :, np.newaxis])
                score_matrix[i, j] = np.mean(pred == ys_test[j, :])
    return score_matrix


def avg_diff_top_two(matrix: np.ndarray) -> float:
    """Mean over factors (columns) of the gap between the two largest entries."""
    sorted_matrix = np.sort(matrix, axis=0)
    return float(np.mean(sorted_matrix[-1, :] - sorted_matrix[-2, :]))
