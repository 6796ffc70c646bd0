"""tfbvae: beta-VAEs that learn disentangled representations, in Keras 3 / TensorFlow.

Importing the package turns TensorFlow's oneDNN CPU kernels on (faster for these
convolutional models on AVX2 CPUs, where TensorFlow leaves them off; see benchmarks/). Set
``TF_ENABLE_ONEDNN_OPTS=0`` before importing to opt out; it has no effect if TensorFlow was
imported first.
"""

import importlib
import importlib.util
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # keep TF's INFO banners out of user logs

__version__ = "0.1.0"

# Public names, imported lazily so that `import tfbvae.data.ground_truth` (pure numpy) does not
# pay for TensorFlow.
_LAZY = {
    "BetaVAE": "tfbvae.model.beta_vae",
    "BernoulliLikelihood": "tfbvae.model.likelihoods",
    "GaussianLikelihood": "tfbvae.model.likelihoods",
    "BetaObjective": "tfbvae.model.objectives",
    "CapacityObjective": "tfbvae.model.objectives",
    "HingeCapacityObjective": "tfbvae.model.objectives",
    "capacity_schedule": "tfbvae.model.objectives",
    "build_networks": "tfbvae.model.networks",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    """The lazy public names, and any submodule on first use: after ``import tfbvae``,
    ``tfbvae.training.checkpoints.restore_model(run_dir)`` works as the README writes it."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tfbvae' has no attribute {name!r}")
