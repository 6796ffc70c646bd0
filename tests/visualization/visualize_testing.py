"""Helpers of the picture and model-source tests: a model with a latent that carries nothing."""

from __future__ import annotations

import numpy as np

from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.networks import build_networks

LATENT_DIM, UNUSED = 4, 2


def model_with_an_unused_latent(latent_dim: int = LATENT_DIM, unused: int = UNUSED) -> BetaVAE:
    """An untrained Burgess model in which latent ``unused`` carries nothing.

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


def sprite_images(n: int, seed: int = 0) -> np.ndarray:
    """uint8 dSprites-like images: a white square each, in different places and sizes."""
    rng = np.random.RandomState(seed)
    images = np.zeros((n, 64, 64, 1), np.uint8)
    for i in range(n):
        side = rng.randint(8, 24)
        top, left = rng.randint(0, 64 - side, size=2)
        images[i, top:top + side, left:left + side] = 255
    return images


def decoded_uint8(model, z) -> np.ndarray:
    """``model``'s decoded images of codes ``z`` as the pictures' uint8 grey levels."""
    return np.round(np.clip(np.asarray(model.decode_images(np.asarray(z, np.float32))), 0, 1)
                    * 255).astype(np.uint8)[..., 0]


def expected_traversal(model, image, kl, span: float, steps: int) -> np.ndarray:
    """The traversal tiles the pictures must show, computed here from ``model`` itself:
    ``[row, column]`` decodes the posterior mean of ``image`` with only the ``row``-th largest-KL
    latent moved by ``linspace(-span, span, steps)[column]``; shape ``(latents, steps, H, W)``."""
    image = np.asarray(image, np.float32)[None]
    image = image / 255.0 if image.max() > 1 else image
    mean = np.asarray(model.encode(image)[0])[0]
    order = np.argsort(-np.asarray(kl, np.float64), kind="stable")
    offsets = np.linspace(-span, span, steps).astype(np.float32)
    z = np.repeat(np.repeat(mean[None, None], len(order), 0), steps, 1)
    for row, dim in enumerate(order):
        z[row, :, dim] += offsets
    return decoded_uint8(model, z.reshape(-1, len(mean))).reshape(len(order), steps, *image.shape[1:3])


def gaussian_kl_per_dim(model, images) -> np.ndarray:
    """Mean over ``images`` of KL(q(z|x) || N(0, I)) per latent, by its closed form."""
    mean, log_var = (np.asarray(t, np.float64) for t in model.encode(np.asarray(images, np.float32) / 255.0))
    return np.mean(0.5 * (mean ** 2 + np.exp(log_var) - 1.0 - log_var), axis=0)
