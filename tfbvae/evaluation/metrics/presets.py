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
from typing import Any, Mapping

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
