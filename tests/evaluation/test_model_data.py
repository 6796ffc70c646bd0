"""The data a trained model is evaluated and drawn on (tfbvae.evaluation.model_data), and both
apps on a model of another data set than dSprites, without --images."""

import json
import types

import numpy as np
import pytest

from tfbvae import errors
from tfbvae.evaluation.model_data import DataChoice, dataset_of, load_for_model, load_options
from tfbvae.training.run_record import DataRecord, RunFacts
from tfbvae.training.settings import Settings

METRIC_COUNTS = "all.num_train=40,all.num_eval=20,all.batch_size=8"


def model_of(**flags):
    """A trained model as the apps see it: its run's settings and its image shape."""
    settings = Settings.from_json(flags)
    data = DataRecord(settings.dataset, "somewhere", "here", settings.image_shape, 100, 99, 1,
                      64, 0, 0)
    return types.SimpleNamespace(run=RunFacts.of_run(settings, data, 0),
                                 image_shape=settings.image_shape)


SHAPES3D_RUN = dict(dataset="shapes3d", channels=3, data_source="h5",
                    data_path="/data/3dshapes.h5", tfds_data_dir="/tfds", data_dir="/cache")


def test_the_models_own_data_set_is_found_where_its_run_found_it():
    model = model_of(**SHAPES3D_RUN)
    options = load_options(DataChoice(), model)
    assert dataset_of(DataChoice(), model) == "shapes3d"
    assert (options.source, options.path) == ("h5", "/data/3dshapes.h5")
    assert (options.tfds_data_dir, options.data_dir, options.channels) == ("/tfds", "/cache", 3)
    assert options.sample_only and not options.download  # the apps never download


def test_source_and_path_are_one_choice():
    """Given either, neither comes from the run: a tfds source with the run's h5 path would be
    refused for a path the user never typed; a path with the run's source would be ignored."""
    model = model_of(**SHAPES3D_RUN)
    tfds = load_options(DataChoice(source="tfds"), model)
    assert (tfds.source, tfds.path) == ("tfds", None)
    other = load_options(DataChoice(path="/elsewhere/3dshapes.h5"), model)
    assert (other.source, other.path) == ("auto", "/elsewhere/3dshapes.h5")
    assert other.tfds_data_dir == "/tfds"  # the other flags still come from the run


def test_another_data_set_takes_nothing_from_the_run():
    model = model_of(**SHAPES3D_RUN)
    options = load_options(DataChoice(dataset="cars3d"), model)
    assert (options.source, options.path, options.tfds_data_dir, options.data_dir) == (
        "auto", None, None, None)
    assert options.channels == 3  # the model's, for data sets of either kind (image folders)
    no_record = types.SimpleNamespace(run=RunFacts(), image_shape=(64, 64, 1))
    assert dataset_of(DataChoice(), no_record) == "dsprites"  # a foreign SavedModel


def test_a_data_set_of_another_shape_is_refused_with_the_fix():
    model = model_of(dataset="dsprites")
    with pytest.raises(errors.BadInput, match=r"the model takes images shaped \(64, 64, 1\), but "
                       r"color_dsprites images are \(64, 64, 3\): pass the --dataset"):
        load_for_model(DataChoice(dataset="color_dsprites", source="rendered"), model)


def test_a_data_set_that_is_not_here_is_refused_naming_the_flags(tmp_path):
    model = model_of(dataset="cars3d", channels=3, data_path=str(tmp_path / "nowhere"))
    with pytest.raises(errors.BadInput) as refused:
        load_for_model(DataChoice(), model)
    message = str(refused.value)
    assert message.startswith("cannot load the 'cars3d' data set: ")
    assert str(tmp_path / "nowhere") in message and "--data_path" in message
    assert "these apps never download" in message


# -- the apps on a colour-dSprites run ------------------------------------------------------

@pytest.fixture(scope="module")
def color_run(tmp_path_factory, tiny_config):
    """A real 10-step run on colour dSprites (3 channels, rendered, the locatello network)."""
    from tfbvae.training import train as training

    root = tmp_path_factory.mktemp("color")
    config = tiny_config(root / "run", root / "data", "--steps=10", "--latent_dim=4",
                         flagfile="color_dsprites.flags")
    assert training.train(config).step == 10
    return root / "run"


def test_visualize_a_colour_dsprites_run_without_images(color_run, tmp_path):
    from apps import visualize
    from PIL import Image

    status = visualize.main(["visualize.py", f"--model={color_run}", f"--output_dir={tmp_path}",
                             "--what=traversals,reconstructions", "--num_images=4",
                             "--gif_images=1", "--factor_samples=200"])
    assert status == 0
    record = json.loads((tmp_path / "pictures.json").read_text())
    inputs = record["inputs"]
    assert inputs["dataset"] == "color_dsprites" and inputs["from"] == "the run's held-out images"
    assert inputs["source"].startswith("dsprites-rendered") and "color" in inputs["source"]
    run = json.loads((color_run / "run.json").read_text())
    from tfbvae.data.pipeline import split_indices

    _, held_out = split_indices(run["data"]["num_examples"], 0.02, run["data"]["split_seed"])
    assert len(inputs["rows"]) == 4 and set(inputs["rows"]) <= set(held_out.tolist())
    assert {f["factor"] for f in record["latent_factors"]} - {None} <= {
        "shape", "scale", "orientation", "posX", "posY"}
    reconstructions = np.asarray(Image.open(tmp_path / "reconstructions.png").convert("RGB"))
    inputs_row = reconstructions[:64, :64].astype(int)
    assert np.ptp(inputs_row, axis=(0, 1)).max() > 100  # a coloured sprite on black, not grey
    assert (inputs_row[..., 0] != inputs_row[..., 1]).any()


def test_evaluate_a_colour_dsprites_run_on_its_own_data(color_run, tmp_path):
    from apps import evaluate

    status = evaluate.main(["evaluate.py", f"--model={color_run}", f"--output_dir={tmp_path}",
                            "--metrics=beta_vae,mig", f"--override={METRIC_COUNTS}",
                            "--noprogress"])
    assert status == 0
    results = json.loads((tmp_path / "metrics_fast_custom_seed0.json").read_text())
    assert results["dataset"] == "color_dsprites" and results["requested_source"] == "auto"
    assert results["factor_names"] == ["shape", "scale", "orientation", "posX", "posY"]
    assert results["heldout"]["num_images"] == 20 and results["heldout"]["kl"] >= 0
    assert not results["warnings"]  # trained and evaluated on the same source


def test_evaluate_refuses_a_data_set_without_factors_before_loading_it(color_run, tmp_path,
                                                                      monkeypatch, capsys):
    from apps import evaluate
    from tfbvae.data import datasets

    monkeypatch.setattr(datasets, "load", lambda *a, **k: pytest.fail("the data set was loaded"))
    status = evaluate.main(["evaluate.py", f"--model={color_run}", "--dataset=celeba",
                            f"--output_dir={tmp_path}"])
    assert status == errors.EXIT_BAD_INPUT
    assert "celeba has no ground-truth factors to measure disentanglement against: pass " \
           "--dataset=<a data set with factors>" in capsys.readouterr().err


def test_visualize_an_image_folder_run_without_images(tmp_path, tiny_config):
    """A run on a folder of photos (chairs, CelebA: no factors) is drawn from the images its
    run held out, without --images, and without factor labels."""
    from PIL import Image

    from apps import visualize
    from tfbvae.training import train as training

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(100):
        Image.fromarray(rng.integers(0, 256, (72, 72, 3), dtype=np.uint8)).save(folder / f"{k:03d}.png")
    config = tiny_config(tmp_path / "run", tmp_path / "data", "--steps=5", "--latent_dim=3",
                         f"--data_path={folder}", "--validation_fraction=0.1", "--log_every=5",
                         "--validate_every=5", "--image_every=5", "--checkpoint_every=5",
                         "--dsprites_num_images=0", flagfile="chairs.flags")
    assert training.train(config).step == 5
    out = tmp_path / "pictures"
    assert visualize.main(["visualize.py", f"--model={tmp_path / 'run'}", f"--output_dir={out}",
                           "--what=traversals,reconstructions", "--num_images=4",
                           "--gif_images=1"]) == 0
    record = json.loads((out / "pictures.json").read_text())
    assert record["inputs"]["dataset"] == "image_folder" and record["latent_factors"] is None
    assert record["inputs"]["from"] == "the run's held-out images"
    from tfbvae.data.pipeline import split_indices

    assert set(record["inputs"]["rows"]) <= set(split_indices(100, 0.1, 0)[1].tolist())


def test_the_kl_history_of_a_beta_run_has_no_capacity(color_run, tmp_path):
    """A beta objective's run logs C = 0 throughout; its KL curves do not draw it."""
    from tfbvae.trained_model import open_model

    history, capacity, _ = open_model(color_run).kl_history()
    assert sorted(history) == [0, 1, 2, 3] and capacity is None
