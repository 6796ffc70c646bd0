"""Encoder and decoder networks of the beta-VAE papers, as Keras functional models.

Every encoder maps images ``(H, W, C)`` in [0, 1] to ``[mean, log_var]`` of a diagonal
Gaussian posterior (two linear heads: the papers' single "FC 2z" layer split in halves);
every decoder maps ``z`` to per-pixel logits ``(H, W, C)``. Shapes below are for 64x64
inputs, as the papers list them.
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras
from keras import layers

from tfbvae.model.conv_transpose import PhaseConv2DTranspose
from tfbvae.model.named import build_named


def _heads(x, latent_dim: int, kernel_initializer: str = "glorot_uniform") -> list:
    """The posterior's two linear heads (the paper's FC 2z layer)."""
    return [
        layers.Dense(latent_dim, kernel_initializer=kernel_initializer, name="mean")(x),  # (z,)
        layers.Dense(latent_dim, kernel_initializer=kernel_initializer, name="log_var")(x),  # (z,)
    ]


def _stack(layer: Callable[..., layers.Layer], x, widths: Sequence[int], **kwargs):
    """``x`` through one ``layer(width, **kwargs)`` per width, in order (a column of a paper's
    architecture table)."""
    for width in widths:
        x = layer(width, **kwargs)(x)
    return x


def _check_image_shape(image_shape: Sequence[int], network: str) -> tuple:
    h, w, c = image_shape
    if (h, w) != (64, 64) or c not in (1, 3):
        raise ValueError(
            f"The {network} network takes 64x64 images with 1 or 3 channels, got "
            f"{tuple(image_shape)}: resize the data to 64x64 (the data pipelines do this)."
        )
    return (h, w, c)


def burgess(image_shape: Sequence[int], latent_dim: int) -> tuple[keras.Model, keras.Model]:
    """Burgess et al. 2018 ("Understanding disentangling in beta-VAE"), Appendix A.1."""
    h, w, c = _check_image_shape(image_shape, "burgess")
    # He et al. 2015's normal initialisation (std sqrt(2 / fan_in), zero biases), as the reference
    # implementation of this network (1Konny/Beta-VAE) initialises it. It matters for the
    # capacity objective: with Glorot's smaller weights the initial posterior means barely
    # depend on the image, gamma * |KL - C| is met by shrinking every dimension's variance
    # alike, and Adam's step, scaled by that term's large gradients, leaves the encoder almost
    # no room to learn from the reconstruction (measured on dSprites: still 565 nats at step
    # 5400 with Glorot; under 450 nats by step 1000 with He, as the PyTorch reference).
    init = "he_normal"
    dense = dict(activation="relu", kernel_initializer=init)
    conv = dict(kernel_size=4, strides=2, padding="same", **dense)

    images = keras.Input(image_shape, name="images")  # 64x64xC
    x = _stack(layers.Conv2D, images, (32, 32, 32, 32), **conv)  # 32x32, 16x16, 8x8, 4x4 (x32)
    x = layers.Flatten()(x)  # 512
    x = _stack(layers.Dense, x, (256, 256), **dense)
    encoder = keras.Model(images, _heads(x, latent_dim, init), name="burgess_encoder")

    z = keras.Input((latent_dim,), name="z")  # z
    y = _stack(layers.Dense, z, (256, 256, 4 * 4 * 32), **dense)
    y = layers.Reshape((4, 4, 32))(y)  # 4x4x32
    y = _stack(layers.Conv2DTranspose, y, (32, 32, 32), **conv)  # 8x8, 16x16, 32x32 (x32)
    # The same layer as Conv2DTranspose, with a forward pass that is fast on CPUs.
    logits = PhaseConv2DTranspose(c, 4, strides=2, padding="same", kernel_initializer=init,
                                  name="logits")(y)  # 64x64xC
    decoder = keras.Model(z, logits, name="burgess_decoder")
    return encoder, decoder


def higgins_conv(image_shape: Sequence[int], latent_dim: int) -> tuple[keras.Model, keras.Model]:
    """Higgins et al. 2017 (beta-VAE, ICLR), the CelebA / 3D chairs convolutional net."""
    h, w, c = _check_image_shape(image_shape, "higgins_conv")
    conv = dict(kernel_size=4, strides=2, padding="same", activation="relu")

    images = keras.Input(image_shape, name="images")  # 64x64xC
    x = _stack(layers.Conv2D, images, (32, 32, 64, 64), **conv)  # 32x32x32 ... 4x4x64
    x = layers.Flatten()(x)  # 1024
    x = layers.Dense(256, activation="relu")(x)  # 256
    encoder = keras.Model(images, _heads(x, latent_dim), name="higgins_conv_encoder")

    z = keras.Input((latent_dim,), name="z")  # z
    y = _stack(layers.Dense, z, (256, 4 * 4 * 64), activation="relu")
    y = layers.Reshape((4, 4, 64))(y)  # 4x4x64
    y = _stack(layers.Conv2DTranspose, y, (64, 32, 32), **conv)  # 8x8x64, 16x16x32, 32x32x32
    logits = PhaseConv2DTranspose(c, 4, strides=2, padding="same", name="logits")(y)  # 64x64xC
    decoder = keras.Model(z, logits, name="higgins_conv_decoder")
    return encoder, decoder


def higgins_mlp(image_shape: Sequence[int], latent_dim: int) -> tuple[keras.Model, keras.Model]:
    """Higgins et al. 2017, the dSprites net: encoder FC 1200-1200 (ReLU), decoder
    FC 1200-1200-1200 (tanh) to 4096 logits."""
    h, w, c = _check_image_shape(image_shape, "higgins_mlp")

    images = keras.Input(image_shape, name="images")  # 64x64xC
    x = layers.Flatten()(images)  # 4096*C
    x = _stack(layers.Dense, x, (1200, 1200), activation="relu")
    encoder = keras.Model(images, _heads(x, latent_dim), name="higgins_mlp_encoder")

    z = keras.Input((latent_dim,), name="z")  # z
    y = _stack(layers.Dense, z, (1200, 1200, 1200), activation="tanh")
    y = layers.Dense(h * w * c)(y)  # 4096*C
    logits = layers.Reshape((h, w, c), name="logits")(y)  # 64x64xC
    decoder = keras.Model(z, logits, name="higgins_mlp_decoder")
    return encoder, decoder


def locatello(image_shape: Sequence[int], latent_dim: int) -> tuple[keras.Model, keras.Model]:
    """disentanglement_lib's network (Locatello et al. 2019, "Challenging Common Assumptions in
    the Unsupervised Learning of Disentangled Representations"; its unsupervised_study_v1 trains
    every model with it).

    Read from google-research/disentanglement_lib at commit
    86a644d4ed35c771560dc3360756363d35477357, disentanglement_lib/methods/shared/architectures.py:
    ``conv_encoder`` (lines 144-206): conv 32 4x4 /2 (lines 166-174), conv 32 4x4 /2 (175-183),
    conv 64 2x2 /2 (184-192), conv 64 2x2 /2 (193-201), all ReLU and padded "same"; flatten
    (202); FC 256 ReLU (203); the linear heads ``means`` and ``log_var`` (204-205).
    ``deconv_decoder`` (lines 234-288): FC 256 ReLU (252), FC 1024 ReLU (253), reshape to
    4x4x64 (254); transposed conv 64 4x4 /2 (255-262), 32 4x4 /2 (264-271), 32 4x4 /2
    (273-280), all ReLU and "same"; transposed conv C 4x4 /2 "same" with no activation (281-287),
    the logits of its ``bernoulli_loss`` (methods/shared/losses.py lines 47-51, activation
    "logits" by default at line 84). config/unsupervised_study_v1/model_configs/shared.gin lines
    37-38 and sweep.py lines 112-113 choose this pair. ``tf.layers`` initialises kernels
    Glorot-uniform and biases with zeros, as Keras does by default.

    It differs from ``higgins_conv`` only in the encoder's third and fourth kernels (2x2, not
    4x4); the decoders are the same.
    """
    h, w, c = _check_image_shape(image_shape, "locatello")
    relu = dict(activation="relu")
    same = dict(strides=2, padding="same", **relu)

    images = keras.Input(image_shape, name="images")  # 64x64xC
    x = _stack(layers.Conv2D, images, (32, 32), kernel_size=4, **same)  # 32x32x32, 16x16x32
    x = _stack(layers.Conv2D, x, (64, 64), kernel_size=2, **same)  # 8x8x64, 4x4x64
    x = layers.Flatten()(x)  # 1024
    x = layers.Dense(256, **relu)(x)  # 256
    encoder = keras.Model(images, _heads(x, latent_dim), name="locatello_encoder")

    z = keras.Input((latent_dim,), name="z")  # z
    y = _stack(layers.Dense, z, (256, 4 * 4 * 64), **relu)
    y = layers.Reshape((4, 4, 64))(y)  # 4x4x64
    y = _stack(layers.Conv2DTranspose, y, (64, 32, 32), kernel_size=4, **same)  # 8x8 ... 32x32
    # The same layer as Conv2DTranspose, with a forward pass that is fast on CPUs.
    logits = PhaseConv2DTranspose(c, 4, strides=2, padding="same", name="logits")(y)  # 64x64xC
    decoder = keras.Model(z, logits, name="locatello_decoder")
    return encoder, decoder


NETWORKS: dict[str, Callable[[Sequence[int], int], tuple[keras.Model, keras.Model]]] = {
    "burgess": burgess,
    "higgins_conv": higgins_conv,
    "higgins_mlp": higgins_mlp,
    "locatello": locatello,
}


def build_networks(
    name: str, image_shape: Sequence[int], latent_dim: int
) -> tuple[keras.Model, keras.Model]:
    """(encoder, decoder) of the network called ``name`` for images of ``image_shape``."""
    if int(latent_dim) < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}.")
    return build_named(NETWORKS, "network", name, tuple(image_shape), int(latent_dim))
