"""SmallNORB (tfbvae.data.datasets.smallnorb) end to end on tiny grids.

The real grid (5 categories x 10 instances x 9 elevations x 18 azimuths x 6 lightings = 48,600
images) is too big for a test: every test here monkeypatches ``smallnorb.AXIS_SIZES`` (which
the loader reads at load time) to TINY, 72 cells, and drives ``tfds.testing.mock_data`` to yield
a complete tiny grid in shuffled order. The planted 96x96 image of a cell is random pixels
seeded by the cell's row-major index (computed here with numpy, not with tfbvae's layout); the
stored row must be that image resized as disentanglement_lib resizes it (norb.py L135-141,
re-implemented below), so a test can tell exactly which cell a stored row shows.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import flags
from PIL import Image

from apps import train as train_app
from tfbvae.cli import app_runner
from tfbvae.data import array_cache, pipeline
from tfbvae.data.datasets import LoadOptions
from tfbvae.data.datasets import get as get_dataset
from tfbvae.data.datasets import smallnorb
from tfbvae.data.ground_truth import IdentityObservationsData, SourceGroundTruth
from tfbvae.evaluation.metrics import evaluate

TINY = (2, 3, 2, 3, 2)  # category, instance, elevation, azimuth, lighting
N = int(np.prod(TINY))
TINY_FACTORS = (2, 2, 3, 2)  # without the instance
FULL_FACTORS = (5, 9, 18, 6)  # disentanglement_lib norb.py L58-60
# tfds' smallnorb feature names (its builder, L47-59), in disentanglement_lib's axis order.
TFDS_LABELS = ("label_category", "instance", "label_elevation", "label_azimuth", "label_lighting")
SOURCE = "smallnorb-tfds:train+test v2.0.0"
COUNTS = {  # tiny counts for the metrics on the loaded pixels (seconds)
    "beta_vae": {"batch_size": 16, "num_train": 100, "num_eval": 100},
    "factor_vae": {"batch_size": 16, "num_train": 100, "num_eval": 100,
                   "num_variance_estimate": 300},
    "dci": {"num_train": 200, "num_test": 100},
}


@pytest.fixture(autouse=True)
def tiny_grid(monkeypatch, tmp_path):
    monkeypatch.setattr(smallnorb, "AXIS_SIZES", TINY)
    monkeypatch.setenv("TFBVAE_DATA_DIR", str(tmp_path / "default-cache"))  # never ~/.cache


def planted(rows) -> np.ndarray:
    """The 96x96 photo of each cell (row-major index): uint8 (n, 96, 96, 1) noise seeded by it."""
    return np.stack([np.random.RandomState(int(r)).randint(0, 256, (96, 96, 1)).astype(np.uint8)
                     for r in np.atleast_1d(rows)])


def dlib_resize(image: np.ndarray) -> np.ndarray:
    """disentanglement_lib norb.py L135-141 for one image, before its ``/ 255.``: the pixels as
    ``int8`` (its ``_read_binary_matrix``, L125), ``PIL.Image.fromarray``, ``resize((64, 64),
    PIL.Image.ANTIALIAS)`` (Pillow's LANCZOS; the old name is gone from Pillow 10), float64."""
    pil = Image.fromarray(np.ascontiguousarray(image[..., 0]).view(np.int8))
    return np.asarray(pil.resize((64, 64), Image.LANCZOS)).astype(np.float64)


def expected(rows) -> np.ndarray:
    """The stored rows of cells ``rows``: dlib's resize, clipped to uint8 (n, 64, 64, 1)."""
    return np.stack([np.clip(dlib_resize(image), 0, 255).astype(np.uint8)[..., None]
                     for image in planted(rows)])


def cells(rows) -> np.ndarray:
    """Each axis' class of cells ``rows``: int64 (n, 5)."""
    return np.stack(np.unravel_index(np.asarray(rows), TINY), axis=1).astype(np.int64)


SHUFFLED = np.random.RandomState(1).permutation(N)
ALL_ROWS = expected(np.arange(N))


class MockTfds:
    """``as_dataset``: an ``as_dataset_fn`` for ``tfds.testing.mock_data`` serving ``rows``'
    examples (in that order; ``image2`` a different photo, never to be used)."""

    def __init__(self, rows=SHUFFLED, known_count: bool = True):
        self.rows, self.calls = np.asarray(rows), 0

        def as_dataset(builder, *args, **kwargs):
            self.calls += 1
            assert builder.name == "smallnorb" and str(kwargs.get("split")) == "train+test"
            assert set(builder.info.features) >= {"image", "image2", *TFDS_LABELS}
            classes = cells(self.rows)
            data = {"image": planted(self.rows), "image2": 255 - planted(self.rows)}
            for axis, key in enumerate(TFDS_LABELS):
                data[key] = classes[:, axis]
            dataset = tf.data.Dataset.from_tensor_slices(data)
            if not known_count:  # as a generator would: tfds does not know the count
                dataset = dataset.filter(lambda ex: True)
            return dataset

        self.as_dataset = as_dataset


def load_mocked(mock, tmp_path, **options):
    options = {"source": "tfds", "data_dir": tmp_path / "cache", **options}
    with tfds.testing.mock_data(as_dataset_fn=mock.as_dataset):
        return smallnorb.load(LoadOptions(**options))


# ----------------------------------------------------------------------------------------


def test_resize_is_disentanglement_libs_clipped_to_uint8():
    sharp = np.zeros((96, 96, 1), np.uint8)  # edges where LANCZOS overshoots
    sharp[20:70, 30:50] = 255
    sharp[::9] = 200
    for image in (sharp, planted(5)[0]):
        dlib = dlib_resize(image)
        assert dlib.min() < 0 or dlib.max() > 255  # dlib keeps the overshoot
        np.testing.assert_array_equal(smallnorb.resize(image), np.clip(dlib, 0, 255))
        np.testing.assert_array_equal(smallnorb.resize(image[..., 0]), np.clip(dlib, 0, 255))
        # Resizing the 8-bit image instead clips between the two passes: other pixels.
        eight_bit = np.asarray(Image.fromarray(image[..., 0]).resize((64, 64), Image.LANCZOS))
        assert (eight_bit != smallnorb.resize(image)).mean() > 0.01
    smooth = np.tile(np.linspace(0, 255, 96).astype(np.uint8), (96, 1))
    np.testing.assert_array_equal(smallnorb.resize(smooth), dlib_resize(smooth[..., None]))


def test_tfds_rows_are_placed_in_axis_order_from_the_shuffled_labels(tmp_path):
    data = load_mocked(MockTfds(), tmp_path)
    assert data.dataset == "smallnorb" and data.source == SOURCE
    assert data.array.dtype == np.uint8 and data.array.shape == (N, 64, 64, 1)
    assert isinstance(data.array, np.memmap)
    assert data.layout.names == ("category", "instance", "elevation", "azimuth", "lighting")
    assert data.layout.sizes == TINY and data.layout.factors == (0, 2, 3, 4) and data.complete
    assert data.factor_names == ("category", "elevation", "azimuth", "lighting")
    assert data.factors_num_values == TINY_FACTORS and data.image_shape == (64, 64, 1)
    np.testing.assert_array_equal(np.asarray(data.array), ALL_ROWS)
    # Specific cells: row-major, lighting fastest, the instance second.
    row = (((1 * 3 + 2) * 2 + 0) * 3 + 1) * 2 + 1  # category 1, instance 2, elevation 0, ...
    np.testing.assert_array_equal(data.array[row], expected(row)[0])
    np.testing.assert_array_equal(data.layout.classes_of(np.array([row]))[0], (1, 2, 0, 1, 1))
    np.testing.assert_array_equal(data.array[2 * 3 * 2], expected(np.ravel_multi_index(
        (0, 1, 0, 0, 0), TINY))[0])


def test_cache_is_reused_and_rebuilt_when_tfds_copy_changes(tmp_path, monkeypatch):
    builds, resize = [], smallnorb.resize
    monkeypatch.setattr(smallnorb, "resize", lambda image: builds.append(1) or resize(image))
    first = load_mocked(MockTfds(), tmp_path)
    assert len(builds) == N
    second = load_mocked(MockTfds(), tmp_path)
    assert len(builds) == N  # read from the cache
    assert second.source == first.source
    np.testing.assert_array_equal(np.asarray(second.array), ALL_ROWS)
    monkeypatch.setattr(smallnorb, "prepared_files", lambda folder: [["shard", 1, 2]])
    np.testing.assert_array_equal(np.asarray(load_mocked(MockTfds(), tmp_path).array), ALL_ROWS)
    assert len(builds) == 2 * N  # a re-prepared tfds copy: rebuilt


def test_prepared_files_change_with_the_files(tmp_path):
    assert smallnorb.prepared_files(tmp_path / "absent") == []
    shard = tmp_path / "smallnorb-train.tfrecord-00000-of-00001"
    shard.write_bytes(b"abc")
    before = smallnorb.prepared_files(tmp_path)
    assert [entry[:2] for entry in before] == [[shard.name, 3]]
    shard.write_bytes(b"abcd")
    assert smallnorb.prepared_files(tmp_path) != before


@pytest.mark.parametrize("rows, known_count, message", [
    (SHUFFLED[:-1], True, f"has {N - 1} examples, expected one for each of the {N} cells"),
    (SHUFFLED[:-1], False, f"{N - 1} labelled examples, expected one for each of the {N} cells"),
    (np.concatenate([SHUFFLED[:-1], SHUFFLED[:1]]), True, "appear twice and others not at all"),
])
def test_incomplete_or_duplicated_grid_is_refused_and_leaves_no_cache(tmp_path, rows, known_count,
                                                                      message):
    with pytest.raises(ValueError, match=message):
        load_mocked(MockTfds(rows, known_count), tmp_path)
    assert not list((tmp_path / "cache").rglob(array_cache.MANIFEST_FILE))


def test_instances_outside_the_grid_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(smallnorb, "AXIS_SIZES", (2, 2, 2, 3, 2))  # 48 cells, 2 instances
    rows = np.arange(N)[cells(np.arange(N))[:, 1] < 2]  # TINY's cells of instances 0 and 1: 48
    rows[-1] = np.ravel_multi_index((1, 2, 1, 2, 1), TINY)  # one of instance 2 instead
    with pytest.raises(ValueError, match="labels of 'instance' outside 0..1"):
        load_mocked(MockTfds(rows), tmp_path)


def test_auto_reads_tfds_prepared_copy_without_downloading(tmp_path, monkeypatch):
    loads = []
    real_load = tfds.load

    def spy_load(*args, **kwargs):
        loads.append(kwargs)
        return real_load(*args, **kwargs)

    def no_download(*args, **kwargs):
        raise AssertionError("source 'auto' must never download")

    with tfds.testing.mock_data(as_dataset_fn=MockTfds().as_dataset):
        monkeypatch.setattr(tfds, "load", spy_load)
        monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
        monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
        data = smallnorb.load(LoadOptions(data_dir=tmp_path / "cache", tfds_data_dir=tmp_path / "tfds"))
    assert [kwargs["download"] for kwargs in loads] == [False]
    assert data.source == SOURCE
    np.testing.assert_array_equal(np.asarray(data.array), ALL_ROWS)


def test_auto_without_data_and_other_errors_say_how_to_get_it(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as error:  # the real tfds: nothing prepared there
        smallnorb.load(LoadOptions(data_dir=tmp_path / "cache", tfds_data_dir=tmp_path / "tfds"))
    for part in ("SmallNORB is not on this machine", "never downloads", "--data_source=tfds",
                 "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/"):
        assert part in str(error.value)
    with pytest.raises(ValueError, match="path= .* is not read for SmallNORB"):
        smallnorb.load(LoadOptions(path=tmp_path / "smallnorb.mat"))
    with pytest.raises(ValueError, match="unknown SmallNORB source 'h5'"):
        smallnorb.load(LoadOptions(source="h5"))

    def fails(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(tfds, "load", fails)
    with pytest.raises(RuntimeError, match="tfds could not provide 'smallnorb' .*no network"):
        smallnorb.load(LoadOptions(source="tfds", data_dir=tmp_path))


# ----------------------------------------------------------------------------------------
# Pipeline, ground truth and metrics


def instances_shown(images: np.ndarray, factors: np.ndarray) -> list[int]:
    """The instance each image shows, given its factors (a failure when none matches)."""
    shown = []
    for image, (category, elevation, azimuth, lighting) in zip(images, factors):
        candidates = [np.ravel_multi_index((category, i, elevation, azimuth, lighting), TINY)
                      for i in range(TINY[1])]
        match = [i for i, row in enumerate(candidates) if np.array_equal(ALL_ROWS[row], image)]
        assert len(match) == 1, (category, elevation, azimuth, lighting)
        shown.append(match[0])
    return shown


def test_pipeline_batches_show_their_factor_classes(tmp_path):
    with tfds.testing.mock_data(as_dataset_fn=MockTfds().as_dataset):
        train, _, info = pipeline.make_datasets("smallnorb", batch_size=24, seed=3,
                                                with_factors=True, source="tfds",
                                                data_dir=tmp_path / "cache")
    assert info.source == SOURCE and info.image_shape == (64, 64, 1) and info.num_examples == N
    assert info.factor_names == smallnorb.FACTOR_NAMES and info.factors_num_values == TINY_FACTORS
    shown = []
    for images, factors in train.take(3):  # one epoch: every row once
        assert images.dtype == tf.uint8 and images.shape == (24, 64, 64, 1)
        assert factors.dtype == tf.int64 and factors.shape == (24, 4)
        shown += instances_shown(images.numpy(), factors.numpy())
    assert sorted(np.bincount(shown)) == [24, 24, 24]


def test_ground_truth_draws_the_instance_uniformly(tmp_path):
    truth = SourceGroundTruth(load_mocked(MockTfds(), tmp_path))
    assert tuple(truth.factors_num_values) == TINY_FACTORS and truth.source == SOURCE
    assert tuple(truth.observation_shape) == (64, 64, 1)
    factors = np.tile([[1, 0, 2, 1]], (300, 1))
    observations = truth.sample_observations_from_factors(factors, np.random.RandomState(0))
    assert observations.dtype == np.float32 and observations.shape == (300, 64, 64, 1)
    stored = np.round(observations * 255).astype(np.uint8)
    np.testing.assert_array_equal(stored.astype(np.float32) / 255, observations)
    counts = np.bincount(instances_shown(stored, factors), minlength=3)
    assert counts.min() > 70  # each of the 3 instances about 100 times
    # disentanglement_lib's draw: the factors as given, the instance randint(3) per image.
    instance = np.random.RandomState(0).randint(TINY[1], size=300)
    np.testing.assert_array_equal(instances_shown(stored, factors), instance)


def test_metrics_score_an_oracle_one_on_the_full_factors():
    top = np.array(FULL_FACTORS, np.float32) - 1
    summary = evaluate(IdentityObservationsData(FULL_FACTORS), lambda x: x / top,
                       ["beta_vae", "factor_vae"], preset="fast", seed=0)["summary"]
    assert summary["beta_vae"] == 1.0 and summary["factor_vae"] == 1.0
    # DCI's trees on the full grid's many classes take seconds: it is checked on the tiny grid.


def test_metrics_on_the_loaded_pixels(tmp_path):
    truth = SourceGroundTruth(load_mocked(MockTfds(), tmp_path))
    row_of = {image.tobytes(): row for row, image in enumerate(ALL_ROWS)}
    top = np.array(TINY_FACTORS, np.float32) - 1

    def oracle(images):  # reads each image's cell back from its pixels; drops the instance
        keys = np.round(np.asarray(images) * 255).astype(np.uint8)
        return cells([row_of[image.tobytes()] for image in keys])[:, [0, 2, 3, 4]] / top

    summary = evaluate(truth, oracle, list(COUNTS), preset=COUNTS, seed=0)["summary"]
    # Not always 1 with batches of 16: two-valued factors sometimes agree across a whole batch.
    assert summary["beta_vae"] >= 0.95 and summary["factor_vae"] == 1.0
    assert summary["dci"] > 0.95
    weights = np.random.RandomState(0).normal(size=(64 * 64, 10)).astype(np.float32) / 64

    def random_projection(images):
        return np.asarray(images).reshape(len(images), -1) @ weights

    summary = evaluate(truth, random_projection, list(COUNTS), preset=COUNTS, seed=0)["summary"]
    assert summary["beta_vae"] < 0.5 and summary["factor_vae"] < 0.5  # chance: 1/4
    assert summary["dci"] < 0.2


# ----------------------------------------------------------------------------------------


def test_dataset_entry():
    data = get_dataset("smallnorb")
    assert data is smallnorb.DATASET
    assert (data.title, data.channels, data.sources) == ("SmallNORB", 1, ("tfds",))
    assert data.factor_names == ("category", "elevation", "azimuth", "lighting")
    assert not data.needs_path and not data.takes_num_images
    assert "--data_source=tfds" in data.flags


def app_settings(*args):
    """The settings apps/train.py trains with for ``args``, parsed as the app parses its
    command line (a flagfile's settings may be overridden by a later flagfile)."""
    fv = flags.FlagValues()
    train_app.define_flags(fv)
    with app_runner.command_line(["train.py", *args]):
        fv(["train.py", *args])
    return train_app.settings_from_flags(fv)


def test_flagfile_parses_into_settings(repo):
    config = app_settings(f"--flagfile={repo / 'smallnorb.flags'}")
    assert (config.dataset, config.channels, config.image_size) == ("smallnorb", 1, 64)
    assert (config.network, config.latent_dim, config.likelihood) == ("locatello", 10, "bernoulli")
    assert (config.objective, config.beta, config.batch_size, config.steps) == ("beta", 4, 64, 300000)
    assert (config.learning_rate, config.adam_beta1, config.adam_beta2, config.adam_epsilon) == (
        1e-4, 0.9, 0.999, 1e-8)
    assert config.run_dir == "runs/smallnorb_beta_locatello" and config.data_source == "auto"
    lines = (repo / "smallnorb.flags").read_text().splitlines()
    for i, line in enumerate(lines):  # every setting follows its comment (or another setting)
        if line.startswith("--"):
            assert lines[i - 1].startswith(("#", "--")), line
    # The AnnealedVAE command of the file's header.
    annealed = app_settings(f"--flagfile={repo / 'smallnorb.flags'}",
                            f"--flagfile={repo / 'dlib_annealed_vae.flags'}")
    assert (annealed.dataset, annealed.channels, annealed.network) == ("smallnorb", 1, "locatello")
    assert (annealed.objective, annealed.gamma, annealed.c_max) == ("capacity", 1000, 25)
    assert annealed.run_dir == "runs/smallnorb_capacity_locatello"
    assert "--flagfile=smallnorb.flags --flagfile=dlib_annealed_vae.flags\n" in (
        repo / "smallnorb.flags").read_text()
