"""Disentanglement metrics over ``GroundTruthData`` and a representation function.

One module per metric, each following google-research/disentanglement_lib's definitions and its
unsupervised-study defaults (see each docstring for where and why we differ); ``presets`` holds
the ``paper`` and ``fast`` sample counts, ``registry`` the names, ``evaluation.evaluate`` runs a
set of them into a JSON-ready dict. Pure numpy / scikit-learn: no TensorFlow needed here.
"""

from tfbvae.evaluation.metrics.beta_vae import compute_beta_vae
from tfbvae.evaluation.metrics.dci import compute_dci
from tfbvae.evaluation.metrics.evaluation import evaluate
from tfbvae.evaluation.metrics.factor_vae import compute_factor_vae
from tfbvae.evaluation.metrics.mig import compute_mig
from tfbvae.evaluation.metrics.modularity_explicitness import compute_modularity_explicitness
from tfbvae.evaluation.metrics.presets import PRESETS, get_preset
from tfbvae.evaluation.metrics.registry import HEADLINE_SCORES, METRICS, parse_metric_names
from tfbvae.evaluation.metrics.sap import compute_sap
from tfbvae.evaluation.metrics.unsupervised import compute_unsupervised

__all__ = [
    "HEADLINE_SCORES", "METRICS", "PRESETS", "compute_beta_vae", "compute_dci",
    "compute_factor_vae", "compute_mig", "compute_modularity_explicitness", "compute_sap",
    "compute_unsupervised", "evaluate", "get_preset", "parse_metric_names",
]
