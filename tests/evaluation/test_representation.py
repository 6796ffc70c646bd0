"""Representation functions: posterior means from an exported SavedModel or an in-memory model."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation import representation
from tfbvae.evaluation.metrics import evaluate

IMAGE_SHAPE = (4, 4, 1)


class _TinyEncoder(tf.Module):
    """An exported encoder's interface: images [None, 4, 4, 1] -> mean, log_var, stddev."""

    def __init__(self, outputs=("mean", "log_var", "stddev")):
        super().__init__()
        self.kernel = tf.Variable(np.random.RandomState(0).normal(size=(16, 3)), dtype=tf.float32)
        self.outputs = outputs

    @tf.function(input_signature=[tf.TensorSpec((None,) + IMAGE_SHAPE, tf.float32, "images")])
    def serve(self, images):
        mean = tf.reshape(images, (-1, 16)) @ self.kernel
        log_var = -tf.abs(mean)
        everything = {"mean": mean, "log_var": log_var, "stddev": tf.exp(0.5 * log_var)}
        return {key: everything[key] for key in self.outputs}


def _export(module, path):
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def _images(n, seed=1):
    return np.random.RandomState(seed).uniform(size=(n,) + IMAGE_SHAPE).astype(np.float32)


def test_saved_model_gives_the_posterior_mean_in_batches(tmp_path):
    module = _TinyEncoder()
    representation_function = representation.from_saved_model(
        _export(module, tmp_path / "encoder"), batch_size=2)
    images = _images(5)  # two full batches and one partial
    expected = images.reshape(5, 16) @ module.kernel.numpy()
    codes = representation_function(images)
    assert codes.shape == (5, 3) and codes.dtype == np.float32
    np.testing.assert_allclose(codes, expected, rtol=1e-5)
    # uint8 images (the project's 0..255 convention) are scaled to [0, 1] first.
    uint8_images = (images * 255).round().astype(np.uint8)
    np.testing.assert_allclose(representation_function(uint8_images),
                               (uint8_images / 255.0).reshape(5, 16) @ module.kernel.numpy(),
                               rtol=1e-5)
    assert representation_function(images[:0]).shape == (0, 3)


def test_saved_model_without_a_mean_output_is_rejected(tmp_path):
    path = _export(_TinyEncoder(outputs=("log_var",)), tmp_path / "decoder_like")
    with pytest.raises(ValueError, match="returns 'mean'"):
        representation.from_saved_model(path)


def test_saved_model_rejects_images_of_another_shape(tmp_path):
    representation_function = representation.from_saved_model(
        _export(_TinyEncoder(), tmp_path / "encoder"))
    with pytest.raises(ValueError, match="expects images shaped"):
        representation_function(np.zeros((2, 8, 8, 1), np.float32))


def test_keras_encoder_with_mean_and_log_var_outputs():
    inputs = keras.Input(IMAGE_SHAPE)
    flat = keras.layers.Flatten()(inputs)
    encoder = keras.Model(inputs, [keras.layers.Dense(3)(flat), keras.layers.Dense(3)(flat)])
    images = _images(7)
    codes = representation.from_encoder(encoder, batch_size=4)(images)
    np.testing.assert_allclose(codes, encoder.predict(images, verbose=0)[0], rtol=1e-5, atol=1e-6)


def test_model_with_encode_is_traced_once_for_all_batch_sizes():
    traces = []

    class Model:
        def encode(self, images):
            traces.append(images.shape)  # runs only while tracing
            return 2.0 * tf.reshape(images, (-1, 16)), tf.zeros_like(tf.reshape(images, (-1, 16)))

    representation_function = representation.from_encoder(Model(), batch_size=3)
    for n in (1, 5, 9):
        images = _images(n)
        np.testing.assert_allclose(representation_function(images), 2.0 * images.reshape(n, 16))
    assert len(traces) == 1 and traces[0].as_list() == [None, 4, 4, 1]


def test_encoder_returning_a_single_tensor_is_rejected():
    with pytest.raises(TypeError, match=r"\(mean, log_var\)"):
        representation.from_encoder(lambda images: tf.reshape(images, (-1, 16)))(_images(2))


def test_betavae_model_representation_feeds_the_metrics():
    from tfbvae.model.beta_vae import BetaVAE

    data = IdentityObservationsData((5, 5, 5))
    inputs = keras.Input((3,))
    # An "encoder" whose mean is the (scaled) factors themselves: a perfect code.
    encoder = keras.Model(inputs, [keras.layers.Rescaling(0.25)(inputs),
                                   keras.layers.Rescaling(0.0)(inputs)])
    decoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])
    model = BetaVAE(encoder, decoder)
    result = evaluate(data, representation.from_encoder(model), ["mig"],
                      preset={"mig": {"num_train": 500}})
    assert result["summary"]["mig"] > 0.9
