"""Observation likelihoods p(x | z): negative log-likelihoods summed over pixels and channels.

The reconstruction term of the beta-VAE objective is -log p(x|z) of a whole image (summed over
every pixel and channel, then averaged over the batch). A per-pixel mean instead divides the
reconstruction term by H*W*C and silently multiplies the effective beta by as much.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tfbvae.model.named import build_named


class Likelihood:
    """Maps decoder logits to a distribution over images."""

    name = "likelihood"

    def neg_log_likelihood(self, images, logits):
        """-log p(images | logits) per example, summed over pixels and channels, in nats."""
        raise NotImplementedError

    def mean(self, logits):
        """The distribution's mean image, in [0, 1] (what a reconstruction shows)."""
        return ops.sigmoid(ops.cast(logits, "float32"))

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Likelihood":
        return cls(**config)


def _sum_over_pixels(per_pixel):
    """Sums everything but the batch axis."""
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="tfbvae")
class BernoulliLikelihood(Likelihood):
    """Independent Bernoulli pixels with logits (binary images such as dSprites).

    -log p(x|l) = softplus(l) - x*l per pixel: the stable form of sigmoid cross-entropy,
    equal to ``tf.nn.sigmoid_cross_entropy_with_logits`` (also for x in (0, 1)).
    """

    name = "bernoulli"

    def neg_log_likelihood(self, images, logits):
        logits = ops.cast(logits, "float32")
        images = ops.cast(images, "float32")
        return _sum_over_pixels(ops.softplus(logits) - images * logits)


@keras.saving.register_keras_serializable(package="tfbvae")
class GaussianLikelihood(Likelihood):
    """Independent Gaussian pixels with mean sigmoid(logits) and a fixed sigma.

    The full negative log-density, constant included, so that ELBOs are comparable across
    sigmas and with other work: (x - mu)^2 / (2 sigma^2) + log sigma + 0.5 log(2 pi).
    """

    name = "gaussian"

    def __init__(self, sigma: float = 1.0):
        if not sigma > 0:
            raise ValueError(f"GaussianLikelihood sigma must be > 0, got {sigma}.")
        self.sigma = float(sigma)

    def neg_log_likelihood(self, images, logits):
        mu = self.mean(logits)
        images = ops.cast(images, "float32")
        const = math.log(self.sigma) + 0.5 * math.log(2.0 * math.pi)
        return _sum_over_pixels(ops.square(images - mu) / (2.0 * self.sigma**2) + const)

    def get_config(self) -> dict:
        return {"sigma": self.sigma}


LIKELIHOODS = {"bernoulli": BernoulliLikelihood, "gaussian": GaussianLikelihood}


def get_likelihood(name: str, **kwargs) -> Likelihood:
    """The likelihood called ``name`` ('bernoulli' or 'gaussian')."""
    return build_named(LIKELIHOODS, "likelihood", name, **kwargs)
