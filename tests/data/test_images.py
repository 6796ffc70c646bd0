"""CelebA and image folders: crop box and size exactly, discovery, errors, caching, tfds."""

import io
import logging
import zipfile
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from tfbvae.data import images
from tfbvae.data.datasets import celeba, image_folder

OUTSIDE = (255, 0, 0)
QUADRANTS = [(10, 200, 30), (220, 40, 90), (60, 60, 250), (240, 240, 240)]


def celeba_pattern(seed: int = 0) -> np.ndarray:
    """A 218x178 (height x width) image whose 148x148 centre crop (rows 35..182, cols 15..162)
    holds four flat 74x74 quadrants and everything outside is red, with noise outside so that
    a crop shifted or resized wrongly cannot produce the expected output by chance."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (218, 178, 3)).astype(np.uint8)
    image[..., :] = np.where(rng.random((218, 178, 1)) < 0.5, OUTSIDE, image)
    for k, colour in enumerate(QUADRANTS):
        top, left = 35 + 74 * (k // 2), 15 + 74 * (k % 2)
        image[top : top + 74, left : left + 74] = colour
    return image


def expected_quadrants() -> np.ndarray:
    out = np.zeros((64, 64, 3), np.uint8)
    for k, colour in enumerate(QUADRANTS):
        out[32 * (k // 2) : 32 * (k // 2) + 32, 32 * (k % 2) : 32 * (k % 2) + 32] = colour
    return out


def encode(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    kwargs = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {}  # 4:4:4 colour
    Image.fromarray(array).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------
# Pre-processing


def test_celeba_crop_box_and_size_are_exact():
    assert images.crop_box(218, 178, celeba.CROP) == (35, 15, 148, 148)
    out = images.preprocess(celeba_pattern(), celeba.CROP, 64, 3)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # 148 -> 64 by area: the quadrant edge at 74 lands exactly on output pixel 32, so any
    # misplaced crop (off by one row or column) or a non-area resize would blend colours.
    np.testing.assert_array_equal(out, expected_quadrants())


@pytest.mark.parametrize("shift", [(1, 0), (0, 1), (-1, 0), (0, -1)])
def test_a_crop_off_by_one_pixel_would_be_caught(shift):
    moved = np.roll(celeba_pattern(), shift, axis=(0, 1))
    assert not np.array_equal(images.preprocess(moved, celeba.CROP, 64, 3), expected_quadrants())


def test_default_crop_is_the_centred_square_and_grey_conversion():
    # 64 high x 100 wide: the centred 64x64 square starts at column 18; no resize needed.
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (64, 100)).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    assert images.crop_box(64, 100, None) == (0, 18, 64, 64)
    np.testing.assert_array_equal(images.preprocess(rgb, None, 64, 3), rgb[:, 18:82])
    np.testing.assert_array_equal(images.preprocess(rgb, None, 64, 1)[..., 0], grey[:, 18:82])
    # An explicit (height, width) box, centred, then resized: 32x50 -> rows 16..47, cols 25..74.
    assert images.crop_box(64, 100, (32, 50)) == (16, 25, 32, 50)


def test_16_bit_and_cmyk_files_become_8_bit_as_the_serving_graph_reads_them(tmp_path, image_files):
    # A folder of a 16-bit grey PNG (0x8080 = 32896: clipped to 255 by Pillow's own "I;16" -> "L",
    # 128 by the high byte), a 16-bit RGB PNG and an Adobe CMYK JPEG (ink 100, 0, 255, 50:
    # Pillow's own CMYK -> RGB gives R = 125, TensorFlow's decoder 205 * 155 // 255 = 124).
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a_grey16.png").write_bytes(image_files.png(np.full((64, 64), 32896, np.uint16), 16, 0))
    rgb16 = np.stack([np.full((64, 64), v, np.uint16) for v in (65535, 511, 255)], axis=-1)
    (folder / "b_rgb16.png").write_bytes(image_files.png(rgb16, 16, 2))
    buffer = io.BytesIO()
    image_files.cmyk_image(np.tile(np.array([100, 0, 255, 50], np.uint8), (64, 64, 1))).save(
        buffer, "JPEG", quality=100)
    (folder / "c_cmyk.jpg").write_bytes(buffer.getvalue())
    loaded = image_folder.load_image_folder(folder, data_dir=tmp_path / "cache", channels=3)
    expected = [(128, 128, 128), (255, 1, 0), (124, 205, 0)]
    np.testing.assert_array_equal(loaded.images, np.broadcast_to(np.array(expected, np.uint8)[:, None, None],
                                                                 (3, 64, 64, 3)))


def test_32_bit_pixels_are_refused_not_clipped():
    with pytest.raises(ValueError, match=r"32-bit integer pixels \(Pillow mode 'I'\) are not read"):
        images.preprocess(np.zeros((64, 64), np.int32), None, 64, 1)
    with pytest.raises(ValueError, match=r"32-bit float pixels \(Pillow mode 'F'\) are not read"):
        images.preprocess(np.zeros((64, 64), np.float32), None, 64, 1)


def test_crop_larger_than_the_image_is_an_error():
    with pytest.raises(ValueError, match="cannot crop 148x148 .* out of a 100x100 image"):
        images.preprocess(np.zeros((100, 100, 3), np.uint8), 148, 64, 3)
    with pytest.raises(ValueError, match="channels must be 1 .* or 3"):
        images.preprocess(np.zeros((64, 64, 3), np.uint8), None, 64, 2)


# ----------------------------------------------------------------------------------------
# Image folders


def make_chairs_tree(root, count=3):
    """rendered_chairs/<chair>/renders/image_*.png plus files that are not images."""
    rng = np.random.default_rng(2)
    arrays = {}
    for chair in ("1a6f615e8b1b5ae4dbbc9440457e303e", "1a8bbf2994788e2743e99e0cae970928"):
        folder = root / "rendered_chairs" / chair / "renders"
        folder.mkdir(parents=True)
        for k in range(count):
            name = f"image_{k:03d}_p020_t{k * 11:03d}_r096.png"
            if k == count - 1:
                name = name.replace(".png", ".PNG")  # extensions in any case
            array = rng.integers(0, 256, (80, 80, 3)).astype(np.uint8)
            (folder / name).write_bytes(encode(array, "PNG"))
            arrays[f"{chair}/renders/{name}"] = array
    (root / "rendered_chairs" / "all_chair_names.mat").write_bytes(b"MATLAB 5.0")
    (root / "rendered_chairs" / "README.txt").write_text("not an image")
    return arrays


def test_folder_discovery_is_recursive_and_sorted(tmp_path):
    arrays = make_chairs_tree(tmp_path)
    files = image_folder.discover_images(tmp_path / "rendered_chairs")
    relative = [str(f.relative_to(tmp_path / "rendered_chairs")) for f in files]
    assert relative == sorted(arrays)


def test_folder_images_are_preprocessed_in_order(tmp_path):
    arrays = make_chairs_tree(tmp_path)
    loaded = image_folder.load_image_folder(
        tmp_path / "rendered_chairs", data_dir=tmp_path / "cache", channels=3
    )
    assert loaded.images.shape == (6, 64, 64, 3) and loaded.images.dtype == np.uint8
    assert loaded.source == f"image-folder:{tmp_path / 'rendered_chairs'}"
    for row, name in enumerate(sorted(arrays)):
        np.testing.assert_array_equal(loaded.images[row], images.preprocess(arrays[name], None, 64, 3))
    grey = image_folder.load_image_folder(
        tmp_path / "rendered_chairs", data_dir=tmp_path / "cache", channels=1
    )
    assert grey.images.shape == (6, 64, 64, 1)


def test_folder_cache_is_rebuilt_when_files_change(tmp_path, caplog):
    make_chairs_tree(tmp_path)
    root = tmp_path / "rendered_chairs"
    assert image_folder.load_image_folder(root, data_dir=tmp_path / "c").num_images == 6
    (root / "new.jpg").write_bytes(encode(np.zeros((70, 90, 3), np.uint8), "JPEG"))
    with caplog.at_level(logging.WARNING):
        assert image_folder.load_image_folder(root, data_dir=tmp_path / "c").num_images == 7
    assert "stale" in caplog.text


def test_corrupt_file_is_named_or_skipped_on_request(tmp_path):
    make_chairs_tree(tmp_path)
    root = tmp_path / "rendered_chairs"
    bad = root / "1a6f615e8b1b5ae4dbbc9440457e303e" / "renders" / "image_001_p020_t011_r096.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match=f"cannot decode image {bad}"):
        image_folder.load_image_folder(root, data_dir=tmp_path / "c")
    with pytest.warns(UserWarning) as caught:
        loaded = image_folder.load_image_folder(root, data_dir=tmp_path / "c", on_error="skip")
    messages = [str(w.message) for w in caught]
    assert messages[0].startswith(f"Skipping cannot decode image {bad}: ")
    assert "1 undecodable images were skipped" in messages[1]
    assert loaded.num_images == 5 and loaded.skipped == (str(bad),)
    with pytest.raises(ValueError, match="on_error must be"):
        image_folder.load_image_folder(root, data_dir=tmp_path / "c", on_error="ignore")


def test_too_small_image_is_named(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "tiny.png").write_bytes(encode(np.zeros((20, 20, 3), np.uint8), "PNG"))
    with pytest.raises(ValueError, match="tiny.png: cannot crop 40x40"):
        image_folder.load_image_folder(tmp_path / "imgs", data_dir=tmp_path / "c", crop=40)


def test_missing_or_empty_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"Image folder {tmp_path / 'nope'} does not exist: expected a directory"):
        image_folder.load_image_folder(tmp_path / "nope")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=f"No images found under {tmp_path / 'empty'}: expected files ending in .png"):
        image_folder.load_image_folder(tmp_path / "empty")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        image_folder.load_image_folder(tmp_path / "file.png")


# ----------------------------------------------------------------------------------------
# CelebA


def make_celeba_zip(path, count=4):
    """img_align_celeba.zip: img_align_celeba/000001.jpg ..."""
    encoded = {}
    with zipfile.ZipFile(path, "w") as archive:
        for k in range(count):
            name = f"img_align_celeba/{k + 1:06d}.jpg"
            encoded[name] = encode(celeba_pattern(seed=k), "JPEG")
            archive.writestr(name, encoded[name])
    return encoded


def test_celeba_zip_and_folder_give_the_same_preprocessed_images(tmp_path):
    encoded = make_celeba_zip(tmp_path / "img_align_celeba.zip")
    from_zip = celeba.load_celeba(path=tmp_path / "img_align_celeba.zip", data_dir=tmp_path / "c")
    assert from_zip.source == f"celeba-zip:{tmp_path / 'img_align_celeba.zip'}"
    assert from_zip.images.shape == (4, 64, 64, 3) and from_zip.images.dtype == np.uint8
    for row, name in enumerate(sorted(encoded)):
        decoded = np.asarray(Image.open(io.BytesIO(encoded[name])).convert("RGB"))
        np.testing.assert_array_equal(from_zip.images[row], images.preprocess(decoded, 148, 64, 3))
        # JPEG blurs the edges a little; the crop still shows only the quadrants.
        error = np.abs(from_zip.images[row].astype(int) - expected_quadrants()).mean()
        assert error < 3.0
    with zipfile.ZipFile(tmp_path / "img_align_celeba.zip") as archive:
        archive.extractall(tmp_path / "unzipped")
    from_folder = celeba.load_celeba(path=tmp_path / "unzipped", data_dir=tmp_path / "c")
    assert from_folder.source.startswith("celeba-folder:")
    np.testing.assert_array_equal(from_folder.images, from_zip.images)


def test_celeba_zip_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected img_align_celeba.zip"):
        celeba.load_celeba(path=tmp_path / "img_align_celeba.zip")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as archive:
        archive.writestr("readme.txt", "nothing")
    with pytest.raises(ValueError, match="No JPEG images found in .*empty.zip"):
        celeba.load_celeba(path=tmp_path / "empty.zip")
    (tmp_path / "broken.zip").write_bytes(b"PK no zip")
    with pytest.raises(ValueError, match="not a readable zip"):
        celeba.load_celeba(path=tmp_path / "broken.zip", source="zip")
    with pytest.raises(ValueError, match="needs path="):
        celeba.load_celeba(source="zip")
    with pytest.raises(ValueError, match="unknown CelebA source"):
        celeba.load_celeba(source="drive")


def test_celeba_corrupt_jpeg_in_zip_is_named(tmp_path):
    make_celeba_zip(tmp_path / "c.zip", count=2)
    with zipfile.ZipFile(tmp_path / "c.zip", "a") as archive:
        archive.writestr("img_align_celeba/000003.jpg", b"\xff\xd8\xff garbage")
    with pytest.raises(ValueError, match="cannot decode image img_align_celeba/000003.jpg"):
        celeba.load_celeba(path=tmp_path / "c.zip", data_dir=tmp_path / "cache")
    with pytest.warns(UserWarning) as caught:
        loaded = celeba.load_celeba(path=tmp_path / "c.zip", data_dir=tmp_path / "cache", on_error="skip")
    assert all("000003.jpg" in str(w.message) for w in caught)
    assert loaded.num_images == 2


def test_celeba_tfds_preprocessing_is_exact(tmp_path):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    patterns = np.stack([celeba_pattern(seed=k) for k in range(3)])

    def as_dataset(self, *args, **kwargs):
        assert self.info.features["image"].shape == (218, 178, 3)
        return tf.data.Dataset.from_tensor_slices({"image": patterns})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        loaded = celeba.load_celeba(source="tfds", data_dir=tmp_path)
    assert loaded.source == "celeba-tfds"
    np.testing.assert_array_equal(loaded.images, np.stack([expected_quadrants()] * 3))


class Downloaded(Exception):
    """Raised instead of tfds' download_and_prepare: a load that must stay local never calls it."""


def refuse_downloads():
    import tensorflow_datasets as tfds

    return mock.patch.object(
        tfds.core.DatasetBuilder, "download_and_prepare", side_effect=Downloaded("tfds download")
    )


def test_celeba_auto_reads_a_prepared_tfds_copy_without_downloading(tmp_path):
    import tensorflow_datasets as tfds

    tfds_dir = tmp_path / "tfds"
    prepared = mock.patch.object(tfds.builder_cls("celeb_a"), "is_prepared", return_value=True)
    with tfds.testing.mock_data(num_examples=5), prepared, refuse_downloads():
        loaded = celeba.load_celeba(data_dir=tmp_path, tfds_data_dir=tfds_dir)  # auto, no path
        originals = [ex["image"] for ex in tfds.as_numpy(tfds.load(
            "celeb_a", split=celeba.TFDS_SPLIT, data_dir=tfds_dir, download=False, shuffle_files=False
        ))]
    assert loaded.source == "celeba-tfds" and loaded.images.shape == (5, 64, 64, 3)
    for row, original in enumerate(originals):
        np.testing.assert_array_equal(loaded.images[row], images.preprocess(original, 148, 64, 3))


def test_celeba_auto_prepares_from_the_manual_files_without_the_network(tmp_path):
    import tensorflow_datasets as tfds

    manual = tmp_path / "manual"
    manual.mkdir()
    for name in celeba.TFDS_MANUAL_FILES:
        (manual / name).write_bytes(b"")
    calls = []
    with tfds.testing.mock_data(num_examples=3), mock.patch.object(
        tfds.core.DatasetBuilder, "download_and_prepare", lambda self, **kw: calls.append(kw)
    ):
        loaded = celeba.load_celeba(data_dir=tmp_path, tfds_data_dir=tmp_path / "tfds", manual_dir=manual)
    assert loaded.source == "celeba-tfds" and loaded.images.shape == (3, 64, 64, 3)
    [kwargs] = calls  # tfds prepares it from the manual files, asking no server for a copy
    assert str(kwargs["download_config"].manual_dir) == str(manual)
    assert kwargs["download_config"].try_download_gcs is False


def test_celeba_auto_without_a_local_copy_stops_at_once_saying_how_to_get_it(tmp_path):
    tfds_dir, manual = tmp_path / "tfds", tmp_path / "manual"
    manual.mkdir()
    (manual / "img_align_celeba.zip").write_bytes(b"")  # the zip alone is not enough for tfds
    with refuse_downloads(), pytest.raises(FileNotFoundError) as error:
        celeba.load_celeba(data_dir=tmp_path, tfds_data_dir=tfds_dir, manual_dir=manual)
    message = str(error.value)
    assert f"tfds has not prepared celeb_a in {tfds_dir}" in message
    assert f"{manual} lacks list_eval_partition.txt, list_attr_celeba.txt" in message
    for hint in ("path=/path/to/img_align_celeba.zip", "manual_dir=", "source='tfds'", "Google Drive",
                 ", ".join(celeba.TFDS_MANUAL_FILES)):
        assert hint in message
    with refuse_downloads(), pytest.raises(FileNotFoundError) as error:  # tfds' default manual dir
        celeba.load_celeba(data_dir=tmp_path, tfds_data_dir=tfds_dir)
    assert f"{tfds_dir / 'downloads' / 'manual'} lacks img_align_celeba.zip" in str(error.value)


def test_celeba_tfds_source_may_download(tmp_path):
    with refuse_downloads(), pytest.raises(RuntimeError) as error:
        celeba.load_celeba(source="tfds", data_dir=tmp_path, tfds_data_dir=tmp_path / "tfds")
    assert isinstance(error.value.__cause__, Downloaded)  # it asked tfds to download


def test_celeba_tfds_unavailable_explains_drive_and_manual_dir(tmp_path):
    with pytest.raises(RuntimeError) as err:
        celeba.load_celeba(
            source="tfds", tfds_data_dir=tmp_path, download=False, manual_dir=tmp_path / "manual"
        )
    message = str(err.value)
    assert "Google Drive" in message and str(tmp_path / "manual") in message
    assert "img_align_celeba.zip" in message and "path=" in message


def test_images_smaller_than_the_training_size_are_enlarged_with_a_warning(tmp_path):
    """A 1x1 image trains as one flat colour: the loader says so, naming one and the count, on
    the first load and on every load from the cache."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(folder / "dot.png")
    Image.new("RGB", (80, 80), (0, 0, 0)).save(folder / "big.png")
    for _ in range(2):  # built, then read from the cache
        with pytest.warns(UserWarning, match=r"1 of 2 images are smaller than 64x64 after "
                          r"cropping and were enlarged \(e.g. .*dot.png \(1 x 1\)\)"):
            loaded = image_folder.load_image_folder(folder, data_dir=tmp_path / "c")
        assert (loaded.images[1] == (200, 10, 10)).all()  # sorted: big.png, dot.png
