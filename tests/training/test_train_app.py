"""apps/train.py end to end on dSprites, resume semantics, refusals, NaN stop, missing CelebA."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbvae.model.objectives import capacity_schedule
from tfbvae.training import checkpoints
from tfbvae.training import event_files
from tfbvae.training import run_record
from tfbvae.training import train as training

UNTRAINED_BERNOULLI_NATS = 64 * 64 * math.log(2)  # logits near 0: -log p about ln 2 per pixel


def test_dsprites_flags_end_to_end(tmp_path, repo, tiny_args, run_app):
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    args = [f"--flagfile={repo / 'dsprites.flags'}", *tiny_args, "--steps=40", f"--run_dir={run_dir}",
            f"--data_dir={data_dir}", "--export", "--progress"]
    done = run_app(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Done: {run_dir} at step 40." in done.stdout
    assert "step 40/40 [====================] loss" in done.stdout  # the progress bar's last line

    train = event_files.read_scalars(run_dir / "logs" / "train")
    log_steps = list(range(5, 41, 5))
    for tag in ["loss", "reconstruction", "kl", "regulariser", "capacity", "elbo", "learning_rate"] + [
        f"kl_per_dim/kl_{i}" for i in range(10)
    ]:
        assert [s for s, _ in train[tag]] == log_steps, tag
    # The first logged reconstruction (mean of steps 1-5) is an untrained Bernoulli model's:
    # about 4096 ln 2 nats per image (summed over pixels), not 0.69 (a per-pixel mean).
    first_recon = train["reconstruction"][0][1]
    assert first_recon == pytest.approx(UNTRAINED_BERNOULLI_NATS, rel=0.1)
    # C follows the schedule (25 nats over 100k steps): each value is its interval's mean.
    for step, value in train["capacity"]:
        expected = np.mean(capacity_schedule(np.arange(step - 5, step), 25.0, 100_000))
        assert value == pytest.approx(expected, rel=1e-5)
    kl_sum = sum(dict(train[f"kl_per_dim/kl_{i}"])[40] for i in range(10))
    assert kl_sum == pytest.approx(dict(train["kl"])[40], rel=1e-4)
    validation = event_files.read_scalars(run_dir / "logs" / "validation")
    assert [s for s, _ in validation["kl_per_dim/kl_9"]] == [10, 20, 30, 40]
    assert event_files.image_steps(run_dir / "logs" / "train") == {
        tag: [10, 20, 30, 40] for tag in ("reconstructions", "traversals", "kl_per_dim_chart")
    }

    record = run_record.read_run(run_dir)
    assert record.data.source.startswith("dsprites-rendered")
    assert record.settings.steps == 40 and (run_dir / "flags.txt").is_file()
    model, facts = checkpoints.restore_model(str(run_dir))
    assert facts.step == 40 and facts.data_source == record.data.source
    # The export, under <run_dir>/exported_models/<dataset>_<objective>/.
    exported = run_dir / "exported_models" / "dsprites_capacity"
    assert (exported / "encoder" / "1" / "saved_model.pb").is_file()
    assert (exported / "decoder" / "1" / "saved_model.pb").is_file()
    meta = json.loads(next((exported / "encoder" / "1").rglob("*.json")).read_text())
    assert meta["run"]["step"] == 40 and meta["run"]["data_source"] == record.data.source
    assert len(meta["kl_per_dim"]) == 10


def weights_of(run_dir):
    model, _ = checkpoints.restore_model(str(run_dir))
    return model.get_weights()


def test_a_resumed_run_continues_exactly_as_an_uninterrupted_one(tmp_path, tiny_config):
    data_dir = tmp_path / "data"
    straight = training.train(tiny_config(tmp_path / "straight", data_dir, "--steps=20"))
    first = training.train(tiny_config(tmp_path / "resumed", data_dir, "--steps=10"))
    resumed = training.train(tiny_config(tmp_path / "resumed", data_dir, "--steps=20"))
    assert (straight.step, first.step, resumed.start_step, resumed.step) == (20, 10, 10, 20)
    # Same weights, optimizer state, C, noise and data stream: the same numbers.
    for a, b in zip(weights_of(tmp_path / "straight"), weights_of(tmp_path / "resumed")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    logged = [event_files.read_scalars(tmp_path / d / "logs" / "train")["loss"] for d in ("straight", "resumed")]
    assert [s for s, _ in logged[1]] == [5, 10, 15, 20]
    np.testing.assert_allclose([v for _, v in logged[0]], [v for _, v in logged[1]], rtol=1e-5)

    again = training.train(tiny_config(tmp_path / "resumed", data_dir, "--steps=20"))
    assert again.start_step == again.step == 20 and again.history == {}
    assert [s for s, _ in event_files.read_scalars(tmp_path / "resumed" / "logs" / "train")["loss"]] == [5, 10, 15, 20]


@pytest.mark.parametrize(
    "change, message",
    [
        ("--latent_dim=8", "--latent_dim: the run has 10, the new setting is 8"),
        ("--network=higgins_mlp", "--network: the run has 'burgess', the new setting is 'higgins_mlp'"),
        ("--gamma=10", "--gamma: the run has 1000.0, the new setting is 10.0"),
        ("--seed=1", "--seed: the run has 0, the new setting is 1"),
    ],
)
def test_a_setting_that_changes_the_model_of_a_run_is_refused(
        tmp_path, change, message, data_record, tiny_config):
    config = tiny_config(tmp_path / "run", tmp_path / "data")
    run_record.write_run(config.run_dir, config, data_record("dsprites-rendered (tfbvae renderer v1)"))
    with pytest.raises(run_record.RunRecordError) as error:
        training.train(tiny_config(tmp_path / "run", tmp_path / "data", change))
    assert message in str(error.value)
    assert f"--flagfile={tmp_path / 'run' / 'flags.txt'}" in str(error.value)


def test_a_run_on_another_data_source_is_refused(tmp_path, data_record, tiny_config):
    config = tiny_config(tmp_path / "run", tmp_path / "data")
    run_record.write_run(config.run_dir, config, data_record("dsprites-official-npz"))
    with pytest.raises(run_record.RunRecordError, match="was trained on data source 'dsprites-official-npz'"):
        training.train(config)


class DivergeAt(keras.callbacks.Callback):
    """Makes the decoder's output NaN from the start of one epoch on: a divergence at a known step."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            bias = self.model.trainable_variables[-1]
            bias.assign(tf.fill(bias.shape, np.nan))


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, tiny_config):
    config = tiny_config(tmp_path / "run", tmp_path / "data", "--steps=40")
    with pytest.raises(training.TrainingDiverged) as error:
        training.train(config, extra_callbacks=[DivergeAt(epoch=2)])  # steps 11-15
    assert "Training stopped at step 15: the loss (nan) became NaN/Inf during steps 11-15" in str(error.value)
    assert "--learning_rate" in str(error.value) and "[0, 1]" in str(error.value)
    assert checkpoints.step_of(tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))) == 10
    model, facts = checkpoints.restore_model(str(tmp_path / "run"))
    assert facts.step == 10 and all(np.isfinite(w).all() for w in model.get_weights())


def test_celeba_flags_without_celeba_stop_at_once_saying_how_to_get_it(tmp_path, repo, app_config):
    config = app_config(f"--flagfile={repo / 'celeba.flags'}", f"--run_dir={tmp_path / 'run'}",
                        f"--tfds_data_dir={tmp_path / 'tfds'}", f"--tfds_manual_dir={tmp_path / 'manual'}",
                        f"--data_dir={tmp_path / 'cache'}")
    with pytest.raises(training.DataUnavailable) as error:
        training.train(config)
    message = str(error.value)
    for hint in ("--data_path=/path/to/img_align_celeba.zip", f"{tmp_path / 'manual'}",
                 "--tfds_manual_dir", "--data_source=tfds"):
        assert hint in message
    assert not (tmp_path / "run").exists()  # nothing was started
