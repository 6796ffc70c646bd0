"""A run directory in the states users leave it in: run.json lost, no export after a stop, a
held-out split smaller than --validation_steps asks for."""

import dataclasses
import json
import shutil

import pytest

from tfbvae import errors
from tfbvae.training import checkpoints
from tfbvae.training import event_files
from tfbvae.training import run_record
from tfbvae.training import train as training

ARGS = ("--steps=20", "--log_every=10", "--checkpoint_every=10", "--validate_every=10",
        "--image_every=10")


def test_a_run_without_run_json_resumes_when_its_flags_file_agrees(tmp_path, caplog, tiny_config):
    config = tiny_config(tmp_path / "run", tmp_path / "data", *ARGS)
    training.train(config)
    (tmp_path / "run" / "run.json").unlink()
    with caplog.at_level("WARNING"):
        resumed = training.train(dataclasses.replace(config, steps=30))
    assert (resumed.start_step, resumed.step) == (20, 30)
    assert "run.json is missing: checking the settings against" in caplog.text
    assert run_record.read_run(tmp_path / "run").settings.steps == 30  # written again


def test_a_run_without_run_json_refuses_settings_its_flags_file_contradicts(tmp_path, tiny_config):
    config = tiny_config(tmp_path / "run", tmp_path / "data", *ARGS)
    training.train(config)
    (tmp_path / "run" / "run.json").unlink()
    with pytest.raises(run_record.RunRecordError, match="--latent_dim: the run has 10, the new setting is 6"):
        training.train(dataclasses.replace(config, latent_dim=6, steps=30))


def test_a_run_without_run_json_or_flags_file_is_refused_not_guessed(tmp_path, tiny_config):
    config = tiny_config(tmp_path / "run", tmp_path / "data", *ARGS)
    training.train(config)
    (tmp_path / "run" / "run.json").unlink()
    (tmp_path / "run" / "flags.txt").unlink()
    with pytest.raises(run_record.RunRecordError, match="has checkpoints but neither run.json nor flags.txt") as refused:
        training.train(dataclasses.replace(config, steps=30))
    assert refused.value.exit_code == errors.EXIT_BAD_INPUT
    assert checkpoints.newest_intact(tmp_path / "run").name == "ckpt-20"  # untouched


def test_a_finished_run_without_its_export_is_exported_when_run_again(tmp_path, tiny_config):
    config = tiny_config(tmp_path / "run", tmp_path / "data", *ARGS, "--export")
    first = training.train(config)
    encoder_dir = tmp_path / "run" / "exported_models" / "dsprites_capacity" / "encoder"
    assert first.export and sorted(p.name for p in encoder_dir.iterdir()) == ["1"]
    again = training.train(config)  # its export is of this step: nothing to do
    assert again.export is None and sorted(p.name for p in encoder_dir.iterdir()) == ["1"]

    # Stopped after the last checkpoint, before the export (e.g. SIGTERM during it).
    shutil.rmtree(tmp_path / "run" / "exported_models")
    exported = training.train(config)
    assert exported.export is not None and exported.start_step == exported.step == 20
    meta = json.loads(next(encoder_dir.rglob("tfbvae_metadata.json")).read_text())
    assert meta["run"]["step"] == 20 and len(meta["kl_per_dim"]) == 10


def test_validation_uses_what_the_split_holds_says_so_once_and_records_it(
        tmp_path, caplog, recwarn, tiny_config):
    # 1024 images, 2 % held out: 20 images, 3 batches of 8; 20 batches asked for.
    config = tiny_config(tmp_path / "run", tmp_path / "data", *ARGS, "--validation_steps=20")
    with caplog.at_level("WARNING"):
        result = training.train(config)
    warnings = [r.getMessage() for r in caplog.records if "--validation_steps" in r.getMessage()]
    assert warnings == ["--validation_steps=20, but the 20 held-out images make 3 batches of 8: "
                        "each validation uses all of them."]
    assert not [w for w in recwarn if "ran out of data" in str(w.message)]  # Keras' warning
    assert result.data.validation_images_used == 20
    assert run_record.read_run(tmp_path / "run").data.validation_images_used == 20
    validation = event_files.read_scalars(tmp_path / "run" / "logs" / "validation")
    assert [s for s, _ in validation["loss"]] == [10, 20]


def test_validation_steps_below_the_split_use_that_many_batches(tmp_path, tiny_config):
    config = tiny_config(tmp_path / "run", tmp_path / "data", *ARGS, "--validation_steps=2")
    result = training.train(config)
    assert result.data.validation_images_used == 16


def test_a_batch_larger_than_the_training_images_is_refused_saying_what_fits(tmp_path, tiny_config):
    config = tiny_config(tmp_path / "run", tmp_path / "data", *ARGS, "--batch_size=4096")
    with pytest.raises(training.DataUnavailable, match=r"--batch_size=4096 is more than the 1004 "
                       r"training images .* use a --batch_size of at most 1004") as refused:
        training.train(config)
    assert refused.value.exit_code == errors.EXIT_BAD_INPUT
