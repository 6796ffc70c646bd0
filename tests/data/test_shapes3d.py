"""Shapes3D (tfbvae.data.datasets.shapes3d) end to end on tiny grids.

The real grid (10 x 10 x 10 x 8 x 4 x 15 = 480,000 images) is far too big for a test: every test
here monkeypatches ``shapes3d.FACTOR_SIZES`` (which the loader reads at load time) to TINY, 144
cells. tfds is ``tfds.testing.mock_data`` yielding a complete tiny grid in shuffled order, and the
h5 source reads a tiny file the test writes. The planted image of a cell is random pixels seeded
by the cell's row-major index (computed here with numpy, not with tfbvae's layout), so a test can
tell exactly which cell a stored row shows.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import flags

from apps import train as train_app
from tfbvae.cli import app_runner
from tfbvae.data import array_cache, pipeline
from tfbvae.data.datasets import LoadOptions
from tfbvae.data.datasets import get as get_dataset
from tfbvae.data.datasets import shapes3d
from tfbvae.data.ground_truth import IdentityObservationsData, SourceGroundTruth
from tfbvae.evaluation.metrics import evaluate

TINY = (2, 3, 2, 2, 2, 3)  # floor_hue, wall_hue, object_hue, scale, shape, orientation
N = int(np.prod(TINY))
FULL = (10, 10, 10, 8, 4, 15)  # disentanglement_lib shapes3d.py L60
# tfds' shapes3d feature names (its builder, L36-41), in disentanglement_lib's factor order.
TFDS_LABELS = ("label_floor_hue", "label_wall_hue", "label_object_hue", "label_scale",
               "label_shape", "label_orientation")
SOURCE = "shapes3d-tfds:3dshapes.h5 v2.0.0"
# Tiny counts for the metrics on the loaded pixels (seconds, not the "fast" preset's minute).
COUNTS = {
    "beta_vae": {"batch_size": 16, "num_train": 100, "num_eval": 100},
    "factor_vae": {"batch_size": 16, "num_train": 100, "num_eval": 100,
                   "num_variance_estimate": 300},
    "dci": {"num_train": 200, "num_test": 100},
}

@pytest.fixture(autouse=True)
def tiny_grid(monkeypatch, tmp_path):
    monkeypatch.setattr(shapes3d, "FACTOR_SIZES", TINY)
    monkeypatch.delenv("DISENTANGLEMENT_LIB_DATA", raising=False)
    monkeypatch.setenv("TFBVAE_DATA_DIR", str(tmp_path / "default-cache"))  # never ~/.cache


def planted(rows) -> np.ndarray:
    """The image of each cell (row-major index): uint8 (n, 64, 64, 3) noise seeded by it."""
    return np.stack([np.random.RandomState(int(r)).randint(0, 256, (64, 64, 3)).astype(np.uint8)
                     for r in np.atleast_1d(rows)])


def cells(rows) -> np.ndarray:
    """The class of each factor of cells ``rows``: int64 (n, 6)."""
    return np.stack(np.unravel_index(np.asarray(rows), TINY), axis=1).astype(np.int64)


def examples(rows) -> dict:
    """tfds-like examples of the cells ``rows`` (in that order)."""
    classes = cells(rows)
    data = {"image": planted(rows)}
    for axis, key in enumerate(TFDS_LABELS):
        data[key] = classes[:, axis]
    return data


SHUFFLED = np.random.RandomState(1).permutation(N)


class MockTfds:
    """``as_dataset``: an ``as_dataset_fn`` for ``tfds.testing.mock_data`` serving ``rows``'
    examples (in that order); ``calls`` counts the datasets made."""

    def __init__(self, rows=SHUFFLED, known_count: bool = True):
        self.rows, self.calls = np.asarray(rows), 0

        def as_dataset(builder, *args, **kwargs):
            self.calls += 1
            assert builder.name == "shapes3d"
            assert set(builder.info.features) >= {"image", *TFDS_LABELS}  # the builder's names
            dataset = tf.data.Dataset.from_tensor_slices(examples(self.rows))
            if not known_count:  # as a generator would: tfds does not know the count
                dataset = dataset.filter(lambda ex: True)
            return dataset

        self.as_dataset = as_dataset


def load_mocked(mock, tmp_path, **options):
    options = {"source": "tfds", "data_dir": tmp_path / "cache", **options}
    with tfds.testing.mock_data(as_dataset_fn=mock.as_dataset):
        return shapes3d.load(LoadOptions(**options))


def check_rows(data) -> None:
    np.testing.assert_array_equal(np.asarray(data.array), planted(np.arange(N)))


# ----------------------------------------------------------------------------------------


def test_tfds_rows_are_placed_in_factor_order_from_the_shuffled_labels(tmp_path):
    data = load_mocked(MockTfds(), tmp_path)
    assert data.dataset == "shapes3d" and data.source == SOURCE
    assert data.array.dtype == np.uint8 and data.array.shape == (N, 64, 64, 3)
    assert isinstance(data.array, np.memmap)  # the cache, not a copy in memory
    assert data.layout.names == shapes3d.FACTOR_NAMES == (
        "floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert data.layout.sizes == TINY and data.factors_num_values == TINY and data.complete
    check_rows(data)
    # Specific cells: row-major, orientation fastest.
    np.testing.assert_array_equal(data.array[1], planted(np.ravel_multi_index((0, 0, 0, 0, 0, 1), TINY))[0])
    np.testing.assert_array_equal(data.array[3], planted(np.ravel_multi_index((0, 0, 0, 0, 1, 0), TINY))[0])
    cell = (1, 2, 0, 1, 0, 2)
    row = ((((1 * 3 + 2) * 2 + 0) * 2 + 1) * 2 + 0) * 3 + 2
    np.testing.assert_array_equal(data.array[row], planted(row)[0])
    np.testing.assert_array_equal(data.layout.classes_of(np.array([row]))[0], cell)


def test_cache_is_reused_and_rebuilt_when_tfds_copy_changes(tmp_path, monkeypatch):
    builds, place = [], shapes3d.place_by_labels
    monkeypatch.setattr(shapes3d, "place_by_labels", lambda *args: builds.append(1) or place(*args))
    first = load_mocked(MockTfds(), tmp_path)
    assert builds == [1]
    second = load_mocked(MockTfds(), tmp_path)
    assert builds == [1]  # read from the cache: tfds' examples not read again
    assert second.source == first.source
    check_rows(second)
    # The prepared copy's files are part of the recipe: a re-prepared copy rebuilds.
    monkeypatch.setattr(shapes3d, "prepared_files", lambda folder: [["shard", 1, 2]])
    check_rows(load_mocked(MockTfds(), tmp_path))
    assert builds == [1, 1]


def test_prepared_files_change_with_the_files(tmp_path):
    assert shapes3d.prepared_files(tmp_path / "absent") == []
    (tmp_path / "shapes3d-train.tfrecord-00000-of-00001").write_bytes(b"abc")
    before = shapes3d.prepared_files(tmp_path)
    assert [entry[:2] for entry in before] == [["shapes3d-train.tfrecord-00000-of-00001", 3]]
    (tmp_path / "shapes3d-train.tfrecord-00000-of-00001").write_bytes(b"abcd")
    assert shapes3d.prepared_files(tmp_path) != before


@pytest.mark.parametrize("rows, known_count, message", [
    (SHUFFLED[:-1], True, f"has {N - 1} examples, expected one for each of the {N} cells"),
    (SHUFFLED[:-1], False, f"{N - 1} labelled examples, expected one for each of the {N} cells"),
    (np.concatenate([SHUFFLED[:-1], SHUFFLED[:1]]), True, "appear twice and others not at all"),
    (np.concatenate([SHUFFLED, SHUFFLED[:1]]), False, f"{N + 1} labelled examples"),
])
def test_incomplete_or_duplicated_grid_is_refused_and_leaves_no_cache(tmp_path, rows, known_count,
                                                                      message):
    with pytest.raises(ValueError, match=message):
        load_mocked(MockTfds(rows, known_count), tmp_path)
    assert not list((tmp_path / "cache" / "shapes3d").glob("*/" + array_cache.MANIFEST_FILE))


def test_labels_outside_the_grid_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(shapes3d, "FACTOR_SIZES", (2, 3, 2, 2, 2, 2))  # 96 cells, 2 orientations
    mock = MockTfds(np.arange(96))  # 96 examples of TINY's cells: orientations 0, 1 and 2
    with pytest.raises(ValueError, match="labels of 'orientation' outside 0..1"):
        load_mocked(mock, tmp_path)


def test_auto_reads_tfds_prepared_copy_without_downloading(tmp_path, monkeypatch):
    loads = []
    real_load = tfds.load

    def spy_load(*args, **kwargs):
        loads.append(kwargs)
        return real_load(*args, **kwargs)

    def no_download(*args, **kwargs):
        raise AssertionError("source 'auto' must never download")

    mock = MockTfds()
    with tfds.testing.mock_data(as_dataset_fn=mock.as_dataset):
        monkeypatch.setattr(tfds, "load", spy_load)
        monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
        monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
        data = shapes3d.load(LoadOptions(data_dir=tmp_path / "cache", tfds_data_dir=tmp_path / "tfds"))
    assert [kwargs["download"] for kwargs in loads] == [False]
    assert data.source == SOURCE and mock.calls == 1
    check_rows(data)


def test_auto_without_data_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as error:  # the real tfds: nothing prepared there
        shapes3d.load(LoadOptions(data_dir=tmp_path / "cache", tfds_data_dir=tmp_path / "tfds"))
    message = str(error.value)
    for part in ("Shapes3D is not on this machine", "never downloads", "--data_source=tfds",
                 "3dshapes.h5", "https://github.com/deepmind/3dshapes-dataset", "--data_path"):
        assert part in message
    assert not (tmp_path / "tfds").exists() or not list((tmp_path / "tfds").rglob("*.tfrecord*"))


def test_explicit_tfds_may_download_and_errors_name_the_way_out(tmp_path, monkeypatch):
    def fails(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(tfds, "load", fails)
    with pytest.raises(RuntimeError, match="tfds could not provide 'shapes3d' .*no network.*--data_path"):
        shapes3d.load(LoadOptions(source="tfds", data_dir=tmp_path))
    with pytest.raises(ValueError, match="source 'tfds' reads tfds' copy"):
        shapes3d.load(LoadOptions(source="tfds", path=tmp_path / "3dshapes.h5"))
    with pytest.raises(ValueError, match="unknown Shapes3D source 'zip'"):
        shapes3d.load(LoadOptions(source="zip"))
    with pytest.raises(FileNotFoundError, match="source 'h5' needs path="):
        shapes3d.load(LoadOptions(source="h5"))


# ----------------------------------------------------------------------------------------
# The user's 3dshapes.h5

# The factors' values as in the published file (3dshapes README): hues in [0, 1), scale in
# [0.75, 1.25], shape 0..3, orientation in [-30, 30]; TINY of each.
VALUES = [np.linspace(0, 0.9, TINY[0]), np.linspace(0, 0.9, TINY[1]), np.linspace(0, 0.9, TINY[2]),
          np.linspace(0.75, 1.25, TINY[3]), np.arange(TINY[4], dtype=float),
          np.linspace(-30, 30, TINY[5])]


def write_h5(path, rows=SHUFFLED, images=None, labels=None, **extra):
    h5py = pytest.importorskip("h5py", reason="the h5 source reads 3dshapes.h5 with h5py")
    classes = cells(rows)
    if labels is None:
        labels = np.stack([VALUES[axis][classes[:, axis]] for axis in range(6)], axis=1)
    with h5py.File(path, "w") as f:
        f["images"] = planted(rows) if images is None else images
        f["labels"] = labels
        for name, value in extra.items():
            f[name] = value
    return path


def test_h5_rows_are_placed_from_the_label_values_and_cached(tmp_path, monkeypatch):
    path = write_h5(tmp_path / "3dshapes.h5")  # in shuffled order: placed by the labels
    data = shapes3d.load(LoadOptions(path=path, data_dir=tmp_path / "cache"))  # auto + path: h5
    assert data.source == f"shapes3d-h5:{path}" and data.location == str(path)
    check_rows(data)
    builds, place = [], shapes3d.place_by_labels
    monkeypatch.setattr(shapes3d, "place_by_labels", lambda *args: builds.append(1) or place(*args))
    check_rows(shapes3d.load(LoadOptions(source="h5", path=path, data_dir=tmp_path / "cache")))
    assert builds == []  # reused
    write_h5(path, images=planted(SHUFFLED + 1000))  # the file changes: rebuilt
    changed = shapes3d.load(LoadOptions(source="h5", path=path, data_dir=tmp_path / "cache"))
    assert builds == [1]
    np.testing.assert_array_equal(np.asarray(changed.array), planted(np.arange(N) + 1000))



def test_h5_in_disentanglement_lib_folder_is_found_by_auto(tmp_path, monkeypatch):
    (tmp_path / "dlib" / "3dshapes").mkdir(parents=True)
    path = write_h5(tmp_path / "dlib" / "3dshapes" / "3dshapes.h5", rows=np.arange(N))
    monkeypatch.setenv("DISENTANGLEMENT_LIB_DATA", str(tmp_path / "dlib"))
    data = shapes3d.load(LoadOptions(data_dir=tmp_path / "cache"))
    assert data.source == f"shapes3d-h5:{path}"
    check_rows(data)
    assert shapes3d.load(LoadOptions(source="h5", data_dir=tmp_path / "cache")).source == data.source


def test_h5_errors_name_the_expected_file(tmp_path):
    options = {"source": "h5", "data_dir": tmp_path / "cache"}
    with pytest.raises(FileNotFoundError, match="missing.h5 does not exist: expected 3dshapes.h5"):
        shapes3d.load(LoadOptions(path=tmp_path / "missing.h5", **options))
    with pytest.raises(FileNotFoundError, match="is not a file: expected 3dshapes.h5"):
        shapes3d.load(LoadOptions(path=tmp_path, **options))
    (tmp_path / "text.h5").write_text("not hdf5")
    pytest.importorskip("h5py", reason="the h5 source reads 3dshapes.h5 with h5py")
    with pytest.raises(ValueError, match="not a readable HDF5 file.*3dshapes.h5"):
        shapes3d.load(LoadOptions(path=tmp_path / "text.h5", **options))
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "keys.h5", "w") as f:
        f["imgs"] = np.zeros((1,), np.uint8)
    with pytest.raises(ValueError, match=r"datasets \['imgs'\].*'images' uint8 \(144, 64, 64, 3\)"):
        shapes3d.load(LoadOptions(path=tmp_path / "keys.h5", **options))
    short = write_h5(tmp_path / "short.h5", rows=SHUFFLED[:-1])
    with pytest.raises(ValueError, match=r"'images' is uint8 \(143, 64, 64, 3\); expected"):
        shapes3d.load(LoadOptions(path=short, **options))
    labels = np.stack([VALUES[axis][cells(SHUFFLED)[:, axis]] for axis in range(6)], axis=1)
    labels[:, 3] = 1.0  # scale takes one value
    flat = write_h5(tmp_path / "flat.h5", labels=labels)
    with pytest.raises(ValueError, match="'scale' \\(column 3\\) take 1 distinct values, expected 2"):
        shapes3d.load(LoadOptions(path=flat, **options))
    twice = write_h5(tmp_path / "twice.h5", rows=np.concatenate([SHUFFLED[:-1], SHUFFLED[:1]]))
    with pytest.raises(ValueError, match="appear twice"):
        shapes3d.load(LoadOptions(path=twice, **options))
    assert not list((tmp_path / "cache").rglob(array_cache.MANIFEST_FILE))


# ----------------------------------------------------------------------------------------
# Pipeline, ground truth and metrics


def test_pipeline_batches_show_their_factor_classes(tmp_path):
    with tfds.testing.mock_data(as_dataset_fn=MockTfds().as_dataset):
        train, _, info = pipeline.make_datasets("shapes3d", batch_size=16, seed=3,
                                                with_factors=True, source="tfds",
                                                data_dir=tmp_path / "cache")
    assert info.source == SOURCE and info.image_shape == (64, 64, 3) and info.num_examples == N
    assert info.factor_names == shapes3d.FACTOR_NAMES and info.factors_num_values == TINY
    for images, factors in train.take(3):
        assert images.dtype == tf.uint8 and images.shape == (16, 64, 64, 3)
        assert factors.shape == (16, 6)
        rows = np.ravel_multi_index(tuple(factors.numpy().T), TINY)
        np.testing.assert_array_equal(images.numpy(), planted(rows))


def test_ground_truth_observations_of_given_factors_are_the_planted_images(tmp_path):
    truth = SourceGroundTruth(load_mocked(MockTfds(), tmp_path))
    assert tuple(truth.factors_num_values) == TINY and tuple(truth.observation_shape) == (64, 64, 3)
    assert truth.source == SOURCE
    factors, observations = truth.sample(40, np.random.RandomState(0))
    assert observations.dtype == np.float32
    rows = np.ravel_multi_index(tuple(factors.T), TINY)
    np.testing.assert_array_equal(observations, planted(rows).astype(np.float32) / 255)


def test_metrics_score_an_oracle_one_on_the_full_grid():
    top = np.array(FULL, np.float32) - 1
    summary = evaluate(IdentityObservationsData(FULL), lambda x: x / top,
                       ["beta_vae", "factor_vae"], preset="fast", seed=0)["summary"]
    assert summary["beta_vae"] == 1.0 and summary["factor_vae"] == 1.0
    # DCI's trees on the full grid's many classes take seconds: it is checked on the tiny grid.


def test_metrics_on_the_loaded_pixels(tmp_path):
    truth = SourceGroundTruth(load_mocked(MockTfds(), tmp_path))
    stored = planted(np.arange(N))
    row_of = {image.tobytes(): row for row, image in enumerate(stored)}
    top = np.array(TINY, np.float32) - 1

    def oracle(images):  # reads each image's cell back from its pixels
        keys = np.round(np.asarray(images) * 255).astype(np.uint8)
        return cells([row_of[image.tobytes()] for image in keys]) / top

    summary = evaluate(truth, oracle, list(COUNTS), preset=COUNTS, seed=0)["summary"]
    # Not always 1 with batches of 16: two-valued factors sometimes agree across a whole batch.
    assert summary["beta_vae"] >= 0.95 and summary["factor_vae"] == 1.0
    assert summary["dci"] > 0.95
    weights = np.random.RandomState(0).normal(size=(64 * 64 * 3, 10)).astype(np.float32) / 64

    def random_projection(images):
        return np.asarray(images).reshape(len(images), -1) @ weights

    summary = evaluate(truth, random_projection, list(COUNTS), preset=COUNTS, seed=0)["summary"]
    assert summary["beta_vae"] < 0.4 and summary["factor_vae"] < 0.4  # chance: 1/6
    assert summary["dci"] < 0.2


# ----------------------------------------------------------------------------------------


def test_dataset_entry():
    data = get_dataset("shapes3d")
    assert data is shapes3d.DATASET
    assert (data.title, data.channels, data.sources) == ("Shapes3D", 3, ("tfds", "h5"))
    assert data.factor_names == shapes3d.FACTOR_NAMES and data.has_factors
    assert not data.needs_path and not data.takes_num_images
    assert "--data_path" in data.flags and "--data_source=tfds" in data.flags


def app_settings(*args):
    """The settings apps/train.py trains with for ``args``, parsed as the app parses its
    command line (a flagfile's settings may be overridden by a later flagfile)."""
    fv = flags.FlagValues()
    train_app.define_flags(fv)
    with app_runner.command_line(["train.py", *args]):
        fv(["train.py", *args])
    return train_app.settings_from_flags(fv)


def test_flagfile_parses_into_settings(repo):
    config = app_settings(f"--flagfile={repo / 'shapes3d.flags'}")
    assert (config.dataset, config.channels, config.image_size) == ("shapes3d", 3, 64)
    assert (config.network, config.latent_dim, config.likelihood) == ("locatello", 10, "bernoulli")
    assert (config.objective, config.beta, config.batch_size, config.steps) == ("beta", 4, 64, 300000)
    assert (config.learning_rate, config.adam_beta1, config.adam_beta2, config.adam_epsilon) == (
        1e-4, 0.9, 0.999, 1e-8)
    assert config.run_dir == "runs/shapes3d_beta_locatello" and config.data_source == "auto"
    lines = (repo / "shapes3d.flags").read_text().splitlines()
    for i, line in enumerate(lines):  # every setting follows its comment (or another setting)
        if line.startswith("--"):
            assert lines[i - 1].startswith(("#", "--")), line
    # The AnnealedVAE command of the file's header.
    annealed = app_settings(f"--flagfile={repo / 'shapes3d.flags'}",
                            f"--flagfile={repo / 'dlib_annealed_vae.flags'}")
    assert (annealed.dataset, annealed.channels, annealed.network) == ("shapes3d", 3, "locatello")
    assert (annealed.objective, annealed.gamma, annealed.c_max) == ("capacity", 1000, 25)
    assert annealed.run_dir == "runs/shapes3d_capacity_locatello"
    assert "--flagfile=shapes3d.flags --flagfile=dlib_annealed_vae.flags\n" in (
        repo / "shapes3d.flags").read_text()
