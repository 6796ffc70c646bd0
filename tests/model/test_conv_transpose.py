"""PhaseConv2DTranspose computes what keras.layers.Conv2DTranspose computes, with its weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbvae.model.conv_transpose import PhaseConv2DTranspose, phase_conv_transpose
from tfbvae.model.networks import build_networks


def pair(filters, input_shape, **kwargs):
    """A Conv2DTranspose and a PhaseConv2DTranspose with the same random weights."""
    options = dict(kernel_size=4, strides=2, padding="same", bias_initializer="random_normal",
                   **kwargs)
    reference = keras.layers.Conv2DTranspose(filters, **options)
    phase = PhaseConv2DTranspose(filters, **options)
    reference.build((None,) + input_shape)
    phase.build((None,) + input_shape)
    phase.set_weights(reference.get_weights())
    return reference, phase


@pytest.mark.parametrize("filters, c_in", [(1, 32), (3, 32), (2, 5)])
def test_phase_split_equals_conv_transpose_and_its_gradients(filters, c_in):
    reference, phase = pair(filters, (8, 6, c_in), activation="relu")
    assert phase._phase_split_applies
    x = tf.random.stateless_normal((3, 8, 6, c_in), seed=(1, 2))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        expected, got = reference(x), phase(x)
        # A loss that weighs every output differently, so that no gradient term can hide.
        weights = tf.random.stateless_normal(expected.shape, seed=(3, 4))
        loss_expected = tf.reduce_sum(weights * expected)
        loss_got = tf.reduce_sum(weights * got)
    assert got.shape == (3, 16, 12, filters)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    for a, b in zip(tape.gradient(loss_got, [x] + phase.trainable_weights),
                    tape.gradient(loss_expected, [x] + reference.trainable_weights)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_the_function_matches_tf_nn_conv2d_transpose_at_a_dynamic_batch_size():
    kernel = tf.random.stateless_normal((4, 4, 1, 7), seed=(5, 6))
    fn = tf.function(phase_conv_transpose,
                     input_signature=[tf.TensorSpec((None, 5, 5, 7)), tf.TensorSpec((4, 4, 1, 7))])
    for batch in (1, 4):
        x = tf.random.stateless_normal((batch, 5, 5, 7), seed=(batch, 0))
        expected = tf.nn.conv2d_transpose(x, kernel, (batch, 10, 10, 1), 2, "SAME")
        np.testing.assert_allclose(fn(x, kernel), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("options", [dict(kernel_size=3, strides=2, padding="same"),
                                     dict(kernel_size=4, strides=2, padding="valid"),
                                     dict(kernel_size=4, strides=1, padding="same")])
def test_other_settings_use_the_parents_computation(options):
    reference = keras.layers.Conv2DTranspose(2, **options)
    phase = PhaseConv2DTranspose(2, **options)
    x = tf.random.stateless_normal((2, 6, 6, 3), seed=(7, 8))
    reference(x), phase(x)
    phase.set_weights(reference.get_weights())
    assert not phase._phase_split_applies
    np.testing.assert_allclose(phase(x), reference(x), rtol=1e-6, atol=1e-6)


def test_phase_split_off_runs_the_parents_ops():
    layer = PhaseConv2DTranspose(1, 4, strides=2, padding="same", phase_split=False)
    assert layer.get_config()["phase_split"] is False
    graph = tf.function(layer).get_concrete_function(tf.TensorSpec((2, 4, 4, 8))).graph
    ops = {op.type for op in graph.get_operations()}
    assert "Conv2DBackpropInput" in ops and "MatMul" not in ops
    layer.phase_split = True  # set before tracing: the fast path
    graph = tf.function(layer).get_concrete_function(tf.TensorSpec((2, 4, 4, 8))).graph
    ops = {op.type for op in graph.get_operations()}
    assert "MatMul" in ops and "Conv2DBackpropInput" not in ops


def test_config_round_trips_and_a_saved_decoder_loads(tmp_path):
    _, decoder = build_networks("burgess", (64, 64, 1), 4)
    layer = decoder.get_layer("logits")
    assert isinstance(layer, PhaseConv2DTranspose)
    clone = PhaseConv2DTranspose.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    decoder.save(tmp_path / "decoder.keras")
    loaded = keras.saving.load_model(tmp_path / "decoder.keras")
    z = tf.random.stateless_normal((2, 4), seed=(9, 10))
    assert isinstance(loaded.get_layer("logits"), PhaseConv2DTranspose)
    np.testing.assert_allclose(loaded(z), decoder(z), rtol=1e-6, atol=1e-6)


def test_checkpoints_of_a_plain_conv2d_transpose_decoder_restore_into_it(tmp_path, monkeypatch):
    """Runs trained before the layer existed (plain Conv2DTranspose) resume unchanged."""
    import tfbvae.model.networks as networks

    monkeypatch.setattr(networks, "PhaseConv2DTranspose", keras.layers.Conv2DTranspose)
    _, old = build_networks("burgess", (64, 64, 1), 4)
    monkeypatch.undo()
    _, new = build_networks("burgess", (64, 64, 1), 4)
    assert type(old.get_layer("logits")) is keras.layers.Conv2DTranspose
    path = tf.train.Checkpoint(decoder=old).write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(decoder=new).read(path).assert_consumed()
    z = tf.random.stateless_normal((2, 4), seed=(11, 12))
    np.testing.assert_allclose(new(z), old(z), rtol=1e-5, atol=1e-5)


def test_mixed_precision_computes_in_the_policy_dtype():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = PhaseConv2DTranspose(1, 4, strides=2, padding="same")
        y = layer(tf.ones((2, 4, 4, 8)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert layer._phase_split_applies and y.dtype == tf.bfloat16 and y.shape == (2, 8, 8, 1)
