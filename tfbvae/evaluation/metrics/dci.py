"""DCI disentanglement, completeness and informativeness (Eastwood & Williams 2018).

A gradient-boosted-tree classifier per factor predicts it from the codes; its feature
importances form the ``(num_codes, num_factors)`` importance matrix ``R``. Disentanglement is
``1 - H_K(P_i.)`` per code (``P`` = rows of ``R`` normalised, entropy in base ``K`` =
num_factors), weighted by the code's share of total importance; completeness is the same over
columns with base ``num_codes``. So a code that splits its importance evenly over two of ten
factors has disentanglement ``1 - log 2 / log 10``. Follows disentanglement_lib's ``dci``.
"""

from __future__ import annotations

import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier

from tfbvae.data.ground_truth import GroundTruthData
from tfbvae.evaluation.metrics import utils


def compute_dci(
    ground_truth_data: GroundTruthData,
    representation_function: utils.RepresentationFunction,
    random_state: np.random.RandomState,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
) -> dict:
    """DCI: ``disentanglement``, ``completeness``, ``informativeness_train/_test``.

    Informativeness is, as in disentanglement_lib, the classifiers' mean *accuracy* (higher is
    better), not the prediction error of the paper.

    Deliberate difference: disentanglement_lib leaves the trees unseeded (their tie-breaking
    between equally good splits is then irreproducible); here the classifiers share a seed drawn
    from ``random_state`` after all samples are drawn, so a seed gives one result.
    """
    mus_train, ys_train = utils.generate_batch_factor_code(
        ground_truth_data, representation_function, num_train, random_state, batch_size)
    mus_test, ys_test = utils.generate_batch_factor_code(
        ground_truth_data, representation_function, num_test, random_state, batch_size)
    importance_matrix, train_acc, test_acc = compute_importance_gbt(
        mus_train, ys_train, mus_test, ys_test, random_state)
    return {
        "disentanglement": float(disentanglement(importance_matrix)),
        "completeness": float(completeness(importance_matrix)),
        "informativeness_train": float(train_acc),
        "informativeness_test": float(test_acc),
    }


def compute_importance_gbt(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
    random_state: np.random.RandomState,
) -> tuple[np.ndarray, float, float]:
    """Importance matrix ``(num_codes, num_factors)`` and mean train/test accuracies.

    ``GradientBoostingClassifier()`` with scikit-learn's defaults (100 trees of depth 3,
    learning rate 0.1), which have not changed since disentanglement_lib used them.
    """
    num_codes, num_factors = x_train.shape[0], y_train.shape[0]
    importance_matrix = np.zeros([num_codes, num_factors], dtype=np.float64)
    train_acc, test_acc = [], []
    seed = random_state.randint(2**31 - 1)
    for i in range(num_factors):
        model = GradientBoostingClassifier(random_state=seed)
        model.fit(x_train.T, y_train[i, :])
        importance_matrix[:, i] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(x_train.T) == y_train[i, :]))
        test_acc.append(np.mean(model.predict(x_test.T) == y_test[i, :]))
    return importance_matrix, float(np.mean(train_acc)), float(np.mean(test_acc))


def disentanglement_per_code(importance_matrix: np.ndarray) -> np.ndarray:
    """``1 - H_K(P_i.)`` for each code ``i`` (base ``K`` = num_factors)."""
    return 1.0 - scipy.stats.entropy(importance_matrix.T + 1e-11, base=importance_matrix.shape[1])


def disentanglement(importance_matrix: np.ndarray) -> float:
    """Per-code disentanglement weighted by each code's share of the total importance."""
    per_code = disentanglement_per_code(importance_matrix)
    if importance_matrix.sum() == 0.0:
        importance_matrix = np.ones_like(importance_matrix)
    code_importance = importance_matrix.sum(axis=1) / importance_matrix.sum()
    return float(np.sum(per_code * code_importance))


def completeness_per_factor(importance_matrix: np.ndarray) -> np.ndarray:
    """``1 - H_D(P_.j)`` for each factor ``j`` (base ``D`` = num_codes)."""
    return 1.0 - scipy.stats.entropy(importance_matrix + 1e-11, base=importance_matrix.shape[0])


def completeness(importance_matrix: np.ndarray) -> float:
    """Per-factor completeness weighted by each factor's share of the total importance."""
    per_factor = completeness_per_factor(importance_matrix)
    if importance_matrix.sum() == 0.0:
        importance_matrix = np.ones_like(importance_matrix)
    factor_importance = importance_matrix.sum(axis=0) / importance_matrix.sum()
    return float(np.sum(per_factor * factor_importance))
