"""Representation functions for the metrics: observations -> posterior mean codes (numpy).

disentanglement_lib evaluates the mean of q(z|x) (its ``mean`` postprocessing); so do these.
Two sources: an exported encoder SavedModel (``serving_default``: ``images`` float32
[None, H, W, C] in [0, 1] -> ``mean``, ``log_var``, ``stddev``), so that a served model can be
audited, and an in-memory model. A run-directory loader restores its model and passes it to
``from_encoder``. Both encode in fixed-size batches through one traced ``tf.function`` per
observation shape (never an eager call per batch).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from tfbvae.evaluation.metrics.utils import RepresentationFunction
from tfbvae.pixels import images_to_float

SIGNATURE_KEY = "serving_default"


def from_saved_model(export_dir: str | os.PathLike,
                     batch_size: int = 256) -> RepresentationFunction:
    """Posterior means from an exported encoder SavedModel's ``serving_default`` signature."""
    loaded = tf.saved_model.load(os.fspath(export_dir))
    if SIGNATURE_KEY not in loaded.signatures:
        raise ValueError(
            f"{export_dir} has no {SIGNATURE_KEY!r} signature (it has {list(loaded.signatures)}); "
            "export the encoder with tfbvae's export app")
    signature = loaded.signatures[SIGNATURE_KEY]
    inputs = signature.structured_input_signature[1]
    if set(inputs) != {"images"} or "mean" not in signature.structured_outputs:
        raise ValueError(
            f"{export_dir}:{SIGNATURE_KEY} takes {sorted(inputs)} and returns "
            f"{sorted(signature.structured_outputs)}; an encoder export takes 'images' and "
            "returns 'mean' (and 'log_var', 'stddev')")
    expected_shape = inputs["images"].shape

    def mean(images: tf.Tensor) -> tf.Tensor:
        if not expected_shape.is_compatible_with(images.shape):
            raise ValueError(
                f"{export_dir} expects images shaped {expected_shape}; got {images.shape}")
        # Through `loaded`, so that the closure keeps the restored variables alive.
        return loaded.signatures[SIGNATURE_KEY](images=images)["mean"]

    return _batched(mean, batch_size)


def of_model(source: Any, batch_size: int = 256) -> RepresentationFunction:
    """Posterior means of a model opened by :func:`tfbvae.trained_model.open_model`: a run's
    Keras model in memory, or an export's encoder SavedModel (read through its signature, as TF
    Serving would)."""
    if hasattr(source, "encoder_saved_model"):
        return from_saved_model(source.encoder_saved_model(), batch_size)
    return from_encoder(source.model, batch_size)


def from_encoder(encoder: Any, batch_size: int = 256) -> RepresentationFunction:
    """Posterior means from an in-memory model.

    ``encoder`` is a model with ``encode(x) -> (mean, log_var)`` (``tfbvae.model.beta_vae.BetaVAE``), or
    any callable / Keras model whose output is ``(mean, log_var)`` or a dict with ``"mean"``.
    """
    if hasattr(encoder, "encode"):
        call = encoder.encode
    elif callable(encoder):
        call = encoder
    else:
        raise TypeError(f"expected a model with encode() or a callable encoder; got {encoder!r}")
    is_layer = _is_keras_layer(call)

    def mean(images: tf.Tensor) -> tf.Tensor:
        outputs = call(images, training=False) if is_layer else call(images)
        if isinstance(outputs, dict) and "mean" in outputs:
            return outputs["mean"]
        if isinstance(outputs, (tuple, list)) and len(outputs) >= 2:
            return outputs[0]
        raise TypeError(
            "the encoder must return (mean, log_var) or a dict with 'mean'; it returned "
            f"{type(outputs).__name__}")

    return _batched(mean, batch_size)


def _is_keras_layer(call: Any) -> bool:
    import keras  # imported here: only needed to tell Keras models from plain callables

    return isinstance(call, keras.Layer)


def _batched(mean: Callable[[tf.Tensor], tf.Tensor], batch_size: int) -> RepresentationFunction:
    """Numpy in, numpy out, ``batch_size`` observations per call of one concrete function."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    traced = tf.function(mean)
    concrete: dict[tuple[int, ...], Any] = {}

    def representation(observations: np.ndarray) -> np.ndarray:
        observations = images_to_float(observations)
        shape = observations.shape[1:]
        if shape not in concrete:
            concrete[shape] = traced.get_concrete_function(
                tf.TensorSpec((None,) + shape, tf.float32))
        fn = concrete[shape]
        # max(..., 1): an empty input still makes one (empty) call, giving codes shaped (0, d).
        return np.concatenate([fn(tf.constant(observations[i:i + batch_size])).numpy()
                               for i in range(0, max(len(observations), 1), batch_size)])

    return representation
