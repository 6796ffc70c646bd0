"""MPI3D from its .npz: the grid inferred from the image count, memory-mapping of a stored
member, the cache of a compressed one, errors, pipeline, ground truth, metrics and the flagfile.

The real files hold 460,800 (4x4 object colours x shapes) or 1,036,800 (6x6) images; these tests
shrink the other five factors (``mpi3d.OTHER_SIZES``, the module-level table the counts come
from) from (2, 3, 3, 40, 40) to (1, 1, 1, 2, 2), so the files hold 64 (4x4) or 144 (6x6)
images. Each planted image is random noise drawn from its own factor cell.
"""

import zipfile
from pathlib import Path

import numpy as np
import pytest
from absl import flags

from apps import train as train_app
from tfbvae.data import datasets, pipeline
from tfbvae.data.datasets import LoadOptions, mpi3d
from tfbvae.data.ground_truth import IdentityObservationsData, SourceGroundTruth
from tfbvae.evaluation.metrics import evaluate
from tfbvae.evaluation.metrics.presets import apply_overrides, get_preset

OTHER = (1, 1, 1, 2, 2)
SMALL, LARGE = (4, 4) + OTHER, (6, 6) + OTHER  # 64 and 144 images
VARIANTS = ("mpi3d_toy", "mpi3d_realistic", "mpi3d_real")


def planted(cell, salt: int = 0) -> np.ndarray:
    return np.random.default_rng([*map(int, cell), salt]).integers(0, 256, (64, 64, 3),
                                                                   dtype=np.uint8)


def images_of(sizes, salt: int = 0) -> np.ndarray:
    """The file's ``images``: every cell of ``sizes`` once, row-major (as published)."""
    return np.stack([planted(cell, salt) for cell in np.ndindex(*sizes)])


def write(path: Path, images: np.ndarray, compressed: bool = False, **others) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compressed else np.savez)(path, images=images, **others)
    return path


@pytest.fixture(autouse=True)
def tiny_grid(monkeypatch):
    monkeypatch.setattr(mpi3d, "OTHER_SIZES", OTHER)
    monkeypatch.delenv("DISENTANGLEMENT_LIB_DATA", raising=False)


def load(name, path, data_dir, **options):
    return datasets.load(name, LoadOptions(path=path, data_dir=data_dir, **options))


@pytest.mark.parametrize("compressed", [False, True], ids=["savez", "savez_compressed"])
@pytest.mark.parametrize("sizes", [SMALL, LARGE], ids=["4x4", "6x6"])
def test_grid_from_the_count_and_rows_row_major_over_the_factors(tmp_path, sizes, compressed):
    path = write(tmp_path / "mpi3d_real.npz", images_of(sizes), compressed, labels=np.arange(3))
    source = load("mpi3d_real", path, tmp_path / "cache")
    assert datasets.get("mpi3d_real") is mpi3d.REAL
    assert source.layout.names == mpi3d.FACTOR_NAMES == (
        "object_color", "object_shape", "object_size", "camera_height", "background_color",
        "first_dof", "second_dof")
    assert source.layout.sizes == sizes and source.factors_num_values == sizes
    assert source.complete and source.array.shape == (int(np.prod(sizes)), 64, 64, 3)
    reference = images_of(sizes).reshape(sizes + (64, 64, 3))
    for cell in [(0,) * 7, (3, 1, 0, 0, 0, 1, 0), (sizes[0] - 1, 2, 0, 0, 0, 0, 1),
                 (1, sizes[1] - 1, 0, 0, 0, 1, 1)]:
        row = int(np.ravel_multi_index(cell, sizes))
        np.testing.assert_array_equal(source.array[row], planted(cell))
        np.testing.assert_array_equal(source.array[row], reference[cell])
    np.testing.assert_array_equal(np.asarray(source.array), images_of(sizes))
    how = "extracted to the cache" if compressed else "memory-mapped"
    assert source.source == (f"mpi3d_real-npz:{path.absolute()} ({sizes[0]}x{sizes[1]} object "
                             f"colours x shapes, {len(source.array)} images, {how})")
    assert source.location == str(path.absolute())


def test_a_stored_member_is_memory_mapped_in_place_without_a_cache(tmp_path):
    path = write(tmp_path / "mpi3d_toy.npz", images_of(LARGE))
    source = load("mpi3d_toy", path, tmp_path / "cache")
    assert isinstance(source.array, np.memmap)
    assert Path(source.array.filename) == path.absolute()
    assert source.array.offset > 0 and not source.array.flags.writeable
    assert not (tmp_path / "cache").exists()


def test_a_compressed_member_is_cached_once_and_rebuilt_when_the_file_changes(tmp_path,
                                                                            monkeypatch):
    path = write(tmp_path / "mpi3d_realistic.npz", images_of(SMALL), compressed=True)
    first = load("mpi3d_realistic", path, tmp_path / "cache")
    entries = list((tmp_path / "cache" / "mpi3d_realistic").glob("npz-*"))
    assert len(entries) == 1 and (entries[0] / "manifest.json").is_file()
    assert Path(first.array.filename) == entries[0] / "data.npy"
    built = (entries[0] / "data.npy").stat().st_mtime_ns

    monkeypatch.setattr(mpi3d, "CHUNK_BYTES", 1)  # a rebuild would now go row by row ...
    real_from_buffer = np.frombuffer
    monkeypatch.setattr(np, "frombuffer", lambda *a, **k: pytest.fail("cache not reused"))
    again = load("mpi3d_realistic", path, tmp_path / "cache")
    assert (entries[0] / "data.npy").stat().st_mtime_ns == built
    monkeypatch.setattr(np, "frombuffer", real_from_buffer)

    write(path, images_of(LARGE, salt=7), compressed=True)  # ... and it does, for a new file
    changed = load("mpi3d_realistic", path, tmp_path / "cache")
    assert changed.layout.sizes == LARGE
    np.testing.assert_array_equal(np.asarray(changed.array), images_of(LARGE, salt=7))
    np.testing.assert_array_equal(np.asarray(again.array), images_of(SMALL))


@pytest.mark.parametrize("variant", VARIANTS)
def test_default_file_is_disentanglement_lib_data(tmp_path, monkeypatch, variant):
    path = write(tmp_path / variant / f"{variant}.npz", images_of(SMALL))
    monkeypatch.setenv("DISENTANGLEMENT_LIB_DATA", str(tmp_path))
    source = load(variant, None, tmp_path / "cache")
    assert source.dataset == variant and source.location == str(path.absolute())
    # A folder as --data_path: the variant's file in it.
    assert load(variant, tmp_path / variant, tmp_path / "cache").location == str(path.absolute())


def test_missing_file_errors_say_what_is_expected_and_where_it_is_published(tmp_path,
                                                                            monkeypatch):
    with pytest.raises(FileNotFoundError) as error:
        load("mpi3d_toy", tmp_path / "elsewhere.npz", tmp_path)
    message = str(error.value)
    assert "elsewhere.npz does not exist: expected mpi3d_toy.npz" in message
    assert "huggingface.co/datasets/waleedgondal/mpi3d/resolve/main/mpi3d_toy.npz" in message

    with pytest.raises(FileNotFoundError) as error:
        load("mpi3d_real", None, tmp_path)
    message = str(error.value)
    assert "$DISENTANGLEMENT_LIB_DATA is not set" in message
    assert "--data_path=/path/to/mpi3d_real.npz" in message
    assert "github.com/rr-learning/disentanglement_dataset" in message

    monkeypatch.setenv("DISENTANGLEMENT_LIB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError,
                       match=r"\$DISENTANGLEMENT_LIB_DATA/mpi3d_realistic/mpi3d_realistic.npz \("):
        load("mpi3d_realistic", None, tmp_path)


@pytest.mark.parametrize("compressed", [False, True], ids=["savez", "savez_compressed"])
def test_image_counts_other_than_the_published_grids_are_refused(tmp_path, compressed):
    path = write(tmp_path / "mpi3d_toy.npz", images_of(SMALL)[:-1], compressed)
    with pytest.raises(ValueError) as error:
        load("mpi3d_toy", path, tmp_path)
    message = str(error.value)
    assert "holds 63 images, expected 64 (4x4 object colours x shapes) or 144 (6x6 object " \
           "colours x shapes)" in message
    assert "row-major in the order object_color, object_shape" in message
    assert not (tmp_path / "mpi3d_toy").exists()  # nothing cached


@pytest.mark.parametrize("contents, message", [
    ({"imgs": np.zeros((64, 64, 64, 3), np.uint8)}, "has no 'images' array (it holds ['imgs'])"),
    ({"images": np.zeros((64, 64, 64, 3), np.float32)}, "'images' holds float32, expected uint8"),
    ({"images": np.zeros((64, 64, 64), np.uint8)},
     "has shape (64, 64, 64), expected (n, 64, 64, 3)"),
    ({"images": np.zeros((64, 32, 32, 3), np.uint8)}, "has shape (64, 32, 32, 3)"),
    ({"images": np.asfortranarray(np.zeros((64, 64, 64, 3), np.uint8))},
     "is stored in Fortran (column-major) order"),
])
def test_malformed_files_are_refused(tmp_path, contents, message):
    path = tmp_path / "mpi3d_toy.npz"
    np.savez(path, **contents)
    with pytest.raises(ValueError) as error:
        load("mpi3d_toy", path, tmp_path)
    assert message in str(error.value) and str(path.absolute()) in str(error.value)


def test_truncated_corrupt_and_non_zip_files_are_refused(tmp_path):
    stored = write(tmp_path / "stored" / "mpi3d_toy.npz", images_of(SMALL))
    with zipfile.ZipFile(stored) as archive:  # the member's size says more than the file holds
        info = archive.getinfo("images.npy")
    data = stored.read_bytes()
    cut = tmp_path / "cut" / "mpi3d_toy.npz"
    cut.parent.mkdir()
    cut.write_bytes(data[:info.header_offset + 200] + data[-200:])
    with pytest.raises(ValueError, match="not a readable .npz"):
        load("mpi3d_toy", cut, tmp_path)
    cut.write_bytes(data[:len(data) // 2])  # a download cut short
    with pytest.raises(ValueError, match="not a readable .npz"):
        load("mpi3d_toy", cut, tmp_path)

    packed = write(tmp_path / "packed" / "mpi3d_toy.npz", images_of(SMALL), compressed=True)
    with zipfile.ZipFile(packed) as archive:
        info = archive.getinfo("images.npy")
    raw = bytearray(packed.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF  # one flipped byte inside the deflate stream
    packed.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"mpi3d_toy.npz is corrupt \(BadZipFile: Bad CRC-32"):
        load("mpi3d_toy", packed, tmp_path / "cache")
    assert not list((tmp_path / "cache" / "mpi3d_toy").glob("npz-*"))

    (tmp_path / "text.npz").write_text("not a zip file")
    with pytest.raises(ValueError, match="is not a readable .npz"):
        load("mpi3d_toy", tmp_path / "text.npz", tmp_path)


def test_other_sources_and_channels_are_refused(tmp_path):
    path = write(tmp_path / "mpi3d_toy.npz", images_of(SMALL))
    with pytest.raises(ValueError, match="unknown mpi3d_toy source 'tfds'"):
        load("mpi3d_toy", path, tmp_path, source="tfds")
    with pytest.raises(ValueError, match="MPI3D images are RGB: use channels=3"):
        load("mpi3d_toy", path, tmp_path, channels=1)
    assert load("mpi3d_toy", path, tmp_path, source="files", channels=3).num_examples == 64


def test_pipeline_batches_show_the_cells_of_their_factors(tmp_path):
    path = write(tmp_path / "mpi3d_real.npz", images_of(LARGE))
    train, val, info = pipeline.make_datasets("mpi3d_real", 8, seed=1, validation_fraction=0.1,
                                              with_factors=True, path=path, data_dir=tmp_path)
    assert info.factors_num_values == LARGE and info.image_shape == (64, 64, 3)
    assert info.source.startswith("mpi3d_real-npz:")
    for images, factors in list(train.take(3)) + list(val.take(1)):
        images, factors = images.numpy(), factors.numpy()
        assert images.dtype == np.uint8 and images.shape[1:] == (64, 64, 3)
        assert factors.shape == (len(images), 7)
        for image, cell in zip(images, factors):
            np.testing.assert_array_equal(image, planted(cell))


def test_ground_truth_observations_are_the_planted_images(tmp_path):
    path = write(tmp_path / "mpi3d_toy.npz", images_of(LARGE), compressed=True)
    data = SourceGroundTruth(load("mpi3d_toy", path, tmp_path))
    assert tuple(data.factors_num_values) == LARGE
    factors, observations = data.sample(20, np.random.RandomState(0))
    assert observations.dtype == np.float32 and observations.shape == (20, 64, 64, 3)
    for cell, observation in zip(factors, observations):
        np.testing.assert_array_equal(observation, planted(cell) / np.float32(255))


# A few seconds of metrics: the random codes need no more to show chance, and DCI's cost is its
# trees (100 per class of each factor), whatever the samples.
SMALL_COUNTS = ("beta_vae.num_train=100", "beta_vae.num_eval=50", "factor_vae.num_train=100",
                "factor_vae.num_eval=50", "factor_vae.num_variance_estimate=300",
                "all.batch_size=16", "dci.num_train=100", "dci.num_test=100")


def test_oracle_scores_one_and_a_random_projection_of_the_pixels_scores_near_chance(
        tmp_path, monkeypatch):
    # Every factor with two values or more (DCI's trees need two classes): 4x4x2^5 = 512 images.
    monkeypatch.setattr(mpi3d, "OTHER_SIZES", (2, 2, 2, 2, 2))
    sizes = (4, 4, 2, 2, 2, 2, 2)
    path = write(tmp_path / "mpi3d_real.npz", images_of(sizes))
    data = SourceGroundTruth(load("mpi3d_real", path, tmp_path))
    assert tuple(data.factors_num_values) == sizes
    metrics = ["beta_vae", "factor_vae", "dci"]
    top = np.array(data.factors_num_values, np.float32) - 1
    oracle = evaluate(IdentityObservationsData(data.factors_num_values), lambda x: x / top,
                      metrics, preset=apply_overrides(get_preset("fast"), metrics,
                                                      SMALL_COUNTS[-2:]), seed=0)["summary"]
    assert oracle["beta_vae"] == 1.0 and oracle["factor_vae"] == 1.0
    assert oracle["dci"] > 0.99

    weights = np.random.RandomState(0).normal(size=(64 * 64 * 3, 10)).astype(np.float32) / 64
    counts = apply_overrides(get_preset("fast"), metrics, SMALL_COUNTS)
    result = evaluate(data, lambda images: images.reshape(len(images), -1) @ weights, metrics,
                      preset=counts, seed=0)
    assert result["data_source"].startswith("mpi3d_real-npz:")
    chance = result["summary"]
    assert chance["beta_vae"] < 0.5 and chance["factor_vae"] < 0.5  # 7 factors: chance 1/7
    assert chance["dci"] < 0.15


def test_flagfile_parses_to_mpi3d_toy_settings(repo):
    fv = flags.FlagValues()
    train_app.define_flags(fv)
    fv(["train.py", f"--flagfile={repo / 'mpi3d.flags'}"])
    settings = train_app.settings_from_flags(fv)
    assert settings.dataset == "mpi3d_toy" and settings.channels == 3
    assert (settings.network, settings.latent_dim, settings.likelihood, settings.objective,
            settings.beta) == ("locatello", 10, "bernoulli", "beta", 4.0)
    assert (settings.learning_rate, settings.batch_size, settings.steps) == (1e-4, 64, 300000)
    assert settings.run_dir == "runs/mpi3d_toy_beta_locatello"
    fv = flags.FlagValues()
    train_app.define_flags(fv)
    fv(["train.py", f"--flagfile={repo / 'mpi3d.flags'}", "--dataset=mpi3d_real"])  # the header's
    real = train_app.settings_from_flags(fv)  # switch to another variant
    assert (real.dataset, real.run_dir) == ("mpi3d_real", "runs/mpi3d_real_beta_locatello")
    lines = (repo / "mpi3d.flags").read_text().splitlines()
    for i, line in enumerate(lines):  # each setting follows its source (a comment) or a setting
        if line.startswith("--"):
            assert lines[i - 1].startswith(("#", "--")), f"mpi3d.flags:{i + 1} {line}"
