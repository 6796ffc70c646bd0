"""The tf.data pipelines: determinism for a seed, splits, epochs, resuming, shapes, errors."""

import io
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from tfbvae.data.dsprites import layout as dsprites_layout
from tfbvae.data.dsprites import render as dsprites_render
from tfbvae.data.datasets import LoadOptions, dsprites
from tfbvae.data.dsprites import sources as dsprites_sources
from tfbvae.data.pipeline import (
    ImageSource,
    datasets_from_source,
    eval_dataset,
    load_source,
    make_datasets,
    split_indices,
    train_dataset,
)

NUM = 300


def numbered_source() -> ImageSource:
    """Images that carry their own row number in their first two pixels."""
    array = np.zeros((NUM, 64, 64, 3), np.uint8)
    array[:, 0, 0, 0] = np.arange(NUM) % 256
    array[:, 0, 1, 0] = np.arange(NUM) // 256
    return ImageSource("numbered", array, "test-numbered", "memory")


def rows_of(batch) -> np.ndarray:
    batch = np.asarray(batch)
    return batch[:, 0, 0, 0].astype(int) + 256 * batch[:, 0, 1, 0].astype(int)


def first_rows(dataset, batches: int) -> np.ndarray:
    return np.stack([rows_of(b) for b in dataset.take(batches)])


def test_train_batches_are_uint8_with_static_shape():
    train, val, info = datasets_from_source(numbered_source(), 16, seed=0)
    assert train.element_spec.shape.as_list() == [16, 64, 64, 3]
    assert train.element_spec.dtype.name == "uint8"
    assert val is None and info.num_validation == 0 and info.num_train == NUM
    assert info.as_dict()["source"] == "test-numbered"


def test_same_seed_same_order_other_seed_other_order():
    a = first_rows(datasets_from_source(numbered_source(), 16, seed=5)[0], 30)
    b = first_rows(datasets_from_source(numbered_source(), 16, seed=5)[0], 30)
    c = first_rows(datasets_from_source(numbered_source(), 16, seed=6)[0], 30)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_each_epoch_visits_every_training_row_once_in_a_new_order():
    train_rows, _ = split_indices(NUM, 0.1, split_seed=0)
    dataset = train_dataset(numbered_source(), train_rows, batch_size=10, seed=1)
    seen = first_rows(dataset, 2 * len(train_rows) // 10).reshape(2, -1)  # 270 rows: 27 batches
    for epoch in seen:
        np.testing.assert_array_equal(np.sort(epoch), train_rows)
    assert not np.array_equal(seen[0], seen[1])
    assert not np.array_equal(seen[0], train_rows)  # shuffled, not in storage order


def test_rows_left_over_at_an_epoch_end_wait_for_a_later_epoch():
    # 300 rows in batches of 16: 18 batches (288 distinct rows) per epoch, 12 left out, others
    # each time.
    seen = first_rows(train_dataset(numbered_source(), np.arange(NUM), 16, seed=0), 36)
    epochs = seen.reshape(2, -1)
    for epoch in epochs:
        assert len(set(epoch)) == 288
    assert set(epochs[0]) != set(epochs[1])
    with pytest.raises(ValueError, match="exceeds the 300 training rows"):
        train_dataset(numbered_source(), np.arange(NUM), 301, seed=0)


def test_start_step_resumes_exactly():
    train_rows = np.arange(NUM)
    fresh = first_rows(train_dataset(numbered_source(), train_rows, 16, seed=2), 45)
    resumed = first_rows(train_dataset(numbered_source(), train_rows, 16, seed=2, start_step=37), 8)
    np.testing.assert_array_equal(resumed, fresh[37:])


def test_validation_split_is_fixed_by_the_split_seed_and_finite():
    train_rows, val_rows = split_indices(NUM, 0.2, split_seed=3)
    assert len(val_rows) == 60 and len(train_rows) == 240
    assert not set(train_rows) & set(val_rows)
    np.testing.assert_array_equal(np.sort(np.concatenate([train_rows, val_rows])), np.arange(NUM))
    _, val_a, info = datasets_from_source(numbered_source(), 16, seed=0, validation_fraction=0.2, split_seed=3)
    _, val_b, _ = datasets_from_source(numbered_source(), 16, seed=9, validation_fraction=0.2, split_seed=3)
    got_a = np.concatenate([rows_of(b) for b in val_a])
    got_b = np.concatenate([rows_of(b) for b in val_b])
    np.testing.assert_array_equal(got_a, val_rows)  # one pass, in order, last batch partial
    np.testing.assert_array_equal(got_b, val_rows)
    np.testing.assert_array_equal(np.concatenate([rows_of(b) for b in val_a]), val_rows)  # again
    assert info.split_seed == 3 and info.num_validation == 60
    assert not np.array_equal(split_indices(NUM, 0.2, 4)[1], val_rows)
    assert len(split_indices(NUM, 0.0001, 0)[1]) == 1


def test_split_and_batch_errors():
    with pytest.raises(ValueError, match=r"validation_fraction must be in \[0, 1\)"):
        split_indices(NUM, 1.0, 0)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        train_dataset(numbered_source(), np.arange(NUM), 0, seed=0)
    with pytest.raises(ValueError, match="has no ground-truth factors"):
        eval_dataset(numbered_source(), np.arange(NUM), 8, with_factors=True)


def test_dsprites_batches_unpack_bits_and_carry_factors(tmp_path):
    source = dsprites.load_base(LoadOptions(data_dir=tmp_path, num_images=2048))
    train, val, info = datasets_from_source(source, 64, seed=0, validation_fraction=0.25, with_factors=True)
    assert info.image_shape == (64, 64, 1) and info.factor_names == dsprites_layout.FACTOR_NAMES
    for dataset in (train.take(3), val):
        for images, factors in dataset:
            assert images.dtype.name == "uint8" and factors.dtype.name == "int64"
            classes = dsprites_layout.factors_to_classes(factors.numpy())
            np.testing.assert_array_equal(images.numpy()[..., 0], 255 * dsprites_render.render(classes))
    images_only = next(iter(datasets_from_source(source, 8, seed=0)[0]))
    assert images_only.shape == (8, 64, 64, 1)


def test_make_datasets_image_folder_end_to_end(tmp_path):
    folder = tmp_path / "pictures" / "nested"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(12):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (90, 120, 3)).astype(np.uint8)).save(buffer, "PNG")
        (folder / f"{k:02d}.png").write_bytes(buffer.getvalue())
    train, val, info = make_datasets(
        "image_folder", 4, seed=0, validation_fraction=0.25, path=tmp_path / "pictures",
        data_dir=tmp_path / "cache", channels=1,
    )
    assert info.num_examples == 12 and info.num_validation == 3 and info.image_shape == (64, 64, 1)
    assert info.source == f"image-folder:{tmp_path / 'pictures'}"
    assert next(iter(train)).shape == (4, 64, 64, 1)
    assert sum(int(b.shape[0]) for b in val) == 3


def test_make_datasets_argument_errors():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        make_datasets("mnist", 8)
    with pytest.raises(ValueError, match="needs path="):
        make_datasets("image_folder", 8)


def test_a_leading_block_of_rendered_dsprites(tmp_path):
    data = load_source("dsprites", num_images=1024, data_dir=tmp_path)  # auto: rendered
    assert data.source == dsprites_sources.RENDERED_SOURCE and data.num_examples == 1024
    assert data.location == str(tmp_path / "dsprites" / "rendered-1024")
    leading = dsprites_render.render(dsprites_layout.latents_classes(np.arange(1024)))
    np.testing.assert_array_equal(dsprites_sources.unpack(data.array), leading)
    train, val, info = make_datasets(
        "dsprites", 8, validation_fraction=0.25, source="rendered", num_images=1024, data_dir=tmp_path
    )
    assert (info.num_examples, info.num_train, info.num_validation) == (1024, 768, 256)
    assert info.source == dsprites_sources.RENDERED_SOURCE
    assert next(iter(train)).shape == (8, 64, 64, 1) and sum(int(b.shape[0]) for b in val) == 256


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dataset": "celeba"}, "applies to the dSprites data sets only, not 'celeba'"),
        ({"dataset": "image_folder", "path": "images"}, "applies to the dSprites data sets only, not 'image_folder'"),
        ({"dataset": "dsprites", "source": "official"}, "not of source='official': use source='rendered'"),
        ({"dataset": "dsprites", "source": "tfds"}, "not of source='tfds'"),
        ({"dataset": "dsprites", "path": "my.npz"}, "not of source='auto' with path='my.npz'"),
        ({"dataset": "dsprites", "source": "rendred"}, "unknown dSprites source 'rendred'"),
        ({"dataset": "dsprites", "num_images": 1000}, "multiple of 1024"),
        ({"dataset": "dsprites", "num_images": 0}, "multiple of 1024"),
        ({"dataset": "dsprites", "num_images": 1024.0}, "multiple of 1024"),
        ({"dataset": "dsprites", "num_images": 737280 + 1024}, "multiple of 1024"),
    ],
)
def test_num_images_errors(tmp_path, kwargs, message):
    kwargs = {"num_images": 1024, **kwargs}
    with pytest.raises(ValueError, match=message):
        load_source(data_dir=tmp_path, **kwargs)
    assert not (tmp_path / "dsprites").exists()  # refused before rendering anything


class Downloaded(Exception):
    """Raised instead of tfds' download_and_prepare."""


@pytest.mark.parametrize("dataset", ["dsprites", "celeba"])
def test_download_reaches_tfds(tmp_path, dataset):
    import tensorflow_datasets as tfds

    refuse = mock.patch.object(tfds.core.DatasetBuilder, "download_and_prepare", side_effect=Downloaded)
    load = dict(source="tfds", data_dir=tmp_path, tfds_data_dir=tmp_path / "tfds")
    with refuse, pytest.raises(RuntimeError) as offline:
        load_source(dataset, download=False, **load)
    with refuse, pytest.raises(RuntimeError) as online:
        load_source(dataset, **load)
    assert not isinstance(offline.value.__cause__, Downloaded)  # not prepared: tfds says so
    assert isinstance(online.value.__cause__, Downloaded)


def test_make_datasets_celeba_from_a_zip(tmp_path):
    import zipfile

    rng = np.random.default_rng(1)
    with zipfile.ZipFile(tmp_path / "img_align_celeba.zip", "w") as archive:
        for k in range(5):
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (218, 178, 3)).astype(np.uint8)).save(buffer, "JPEG")
            archive.writestr(f"img_align_celeba/{k + 1:06d}.jpg", buffer.getvalue())
    train, val, info = make_datasets(
        "celeba", 2, seed=0, path=tmp_path / "img_align_celeba.zip", data_dir=tmp_path / "cache"
    )
    assert info.source == f"celeba-zip:{tmp_path / 'img_align_celeba.zip'}"
    assert info.image_shape == (64, 64, 3) and info.num_examples == 5 and val is None
    assert next(iter(train)).shape == (2, 64, 64, 3)


def test_random_pixels_resume_exactly_across_epochs():
    """A data set whose pixels are drawn per batch (colour, noisy, scream dSprites): a pipeline
    resumed at any step, here past two epoch boundaries, serves the batches of a fresh one."""
    from tfbvae.data.source import Observation

    def noise(stored, random_state):
        return random_state.uniform(size=stored.shape[:3] + (3,))

    source = ImageSource("noise", np.zeros((10, 4, 4, 1), np.uint8), "test", "memory",
                         observe=Observation(3, noise, "uniform noise"))
    rows = np.arange(10)
    fresh = [b.numpy() for b in train_dataset(source, rows, 4, seed=3).take(7)]  # 2 per epoch
    resumed = [b.numpy() for b in train_dataset(source, rows, 4, seed=3, start_step=5).take(2)]
    assert fresh[0].shape == (4, 4, 4, 3) and fresh[0].dtype == np.uint8
    for a, b in zip(fresh[5:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(fresh[5], fresh[6]) and not np.array_equal(fresh[1], fresh[3])
    other = next(iter(train_dataset(source, rows, 4, seed=4)))
    assert not np.array_equal(other.numpy(), fresh[0])
