"""The training callbacks in a user's own fit: C per step, NaN stop, TensorBoard, progress."""

import io

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbvae.training import checkpoints
from tfbvae.training import event_files
from tfbvae.training.callbacks import (CapacityAnnealing, CheckpointSaver, ProgressBar, TensorBoardImages,
                              TensorBoardScalars, TerminateOnNonFinite)
from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.networks import build_networks
from tfbvae.model.objectives import CapacityObjective, capacity_schedule
from tfbvae.visualization import reconstruction_grid, traversal_grid


def small_model(latent_dim=3, steps_per_execution=1):
    model = BetaVAE(*build_networks("burgess", (64, 64, 1), latent_dim),
                    objective=CapacityObjective(1000.0), seed=0)
    model.compile(keras.optimizers.Adam(1e-3), steps_per_execution=steps_per_execution)
    return model


def batches(batch=4, seed=0):
    rng = np.random.default_rng(seed)
    images = ((rng.random((16, 64, 64, 1)) > 0.9) * 255).astype(np.uint8)
    return tf.data.Dataset.from_tensor_slices(images).batch(batch, drop_remainder=True).repeat()


class RecordCapacity(keras.callbacks.Callback):
    """C in force during each step (read after it; test-only device reads)."""

    def __init__(self):
        super().__init__()
        self.values = []

    def on_train_batch_end(self, batch, logs=None):
        self.values.append(float(self.model.capacity.numpy()))


@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_capacity_follows_the_schedule_every_step_across_epochs_and_fits(steps_per_execution):
    model = small_model(steps_per_execution=steps_per_execution)
    record = RecordCapacity()
    annealing = CapacityAnnealing(c_max=6.0, c_stop_steps=9)
    model.fit(batches(), steps_per_epoch=4, epochs=2, verbose=0, shuffle=False, callbacks=[annealing, record])
    model.fit(batches(), steps_per_epoch=4, epochs=1, verbose=0, shuffle=False, callbacks=[annealing, record])
    steps = np.arange(0, 12, steps_per_execution)  # C is set per execution
    np.testing.assert_allclose(record.values, capacity_schedule(steps, 6.0, 9), rtol=1e-6)
    assert record.values[-1] == 6.0


class PoisonWeights(keras.callbacks.Callback):
    """Sets one weight to NaN at the start of ``epoch`` (a divergence at a known step)."""

    def __init__(self, epoch, at="begin"):
        super().__init__()
        self.epoch, self.at = epoch, at

    def _poison(self):
        # The decoder's output bias: no ReLU after it (oneDNN's ReLU maps NaN to 0, which can
        # hide NaN weights of earlier layers from the loss; the guard checks weights too).
        bias = self.model.trainable_variables[-1]
        bias.assign(tf.fill(bias.shape, np.nan))

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch and self.at == "begin":
            self._poison()

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch and self.at == "end":
            self._poison()


@pytest.mark.parametrize("at", ["begin", "end"])
def test_nan_stops_training_names_the_steps_and_causes_and_keeps_the_last_good_checkpoint(tmp_path, at):
    model = small_model()
    run_checkpoint = checkpoints.RunCheckpoint(model, tmp_path)
    guard = TerminateOnNonFinite()
    # at="end": the loss of the epoch is finite but the weights after its last step are not.
    history = model.fit(batches(), steps_per_epoch=3, epochs=6, verbose=0, shuffle=False, callbacks=[
        PoisonWeights(2, at), guard, CheckpointSaver(run_checkpoint, every_n_steps=3)])
    assert len(history.history["loss"]) == 3  # stopped after the third epoch (steps 7-9)
    what = "the loss (nan)" if at == "begin" else "the weights"
    assert guard.message.startswith(f"Training stopped at step 9: {what} became NaN/Inf during steps 7-9.")
    for cause in ("learning rate (0.001) is too high", "gamma (1000) is too high",
                  "the data is not in [0, 1]"):
        assert cause in guard.message
    assert [checkpoints.step_of(p) for p in run_checkpoint.manager.checkpoints] == [3, 6]
    assert run_checkpoint.restore_latest() == 6
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_tensorboard_scalars_and_pictures_on_the_global_step(tmp_path):
    model = small_model()
    images = next(iter(batches(batch=8)))
    callbacks = [TensorBoardScalars(tmp_path, batch_size=4), TensorBoardImages(tmp_path, images, 4)]
    model.fit(batches(), validation_data=batches().take(2), steps_per_epoch=2, epochs=3,
              verbose=0, shuffle=False, callbacks=callbacks)
    model.fit(batches(), steps_per_epoch=2, epochs=2, verbose=0, shuffle=False, callbacks=callbacks)
    train = event_files.read_scalars(tmp_path / "train")
    for tag in ("loss", "reconstruction", "kl", "regulariser", "capacity", "elbo", "learning_rate",
                "kl_per_dim/kl_0", "kl_per_dim/kl_2", "images_per_second"):
        assert [s for s, _ in train[tag]] == [2, 4, 6, 8, 10], tag
    assert train["learning_rate"][0][1] == pytest.approx(1e-3)
    validation = event_files.read_scalars(tmp_path / "validation")
    assert [s for s, _ in validation["kl_per_dim/kl_1"]] == [2, 4, 6]
    assert 0 < event_files.training_seconds(tmp_path / "train") < 600  # one process, both fits
    # Pictures every 4 steps, and at the end of each fit.
    assert event_files.image_steps(tmp_path / "train") == {
        tag: [4, 6, 8, 10] for tag in ("reconstructions", "traversals", "kl_per_dim_chart")
    }


def test_traversals_are_ordered_by_kl_and_reconstructions_pair_inputs():
    model = small_model(latent_dim=3)
    images = next(iter(batches(batch=4)))
    grid = traversal_grid(model, images[0], kl_per_dim=[0.5, 7.0, 2.0], span=3.0, steps=5)
    tile = 64 + 2
    header = 20  # the row naming the offsets
    assert grid.shape == (header + 3 * tile - 2, 92 + 5 * tile - 2, 3) and grid.dtype == np.uint8
    mean = model.encode(images[:1])[0].numpy()[0]
    for row, dim in enumerate([1, 2, 0]):  # largest KL first
        z = np.repeat(mean[None], 5, axis=0)
        z[:, dim] += np.linspace(-3, 3, 5)
        decoded = np.round(model.decode_images(z).numpy() * 255).astype(np.uint8)
        first = grid[header + row * tile : header + row * tile + 64, 92 : 92 + 64, 0]
        np.testing.assert_allclose(first, decoded[0, ..., 0], atol=1)
    assert (grid[:, :92] < 128).any()  # the labels are drawn
    pairs = reconstruction_grid(model, images)
    assert pairs.shape == (2 * tile - 2, 4 * tile - 2, 3)
    np.testing.assert_array_equal(pairs[:64, :64, 0], images[0, ..., 0].numpy())


# TensorBoard's time-series card shows an image scaled into about 300 x 210 CSS pixels (a
# 335 x 320 card less padding, heading and step slider) unless its "actual size" is on.
TENSORBOARD_BOX = (300, 210)
READABLE_PX = 7  # a digit's height on screen: about a 10-pixel font


def image_summaries(log_dir) -> dict[str, np.ndarray]:
    """The last picture written under each image tag in ``log_dir``, decoded."""
    pictures = {}
    for path in event_files.event_file_paths(log_dir):
        for event in event_files.events(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    pictures[value.tag] = tf.io.decode_png(value.tensor.string_val[2]).numpy()
    return pictures


@pytest.mark.parametrize("latent_dim", [32, 10])
def test_tensorboard_traversals_show_the_top_10_latents_by_kl_with_labels_read_there(
        tmp_path, latent_dim):
    model = small_model(latent_dim=latent_dim)
    dense = model.decoder.layers[1]  # Dense on z: scaled so that each latent visibly moves
    kernel, bias = dense.get_weights()
    dense.set_weights([20 * kernel, bias])
    images = next(iter(batches(batch=4))).numpy()
    kl = np.random.RandomState(latent_dim).permutation(np.linspace(0.05, 5.0, latent_dim))
    callback = TensorBoardImages(tmp_path, images, every_n_steps=1)
    callback.set_model(model)
    callback.write(7, {f"kl_{d}": kl[d] for d in range(latent_dim)} | {"loss": 1.0})
    callback._writer.close()
    pictures = image_summaries(tmp_path / "train")
    assert set(pictures) == {"reconstructions", "traversals", "kl_per_dim_chart"}

    grid, tile, steps = pictures["traversals"], 64 + 2, 9
    height, width = grid.shape[:2]
    top, left = height - (10 * tile - 2), width - (steps * tile - 2)  # tiles at the bottom right
    shown = sorted(range(latent_dim), key=lambda d: -kl[d])[:10]  # all ten of a 10-latent model
    mean = model.encode(images[:1])[0].numpy()[0]
    z = np.repeat(mean[None], latent_dim * steps, axis=0).reshape(latent_dim, steps, -1)
    for dim in range(latent_dim):
        z[dim, :, dim] += np.linspace(-3, 3, steps)
    decoded = np.round(model.decode_images(z.reshape(latent_dim * steps, -1)).numpy() * 255)
    decoded = decoded.astype(np.uint8).reshape(latent_dim, steps, 64, 64)
    scale = min(TENSORBOARD_BOX[0] / width, TENSORBOARD_BOX[1] / height)
    for row, dim in enumerate(shown):
        band = slice(top + row * tile, top + row * tile + 64)
        tiles = [grid[band, left + c * tile:left + c * tile + 64, 0] for c in range(steps)]
        np.testing.assert_allclose(np.stack(tiles), decoded[dim], atol=1,
                                   err_msg=f"row {row} is not z{dim}'s traversal")
        assert all(np.abs(decoded[other].astype(int) - np.stack(tiles)).max() > 8
                   for other in range(latent_dim) if other != dim)
        ink = np.flatnonzero((grid[band, :left].min(axis=2) < 128).any(axis=1))
        assert ink.size and (ink[-1] - ink[0] + 1) * scale >= READABLE_PX, f"row {row}'s label"
    assert (grid[:top].min(axis=2) > 200).mean() > 0.7  # text above the tiles, no 11th row
    chart = pictures["kl_per_dim_chart"]
    assert chart.shape[1] / chart.shape[0] == pytest.approx(TENSORBOARD_BOX[0] / TENSORBOARD_BOX[1],
                                                            rel=0.02)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_shows_step_loss_kl_c_speed_and_eta():
    model = small_model()
    log = io.StringIO()
    model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0, shuffle=False, callbacks=[
        CapacityAnnealing(10.0, 6), ProgressBar(total_steps=6, batch_size=4, stream=log)])
    lines = log.getvalue().splitlines()
    assert [line.split(" [")[0] for line in lines] == ["step 3/6", "step 6/6"]
    for field in ("loss ", "recon ", "KL ", "C ", "img/s", "ETA 0:00:00"):
        assert field in lines[-1]
    terminal = Terminal()
    model.fit(batches(), steps_per_epoch=3, epochs=3, verbose=0, shuffle=False, callbacks=[
        ProgressBar(total_steps=9, batch_size=4, stream=terminal, min_interval_s=0.0)])
    assert terminal.getvalue().count("\r") >= 3 and terminal.getvalue().endswith("\x1b[K\n")
