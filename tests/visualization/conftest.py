"""Set-up of the picture and model-source tests: a model with a latent that carries nothing,
dSprites-like images."""

from __future__ import annotations

import numpy as np
import pytest

from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.networks import build_networks


def _model_with_an_unused_latent(latent_dim: int, unused: int) -> BetaVAE:
    """An untrained Burgess model with ``latent_dim`` latents in which latent ``unused`` carries
    nothing.

    Its encoder weights for that latent are zero, so q(z_unused|x) = N(0, 1) = the prior
    (KL exactly 0), and the decoder's weights from it are zero, so moving it changes nothing.
    The other latents' weights are scaled up so that moving them visibly changes the image.
    """
    model = BetaVAE(*build_networks("burgess", (64, 64, 1), latent_dim), seed=0)
    first = model.decoder.layers[1]  # Dense(256) on z
    kernel, bias = first.get_weights()
    kernel = 20 * kernel
    kernel[unused] = 0.0
    first.set_weights([kernel, bias])
    for head, scale in (("mean", 20.0), ("log_var", 1.0)):
        layer = model.encoder.get_layer(head)
        kernel, bias = layer.get_weights()
        kernel = scale * kernel
        kernel[:, unused], bias[unused] = 0.0, 0.0
        layer.set_weights([kernel, bias])
    return model


def _sprite_images(n: int, seed: int = 0) -> np.ndarray:
    """uint8 dSprites-like images: a white square each, in different places and sizes."""
    rng = np.random.RandomState(seed)
    images = np.zeros((n, 64, 64, 1), np.uint8)
    for i in range(n):
        side = rng.randint(8, 24)
        top, left = rng.randint(0, 64 - side, size=2)
        images[i, top:top + side, left:left + side] = 255
    return images


@pytest.fixture(scope="session")
def model_with_an_unused_latent():
    """``model_with_an_unused_latent(latent_dim, unused)``: a new untrained Burgess model in
    which latent ``unused`` carries nothing (zero KL, no effect on the decoded image) and the
    others visibly change the image."""
    return _model_with_an_unused_latent


@pytest.fixture(scope="session")
def sprite_images():
    """``sprite_images(n, seed=0)``: ``n`` uint8 dSprites-like images, a white square each, in
    different places and sizes."""
    return _sprite_images
