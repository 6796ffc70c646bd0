"""The ``locatello`` network (disentanglement_lib's conv_encoder and deconv_decoder) and the
flagfiles that reproduce disentanglement_lib's unsupervised_study_v1 settings
(dlib_beta_vae.flags, dlib_annealed_vae.flags).

The expected layers are transcribed from google-research/disentanglement_lib at commit
86a644d4ed35c771560dc3360756363d35477357, disentanglement_lib/methods/shared/architectures.py
(line numbers below); the study's settings from config/unsupervised_study_v1/model_configs/
shared.gin and config/unsupervised_study_v1/sweep.py at the same commit.
"""

import keras
import numpy as np
import pytest
from absl import flags
from keras import layers

from apps import train as train_app
from tfbvae.cli import app_runner
from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.conv_transpose import PhaseConv2DTranspose
from tfbvae.model.networks import build_networks

Z = 10

# (kind, width, kernel, stride, padding, activation), in the source's order.
ENCODER = [
    ("conv", 32, 4, 2, "same", "relu"),  # e1, lines 166-174
    ("conv", 32, 4, 2, "same", "relu"),  # e2, lines 175-183
    ("conv", 64, 2, 2, "same", "relu"),  # e3, lines 184-192
    ("conv", 64, 2, 2, "same", "relu"),  # e4, lines 193-201
    ("flatten",),  # line 202
    ("dense", 256, "relu"),  # e5, line 203
    ("dense", Z, "linear"),  # means, line 204
    ("dense", Z, "linear"),  # log_var, line 205
]
ENCODER_SHAPES = [(32, 32, 32), (16, 16, 32), (8, 8, 64), (4, 4, 64), (1024,), (256,), (Z,), (Z,)]


def decoder_layers(c):
    return [
        ("dense", 256, "relu"),  # d1, line 252
        ("dense", 1024, "relu"),  # d2, line 253
        ("reshape", (4, 4, 64)),  # line 254
        ("deconv", 64, 4, 2, "same", "relu"),  # d3, lines 255-262
        ("deconv", 32, 4, 2, "same", "relu"),  # d4, lines 264-271
        ("deconv", 32, 4, 2, "same", "relu"),  # d5, lines 273-280
        ("deconv", c, 4, 2, "same", "linear"),  # d6, lines 281-287: logits
    ]


def decoder_shapes(c):
    return [(256,), (1024,), (4, 4, 64), (8, 8, 64), (16, 16, 32), (32, 32, 32), (64, 64, c)]


def describe(layer):
    """A layer as the rows above (transposed convolutions first: Conv2DTranspose is no Conv2D)."""
    if isinstance(layer, layers.Conv2DTranspose):
        kind = "deconv"
    elif isinstance(layer, layers.Conv2D):
        kind = "conv"
    elif isinstance(layer, layers.Dense):
        return ("dense", layer.units, keras.activations.serialize(layer.activation))
    elif isinstance(layer, layers.Flatten):
        return ("flatten",)
    elif isinstance(layer, layers.Reshape):
        return ("reshape", tuple(layer.target_shape))
    else:
        raise AssertionError(f"unexpected layer {layer!r}")
    (k, k2), (s, s2) = layer.kernel_size, layer.strides
    assert (k, s) == (k2, s2), layer.name
    return (kind, layer.filters, k, s, layer.padding, keras.activations.serialize(layer.activation))


def body(model):
    return [layer for layer in model.layers if not isinstance(layer, layers.InputLayer)]


@pytest.mark.parametrize("c", [1, 3])
def test_layers_and_shapes_are_disentanglement_libs(c):
    encoder, decoder = build_networks("locatello", (64, 64, c), Z)
    assert [describe(layer) for layer in body(encoder)] == ENCODER
    assert [tuple(layer.output.shape[1:]) for layer in body(encoder)] == ENCODER_SHAPES
    assert [layer.name for layer in body(encoder)][-2:] == ["mean", "log_var"]
    assert [describe(layer) for layer in body(decoder)] == decoder_layers(c)
    assert [tuple(layer.output.shape[1:]) for layer in body(decoder)] == decoder_shapes(c)
    assert isinstance(body(decoder)[-1], PhaseConv2DTranspose)  # the decoders' fast last layer
    # tf.layers' defaults: Glorot-uniform kernels, zero biases (Keras' defaults too).
    for layer in body(encoder) + body(decoder):
        if layer.weights:
            assert type(layer.kernel_initializer) is keras.initializers.GlorotUniform, layer.name
            assert type(layer.bias_initializer) is keras.initializers.Zeros, layer.name


@pytest.mark.parametrize("c", [1, 3])
def test_trainable_parameter_count_is_the_layer_lists(c):
    encoder, decoder = build_networks("locatello", (64, 64, c), Z)
    enc = ((4 * 4 * c * 32 + 32)  # e1: 4x4 kernels from C channels to 32, 32 biases
           + (4 * 4 * 32 * 32 + 32)  # e2
           + (2 * 2 * 32 * 64 + 64)  # e3: 2x2 kernels
           + (2 * 2 * 64 * 64 + 64)  # e4
           + (4 * 4 * 64 * 256 + 256)  # e5 on the flattened 4x4x64
           + 2 * (256 * Z + Z))  # means, log_var
    dec = ((Z * 256 + 256)  # d1
           + (256 * 1024 + 1024)  # d2
           + (4 * 4 * 64 * 64 + 64)  # d3
           + (4 * 4 * 64 * 32 + 32)  # d4
           + (4 * 4 * 32 * 32 + 32)  # d5
           + (4 * 4 * 32 * c + c))  # d6
    assert (enc, dec) == {1: (309_204, 381_313), 3: (310_228, 382_339)}[c]
    trainable = [sum(int(np.prod(w.shape)) for w in m.trainable_weights) for m in (encoder, decoder)]
    assert trainable == [enc, dec]
    assert not encoder.non_trainable_weights and not decoder.non_trainable_weights


def reference(c):
    """disentanglement_lib's two networks from plain Keras layers (Conv2DTranspose throughout)."""
    x = images = keras.Input((64, 64, c))
    for width, kernel in ((32, 4), (32, 4), (64, 2), (64, 2)):
        x = layers.Conv2D(width, kernel, strides=2, padding="same", activation="relu")(x)
    x = layers.Dense(256, activation="relu")(layers.Flatten()(x))
    encoder = keras.Model(images, [layers.Dense(Z)(x), layers.Dense(Z)(x)])
    y = z = keras.Input((Z,))
    y = layers.Dense(1024, activation="relu")(layers.Dense(256, activation="relu")(y))
    y = layers.Reshape((4, 4, 64))(y)
    for width in (64, 32, 32):
        y = layers.Conv2DTranspose(width, 4, strides=2, padding="same", activation="relu")(y)
    decoder = keras.Model(z, layers.Conv2DTranspose(c, 4, strides=2, padding="same")(y))
    return encoder, decoder


@pytest.mark.parametrize("c", [1, 3])
def test_computes_what_plain_keras_layers_of_the_source_compute(c):
    encoder, decoder = build_networks("locatello", (64, 64, c), Z)
    ref_encoder, ref_decoder = reference(c)
    rng = np.random.default_rng(0)
    for ref, model in ((ref_encoder, encoder), (ref_decoder, decoder)):
        assert len(body(ref)) == len(body(model))
        for a, b in zip(body(ref), body(model)):
            if b.weights:  # weights of a larger scale than Glorot's, and non-zero biases
                kernel, bias = b.get_weights()
                # Keras' transposed kernels are (kh, kw, out, in), the others (..., in, out).
                transposed = isinstance(b, layers.Conv2DTranspose)
                fan_in = np.prod(kernel.shape[:-2]) * kernel.shape[-1] if transposed else np.prod(
                    kernel.shape[:-1])
                b.set_weights([rng.normal(0, 2 / np.sqrt(fan_in), kernel.shape).astype(np.float32),
                               rng.normal(0, 0.1, bias.shape).astype(np.float32)])
            a.set_weights(b.get_weights())
    x = rng.random((3, 64, 64, c)).astype(np.float32)
    z = rng.normal(size=(3, Z)).astype(np.float32)
    for got, want in zip(encoder(x), ref_encoder(x)):
        assert np.abs(want).max() > 0.1  # not a comparison of near-zeros
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    got, want = np.asarray(decoder(z)), np.asarray(ref_decoder(z))
    assert np.abs(want).max() > 0.1
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("c", [1, 3])
def test_encode_decode_round_trip_shapes(c):
    model = BetaVAE(*build_networks("locatello", (64, 64, c), Z), seed=0)
    x = np.random.default_rng(1).integers(0, 256, (4, 64, 64, c), dtype=np.uint8)
    mean, log_var = model.encode(x)
    assert mean.shape == log_var.shape == (4, Z)
    assert model.decode(mean).shape == (4, 64, 64, c)
    recon = np.asarray(model(x))
    assert recon.shape == (4, 64, 64, c) and 0 <= recon.min() and recon.max() <= 1


@pytest.mark.parametrize("shape", [(64, 64, 2), (64, 64, 4), (32, 32, 1), (128, 128, 3)])
def test_other_image_shapes_are_refused_with_the_fix(shape):
    with pytest.raises(ValueError, match=r"The locatello network takes 64x64 images with 1 or 3 "
                                         r"channels, got .*resize the data to 64x64"):
        build_networks("locatello", shape, Z)


# --- the app's flags -------------------------------------------------------------------------

COMMIT = "86a644d4ed35c771560dc3360756363d35477357"
# What the dlib flagfiles may set: the model, objective, optimiser and steps; no data settings,
# which come from the data set's flags, and no run directory (derived from the data set).
MODEL_FLAGS = {"network", "latent_dim", "likelihood", "objective", "beta", "gamma", "c_max",
               "c_stop_steps", "learning_rate", "adam_beta1", "adam_beta2", "adam_epsilon",
               "batch_size", "steps"}


def config_of(*args):
    fv = flags.FlagValues()
    train_app.define_flags(fv)
    with app_runner.command_line(["train.py", *args]):  # as the app parses its command line
        fv(["train.py", *args])
    return train_app.settings_from_flags(fv)


def test_train_accepts_network_locatello():
    assert config_of("--network=locatello").network == "locatello"


def study_settings(config):
    """shared.gin lines 16, 17, 23, 25-28, 37-39: what both of the study's models share."""
    return (config.network, config.latent_dim, config.batch_size, config.steps, config.likelihood,
            config.learning_rate, config.adam_beta1, config.adam_beta2, config.adam_epsilon)


SHARED = ("locatello", 10, 64, 300_000, "bernoulli", 1e-4, 0.9, 0.999, 1e-8)


def test_annealed_vae_flags_after_dsprites_flags(repo):
    config = config_of(f"--flagfile={repo / 'dsprites.flags'}",
                       f"--flagfile={repo / 'dlib_annealed_vae.flags'}")
    assert study_settings(config) == SHARED
    # sweep.py lines 62-65: annealed_vae, gamma 1000, iteration_threshold 100000, c_max 25 of
    # 5, 10, 25, 50, 75, 100.
    assert (config.objective, config.gamma, config.c_stop_steps, config.c_max) == (
        "capacity", 1000, 100_000, 25)
    assert (config.dataset, config.channels, config.image_size) == ("dsprites", 1, 64)
    assert config.run_dir == "runs/dsprites_capacity_locatello"  # not dsprites.flags' Burgess run
    assert config_of(f"--flagfile={repo / 'dlib_annealed_vae.flags'}") == config  # the defaults


def test_beta_vae_flags_on_the_default_data(repo):
    config = config_of(f"--flagfile={repo / 'dlib_beta_vae.flags'}")
    assert study_settings(config) == SHARED
    # sweep.py line 57: beta 4 of 1, 2, 4, 6, 8, 16.
    assert (config.objective, config.beta) == ("beta", 4)
    assert (config.dataset, config.channels, config.image_size) == ("dsprites", 1, 64)
    assert config.run_dir == "runs/dsprites_beta_locatello"  # not dsprites_beta.flags' run
    # A later flag picks another point of the sweep.
    assert config_of(f"--flagfile={repo / 'dlib_beta_vae.flags'}", "--beta=16").beta == 16


def test_beta_vae_flags_after_dsprites_flags(repo):
    """dsprites.flags gives the capacity objective's flags; from a flagfile they are a recipe
    that the later file's --objective=beta overrides, not an error. Typed on the command line,
    a flag the objective ignores is still refused."""
    config = config_of(f"--flagfile={repo / 'dsprites.flags'}",
                       f"--flagfile={repo / 'dlib_beta_vae.flags'}")
    assert study_settings(config) == SHARED and (config.objective, config.beta) == ("beta", 4)
    assert (config.dataset, config.run_dir) == ("dsprites", "runs/dsprites_beta_locatello")
    with pytest.raises(flags.IllegalFlagValueError, match="--gamma only applies to"):
        config_of(f"--flagfile={repo / 'dlib_beta_vae.flags'}", "--gamma=100")


@pytest.mark.parametrize("name", ["dlib_beta_vae.flags", "dlib_annealed_vae.flags"])
def test_flagfiles_set_only_model_settings_each_cited(name, repo):
    text = (repo / name).read_text()
    assert COMMIT in text and "shared.gin" in text and "sweep.py" in text
    lines = text.splitlines()
    settings = [line for line in lines if line.startswith("--")]
    assert {line[2:].split("=")[0] for line in settings} <= MODEL_FLAGS
    assert len(settings) == len({line.split("=")[0] for line in settings})  # each flag once
    for i, line in enumerate(lines):
        if line.startswith("--"):  # each setting follows its comment (its source) or a setting
            assert lines[i - 1].startswith(("#", "--")), f"{name}:{i + 1} {line}"
        else:
            assert not line or line.startswith("#"), f"{name}:{i + 1} {line}"
