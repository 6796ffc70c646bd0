"""run.json and flags.txt: records in today's format (format 1) read back typed and are written
back unchanged; settings and records refuse what cannot be trained with, in one line."""

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tfbvae.training import run_dir as layout
from tfbvae.training import run_record
from tfbvae.training.run_record import DataRecord, RunFacts, RunRecordError
from tfbvae.training.settings import MODEL_SETTINGS, Settings, SettingsError

OLD_RUN = Path(__file__).resolve().parents[1] / "testdata" / "run_v1"


def test_a_format_1_run_json_reads_typed_and_writes_back_the_same_json(tmp_path):
    shutil.copytree(OLD_RUN, tmp_path / "run", ignore=shutil.ignore_patterns("checkpoints", "logs"))
    on_disk = json.loads((tmp_path / "run" / layout.RUN_FILE).read_text())
    record = run_record.read_run(tmp_path / "run")
    assert record.settings.steps == 10 and record.settings.gamma == 1000.0
    assert record.settings.model_name == "dsprites_capacity" and record.latent_dim == 10
    assert record.data.source == "dsprites-rendered (tfbvae renderer v1)"
    assert record.data.image_shape == (64, 64, 1) and record.data.validation_images_used == 8
    assert record.to_json() == on_disk
    assert Settings.from_flags_file(tmp_path / "run" / layout.FLAGS_FILE) == record.settings

    rewritten = run_record.write_run(tmp_path / "run", record.settings, record.data)
    again = json.loads((tmp_path / "run" / layout.RUN_FILE).read_text())
    assert {k: v for k, v in again.items() if k != "updated"} == {
        k: v for k, v in on_disk.items() if k != "updated"}
    assert rewritten.created == on_disk["created"]
    assert (tmp_path / "run" / layout.FLAGS_FILE).read_text() == (OLD_RUN / layout.FLAGS_FILE).read_text()


def test_records_without_the_fields_later_versions_added_still_read(tmp_path):
    """Studies' runs were written before the data record had ``validation_images_used``; a
    setting this tfbvae no longer has is ignored, one it added takes its default."""
    record = json.loads((OLD_RUN / layout.RUN_FILE).read_text())
    del record["data"]["validation_images_used"], record["flags"]["jit_compile"]
    record["flags"]["retired_flag"] = 3
    (tmp_path / layout.RUN_FILE).write_text(json.dumps(record))
    read = run_record.read_run(tmp_path)
    assert read.data.validation_images_used is None and read.settings.jit_compile is False
    assert "validation_images_used" not in read.data.to_json()


@pytest.mark.parametrize("change, message", [
    (lambda r: r["data"].pop("split_seed"), "the data record lacks split_seed"),
    (lambda r: r["flags"].update(beta=-1.0), "--beta must be >= 0"),
    (lambda r: r.update(format=2), "has format 2; this tfbvae reads format 1"),
])
def test_a_record_that_cannot_be_used_is_refused_in_one_line(tmp_path, change, message):
    record = json.loads((OLD_RUN / layout.RUN_FILE).read_text())
    change(record)
    (tmp_path / layout.RUN_FILE).write_text(json.dumps(record))
    with pytest.raises(RunRecordError, match=message) as refused:
        run_record.read_run(tmp_path)
    assert "\n" not in str(refused.value) and str(tmp_path / layout.RUN_FILE) in str(refused.value)


def test_settings_that_would_change_the_model_are_refused_training_settings_are_not(tmp_path):
    old = Settings(run_dir=str(tmp_path))
    assert run_record.check_resumable(old, dataclasses.replace(old, steps=200), tmp_path) == [
        "steps: 100000 -> 200"]
    with pytest.raises(RunRecordError, match="--latent_dim: the run has 10, the new setting is 4"):
        run_record.check_resumable(old, dataclasses.replace(old, latent_dim=4), tmp_path)
    assert {"network", "latent_dim", "objective", "beta", "gamma", "seed"} <= set(MODEL_SETTINGS)
    assert not {"steps", "learning_rate", "c_max", "run_dir"} & set(MODEL_SETTINGS)


def test_settings_derive_names_check_themselves_and_know_what_applies():
    settings = Settings(objective="beta", beta=4.0)
    assert (settings.model_name, settings.run_dir) == ("dsprites_beta", "runs/dsprites_beta")
    assert settings.inapplicable() == {"gamma", "c_max", "c_stop_steps", "gaussian_sigma"}
    assert "--gamma" not in settings.flagfile_text() and "--beta=4.0" in settings.flagfile_text()
    with pytest.raises(SettingsError, match="--image_size must be 64"):
        Settings(image_size=128)
    with pytest.raises(SettingsError, match="dSprites images have one channel"):
        Settings(channels=3)
    assert Settings.from_json(settings.to_json()) == settings


def test_the_settings_the_record_and_the_layout_load_no_tensorflow():
    code = ("import sys, tfbvae.training.run_record, tfbvae.training.tags; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_a_data_record_round_trips():
    data = DataRecord.from_json(json.loads((OLD_RUN / layout.RUN_FILE).read_text())["data"])
    assert DataRecord.from_json(data.to_json()) == data


PRETRAINED = Path(__file__).resolve().parents[2] / "exported_models" / "dsprites_pretrained"


def test_run_facts_read_the_shipped_export_typed_and_write_back_its_json_unchanged():
    metadata = json.loads((PRETRAINED / "encoder" / "1" / "assets.extra" / "tfbvae_metadata.json").read_text())
    facts = RunFacts.from_json(metadata["run"])
    assert facts.step == facts.settings.steps >= 20000 and facts.latent_dim == 10
    assert facts.data_source == facts.data.source and facts.data.dataset == "dsprites"
    assert facts.kl_per_dim == tuple(metadata["kl_per_dim"]) and facts.model_name == "dsprites_hinge"
    written = facts.to_json()
    assert written == metadata["run"] and list(written) == list(metadata["run"])  # keys in order


def test_run_facts_write_what_each_builder_wrote():
    settings, data = Settings(), DataRecord.from_json(json.loads((OLD_RUN / layout.RUN_FILE).read_text())["data"])
    # The training's export: kl_per_dim written even when not recorded (null).
    assert RunFacts.of_run(settings, data, 5).to_json() == {
        "flags": settings.to_json(), "step": 5, "data_source": data.source,
        "latent_dim": settings.latent_dim, "kl_per_dim": None, "data": data.to_json()}
    # A .keras export: what is known, nothing else; a foreign SavedModel: nothing.
    keras_facts = RunFacts(source="/m.keras", latent_dim=3, step=2)
    assert keras_facts.to_json() == {"source": "/m.keras", "latent_dim": 3, "step": 2}
    assert RunFacts.from_json(keras_facts.to_json()) == keras_facts
    assert RunFacts.from_json(None) == RunFacts() and RunFacts().model_name is None
    with pytest.raises(ValueError, match="data record lacks"):
        RunFacts.from_json({"data": {"dataset": "dsprites"}})
