"""One train_step on a tiny linear model against a gradient computed by hand."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.objectives import BetaObjective, CapacityObjective

PIXELS, LATENT, BATCH = 4, 2, 3


class FixedNoiseVAE(BetaVAE):
    """The reparameterisation noise is a fixed array, so the step is deterministic."""

    eps = None

    def sample_noise(self, shape):
        return keras.ops.convert_to_tensor(self.eps)


def tiny_model(objective):
    images = keras.Input((2, 2, 1))
    flat = layers.Flatten()(images)
    encoder = keras.Model(
        images, [layers.Dense(LATENT, name="mean")(flat), layers.Dense(LATENT, name="log_var")(flat)]
    )
    z = keras.Input((LATENT,))
    decoder = keras.Model(z, layers.Reshape((2, 2, 1))(layers.Dense(PIXELS)(z)))
    rng = np.random.default_rng(0)
    for layer in encoder.layers[2:] + decoder.layers[1:2]:
        layer.set_weights([w + rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])
    return FixedNoiseVAE(encoder, decoder, objective=objective)


def hand_gradient(model, x, eps, beta, capacity_sign=None, gamma=None):
    """d loss / d weights for the linear model, by the chain rule (Bernoulli likelihood)."""
    wm, bm = model.encoder.get_layer("mean").get_weights()
    wv, bv = model.encoder.get_layer("log_var").get_weights()
    wd, bd = model.decoder.layers[1].get_weights()
    x = x.reshape(BATCH, PIXELS).astype(np.float64)
    mean, log_var = x @ wm + bm, x @ wv + bv
    z = mean + np.exp(0.5 * log_var) * eps
    logits = z @ wd + bd
    # Loss = mean_b sum_p [softplus(l) - x l] + w_kl * mean_b sum_j 0.5 (e^lv + m^2 - 1 - lv)
    w_kl = beta if capacity_sign is None else gamma * capacity_sign
    d_logits = (1 / (1 + np.exp(-logits)) - x) / BATCH
    d_z = d_logits @ wd.T
    d_mean = d_z + w_kl * mean / BATCH
    d_log_var = d_z * 0.5 * np.exp(0.5 * log_var) * eps + w_kl * 0.5 * (np.exp(log_var) - 1) / BATCH
    return {
        "mean": [x.T @ d_mean, d_mean.sum(0)],
        "log_var": [x.T @ d_log_var, d_log_var.sum(0)],
        "decoder": [z.T @ d_logits, d_logits.sum(0)],
    }


def weights(model):
    return {
        "mean": model.encoder.get_layer("mean").get_weights(),
        "log_var": model.encoder.get_layer("log_var").get_weights(),
        "decoder": model.decoder.layers[1].get_weights(),
    }


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    x = (rng.random((BATCH, 2, 2, 1)) > 0.5).astype(np.float32)
    eps = rng.normal(size=(BATCH, LATENT)).astype(np.float32)
    return x, eps


@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_sgd_step_follows_the_hand_computed_gradient(data, beta):
    x, eps = data
    model = tiny_model(BetaObjective(beta))
    model.eps = eps
    before = weights(model)
    grads = hand_gradient(model, x, eps, beta)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    model.fit(x, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    after = weights(model)
    for name in before:
        for w0, g, w1 in zip(before[name], grads[name], after[name]):
            np.testing.assert_allclose(w1, w0 - 0.1 * g, rtol=1e-5, atol=1e-6)


def test_adam_first_step_and_capacity_gradient_sign(data):
    # With C above the KL, |KL - C| pulls the KL *up*: its gradient is -gamma.
    x, eps = data
    model = tiny_model(CapacityObjective(gamma=3.0))
    model.eps = eps
    model.capacity.assign(1e3)
    before = weights(model)
    grads = hand_gradient(model, x, eps, beta=None, capacity_sign=-1.0, gamma=3.0)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01, epsilon=1e-7))
    model.fit(x, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    after = weights(model)
    for name in before:
        for w0, g, w1 in zip(before[name], grads[name], after[name]):
            # Adam's bias-corrected first step is lr * g / (|g| + eps).
            np.testing.assert_allclose(w1, w0 - 0.01 * g / (np.abs(g) + 1e-7), rtol=1e-4, atol=1e-6)


def evaluating_model(objective, eps):
    """The tiny model with fixed noise, compiled for ``evaluate`` (test_step)."""
    model = tiny_model(objective)
    model.eps = eps
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    return model


def test_logged_terms_match_the_numbers(data):
    x, eps = data
    model = evaluating_model(BetaObjective(2.0), eps)
    logs = model.evaluate(x, batch_size=BATCH, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["reconstruction"] + 2.0 * logs["kl"], rel=1e-5)
    assert logs["regulariser"] == pytest.approx(2.0 * logs["kl"], rel=1e-5)
    assert logs["elbo"] == pytest.approx(-(logs["reconstruction"] + logs["kl"]), rel=1e-5)
    assert logs["kl_0"] + logs["kl_1"] == pytest.approx(logs["kl"], rel=1e-5)


def test_uint8_images_are_scaled_to_the_unit_interval(data):
    # Pipelines feed uint8 pixels (0..255); the step must see them as x / 255, exactly the terms
    # of the same images given as floats in [0, 1] (a missing or wrong scale changes every term).
    x, eps = data
    model = evaluating_model(BetaObjective(1.0), eps)
    as_float = model.evaluate(x, batch_size=BATCH, verbose=0, return_dict=True)
    as_uint8 = model.evaluate((x * 255).astype(np.uint8), batch_size=BATCH, verbose=0,
                              return_dict=True)
    assert as_uint8 == pytest.approx(as_float, rel=1e-6)
    grey = np.full((BATCH, 2, 2, 1), 51, np.uint8)  # 51 / 255 = 0.2
    grey_terms = model.compute_terms(grey)
    float_terms = model.compute_terms(np.full((BATCH, 2, 2, 1), 0.2, np.float32))
    assert float(grey_terms["reconstruction"]) == pytest.approx(
        float(float_terms["reconstruction"]), rel=1e-6)


def test_terms_can_be_computed_in_a_strategys_cross_replica_context(data):
    # Inside ``strategy.scope()`` but outside ``strategy.run`` there is no replica context
    # (tf.distribute.get_replica_context() is None): the batch means are then the values
    # themselves, as on one device.
    x, eps = data
    model = evaluating_model(BetaObjective(1.0), eps)
    expected = model.compute_terms(x)
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        assert tf.distribute.get_replica_context() is None
        terms = model.compute_terms(x)
    for name in ("loss", "reconstruction", "kl"):
        assert float(terms[name]) == pytest.approx(float(expected[name]), rel=1e-6)
