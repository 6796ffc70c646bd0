"""BetaVAE: shapes, inputs, serialisation and the Keras callbacks users bring."""

import keras
import numpy as np
import pytest

from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.likelihoods import GaussianLikelihood
from tfbvae.model.networks import build_networks
from tfbvae.model.objectives import CapacityObjective, HingeCapacityObjective
from tfbvae.training.callbacks import CapacityAnnealing


def small_model(**kwargs):
    return BetaVAE(*build_networks("burgess", (64, 64, 1), 3), **kwargs)


def binary_images(n, seed=0):
    rng = np.random.default_rng(seed)
    return ((rng.random((n, 64, 64, 1)) > 0.9) * 255).astype(np.uint8)


def test_call_encode_decode_shapes_and_ranges():
    model = small_model(seed=0)
    x = binary_images(5)
    mean, log_var = model.encode(x)
    assert mean.shape == log_var.shape == (5, 3)
    assert model.decode(mean).shape == (5, 64, 64, 1)
    recon = np.asarray(model(x))
    assert recon.shape == (5, 64, 64, 1) and recon.min() >= 0 and recon.max() <= 1
    # uint8 0..255 and float 0..1 inputs are the same images.
    np.testing.assert_allclose(model(x), model(x.astype(np.float32) / 255), atol=1e-6)
    # Inference decodes the mean: deterministic; training samples: seeded.
    np.testing.assert_array_equal(model(x), model(x))
    assert not np.allclose(model(x, training=True), model(x, training=True))


def test_seeded_noise_is_reproducible():
    a, b = small_model(seed=7), small_model(seed=7)
    b.set_weights(a.get_weights())
    x = binary_images(4)
    np.testing.assert_array_equal(a(x, training=True), b(x, training=True))


@pytest.mark.parametrize("name", ["burgess", "higgins_conv", "higgins_mlp"])
@pytest.mark.parametrize("channels", [1, 3])
def test_networks_map_images_to_posteriors_and_back(name, channels):
    encoder, decoder = build_networks(name, (64, 64, channels), 7)
    mean, log_var = encoder(np.zeros((2, 64, 64, channels), np.float32))
    assert mean.shape == log_var.shape == (2, 7)
    assert decoder(np.zeros((2, 7), np.float32)).shape == (2, 64, 64, channels)


def test_burgess_parameter_count_matches_the_paper_architecture():
    encoder, decoder = build_networks("burgess", (64, 64, 1), 10)
    conv = 4 * 4 * 1 * 32 + 32 + 3 * (4 * 4 * 32 * 32 + 32)
    assert encoder.count_params() == conv + (512 * 256 + 256) + (256 * 256 + 256) + 2 * (256 * 10 + 10)
    deconv = 3 * (4 * 4 * 32 * 32 + 32) + (4 * 4 * 32 * 1 + 1)
    assert decoder.count_params() == (10 * 256 + 256) + (256 * 256 + 256) + (256 * 512 + 512) + deconv


def test_burgess_weights_start_as_he_et_al_normal_with_zero_biases():
    """The reference implementation's initialisation (see tfbvae.model.networks.burgess: with smaller
    initial weights the capacity objective stalls the encoder on dSprites)."""
    encoder, decoder = build_networks("burgess", (64, 64, 1), 10)
    for layer in encoder.layers + decoder.layers:
        if not layer.weights:
            continue
        kernel, bias = (np.asarray(w) for w in layer.weights)
        # Fan-in as Keras and PyTorch count it: every kernel axis but the last (for a
        # Conv2DTranspose kernel (k, k, out, in) that is k * k * out).
        fan_in = np.prod(kernel.shape[:-1])
        assert kernel.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.25), layer.name
        assert not bias.any(), layer.name


def test_network_errors_name_the_problem():
    with pytest.raises(ValueError, match="Unknown network 'resnet'.*burgess"):
        build_networks("resnet", (64, 64, 1), 10)
    with pytest.raises(ValueError, match="64x64 images with 1 or 3 channels.*\\(32, 32, 1\\)"):
        build_networks("burgess", (32, 32, 1), 10)
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        build_networks("burgess", (64, 64, 1), 0)


def test_keras_file_round_trip(tmp_path):
    model = small_model(likelihood=GaussianLikelihood(0.2), objective=HingeCapacityObjective(50.0), seed=3)
    model.compile(keras.optimizers.Adam(1e-3))
    x = binary_images(8)
    model.fit(x, batch_size=4, epochs=1, verbose=0)
    model.capacity.assign(12.5)
    path = tmp_path / "vae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, BetaVAE)
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    assert float(loaded.capacity) == 12.5
    assert loaded.likelihood.sigma == 0.2 and loaded.objective.gamma == 50.0
    assert isinstance(loaded.objective, HingeCapacityObjective)
    assert int(loaded.optimizer.iterations) == 2  # the optimizer state comes back too
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a, b)


def test_fit_with_validation_early_stopping_and_capacity_annealing():
    model = small_model(objective=CapacityObjective(10.0), seed=0)
    model.compile(keras.optimizers.Adam(1e-3))
    history = model.fit(
        binary_images(16),
        validation_data=binary_images(8, seed=1),
        batch_size=4,
        epochs=6,
        verbose=0,
        callbacks=[
            CapacityAnnealing(c_max=5.0, c_stop_steps=10),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=1e9),
        ],
    ).history
    assert "val_kl_2" in history and "val_elbo" in history
    assert len(history["loss"]) == 2  # EarlyStopping: no improvement of 1e9 after epoch 1
    # C follows the schedule: steps 0..3 then 4..7 of 10 (logged as the epoch's mean).
    np.testing.assert_allclose(history["capacity"], [0.75, 2.75], rtol=1e-6)


class StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_weights_optimizer_and_capacity(tmp_path):
    x = binary_images(8)

    def fit(model, epochs, *callbacks):
        model.compile(keras.optimizers.Adam(1e-3))
        return model.fit(
            x, batch_size=4, epochs=epochs, verbose=0,
            callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path)), CapacityAnnealing(8.0, 8), *callbacks],
        )

    interrupted = small_model(objective=CapacityObjective(1.0), seed=0)
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(interrupted, 4, StopAt(2))
    resumed = small_model(objective=CapacityObjective(1.0), seed=0)
    history = fit(resumed, 4)
    assert len(history.history["loss"]) == 2  # epochs 2 and 3 only
    assert int(resumed.optimizer.iterations) == 8
    assert float(resumed.capacity) == pytest.approx(7.0)  # C(7) = 8 * 7 / 8
