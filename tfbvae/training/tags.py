"""The names a training run logs under, in one place: Keras' metric names (``kl_3``), their
TensorBoard tags (``kl_per_dim/kl_3``, one chart group) and the pictures' tags. The callbacks
write them; :func:`tfbvae.training.event_files.kl_history` and the studies read them back. Imports no TensorFlow.
"""

from __future__ import annotations

import re

import numpy as np

KL_DIM = re.compile(r"^kl_(\d+)$")  # the metric of one latent dimension's KL
KL_GROUP = "kl_per_dim"
CAPACITY = "capacity"
RECONSTRUCTIONS = "reconstructions"
TRAVERSALS = "traversals"
KL_CHART = "kl_per_dim_chart"


def kl_metric(dim: int) -> str:
    """The metric name of latent dimension ``dim``'s KL: ``kl_<dim>``."""
    return f"kl_{dim}"


def scalar_tag(name: str) -> str:
    """TensorBoard tag of a model metric: ``kl_3`` -> ``kl_per_dim/kl_3`` (one chart group)."""
    return f"{KL_GROUP}/{name}" if KL_DIM.match(name) else name


def kl_per_dim_from_logs(logs: dict) -> np.ndarray | None:
    """The ``kl_0``... ``kl_{z-1}`` training values of Keras logs, in dimension order."""
    found = {int(m.group(1)): v for k, v in logs.items() if (m := KL_DIM.match(k))}
    if not found:
        return None
    return np.array([found[i] for i in range(len(found))], np.float64)
