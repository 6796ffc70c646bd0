"""Metric names (as ``--metrics`` takes them) mapped to their functions and headline scores."""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Mapping

from tfbvae.evaluation.metrics.beta_vae import compute_beta_vae
from tfbvae.evaluation.metrics.dci import compute_dci
from tfbvae.evaluation.metrics.factor_vae import compute_factor_vae
from tfbvae.evaluation.metrics.mig import compute_mig
from tfbvae.evaluation.metrics.modularity_explicitness import compute_modularity_explicitness
from tfbvae.evaluation.metrics.sap import compute_sap
from tfbvae.evaluation.metrics.unsupervised import compute_unsupervised

# Each takes (ground_truth_data, representation_function, random_state, **counts) -> scores.
METRICS: Mapping[str, Callable[..., dict]] = MappingProxyType({
    "beta_vae": compute_beta_vae,
    "factor_vae": compute_factor_vae,
    "mig": compute_mig,
    "dci": compute_dci,
    "sap": compute_sap,
    "modularity": compute_modularity_explicitness,
    "unsupervised": compute_unsupervised,
})

# The score each metric is usually reported by (one column of a results table).
HEADLINE_SCORES: Mapping[str, str] = MappingProxyType({
    "beta_vae": "eval_accuracy",
    "factor_vae": "eval_accuracy",
    "mig": "discrete_mig",
    "dci": "disentanglement",
    "sap": "SAP_score",
    "modularity": "modularity_score",
    "unsupervised": "gaussian_total_correlation",
})


def parse_metric_names(names: str) -> list[str]:
    """``"beta_vae,mig"`` -> ``["beta_vae", "mig"]``; ``"all"`` -> every metric, in order."""
    if names.strip() == "all":
        return list(METRICS)
    parsed = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in parsed if name not in METRICS]
    if unknown or not parsed:
        raise ValueError(
            f"unknown metric(s) {unknown or names!r}; choose from {', '.join(METRICS)} or 'all'")
    return parsed
