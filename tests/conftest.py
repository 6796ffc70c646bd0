"""Shared test set-up: tfbvae is imported first so TensorFlow starts with its defaults."""

import os
import pathlib

import pytest

import tfbvae  # noqa: F401  (sets TensorFlow's environment before TF is imported)

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DSPRITES = REPO.parent / "shared" / "data" / "dsprites"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with Keras' default global state (names, policies). Without the
    garbage collection ``clear_session`` runs by default: a full collection of TensorFlow's heap
    after every test made up a third of the suite's time; Python collects as usual anyway."""
    import keras

    yield
    keras.backend.clear_session(free_memory=False)
    keras.mixed_precision.set_global_policy("float32")


def pytest_report_header(config):
    return f"tfbvae {tfbvae.__version__}; shared dSprites: {SHARED_DSPRITES if SHARED_DSPRITES.exists() else 'absent'}; CI={os.environ.get('CI', '')}"
