"""Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled Embeddings
With the F-Statistic Loss").

Modularity: each code should carry information about one factor only (from the mutual
information of the 20-bin discretised codes with the factors). Explicitness: a linear classifier
on all codes should recover every factor's value (mean one-vs-rest ROC-AUC). Follows
disentanglement_lib's ``modularity_explicitness``.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer

from tfbvae.data.ground_truth import GroundTruthData
from tfbvae.evaluation.metrics import utils


def compute_modularity_explicitness(
    ground_truth_data: GroundTruthData,
    representation_function: utils.RepresentationFunction,
    random_state: np.random.RandomState,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    num_bins: int = 20,
) -> dict:
    """``modularity_score`` and ``explicitness_score_train/_test`` (ROC-AUC, chance 0.5).

    Codes are standardised with the training set's mean and stddev before the classifiers;
    a constant code stays 0 (see ``utils.normalize_data``) where disentanglement_lib would
    feed NaN to the classifier and fail.
    """
    mus_train, ys_train = utils.generate_batch_factor_code(
        ground_truth_data, representation_function, num_train, random_state, batch_size)
    mus_test, ys_test = utils.generate_batch_factor_code(
        ground_truth_data, representation_function, num_test, random_state, batch_size)
    mutual_information = utils.discrete_mutual_info(
        utils.histogram_discretize(mus_train, num_bins), ys_train)
    mus_train_norm, mean_mus, stddev_mus = utils.normalize_data(mus_train)
    mus_test_norm, _, _ = utils.normalize_data(mus_test, mean_mus, stddev_mus)
    explicitness = np.array([
        explicitness_per_factor(mus_train_norm, ys_train[i, :], mus_test_norm, ys_test[i, :])
        for i in range(ys_train.shape[0])
    ])
    return {
        "modularity_score": float(modularity(mutual_information)),
        "explicitness_score_train": float(np.mean(explicitness[:, 0])),
        "explicitness_score_test": float(np.mean(explicitness[:, 1])),
    }


def explicitness_per_factor(
    mus_train: np.ndarray, y_train: np.ndarray, mus_test: np.ndarray, y_test: np.ndarray
) -> tuple[float, float]:
    """Macro ROC-AUC (train, test) of a logistic regression predicting one factor from all codes.

    The classifier is scikit-learn 0.20's default ``LogisticRegression`` (liblinear,
    one-vs-rest; ``utils.reference_logistic_regression``); the labels are one-hot encoded over
    the classifier's classes.
    """
    clf = utils.reference_logistic_regression().fit(mus_train.T, y_train)
    mlb = MultiLabelBinarizer(classes=clf.classes_)
    roc_train = roc_auc_score(mlb.fit_transform(y_train[:, np.newaxis]),
                              clf.predict_proba(mus_train.T))
    roc_test = roc_auc_score(mlb.fit_transform(y_test[:, np.newaxis]),
                             clf.predict_proba(mus_test.T))
    return float(roc_train), float(roc_test)


def modularity(mutual_information: np.ndarray) -> float:
    """Mean over codes of ``1 - sum_{j != argmax} m_ij^2 / ((K - 1) max_j m_ij^2)``.

    ``mutual_information`` is ``(num_codes, num_factors)``; a code with no information scores 0.
    """
    squared_mi = np.square(mutual_information)
    max_squared_mi = np.max(squared_mi, axis=1)
    numerator = np.sum(squared_mi, axis=1) - max_squared_mi
    denominator = max_squared_mi * (squared_mi.shape[1] - 1.0)
    uninformative = max_squared_mi == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        modularity_score = 1.0 - numerator / denominator
    modularity_score[uninformative] = 0.0
    return float(np.mean(modularity_score))
