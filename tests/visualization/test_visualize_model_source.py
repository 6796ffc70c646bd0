"""The model behind --model of the evaluate and visualize apps: an export opened from any of
its paths (latest version), a served copy of an encoder, a foreign SavedModel, and errors."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

from tfbvae.evaluation import representation
from tfbvae.serving.export import export_model, kl_per_dim
from tfbvae.trained_model import ModelSourceError, open_model

LATENT_DIM, UNUSED = 4, 2  # the test model's latents; latent UNUSED carries nothing

NAME = "tiny"


@pytest.fixture(scope="module")
def exported(tmp_path_factory, model_with_an_unused_latent, sprite_images):
    """Version 1 without a recorded KL, version 2 with the KL measured at export."""
    model = model_with_an_unused_latent(LATENT_DIM, UNUSED)
    base = tmp_path_factory.mktemp("exported_models")
    export_model(model, str(base), NAME, {"step": 5, "data_source": "test sprites"})
    export_model(model, str(base), NAME, {"step": 10, "data_source": "test sprites"},
                 kl_images=sprite_images(16))
    return model, base


@pytest.mark.parametrize("relative, version", [
    (NAME, 2), (f"{NAME}/encoder", 2), (f"{NAME}/encoder/2", 2), (f"{NAME}/decoder/2", 2),
    (f"{NAME}/encoder/1", 1)])
def test_an_export_opens_from_any_of_its_paths(exported, relative, version):
    _, base = exported
    source = open_model(base / relative)
    assert source.kind == "export" and source.version == version
    assert source.encoder_dir == base / NAME / "encoder" / str(version)
    assert source.decoder_dir == base / NAME / "decoder" / str(version)
    assert source.image_shape == (64, 64, 1) and source.latent_dim == LATENT_DIM
    assert source.step == {1: 5, 2: 10}[version] and source.data_source == "test sprites"


def test_an_export_encodes_and_decodes_as_the_model_does(exported, sprite_images):
    model, base = exported
    source = open_model(base / NAME)
    images = sprite_images(5)  # uint8, as the project's pipelines give them
    mean, log_var = source.encode(images)
    expected_mean, expected_log_var = (np.asarray(t) for t in model.encode(images))
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(log_var, expected_log_var, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(representation.of_model(source, batch_size=2)(images), expected_mean,
                               rtol=1e-4, atol=1e-5)
    z = np.random.RandomState(0).standard_normal((3, LATENT_DIM)).astype(np.float32)
    np.testing.assert_allclose(source.decode_images(z), np.asarray(model.decode_images(z)),
                               rtol=1e-4, atol=1e-5)


def test_kl_comes_from_the_export_metadata_else_is_measured_on_the_images(exported, sprite_images):
    model, base = exported
    recorded, where = open_model(base / NAME).kl_per_dim()
    assert where.startswith("export metadata")
    np.testing.assert_allclose(recorded, kl_per_dim(model, sprite_images(16)), rtol=1e-5)
    assert recorded[UNUSED] == pytest.approx(0.0, abs=1e-6)

    unrecorded = open_model(base / NAME / "encoder" / "1")
    with pytest.raises(ModelSourceError, match="records no KL per dimension"):
        unrecorded.kl_per_dim()
    measured, where = unrecorded.kl_per_dim(sprite_images(8))
    assert where.startswith("measured on 8 pictured images")
    np.testing.assert_allclose(measured, kl_per_dim(model, sprite_images(8)), rtol=1e-4, atol=1e-7)


def test_the_identity_names_version_step_checksums_and_metadata(exported):
    _, base = exported
    identity = open_model(base / NAME).identity()
    assert identity["kind"] == "export" and identity["version"] == 2 and identity["step"] == 10
    assert identity["model_name"] == NAME and identity["metadata"]["part"] == "encoder"
    assert set(identity["saved_model_checksums"]) == {"encoder", "decoder"}
    assert all(value.isdigit() for value in identity["saved_model_checksums"].values())


def test_a_served_copy_of_an_encoder_alone_is_evaluable_but_cannot_decode(exported, tmp_path, sprite_images):
    _, base = exported
    copy = tmp_path / "served" / "encoder_copy"
    shutil.copytree(base / NAME / "encoder" / "2", copy)
    source = open_model(copy)
    assert source.version == 2 and source.decoder_dir is None
    assert representation.of_model(source)(sprite_images(2)).shape == (2, LATENT_DIM)
    with pytest.raises(ModelSourceError, match="has no exported decoder"):
        source.decode_images(np.zeros((1, LATENT_DIM), np.float32))


class _ForeignEncoder(tf.Module):
    """A SavedModel tfbvae did not write: images [None, 8, 8, 1] -> mean, log_var."""

    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(np.random.RandomState(0).normal(size=(64, 3)), dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec((None, 8, 8, 1), tf.float32, "images")])
    def serve(self, images):
        mean = tf.reshape(images, (-1, 64)) @ self.kernel
        return {"mean": mean, "log_var": tf.zeros_like(mean)}


def test_any_encoder_saved_model_is_read_from_its_signature(tmp_path):
    module = _ForeignEncoder()
    tf.saved_model.save(module, str(tmp_path / "foreign"), signatures={"serving_default": module.serve})
    source = open_model(tmp_path / "foreign")
    assert source.kind == "export" and source.metadata == {} and source.version is None
    assert source.image_shape == (8, 8, 1) and source.latent_dim == 3
    images = np.random.RandomState(1).uniform(size=(4, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(representation.of_model(source)(images),
                               images.reshape(4, 64) @ module.kernel.numpy(), rtol=1e-5)


def test_paths_that_hold_no_model_are_refused_with_what_was_expected(exported, tmp_path):
    _, base = exported
    with pytest.raises(ModelSourceError, match="does not exist: pass a training run directory"):
        open_model(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("not a model")
    with pytest.raises(ModelSourceError, match="is a file"):
        open_model(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelSourceError, match="is not a model: expected a training run directory"):
        open_model(tmp_path / "empty")
    with pytest.raises(ModelSourceError, match=f"export base holding several models: pass one of .*{NAME}"):
        open_model(base)
    with pytest.raises(ModelSourceError, match="--checkpoint picks a checkpoint of a run directory"):
        open_model(base / NAME, checkpoint="ckpt-10")
