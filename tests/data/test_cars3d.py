"""Cars3D from a folder of .mat files: factor order, pre-processing, cache, errors, pipeline,
ground truth, metrics and the flagfile.

The real folder holds 183 car models (17,568 images); these tests write 3 tiny ones with
scipy.io.savemat and shrink the object count (``cars3d.NUM_OBJECTS``, a module-level table the
loader checks the folder against) to 3. Elevation (4) and azimuth (24) keep their real sizes.
Each planted image is random noise drawn from its own (elevation, azimuth, object) cell, so a
row shows exactly one cell's image.
"""

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from absl import flags
from PIL import Image

from apps import train as train_app
from tfbvae.data import datasets, pipeline
from tfbvae.data.datasets import LoadOptions, cars3d
from tfbvae.data.ground_truth import IdentityObservationsData, SourceGroundTruth
from tfbvae.evaluation.metrics import evaluate
from tfbvae.evaluation.metrics.presets import apply_overrides, get_preset

OBJECTS = 3
# Written in this order, numbered by sorted name: car_a -> 0, car_b -> 1, car_c -> 2.
NAMES = ("car_c_mesh.mat", "car_a_mesh.mat", "car_b_mesh.mat")


def planted(elevation: int, azimuth: int, obj: int, size: int = 64) -> np.ndarray:
    return np.random.default_rng([elevation, azimuth, obj, size]).integers(
        0, 256, (size, size, 3), dtype=np.uint8)


def write_car(path: Path, obj: int, size: int = 64, salt: int = 0) -> None:
    """A car's .mat as Reed et al. store it: ``im`` (H, W, 3, 24 azimuths, 4 elevations)."""
    im = np.zeros((size, size, 3, 24, 4), np.uint8)
    for azimuth in range(24):
        for elevation in range(4):
            im[:, :, :, azimuth, elevation] = planted(elevation, azimuth, obj + salt, size)
    scipy.io.savemat(path, {"im": im})


def expected_rows() -> np.ndarray:
    """Every row as the loader must store it: row-major over (elevation, azimuth, object)."""
    return np.stack([planted(e, a, o) for e in range(4) for a in range(24)
                     for o in range(OBJECTS)])


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cars")
    for name in NAMES:
        write_car(root / name, obj=sorted(NAMES).index(name))
    (root / "list.txt").write_text("not a .mat file: ignored")
    return root


@pytest.fixture(autouse=True)
def tiny_grid(monkeypatch):
    monkeypatch.setattr(cars3d, "NUM_OBJECTS", OBJECTS)
    monkeypatch.delenv("DISENTANGLEMENT_LIB_DATA", raising=False)


def load(path, data_dir, **options):
    return datasets.load("cars3d", LoadOptions(path=path, data_dir=data_dir, **options))


def test_rows_are_row_major_over_elevation_azimuth_object_by_sorted_file_name(folder, tmp_path):
    source = load(folder, tmp_path)
    assert datasets.get("cars3d") is cars3d.DATASET
    assert source.layout.names == ("elevation", "azimuth", "object_type")
    assert source.layout.sizes == (4, 24, OBJECTS)
    assert source.factor_names == cars3d.DATASET.factor_names
    assert source.array.dtype == np.uint8 and source.array.shape == (4 * 24 * OBJECTS, 64, 64, 3)
    assert source.complete
    # Single cells by hand: row = elevation * 72 + azimuth * 3 + object.
    np.testing.assert_array_equal(source.array[0], planted(0, 0, 0))
    np.testing.assert_array_equal(source.array[1], planted(0, 0, 1))  # car_b
    np.testing.assert_array_equal(source.array[3], planted(0, 1, 0))
    np.testing.assert_array_equal(source.array[2 * 72 + 17 * 3 + 2], planted(2, 17, 2))  # car_c
    np.testing.assert_array_equal(source.array[3 * 72 + 23 * 3 + 1], planted(3, 23, 1))
    np.testing.assert_array_equal(np.asarray(source.array), expected_rows())


def test_source_string_names_the_folder_the_order_and_the_resize(folder, tmp_path):
    source = load(folder, tmp_path)
    assert source.source == (f"cars3d-mat:{folder.absolute()} (3 car models in file-name "
                             "order, PIL thumbnail (64, 64) LANCZOS)")
    assert source.location == str(folder.absolute())
    assert source.dataset == "cars3d"


def test_larger_renders_are_thumbnailed_with_lanczos(tmp_path, monkeypatch):
    """dlib's thumbnail((64, 64, 3), ANTIALIAS) of a 128x128 render: one LANCZOS resize."""
    monkeypatch.setattr(cars3d, "NUM_OBJECTS", 1)
    root = tmp_path / "cars"
    root.mkdir()
    write_car(root / "car_001_mesh.mat", obj=0, size=128)
    source = load(root, tmp_path / "cache")
    for elevation, azimuth in [(0, 0), (3, 5), (1, 23)]:
        big = Image.fromarray(planted(elevation, azimuth, 0, 128))
        lanczos = np.asarray(big.resize((64, 64), Image.Resampling.LANCZOS))
        box = np.asarray(big.resize((64, 64), Image.Resampling.BOX))
        row = source.array[elevation * 24 + azimuth]
        np.testing.assert_array_equal(row, lanczos)
        assert not np.array_equal(row, box)


def test_cache_is_reused_and_rebuilt_when_a_file_changes(tmp_path, monkeypatch):
    root = tmp_path / "cars"
    root.mkdir()
    for name in NAMES:
        write_car(root / name, obj=sorted(NAMES).index(name))
    first = load(root, tmp_path / "cache")
    entries = list((tmp_path / "cache" / "cars3d").glob("mat-*"))
    assert len(entries) == 1 and (entries[0] / "manifest.json").is_file()
    built = (entries[0] / "data.npy").stat().st_mtime_ns

    real_read = cars3d.read_mesh
    monkeypatch.setattr(cars3d, "read_mesh", lambda path: pytest.fail("cache not reused"))
    again = load(root, tmp_path / "cache")
    np.testing.assert_array_equal(np.asarray(again.array), np.asarray(first.array))
    assert (entries[0] / "data.npy").stat().st_mtime_ns == built

    monkeypatch.setattr(cars3d, "read_mesh", real_read)
    write_car(root / "car_b_mesh.mat", obj=1, salt=100)  # car_b's renders change
    changed = load(root, tmp_path / "cache")
    np.testing.assert_array_equal(changed.array[5 * 3 + 1], planted(0, 5, 101))
    np.testing.assert_array_equal(changed.array[5 * 3 + 0], planted(0, 5, 0))


def test_default_folder_is_disentanglement_lib_data_cars(folder, tmp_path, monkeypatch):
    (tmp_path / "dlib").mkdir()
    link = tmp_path / "dlib" / "cars"
    link.symlink_to(folder, target_is_directory=True)
    monkeypatch.setenv("DISENTANGLEMENT_LIB_DATA", str(tmp_path / "dlib"))
    source = load(None, tmp_path / "cache")
    assert source.location == str(link.absolute())
    np.testing.assert_array_equal(np.asarray(source.array), expected_rows())


def test_missing_folder_errors_say_what_is_expected_and_where_it_is_published(tmp_path,
                                                                              monkeypatch):
    with pytest.raises(FileNotFoundError) as error:
        load(tmp_path / "nowhere", tmp_path)
    assert "nowhere does not exist" in str(error.value)
    assert "car_*_mesh.mat" in str(error.value)
    assert "nips2015-analogy-data.tar.gz" in str(error.value)

    with pytest.raises(FileNotFoundError) as error:
        load(None, tmp_path)
    message = str(error.value)
    assert "$DISENTANGLEMENT_LIB_DATA is not set" in message
    assert "--data_path=/path/to/cars" in message and "scottreed.info" in message

    monkeypatch.setenv("DISENTANGLEMENT_LIB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"\$DISENTANGLEMENT_LIB_DATA/cars .* does not"):
        load(None, tmp_path)

    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match="is not a folder"):
        load(tmp_path / "a_file", tmp_path)


def test_a_folder_with_another_number_of_mat_files_is_refused(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(cars3d, "NUM_OBJECTS", 4)
    with pytest.raises(ValueError) as error:
        load(folder, tmp_path)
    message = str(error.value)
    monkeypatch.setattr(cars3d, "NUM_OBJECTS", OBJECTS)
    assert ("holds 3 .mat files (car_a_mesh.mat, car_b_mesh.mat, car_c_mesh.mat), expected 4"
            in message)
    assert "scottreed.info" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds 0 .mat files, expected 3"):
        load(empty, tmp_path)


@pytest.mark.parametrize("contents, message", [
    ({"images": np.zeros((64, 64, 3, 24, 4), np.uint8)}, "has no 'im' array (it holds ['images'])"),
    ({"im": np.zeros((64, 64, 3, 4, 24), np.uint8)},
     "'im' has shape (64, 64, 3, 4, 24), expected (height, width, 3, 24 azimuths, 4 elevations)"),
    ({"im": np.zeros((64, 64, 3, 24, 4), np.float64)}, "'im' holds float64, expected uint8"),
    ({"im": np.zeros((64, 96, 3, 24, 4), np.uint8)},
     "its 96x64 (width x height) renders thumbnail to 64x43, not 64x64"),
    ({"im": np.zeros((32, 32, 3, 24, 4), np.uint8)}, "thumbnail to 32x32, not 64x64"),
    (None, "cannot read Cars3D file"),
])
def test_malformed_mat_files_are_refused_naming_the_file(tmp_path, monkeypatch, contents, message):
    monkeypatch.setattr(cars3d, "NUM_OBJECTS", 1)
    root = tmp_path / "cars"
    root.mkdir()
    if contents is None:
        (root / "car_001_mesh.mat").write_bytes(b"not a MATLAB file at all" * 10)
    else:
        scipy.io.savemat(root / "car_001_mesh.mat", contents)
    with pytest.raises(ValueError) as error:
        load(root, tmp_path / "cache")
    assert message in str(error.value)
    assert "car_001_mesh.mat" in str(error.value)
    # A failed build leaves no entry that a later load would take for a cache.
    assert not list((tmp_path / "cache" / "cars3d").glob("mat-*"))


def test_other_sources_and_channels_are_refused(folder, tmp_path):
    with pytest.raises(ValueError, match="unknown Cars3D source 'tfds'"):
        load(folder, tmp_path, source="tfds")
    with pytest.raises(ValueError, match="Cars3D images are RGB: use channels=3"):
        load(folder, tmp_path, channels=1)
    assert load(folder, tmp_path, source="files", channels=3).num_examples == 4 * 24 * OBJECTS


def test_pipeline_batches_show_the_cells_of_their_factors(folder, tmp_path):
    train, val, info = pipeline.make_datasets("cars3d", 8, seed=3, validation_fraction=0.1,
                                              with_factors=True, path=folder, data_dir=tmp_path)
    assert info.factors_num_values == (4, 24, OBJECTS) and info.image_shape == (64, 64, 3)
    assert info.source.startswith("cars3d-mat:")
    for images, factors in list(train.take(3)) + list(val.take(1)):
        images, factors = images.numpy(), factors.numpy()
        assert images.dtype == np.uint8 and images.shape[1:] == (64, 64, 3)
        assert factors.shape == (len(images), 3)
        for image, (elevation, azimuth, obj) in zip(images, factors):
            np.testing.assert_array_equal(image, planted(elevation, azimuth, obj))


def test_ground_truth_observations_are_the_planted_images(folder, tmp_path):
    data = SourceGroundTruth(load(folder, tmp_path))
    assert tuple(data.factors_num_values) == (4, 24, OBJECTS)
    assert tuple(data.observation_shape) == (64, 64, 3)
    factors, observations = data.sample(20, np.random.RandomState(0))
    assert observations.dtype == np.float32
    for (elevation, azimuth, obj), observation in zip(factors, observations):
        expected = planted(elevation, azimuth, obj) / np.float32(255)
        np.testing.assert_array_equal(observation, expected)


# A few seconds of metrics: the random codes need no more to show chance, and DCI's cost is its
# trees (100 per class of each factor), whatever the samples.
SMALL_COUNTS = ("beta_vae.num_train=100", "beta_vae.num_eval=50", "factor_vae.num_train=100",
                "factor_vae.num_eval=50", "factor_vae.num_variance_estimate=300",
                "all.batch_size=16", "dci.num_train=100", "dci.num_test=100")


def test_oracle_scores_one_and_a_random_projection_of_the_pixels_scores_near_chance(folder,
                                                                                   tmp_path):
    data = SourceGroundTruth(load(folder, tmp_path))
    top = np.array(data.factors_num_values, np.float32) - 1
    metrics = ["beta_vae", "factor_vae", "dci"]
    oracle_counts = apply_overrides(get_preset("fast"), metrics, SMALL_COUNTS[-2:])
    oracle = evaluate(IdentityObservationsData(data.factors_num_values), lambda x: x / top,
                      metrics, preset=oracle_counts, seed=0)["summary"]
    assert oracle["beta_vae"] == 1.0 and oracle["factor_vae"] == 1.0
    assert oracle["dci"] > 0.99

    weights = np.random.RandomState(0).normal(size=(64 * 64 * 3, 10)).astype(np.float32) / 64
    counts = apply_overrides(get_preset("fast"), metrics, SMALL_COUNTS)
    result = evaluate(data, lambda images: images.reshape(len(images), -1) @ weights, metrics,
                      preset=counts, seed=0)
    assert result["data_source"].startswith("cars3d-mat:")
    chance = result["summary"]
    # Noise pixels carry nothing of the factors: chance is 1/3 for the two classifier scores.
    assert chance["beta_vae"] < 0.6 and chance["factor_vae"] < 0.6
    assert chance["dci"] < 0.15


def test_flagfile_parses_to_cars3d_settings(repo):
    fv = flags.FlagValues()
    train_app.define_flags(fv)
    fv(["train.py", f"--flagfile={repo / 'cars3d.flags'}"])
    settings = train_app.settings_from_flags(fv)
    assert settings.dataset == "cars3d" and settings.channels == 3
    assert (settings.network, settings.latent_dim, settings.likelihood, settings.objective,
            settings.beta) == ("locatello", 10, "bernoulli", "beta", 4.0)
    assert (settings.learning_rate, settings.batch_size, settings.steps) == (1e-4, 64, 300000)
    assert settings.run_dir == "runs/cars3d_beta_locatello"
    lines = (repo / "cars3d.flags").read_text().splitlines()
    for i, line in enumerate(lines):  # each setting follows its source (a comment) or a setting
        if line.startswith("--"):
            assert lines[i - 1].startswith(("#", "--")), f"cars3d.flags:{i + 1} {line}"
