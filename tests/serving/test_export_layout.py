"""The export tree: versions, atomic renames (also under SIGKILL), metadata, models.config."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.divergences import gaussian_kl_per_dim
from tfbvae.model.networks import build_networks
from tfbvae.model.objectives import CapacityObjective
from tfbvae.serving import export
from tfbvae.serving.export import export_model, read_metadata
from tfbvae.serving.models_config import PARTS, served_models, write_models_config


@pytest.fixture(scope="module")
def model():
    vae = BetaVAE(*build_networks("burgess", (64, 64, 1), 3), objective=CapacityObjective(1000.0), seed=0)
    vae.capacity.assign(12.5)
    return vae


def visible(base, name: str = "m") -> dict:
    """What a server watching ``base`` sees: each part's entries, hidden ones left out."""
    return {part: sorted(e for e in os.listdir(base / name / part) if not e.startswith("."))
            for part in PARTS}


def images(n: int, seed: int = 0) -> np.ndarray:
    return ((np.random.default_rng(seed).random((n, 64, 64, 1)) > 0.8) * 255).astype(np.uint8)


def test_versions_increment_and_an_existing_version_is_never_overwritten(model, tmp_path):
    first = export_model(model, str(tmp_path), "m")
    assert first["version"] == 1
    # Someone else's version 2 of the encoder only: the next export takes 3 for both parts.
    theirs = tmp_path / "m" / "encoder" / "2"
    theirs.mkdir()
    (theirs / "saved_model.pb").write_bytes(b"theirs")
    second = export_model(model, str(tmp_path), "m")
    assert second["version"] == 3
    assert (theirs / "saved_model.pb").read_bytes() == b"theirs"
    assert visible(tmp_path) == {"encoder": ["1", "2", "3"], "decoder": ["1", "3"]}
    for part in PARTS:
        assert read_metadata(second[part])["version"] == 3
        assert read_metadata(second[part])["part"] == part
        assert second[part] == str(tmp_path / "m" / part / "3")
    assert 'name: "m_encoder"' in open(second["models_config"]).read()


@pytest.mark.parametrize("taken_by_other", PARTS)
def test_a_number_taken_by_a_concurrent_export_moves_both_parts_to_the_next(tmp_path, taken_by_other):
    """The race: another export renames its version 1 in after this one chose 1."""
    dirs = {part: tmp_path / part for part in PARTS}
    temporaries = {}
    for part in PARTS:
        dirs[part].mkdir()
        temporaries[part] = dirs[part] / f".tmp-export-{os.getpid()}-x"
        temporaries[part].mkdir()
        (temporaries[part] / "mine").write_text(part)
    written = []

    def write_metadata(directory, part, version):
        written.append((part, version))
        if len(written) == 1:  # the other export wins number 1 now
            (dirs[taken_by_other] / "1").mkdir()
            (dirs[taken_by_other] / "1" / "theirs").write_text("x")

    version = export._publish({p: str(d) for p, d in dirs.items()},
                              {p: str(t) for p, t in temporaries.items()}, write_metadata)
    assert version == 2
    assert written == [("encoder", 1), ("decoder", 1), ("encoder", 2), ("decoder", 2)]
    for part in PARTS:
        assert (dirs[part] / "2" / "mine").read_text() == part
        assert not temporaries[part].exists()
    assert (dirs[taken_by_other] / "1" / "theirs").exists()
    other = "decoder" if taken_by_other == "encoder" else "encoder"
    assert not (dirs[other] / "1").exists()  # given back, not left half-paired


def test_a_failed_export_leaves_no_version_and_no_temporary(model, tmp_path):
    circular = {}
    circular["itself"] = circular  # fails in json.dump, after both SavedModels are written
    with pytest.raises(ValueError, match="Circular reference"):
        export_model(model, str(tmp_path), "m", metadata=circular)
    for part in PARTS:
        assert os.listdir(tmp_path / "m" / part) == []


# The export in the subprocess, stopped between writing both versions and renaming them into
# place (its most delicate moment) by a test-side wrapper of that step, so that the SIGKILL
# lands there every time.
KILLED_EXPORT = """
import sys
import time
import tfbvae
from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.networks import build_networks
from tfbvae.serving import export

rename_into_place = export._rename_into_place

def paused(*args):
    time.sleep(60)
    return rename_into_place(*args)

export._rename_into_place = paused
export.export_model(BetaVAE(*build_networks("burgess", (64, 64, 1), 3)), sys.argv[1], "m", {"killed": True})
"""


def test_sigkill_half_way_leaves_no_visible_partial_version(model, tmp_path):
    process = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Meanwhile a complete version 1 (whichever export picks number 1 first, only this
        # one renames it into place).
        export_model(model, str(tmp_path), "m")
        deadline = time.monotonic() + 120
        written = []
        while len(written) < 2:  # both versions complete in their temporary directories
            assert process.poll() is None, "the export process ended before it was killed"
            assert time.monotonic() < deadline, "the export did not reach its rename"
            time.sleep(0.2)
            written = [d for part in PARTS for d in (tmp_path / "m" / part).glob(".tmp-export-*")
                       if (d / export.METADATA_PATH).exists()]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert visible(tmp_path) == {"encoder": ["1"], "decoder": ["1"]}
    for part in PARTS:  # the version a server sees is whole
        loaded = tf.saved_model.load(str(tmp_path / "m" / part / "1"))
        assert "serving_default" in loaded.signatures
    after = export_model(model, str(tmp_path), "m")
    assert after["version"] == 2
    for part in PARTS:  # the dead export's temporary directories are gone
        assert sorted(os.listdir(tmp_path / "m" / part)) == ["1", "2"]


def test_metadata_says_what_the_served_model_is(model, tmp_path):
    kl_images = images(20)
    run = {"flags": {"objective": "capacity", "gamma": np.float32(1000.0)}, "step": 1234,
           "data_source": "rendered dSprites", "latent_dim": 3}
    written = export_model(model, str(tmp_path), "m", run, kl_images=kl_images)
    meta = read_metadata(written["encoder"])
    assert meta == json.load(open(written["encoder_metadata"]))
    mean, log_var = model.encode(kl_images)
    np.testing.assert_allclose(meta["kl_per_dim"], np.mean(gaussian_kl_per_dim(mean, log_var), axis=0), rtol=1e-5)
    assert meta["kl_per_dim_source"] == "measured on kl_images at export"
    assert meta["run"] == {**run, "flags": {"objective": "capacity", "gamma": 1000.0}}
    assert (meta["model_name"], meta["served_name"], meta["version"]) == ("m", "m_encoder", 1)
    assert meta["image_shape"] == [64, 64, 1] and meta["latent_dim"] == 3
    assert meta["capacity"] == 12.5
    assert meta["objective"]["class_name"] == "CapacityObjective"
    assert meta["likelihood"]["class_name"] == "BernoulliLikelihood"
    assert meta["image_bytes_crop"] == "largest centred square"
    assert set(meta["versions"]) == {"tfbvae", "tensorflow", "keras", "python"}
    assert meta["signatures"]["encoder"]["encode_image_bytes"]["inputs"] == {
        "image_bytes": {"dtype": "string", "shape": [-1]}}
    assert meta["signatures"]["decoder"]["serving_default"]["outputs"] == {
        "images": {"dtype": "float32", "shape": [-1, 64, 64, 1]},
        "logits": {"dtype": "float32", "shape": [-1, 64, 64, 1]}}
    decoder_meta = read_metadata(written["decoder"])
    assert {k: v for k, v in decoder_meta.items() if k not in ("part", "served_name")} == {
        k: v for k, v in meta.items() if k not in ("part", "served_name")}


def test_metadata_reads_back_typed_and_refuses_another_format(model, tmp_path):
    written = export_model(model, str(tmp_path), "m", {"step": 7})
    described = export.ExportMetadata.read(written["encoder"])
    assert described.to_record() == {**read_metadata(written["encoder"]), "image_shape": (64, 64, 1)}
    assert (described.part, described.version, described.run) == ("encoder", 1, {"step": 7})
    foreign = tmp_path / "foreign"
    (foreign / "assets.extra").mkdir(parents=True)
    (foreign / export.METADATA_PATH).write_text(json.dumps({"format": "other/2", "part": "encoder"}))
    with pytest.raises(export.ExportMetadataError, match="is not tfbvae-export/1 metadata .*re-export"):
        export.ExportMetadata.read(foreign)


def test_kl_from_a_dataset_equals_kl_from_the_array(model):
    kl_images = images(10, seed=1)
    dataset = tf.data.Dataset.from_tensor_slices((kl_images, np.zeros(10))).batch(4)
    np.testing.assert_allclose(export.kl_per_dim(model, dataset), export.kl_per_dim(model, kl_images),
                               rtol=1e-4, atol=1e-8)
    with pytest.raises(ValueError, match="no image"):
        export.kl_per_dim(model, kl_images[:0])


def test_without_kl_images_the_metadata_kl_is_kept(model, tmp_path):
    written = export_model(model, str(tmp_path), "m", {"kl_per_dim": np.array([1.0, 0.0, 2.5])})
    meta = read_metadata(written["decoder"])
    assert meta["kl_per_dim"] == [1.0, 0.0, 2.5]
    assert meta["kl_per_dim_source"] == "metadata['kl_per_dim']"


def test_celeba_runs_export_their_crop_for_image_bytes():
    from tfbvae.data.pipeline import image_crop

    assert image_crop("celeba") == 148
    assert image_crop("dsprites") is None and image_crop("image_folder") is None


def test_models_config_serves_every_exported_model(tmp_path):
    for name in ("first", "second"):
        for part in PARTS:
            (tmp_path / name / part / "1").mkdir(parents=True)
    (tmp_path / ".hidden" / "encoder").mkdir(parents=True)  # not a model name: left out
    path = write_models_config(str(tmp_path))
    assert path == os.path.join(os.path.realpath(tmp_path), "models.config")
    base = os.path.realpath(tmp_path)
    expected = [(f"{name}_{part}", os.path.join(base, name, part))
                for name in ("first", "second") for part in PARTS]
    assert served_models(str(tmp_path)) == expected
    text_format = pytest.importorskip("google.protobuf.text_format")
    config_pb2 = pytest.importorskip(
        "tensorflow_serving.config.model_server_config_pb2",
        reason="tensorflow-serving-api is not installed (pip install --no-deps tensorflow-serving-api)")
    config = text_format.Parse(open(path).read(), config_pb2.ModelServerConfig())
    assert [(c.name, c.base_path, c.model_platform) for c in config.model_config_list.config] == [
        (name, path, "tensorflow") for name, path in expected]


@pytest.mark.parametrize("name", ["", "a/b", "../up", "has space", "_hidden"])
def test_model_names_that_cannot_be_served_are_refused(model, tmp_path, name):
    with pytest.raises(ValueError, match="model_name"):
        export_model(model, str(tmp_path), name)
    assert os.listdir(tmp_path) == []
