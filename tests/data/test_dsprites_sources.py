"""dSprites sources: the rendered cache (layout, invalidation), the official file, tfds, and the
ground-truth interface."""

import json
import logging
import pickle
import zipfile

import numpy as np
import pytest

from tfbvae.data import array_cache, paths
from tfbvae.data.dsprites import layout as dsprites_layout
from tfbvae.data.dsprites import render as dsprites_render
from tfbvae.data.dsprites import sources as dsprites_sources
from tfbvae.data.dsprites.ground_truth import DSprites

SMALL = 2048  # two sprite blocks: a leading slice of the official order


def _expected_packed(rows):
    return dsprites_sources.pack(dsprites_render.render(dsprites_layout.latents_classes(rows)))


def _entry(data_dir, num_images=SMALL):
    return data_dir / "dsprites" / f"rendered-{num_images}"


@pytest.fixture
def small_cache(tmp_path):
    dsprites_sources.load_rendered(tmp_path, num_images=SMALL)
    return tmp_path


# ----------------------------------------------------------------------------------------
# Rendered cache


def test_small_cache_holds_the_leading_rows(small_cache):
    arrays = dsprites_sources.load_rendered(small_cache, num_images=SMALL)
    assert arrays.packed.shape == (SMALL, 64, 8) and arrays.packed.dtype == np.uint8
    assert arrays.source == "dsprites-rendered (tfbvae renderer v1)"
    np.testing.assert_array_equal(arrays.packed, _expected_packed(np.arange(SMALL)))
    layout = arrays.official_layout()
    assert layout["imgs"].shape == (SMALL, 64, 64) and layout["imgs"].dtype == np.uint8
    assert layout["imgs"].max() == 1
    assert layout["latents_classes"].dtype == np.int64
    assert layout["latents_values"].dtype == np.float64
    assert set(layout["metadata"]) == set(dsprites_layout.metadata())
    manifest = json.loads((_entry(small_cache) / "manifest.json").read_text())
    assert manifest["recipe"]["recipe_hash"] == dsprites_render.RECIPE_HASH


def test_valid_cache_is_reused_not_rebuilt(small_cache, caplog):
    manifest = (_entry(small_cache) / "manifest.json").read_text()
    with caplog.at_level(logging.INFO):
        dsprites_sources.load_rendered(small_cache, num_images=SMALL)
    assert (_entry(small_cache) / "manifest.json").read_text() == manifest
    assert "Built cache" not in caplog.text and "unusable" not in caplog.text


def _assert_rebuilt(data_dir, caplog, reason):
    with caplog.at_level(logging.INFO):
        arrays = dsprites_sources.load_rendered(data_dir, num_images=SMALL)
    assert reason in caplog.text and "rebuilding" in caplog.text
    np.testing.assert_array_equal(arrays.packed, _expected_packed(np.arange(SMALL)))
    assert array_cache.check_entry(
        _entry(data_dir),
        dsprites_sources.rendered_cache_recipe(SMALL),
        (SMALL, 64, 8),
        np.uint8,
    ) is None


def test_stale_cache_from_another_renderer_version_is_rebuilt(small_cache, caplog, monkeypatch):
    monkeypatch.setattr(dsprites_render, "RECIPE", {**dsprites_render.RECIPE, "renderer_version": 2})
    _assert_rebuilt(small_cache, caplog, "stale: built from a different recipe")
    manifest = json.loads((_entry(small_cache) / "manifest.json").read_text())
    assert manifest["recipe"]["renderer"]["renderer_version"] == 2


def test_cache_drawn_by_a_different_renderer_is_caught_by_the_probe(small_cache, caplog):
    # Same recipe in the manifest, but the pixels are not what the current renderer draws (a code
    # change without a version bump): a valid checksum of wrong data.
    entry = _entry(small_cache)
    data = np.load(entry / "data.npy", mmap_mode="r+")
    data[-1] ^= 0xFF
    data.flush()
    del data
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["sha256"] = array_cache.file_sha256(entry / "data.npy")
    (entry / "manifest.json").write_text(json.dumps(manifest))
    _assert_rebuilt(small_cache, caplog, "draws some rows differently")


def test_partial_cache_without_manifest_is_rebuilt(small_cache, caplog):
    (_entry(small_cache) / "manifest.json").unlink()
    _assert_rebuilt(small_cache, caplog, "partial: no manifest")


def test_corrupt_cache_bit_flip_is_rebuilt(small_cache, caplog):
    path = _entry(small_cache) / "data.npy"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0x10  # a flipped bit in some middle row: only the checksum sees it
    path.write_bytes(bytes(raw))
    _assert_rebuilt(small_cache, caplog, "corrupt: checksum mismatch")


def test_corrupt_cache_truncated_is_rebuilt(small_cache, caplog):
    path = _entry(small_cache) / "data.npy"
    path.write_bytes(path.read_bytes()[:-4096])
    _assert_rebuilt(small_cache, caplog, "corrupt: data file has")


def test_corrupt_manifest_is_rebuilt(small_cache, caplog):
    (_entry(small_cache) / "manifest.json").write_text('{"format_version": 1, "rec')
    _assert_rebuilt(small_cache, caplog, "corrupt: unreadable manifest")


def test_build_killed_midway_leaves_no_usable_entry(tmp_path, monkeypatch):
    real = dsprites_render.render_sprite_block

    def dies_on_second_block(sprite):
        if sprite == 1:
            raise KeyboardInterrupt("killed")
        return real(sprite)

    monkeypatch.setattr(dsprites_render, "render_sprite_block", dies_on_second_block)
    with pytest.raises(KeyboardInterrupt):
        dsprites_sources.load_rendered(tmp_path, num_images=SMALL)
    cache = tmp_path / "dsprites"
    assert not _entry(tmp_path).exists()
    assert not list(cache.glob(".rendered-*.tmp-*"))
    # A hard kill (no cleanup) leaves a temporary directory: it is never taken for the cache.
    leftover = cache / f".rendered-{SMALL}.tmp-99999-deadbeef"
    leftover.mkdir()
    (leftover / "data.npy").write_bytes(b"half")
    monkeypatch.setattr(dsprites_render, "render_sprite_block", real)
    arrays = dsprites_sources.load_rendered(tmp_path, num_images=SMALL)
    np.testing.assert_array_equal(arrays.packed, _expected_packed(np.arange(SMALL)))
    assert not leftover.exists()


def test_cache_location_follows_the_env_variable_and_the_argument(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "from_env"))
    assert paths.data_dir() == tmp_path / "from_env"
    assert paths.data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert dsprites_sources.rendered_cache_dir() == tmp_path / "from_env" / "dsprites"
    monkeypatch.delenv(paths.DATA_DIR_ENV)
    assert paths.data_dir() == (paths.DEFAULT_DATA_DIR.expanduser()).absolute()


def test_subset_sizes_are_checked(tmp_path):
    with pytest.raises(ValueError, match="multiple of 1024"):
        dsprites_sources.load_rendered(tmp_path, num_images=1000)


@pytest.fixture(scope="module")
def full_cache(tmp_path_factory):
    """The full 737,280-image set, rendered once for this module (about 15-30 s on 2 cores)."""
    data_dir = tmp_path_factory.mktemp("full")
    return data_dir, dsprites_sources.load_rendered(data_dir)


def test_full_set_layout_and_order(full_cache):
    data_dir, arrays = full_cache
    assert arrays.packed.shape == (737280, 64, 8)
    assert (data_dir / "dsprites" / "rendered" / "data.npy").stat().st_size == 737280 * 512 + 128
    rng = np.random.default_rng(3)
    rows = np.concatenate([[0, 1, 31, 32, 1023, 1024, 737279], rng.integers(0, 737280, 500)])
    classes = np.stack(np.unravel_index(rows, (1, 3, 6, 40, 32, 32)), axis=1)
    expected = dsprites_render.render(classes)
    np.testing.assert_array_equal(arrays.images(rows), expected)


def test_make_datasets_dsprites_end_to_end(full_cache):
    from tfbvae.data.pipeline import make_datasets

    data_dir, _ = full_cache
    train, val, info = make_datasets(
        "dsprites", batch_size=32, seed=1, validation_fraction=0.001, source="rendered",
        data_dir=data_dir, with_factors=True,
    )
    assert info.source == "dsprites-rendered (tfbvae renderer v1)"
    assert info.num_examples == 737280 and info.num_validation == 737
    assert info.image_shape == (64, 64, 1)
    images, factors = next(iter(train))
    assert images.shape == (32, 64, 64, 1) and images.dtype.name == "uint8"
    classes = dsprites_layout.factors_to_classes(factors.numpy())
    np.testing.assert_array_equal(images.numpy()[..., 0], 255 * dsprites_render.render(classes))
    assert sum(int(x.shape[0]) for x, _ in val) == 737


# ----------------------------------------------------------------------------------------
# Official file


def _write_official_like(path, num_images, **overrides):
    """An npz in the official format (same keys, dtypes, row order), for ``num_images`` rows."""
    classes = dsprites_layout.latents_classes(np.arange(num_images))
    arrays = {
        "imgs": dsprites_render.render(classes),
        "latents_classes": classes,
        "latents_values": dsprites_layout.latents_values(classes),
        "metadata": np.array(dsprites_layout.metadata(), dtype=object),
    }
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez_compressed(path, **arrays)
    return path


def test_official_file_against_the_renderer():
    found = dsprites_sources.find_official_npz()
    if found is None:
        pytest.skip(
            f"official {paths.OFFICIAL_DSPRITES_FILE} absent (looked in "
            f"{[str(p) for p in paths.official_dsprites_candidates()]})"
        )
    official = dsprites_sources.load_official(found)
    assert official.source == "dsprites-official-npz"
    rng = np.random.default_rng(0)
    sprites = rng.choice(720, 60, replace=False)
    worst, total, count = 0, {0: 0, 1: 0, 2: 0}, {0: 0, 1: 0, 2: 0}
    for sprite in sprites:
        rows = np.arange(sprite * 1024, (sprite + 1) * 1024)
        wrong = (official.images(rows) != dsprites_render.render_sprite_block(sprite)).sum((1, 2))
        shape = sprite // 240
        worst = max(worst, wrong.max())
        total[shape] += wrong.sum()
        count[shape] += len(wrong)
    assert worst <= 4
    for shape, limit in [(0, 0.3), (1, 1.2), (2, 0.5)]:
        if count[shape]:
            assert total[shape] / count[shape] <= limit


def test_official_loader_reads_a_file_in_the_official_format(tmp_path):
    path = _write_official_like(tmp_path / paths.OFFICIAL_DSPRITES_FILE, SMALL)
    arrays = dsprites_sources.load_official(tmp_path, expected_num_images=SMALL)  # a directory works
    assert arrays.source == "dsprites-official-npz" and arrays.location == str(path)
    np.testing.assert_array_equal(arrays.packed, _expected_packed(np.arange(SMALL)))


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"latents_values": None}, r"missing keys \['latents_values'\]"),
        ({"metadata": None}, r"missing keys \['metadata'\]"),
        ({"imgs": np.zeros((SMALL, 32, 32), np.uint8)}, r"'imgs' is uint8 \(2048, 32, 32\), expected uint8 \(2048, 64, 64\)"),
        ({"imgs": np.zeros((SMALL, 64, 64), np.float32)}, r"'imgs' is float32 .* expected uint8"),
        ({"latents_classes": np.zeros((SMALL, 5), np.int64)}, r"'latents_classes' is int64 \(2048, 5\)"),
        ({"imgs": np.full((SMALL, 64, 64), 255, np.uint8)}, "0/1 pixels"),
        ({"latents_classes": dsprites_layout.latents_classes(np.arange(SMALL))[::-1].copy()}, "not in the official order"),
    ],
)
def test_official_loader_errors(tmp_path, overrides, message):
    path = _write_official_like(tmp_path / "fake.npz", SMALL, **overrides)
    with pytest.raises(ValueError, match=message):
        dsprites_sources.load_official(path, expected_num_images=SMALL)


def test_official_loader_checks_the_full_size(tmp_path):
    path = _write_official_like(tmp_path / "small.npz", 1024)
    with pytest.raises(ValueError, match=r"\(1024, 64, 64\), expected uint8 \(737280, 64, 64\)"):
        dsprites_sources.load_official(path)


def test_official_loader_missing_and_not_a_zip(tmp_path):
    with pytest.raises(FileNotFoundError, match="source='rendered'"):
        dsprites_sources.load_official(tmp_path / "nope.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not an .npz"):
        dsprites_sources.load_official(tmp_path / "bad.npz")


def test_official_file_is_looked_up_in_disentanglement_lib_data(tmp_path, monkeypatch):
    monkeypatch.setenv("DISENTANGLEMENT_LIB_DATA", str(tmp_path))
    expected = tmp_path / "dsprites" / paths.OFFICIAL_DSPRITES_FILE
    assert paths.official_dsprites_candidates() == [
        paths.shared_dsprites_dir() / paths.OFFICIAL_DSPRITES_FILE,
        expected,
    ]
    if paths.official_dsprites_candidates()[0].is_file():
        pytest.skip("the shared official file is present and takes precedence")
    assert dsprites_sources.find_official_npz() is None
    expected.parent.mkdir()
    expected.write_bytes(b"")
    assert dsprites_sources.find_official_npz() == expected


def test_official_metadata_is_not_unpickled(tmp_path, monkeypatch):
    # The loader only checks that the key exists: a user's file never runs pickled code.
    _write_official_like(tmp_path / "f.npz", SMALL)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    dsprites_sources.load_official(tmp_path / "f.npz", expected_num_images=SMALL)
    with zipfile.ZipFile(tmp_path / "f.npz") as z:
        assert "metadata.npy" in z.namelist()


# ----------------------------------------------------------------------------------------
# tfds


def _tfds_examples(rows, image_values=1):
    """tfds-``dsprites``-style examples of the given rows, as its builder writes them."""
    classes = dsprites_layout.latents_classes(rows)
    values = dsprites_layout.latents_values(classes).astype(np.float32)
    imgs = dsprites_render.render(classes)[..., None] * image_values
    names = ["shape", "scale", "orientation", "x_position", "y_position"]
    examples = {"image": imgs.astype(np.uint8)}
    for j, name in enumerate(names, start=1):
        examples[f"label_{name}"] = classes[:, j]
        examples[f"value_{name}"] = values[:, j]
    return examples


def test_tfds_source_gives_the_same_images_in_the_official_order():
    import tensorflow as tf
    import tensorflow_datasets as tfds

    rows = np.random.default_rng(0).permutation(SMALL)  # tfds stores examples shuffled

    def as_dataset(self, *args, **kwargs):
        assert set(self.info.features) >= {"image", "label_shape", "label_y_position"}
        return tf.data.Dataset.from_tensor_slices(_tfds_examples(rows))

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        arrays = dsprites_sources.load_tfds(expected_num_images=SMALL)
    assert arrays.source == "dsprites-tfds"
    np.testing.assert_array_equal(arrays.packed, _expected_packed(np.arange(SMALL)))


def test_tfds_source_errors():
    import tensorflow as tf
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=5):  # random pixels, not 0/1
        with pytest.raises(ValueError, match="must be 0/1"):
            dsprites_sources.load_tfds(expected_num_images=SMALL)

    def incomplete(self, *args, **kwargs):
        return tf.data.Dataset.from_tensor_slices(_tfds_examples(np.arange(SMALL - 3)))

    with tfds.testing.mock_data(as_dataset_fn=incomplete):
        with pytest.raises(ValueError, match="incomplete: 2045 of 2048"):
            dsprites_sources.load_tfds(expected_num_images=SMALL)

    def duplicated(self, *args, **kwargs):
        return tf.data.Dataset.from_tensor_slices(_tfds_examples(np.arange(SMALL) % 100))

    with tfds.testing.mock_data(as_dataset_fn=duplicated):
        with pytest.raises(ValueError, match="duplicate"):
            dsprites_sources.load_tfds(expected_num_images=SMALL)


def test_tfds_source_not_prepared_offline(tmp_path):
    with pytest.raises(RuntimeError, match="source='rendered'"):
        dsprites_sources.load_tfds(data_dir=tmp_path, download=False)


# ----------------------------------------------------------------------------------------
# Ground-truth interface


def test_dsprites_ground_truth_interface():
    data = DSprites(source="rendered")
    assert data.source == "dsprites-rendered (tfbvae renderer v1)"
    assert list(data.factors_num_values) == [3, 6, 40, 32, 32]
    assert list(data.factor_names) == ["shape", "scale", "orientation", "posX", "posY"]
    assert data.num_factors == 5 and tuple(data.observation_shape) == (64, 64, 1)
    factors, observations = data.sample(50, np.random.RandomState(0))
    assert factors.shape == (50, 5) and factors.dtype == np.int64
    assert observations.shape == (50, 64, 64, 1) and observations.dtype == np.float32
    assert set(np.unique(observations)) <= {0.0, 1.0}
    classes = dsprites_layout.factors_to_classes(factors)
    np.testing.assert_array_equal(observations[..., 0], dsprites_render.render(classes))
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        data.sample_observations_from_factors(np.zeros((2, 6), int), np.random.RandomState(0))
    with pytest.raises(ValueError, match="out of range"):
        data.sample_observations_from_factors(np.array([[3, 0, 0, 0, 0]]), np.random.RandomState(0))


def test_dsprites_sources_by_name(tmp_path):
    if dsprites_sources.find_official_npz() is None:
        assert DSprites().source == "dsprites-rendered (tfbvae renderer v1)"  # auto, offline
    with pytest.raises(FileNotFoundError, match="not found"):
        DSprites(source="official", path=tmp_path / "missing.npz")
    _write_official_like(tmp_path / "small.npz", 1024)
    with pytest.raises(ValueError, match="expected uint8 \\(737280, 64, 64\\)"):
        DSprites(path=tmp_path / "small.npz")  # auto with a path means the official file
    with pytest.raises(ValueError, match="unknown dSprites source"):
        DSprites(source="offical")


def test_official_source_serves_observations(tmp_path, monkeypatch):
    _write_official_like(tmp_path / "small.npz", SMALL)
    real = dsprites_sources.load_official
    monkeypatch.setattr(
        dsprites_sources, "load_official", lambda path: real(path, expected_num_images=SMALL)
    )
    data = DSprites(source="official", path=tmp_path / "small.npz")
    assert data.source == "dsprites-official-npz"
    factors = dsprites_layout.latents_classes(np.arange(0, SMALL, 7))[:, 1:]
    observations = data.sample_observations_from_factors(factors, np.random.RandomState(0))
    np.testing.assert_array_equal(
        observations[..., 0], dsprites_render.render(dsprites_layout.factors_to_classes(factors))
    )


def test_a_verified_cache_is_not_hashed_again_until_its_file_changes(small_cache, monkeypatch):
    """The checksum is taken once per version of the data file (verified.json records its size,
    modification time and inode); a write to the file brings it back."""
    load = lambda: dsprites_sources.load_rendered(small_cache, num_images=SMALL)  # noqa: E731
    load()  # hashes and records the verification
    hashed = []
    real = array_cache.file_sha256
    monkeypatch.setattr(array_cache, "file_sha256", lambda path: hashed.append(path) or real(path))
    load()
    assert hashed == []
    path = _entry(small_cache) / "data.npy"
    path.write_bytes(path.read_bytes())  # same bytes, a new write
    load()
    assert hashed == [path]
    load()
    assert hashed == [path]
