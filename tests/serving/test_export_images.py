"""The in-graph image-file preparation of ``encode_image_bytes`` equals the training pipeline's
Pillow pre-processing (tfbvae.data.images.preprocess), pixel for pixel, for every kind of file
either side may be given: 8- and 16-bit PNGs of each colour type, palettes, alpha, BMP, GIF, WebP
and RGB, grey and CMYK JPEGs. The files are written by the tests (Pillow, or the ``image_files``
fixture for 16-bit PNGs and CMYK JPEGs without Adobe's marker)."""

import functools
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfbvae.data.images import decode, preprocess
from tfbvae.serving.image_bytes import decode_image_bytes

def noise(seed: int, shape) -> np.ndarray:
    """Random 8-bit pixels, each image from its own seed (no RNG shared between tests)."""
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@functools.lru_cache
def prepare(channels: int, crop) -> tf.types.experimental.GenericFunction:
    """The graph ``encode_image_bytes`` maps over its batch (traced once per setting)."""
    return tf.function(lambda b: decode_image_bytes(b, (64, 64, channels), crop),
                       input_signature=[tf.TensorSpec([], tf.string)])


def served_pixels(data: bytes, channels: int, crop=None) -> np.ndarray:
    pixels = prepare(channels, crop)(tf.constant(data)).numpy() * 255.0
    np.testing.assert_allclose(pixels, np.round(pixels), atol=1e-3)  # whole grey levels / 255
    return np.round(pixels).astype(np.uint8)


CASES = [  # (name, image, format, channels, crop): noise, so that any misplaced weight shows
    ("grey 100x100 (scale 1.5625)", Image.fromarray(noise(1, (100, 100))), "PNG", 1, None),
    ("RGB 218x178 to grey", Image.fromarray(noise(2, (218, 178, 3))), "PNG", 1, None),
    ("RGB 218x178, CelebA crop", Image.fromarray(noise(3, (218, 178, 3))), "PNG", 3, (148, 148)),
    ("RGB 37x91 (odd, wide)", Image.fromarray(noise(4, (37, 91, 3))), "PNG", 3, None),
    ("grey 20x30 (upscaled)", Image.fromarray(noise(5, (20, 30))), "PNG", 1, None),
    ("grey 64x64 (unchanged)", Image.fromarray(noise(6, (64, 64))), "PNG", 1, None),
    ("grey 128x128 (halved)", Image.fromarray(noise(7, (128, 128))), "PNG", 1, None),
    ("RGBA to grey", Image.fromarray(noise(8, (90, 70, 4))), "PNG", 1, None),
    ("RGBA to RGB", Image.fromarray(noise(9, (90, 70, 4))), "PNG", 3, None),
    ("grey+alpha to RGB", Image.fromarray(noise(10, (90, 70))).convert("LA"), "PNG", 3, None),
    ("palette to grey", Image.fromarray(noise(11, (90, 70, 3))).convert("P"), "PNG", 1, None),
    ("BMP", Image.fromarray(noise(12, (90, 70, 3))), "BMP", 1, None),
    ("GIF", Image.fromarray(noise(13, (90, 70, 3))).convert("P"), "GIF", 1, None),
    ("1-bit grey", Image.fromarray(noise(14, (90, 70)) > 127), "PNG", 1, None),
    ("WebP lossy", Image.fromarray(noise(15, (90, 70, 3))), "WEBP", 3, None),
    ("WebP RGBA to grey", Image.fromarray(noise(16, (90, 70, 4))), "WEBP", 1, None),
]


def noise16(seed: int, shape) -> np.ndarray:
    """Random 16-bit samples, each image from its own seed."""
    return np.random.default_rng(seed).integers(0, 65536, shape).astype(np.uint16)


# (name, file bytes from the image-file writers, channels, crop): kinds Pillow cannot write, or
# not via `encoded`; written when the test runs, by the `image_files` fixture's writers `w`.
FILES = [
    ("16-bit grey", lambda w: w.png(noise16(17, (100, 90)), 16, 0), 1, None),
    ("16-bit grey to RGB", lambda w: w.png(noise16(18, (100, 90)), 16, 0), 3, None),
    ("16-bit grey+alpha", lambda w: w.png(noise16(19, (100, 90, 2)), 16, 4), 1, None),
    ("16-bit RGB", lambda w: w.png(noise16(20, (100, 90, 3)), 16, 2), 3, None),
    ("16-bit RGB to grey", lambda w: w.png(noise16(21, (100, 90, 3)), 16, 2), 1, None),
    ("16-bit RGBA", lambda w: w.png(noise16(22, (100, 90, 4)), 16, 6), 3, None),
    ("palette with a transparent entry",
     lambda w: encoded(Image.fromarray(noise(23, (90, 70, 3))).convert("P"), "PNG", transparency=0), 3, None),
    ("CMYK JPEG (Adobe) to RGB", lambda w: encoded(w.cmyk_image(noise(24, (100, 90, 4))), "JPEG"), 3, None),
    ("CMYK JPEG (Adobe) to grey", lambda w: encoded(w.cmyk_image(noise(25, (100, 90, 4))), "JPEG"), 1, None),
    ("CMYK JPEG without Adobe marker",
     lambda w: w.without_adobe_marker(encoded(w.cmyk_image(noise(26, (100, 90, 4))), "JPEG")), 3, None),
    # JPEG: both sides use libjpeg's accurate integer inverse DCT (TensorFlow's default fast
    # one differed by up to 10 levels at quality 95 and ~90 at quality 100).
    ("JPEG RGB, CelebA crop",
     lambda w: encoded(Image.fromarray(noise(27, (218, 178, 3))), "JPEG"), 3, (148, 148)),
    ("JPEG RGB to grey", lambda w: encoded(Image.fromarray(noise(28, (218, 178, 3))), "JPEG"), 1, (148, 148)),
    ("JPEG quality 95",
     lambda w: encoded(Image.fromarray(noise(29, (100, 90, 3))), "JPEG", quality=95), 3, None),
    ("JPEG quality 100, 4:4:4",
     lambda w: encoded(Image.fromarray(noise(30, (100, 90, 3))), "JPEG", quality=100, subsampling=0), 3, None),
    ("JPEG grey", lambda w: encoded(Image.fromarray(noise(31, (100, 90))), "JPEG", quality=95), 1, None),
    ("JPEG grey to RGB", lambda w: encoded(Image.fromarray(noise(32, (100, 90))), "JPEG"), 3, None),
    ("CMYK JPEG quality 95",
     lambda w: encoded(w.cmyk_image(noise(33, (100, 90, 4))), "JPEG", quality=95), 3, None),
]
ALL = [(name, lambda w, image=image, fmt=fmt: encoded(image, fmt), channels, crop)
       for name, image, fmt, channels, crop in CASES] + FILES


@pytest.mark.parametrize("name, write, channels, crop", ALL, ids=[c[0] for c in ALL])
def test_files_give_exactly_the_training_pixels(name, write, channels, crop, image_files):
    data = write(image_files)
    np.testing.assert_array_equal(
        served_pixels(data, channels, crop), preprocess(decode(data, name), crop, 64, channels)
    )


@pytest.mark.parametrize("channels", [1, 3])
def test_a_16_bit_png_keeps_its_high_byte_in_training_and_serving(channels, image_files):
    # 32896 = 0x8080 (Pillow's I;16 -> L used to clip it to 255), 256 = 0x0100, 255 = 0x00FF.
    values = np.array([32896, 65535, 256, 255, 65280, 511], np.uint16)
    data = image_files.png(np.tile(values, (64, 64 // 6 + 1))[:, :64], 16, 0)
    expected = np.tile(np.array([128, 255, 1, 0, 255, 1], np.uint8), (64, 11))[:, :64]
    expected = np.repeat(expected[..., None], channels, axis=2)
    np.testing.assert_array_equal(preprocess(decode(data, "16-bit"), None, 64, channels), expected)
    np.testing.assert_array_equal(served_pixels(data, channels), expected)


@pytest.mark.parametrize("adobe, rgb", [(True, (124, 205, 0)), (False, (19, 0, 50))])
def test_a_cmyk_jpeg_is_converted_by_tensorflows_formula_on_both_sides(adobe, rgb, image_files):
    # Ink C=100, M=0, Y=255, K=50: (255 - K) * (255 - X) // 255 -> R = 205 * 155 // 255 = 124
    # (Pillow's own CMYK -> RGB rounds to 125). Without the Adobe marker both decoders read the
    # stored (inverted) samples as ink: C=155, M=255, Y=0, K=205 -> R = 50 * 100 // 255 = 19,
    # G = 50 * 0 // 255 = 0, B = 50 * 255 // 255 = 50.
    data = encoded(image_files.cmyk_image(np.tile(np.array([100, 0, 255, 50], np.uint8), (64, 64, 1))),
                   "JPEG", quality=100)
    data = data if adobe else image_files.without_adobe_marker(data)
    expected = np.tile(np.array(rgb, np.uint8), (64, 64, 1))
    np.testing.assert_array_equal(preprocess(decode(data, "cmyk"), None, 64, 3), expected)
    np.testing.assert_array_equal(served_pixels(data, 3), expected)


def test_an_image_smaller_than_the_crop_is_refused_with_the_sizes():
    data = encoded(Image.fromarray(noise(34, (100, 120))), "PNG")
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than the 148x148 centre crop of this export"):
        served_pixels(data, 1, (148, 148))
