"""Checkpoints: what they hold, atomicity after a killed write, restore_model, event trimming."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tfbvae.training import checkpoints
from tfbvae.training import event_files
from tfbvae.training import run_record
from tfbvae.training.callbacks import CapacityAnnealing
from tfbvae.training.train import compile_model


@pytest.fixture(scope="module")
def config(app_config):
    return app_config("--noexport", "--latent_dim=4", "--seed=3")


def binary_batches(n=16, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    images = ((rng.random((n, 64, 64, 1)) > 0.9) * 255).astype(np.uint8)
    return tf.data.Dataset.from_tensor_slices(images).batch(batch).repeat()


def trained_model(config, steps=6):
    model = compile_model(config)
    model.fit(binary_batches(), steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False,
              callbacks=[CapacityAnnealing(25.0, 10)])
    return model


def state(model) -> list:
    return [v.numpy().copy() for v in model.variables + model.optimizer.variables] + [
        model.seed_generator.state.numpy().copy()
    ]


def test_a_checkpoint_holds_weights_optimizer_step_capacity_and_noise_state(tmp_path, config, data_record):
    model = trained_model(config)
    run_record.write_run(tmp_path, config, data_record("dsprites-test-source"))
    saved = checkpoints.RunCheckpoint(model, checkpoints.checkpoint_dir(tmp_path)).save()
    assert saved.endswith("ckpt-6") and checkpoints.step_of(saved) == 6

    # restore_model: the run's model for inference, with its facts.
    restored, facts = checkpoints.restore_model(str(tmp_path))
    assert facts.step == 6 and facts.latent_dim == 4 and facts.run_dir == str(tmp_path)
    assert facts.data_source == "dsprites-test-source" == facts.data.source
    assert facts.settings == config and facts.capacity == pytest.approx(12.5)  # C(5)
    assert facts.checkpoint == saved
    assert getattr(restored, "optimizer", None) is None  # nothing to compile
    x = next(iter(binary_batches()))
    np.testing.assert_allclose(restored(x), model(x), atol=1e-6)
    np.testing.assert_allclose(restored.encode(x)[0], model.encode(x)[0], atol=1e-6)

    # Training state: a model with other initial weights and noise takes all of it ...
    fresh = compile_model(dataclasses.replace(config, seed=99))
    assert checkpoints.RunCheckpoint(fresh, checkpoints.checkpoint_dir(tmp_path)).restore_latest() == 6
    for a, b in zip(state(model), state(fresh)):
        np.testing.assert_array_equal(a, b)
    # ... and both continue identically: same Adam moments, step, C schedule and noise stream.
    for m in (model, fresh):
        m.fit(binary_batches(seed=1), steps_per_epoch=2, epochs=1, verbose=0, shuffle=False,
              callbacks=[CapacityAnnealing(25.0, 10)])
    for a, b in zip(state(model), state(fresh)):
        np.testing.assert_array_equal(a, b)


def test_only_the_newest_checkpoints_are_kept(tmp_path, config):
    model = compile_model(config)
    manager = checkpoints.RunCheckpoint(model, tmp_path, max_to_keep=2)
    for step in (1, 2, 3, 4, 5):
        model.optimizer.iterations.assign(step)
        manager.save()
    assert [checkpoints.step_of(p) for p in manager.manager.checkpoints] == [4, 5]
    assert sorted(p.name for p in tmp_path.glob("*.index")) == ["ckpt-4.index", "ckpt-5.index"]


def saved_at(model, directory, *steps, keep=3):
    """Saves real checkpoints of ``model`` at ``steps`` in ``directory``; returns the manager."""
    manager = checkpoints.RunCheckpoint(model, directory, max_to_keep=keep)
    for step in steps:
        model.optimizer.iterations.assign(step)
        manager.save()
    return manager


def resume(config, directory) -> tuple[checkpoints.RunCheckpoint, int]:
    """What a training start does: a fresh model (other seed) restores the directory."""
    fresh = compile_model(dataclasses.replace(config, seed=99))
    opened = checkpoints.RunCheckpoint(fresh, directory)
    return opened, opened.restore_latest()


def aside(directory) -> list[str]:
    return sorted(p.name for p in (directory / "damaged").iterdir())


def test_a_write_killed_midway_leaves_the_previous_checkpoint_usable(tmp_path, config):
    model = compile_model(config)
    saved_at(model, tmp_path, 6)  # ckpt-6, listed in the state file
    # What kills at different moments of writing a checkpoint leave behind:
    # during the data write: TensorFlow's temporary shard directory, half written;
    (tmp_path / "ckpt-12_temp").mkdir()
    (tmp_path / "ckpt-12_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 100)
    # after the data file was renamed, before its index: a data file without index.
    (tmp_path / "ckpt-18.data-00000-of-00001").write_bytes(b"\1" * 100)
    state_before = (tmp_path / "checkpoint").read_text()

    resumed, step = resume(config, tmp_path)
    assert step == 6
    assert aside(tmp_path) == ["ckpt-12_temp", "ckpt-18.data-00000-of-00001"]  # moved, not deleted
    assert (tmp_path / "damaged" / "ckpt-18.data-00000-of-00001").read_bytes() == b"\1" * 100
    assert (tmp_path / "checkpoint").read_text() == state_before  # it was right: untouched
    np.testing.assert_array_equal(resumed.model.get_weights()[0], model.get_weights()[0])
    resumed.model.optimizer.iterations.assign(12)  # as if trained on to step 12
    assert resumed.save().endswith("ckpt-12")
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-12")


def test_a_complete_checkpoint_the_state_file_does_not_name_yet_is_resumed(tmp_path, config):
    """Killed after both files of ckpt-24 were written, before the state file named it."""
    model = compile_model(config)
    saved_at(model, tmp_path, 6)
    state_before = (tmp_path / "checkpoint").read_text()
    saved_at(model, tmp_path, 24)
    (tmp_path / "checkpoint").write_text(state_before)
    assert resume(config, tmp_path)[1] == 24
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-24")


@pytest.mark.parametrize("state", ["deleted", "garbage", "empty", "names a deleted checkpoint"])
def test_without_a_usable_state_file_every_intact_checkpoint_is_kept_and_the_newest_resumed(
        tmp_path, state, config):
    model = compile_model(config)
    saved_at(model, tmp_path, 250, 300, 350)
    files_before = sorted(p.name for p in tmp_path.glob("ckpt-*"))
    if state == "deleted":
        (tmp_path / "checkpoint").unlink()
    elif state == "garbage":
        (tmp_path / "checkpoint").write_bytes(b"\x00\xffnot { a proto")
    elif state == "empty":
        (tmp_path / "checkpoint").write_text("")
    else:
        (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-400"\n'
                                             'all_model_checkpoint_paths: "ckpt-400"\n')
    opened, step = resume(config, tmp_path)
    assert step == 350
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == files_before  # nothing deleted
    assert not (tmp_path / "damaged").exists()
    state_now = tf.train.get_checkpoint_state(str(tmp_path))
    assert [checkpoints.step_of(p) for p in state_now.all_model_checkpoint_paths] == [250, 300, 350]
    # The rewritten state keeps the retention working: the next save drops the oldest.
    opened.model.optimizer.iterations.assign(400)
    opened.save()
    assert sorted(checkpoints.step_of(str(p)[:-len(".index")]) for p in tmp_path.glob("*.index")) == [300, 350, 400]


def truncate(path, keep_bytes=100):
    path.write_bytes(path.read_bytes()[:keep_bytes])


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("truncated .data", "does not read back"),
        ("flipped byte in .data", "does not read back"),
        ("deleted .data", "its .data file is missing"),
        ("deleted .index", "its .index file is missing"),
        ("truncated .index", "does not read back"),
    ],
)
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_run_falls_back(
        tmp_path, damage, reason, caplog, config):
    model = compile_model(config)
    saved_at(model, tmp_path, 10, 20)
    data, index = tmp_path / "ckpt-20.data-00000-of-00001", tmp_path / "ckpt-20.index"
    damaged_bytes = {
        "truncated .data": lambda: truncate(data),
        "flipped byte in .data": lambda: data.write_bytes(
            data.read_bytes()[:200] + bytes([data.read_bytes()[200] ^ 0xFF]) + data.read_bytes()[201:]),
        "deleted .data": data.unlink,
        "deleted .index": index.unlink,
        "truncated .index": lambda: truncate(index, 40),
    }
    damaged_bytes[damage]()
    left = sorted(p.name for p in tmp_path.glob("ckpt-20*"))

    with caplog.at_level("WARNING"):
        _, step = resume(config, tmp_path)
    assert step == 10
    assert aside(tmp_path) == left  # set aside, not deleted
    assert reason in caplog.text and "ckpt-20" in caplog.text
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-10")


def test_restore_model_reads_the_newest_intact_checkpoint_and_moves_nothing(
        tmp_path, caplog, config, data_record):
    model = trained_model(config)
    run_record.write_run(tmp_path, config, data_record("x"))
    directory = checkpoints.checkpoint_dir(tmp_path)
    saved_at(model, directory, 10, 20)
    truncate(directory / "ckpt-20.data-00000-of-00001")
    with caplog.at_level("WARNING"):
        restored, facts = checkpoints.restore_model(str(tmp_path))
    assert facts.step == 10 and facts.checkpoint.endswith("ckpt-10")
    assert "Skipping" in caplog.text and "ckpt-20.data-00000-of-00001" in caplog.text
    assert (directory / "ckpt-20.data-00000-of-00001").exists() and not (directory / "damaged").exists()
    x = next(iter(binary_batches()))
    np.testing.assert_allclose(restored(x), model(x), atol=1e-6)
    with pytest.raises(checkpoints.NoCheckpoint, match="ckpt-20: it does not read back"):
        checkpoints.restore_model(str(tmp_path), str(directory / "ckpt-20"))


def test_restore_model_says_what_is_missing(tmp_path, config, data_record):
    with pytest.raises(checkpoints.NotARunDirectory, match="not a tfbvae run directory"):
        checkpoints.restore_model(str(tmp_path))
    run_record.write_run(tmp_path, config, data_record("x"))
    with pytest.raises(checkpoints.NoCheckpoint, match="has no intact checkpoint"):
        checkpoints.restore_model(str(tmp_path))
    assert checkpoints.NoCheckpoint.exit_code == 2  # bad input for the apps


def test_event_files_are_trimmed_back_to_the_resumed_step(tmp_path):
    log_dir = tmp_path / "train"
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for step in range(1, 11):
            tf.summary.scalar("loss", float(step), step=step)
            if step % 4 == 0:
                tf.summary.image("picture", np.zeros((1, 4, 4, 3), np.uint8), step=step)
    writer.close()
    (path,) = event_files.event_file_paths(log_dir)
    with open(path, "ab") as f:
        f.write(b"\x30\x00\x00\x00\x00\x00\x00\x00torn")  # a record cut short by a kill

    assert event_files.trim_event_files(log_dir, 6) == 5  # losses 7..10 and the picture at 8
    assert event_files.read_scalars(log_dir) == {"loss": [(s, float(s)) for s in range(1, 7)]}
    assert event_files.image_steps(log_dir) == {"picture": [4]}
    assert event_files.trim_event_files(log_dir, 6) == 0  # nothing left to trim: untouched

    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(str(log_dir))
    accumulator.Reload()
    assert [e.step for e in accumulator.Tensors("loss")] == list(range(1, 7))
