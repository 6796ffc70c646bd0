"""Sample counts for every metric, in two presets: ``paper`` and ``fast``.

``paper`` is disentanglement_lib's ``config/unsupervised_study_v1/metric_configs`` (Locatello et
al. 2019), the counts behind the numbers the literature reports; each metric function's
defaults are these same values (about 3 million encoded images, mostly for the BetaVAE and
FactorVAE scores, and DCI's trees on 10000 samples: tens of minutes on a CPU). ``fast`` is for quick looks while training or debugging: about 160 thousand encoded
images and a small training set for DCI's trees, whose cost is set by the number of factor
values (113 classes x 100 trees on dSprites) more than by the samples: under a minute on 2 CPU
cores. Scores from ``fast`` are noisier and biased low for MIG (fewer samples per histogram
cell) and DCI (trees fitted on 300 samples); compare models only within one preset. On an oracle
code of dSprites' factors, ``fast`` with seed 0 gives BetaVAE 1.0, FactorVAE 1.0, MIG 0.89,
DCI disentanglement 0.98 and SAP 0.18, the reference implementation's values.

=====================  =====================================  ===============================
metric                 paper                                  fast
=====================  =====================================  ===============================
beta_vae               batch 64, train 10000, eval 5000       batch 64, train 500, eval 250
factor_vae             batch 64, train 10000, eval 5000,      batch 64, train 500, eval 250,
                       variance estimate 10000                variance estimate 2000
mig                    train 10000 (20 bins)                  train 5000
dci                    train 10000, test 5000                 train 300, test 300
sap                    train 10000, test 5000 (discrete)      train 2000, test 1000
modularity             train 10000, test 5000 (20 bins)       train 2000, test 1000
unsupervised           train 10000 (20 bins)                  train 2000
=====================  =====================================  ===============================

(batch 16 for sampling where not given; FactorVAE prunes codes with stddev < 0.05.)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, Sequence

Preset = Mapping[str, Mapping[str, Any]]

PRESETS: Mapping[str, Preset] = MappingProxyType({
    "paper": {
        "beta_vae": {"batch_size": 64, "num_train": 10000, "num_eval": 5000},
        "factor_vae": {"batch_size": 64, "num_train": 10000, "num_eval": 5000,
                       "num_variance_estimate": 10000},
        "mig": {"num_train": 10000},
        "dci": {"num_train": 10000, "num_test": 5000},
        "sap": {"num_train": 10000, "num_test": 5000},
        "modularity": {"num_train": 10000, "num_test": 5000},
        "unsupervised": {"num_train": 10000},
    },
    "fast": {
        "beta_vae": {"batch_size": 64, "num_train": 500, "num_eval": 250},
        "factor_vae": {"batch_size": 64, "num_train": 500, "num_eval": 250,
                       "num_variance_estimate": 2000},
        "mig": {"num_train": 5000},
        "dci": {"num_train": 300, "num_test": 300},
        "sap": {"num_train": 2000, "num_test": 1000},
        "modularity": {"num_train": 2000, "num_test": 1000},
        "unsupervised": {"num_train": 2000},
    },
})


def get_preset(name: str) -> Preset:
    """The counts of preset ``name`` (``paper`` or ``fast``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown metrics preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


def apply_overrides(preset: Preset, metrics: Sequence[str], overrides: Sequence[str]) -> dict:
    """The counts of ``metrics`` in ``preset``, changed by ``overrides``.

    Each override is ``<metric>.<count>=<int>`` (``dci.num_train=500``) or ``all.<count>=<int>``
    (every selected metric that has that count), e.g. for tiny smoke tests.

    Args:
        preset: a preset's counts (:data:`PRESETS`).
        metrics: the metrics evaluated.
        overrides: ``--override`` values of ``apps/evaluate.py`` (or a study file's).

    Returns:
        ``{metric: {count: value}}`` for ``metrics``, a copy of the preset's.

    Raises:
        ValueError: an override that is malformed, names a metric not evaluated or a count no
            selected metric has, or sets a count below 1.
    """
    counts = {name: dict(preset[name]) for name in metrics}
    for override in overrides:
        target, _, value = override.partition("=")
        metric, _, key = target.strip().partition(".")
        if not value.strip().lstrip("-").isdigit() or not key:
            raise ValueError(f"--override {override!r} must read <metric>.<count>=<integer>, "
                             "e.g. dci.num_train=500 or all.batch_size=16")
        targets = list(counts) if metric == "all" else [metric]
        if metric != "all" and metric not in counts:
            raise ValueError(f"--override {override!r} names {metric!r}, which is not among the "
                             f"metrics evaluated ({', '.join(counts)})")
        hits = [name for name in targets if key in counts[name]]
        if not hits:
            known = sorted({k for name in targets for k in counts[name]})
            raise ValueError(f"--override {override!r}: no selected metric has a count {key!r}; "
                             f"counts are {', '.join(known)}")
        if int(value) < 1:
            raise ValueError(f"--override {override!r}: counts must be positive")
        for name in hits:
            counts[name][key] = int(value)
    return counts
