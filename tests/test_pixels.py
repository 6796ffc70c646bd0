"""tfbvae.pixels: the 16 -> 8 bit and CMYK -> RGB rules are TensorFlow's, value for value, and
the [0, 1] check the apps share with the serving signatures."""

import io

import numpy as np
import pytest
import tensorflow as tf

from tfbvae import errors
from tfbvae.pixels import (BadImages, UNIT_RANGE_RULE, check_image_values, cmyk_to_rgb,
                                 images_to_float, sixteen_to_eight_bits)

EVERY_16_BIT_VALUE = np.arange(65536, dtype=np.uint16).reshape(256, 256)


def test_sixteen_to_eight_bits_is_the_high_byte():
    values = np.array([0, 255, 256, 32767, 32768, 32896, 33023, 65280, 65535], np.uint16)
    np.testing.assert_array_equal(sixteen_to_eight_bits(values), [0, 0, 1, 127, 128, 128, 128, 255, 255])
    served = sixteen_to_eight_bits(tf.constant(values))  # the same expression on a tensor
    assert served.dtype == tf.uint16
    np.testing.assert_array_equal(served.numpy(), sixteen_to_eight_bits(values))


def test_sixteen_to_eight_bits_equals_tensorflows_conversions_for_every_value(image_files):
    expected = sixteen_to_eight_bits(EVERY_16_BIT_VALUE)
    converted = tf.image.convert_image_dtype(tf.constant(EVERY_16_BIT_VALUE), tf.uint8)
    np.testing.assert_array_equal(converted.numpy(), expected)
    decoded = tf.io.decode_png(image_files.png(EVERY_16_BIT_VALUE, 16, 0), dtype=tf.uint8)  # libpng strip_16
    np.testing.assert_array_equal(decoded.numpy()[..., 0], expected)


def test_images_to_float_divides_uint8_by_255_and_keeps_the_type_given():
    pixels = np.array([[0, 51, 255]], np.uint8)
    as_numpy = images_to_float(pixels)
    assert isinstance(as_numpy, np.ndarray) and as_numpy.dtype == np.float32
    np.testing.assert_array_equal(as_numpy, np.float32([[0, 51, 255]]) / np.float32(255))
    unit = np.array([0.25, 1.0], np.float32)
    assert images_to_float(unit) is unit  # floats are taken as they are, not copied
    assert images_to_float([[0.5]]).dtype == np.float32
    traced = tf.function(images_to_float)(tf.constant(pixels))  # inside a graph: a tensor
    assert traced.dtype == tf.float32
    # To the last bit but one: a graph may multiply by 1/255 instead of dividing.
    np.testing.assert_allclose(traced.numpy(), as_numpy, rtol=1e-7)
    np.testing.assert_array_equal(images_to_float(tf.constant([0.5], tf.float64)).numpy(), [0.5])


def test_cmyk_to_rgb_values():
    ink = np.array([[0, 0, 0, 0], [255, 255, 255, 0], [0, 0, 0, 255], [100, 0, 255, 50], [1, 2, 3, 4]])
    np.testing.assert_array_equal(
        cmyk_to_rgb(ink),
        # (255 - K) * (255 - X) // 255: 205 * 155 / 255 = 124.6 -> 124; 251 * 254 / 255 = 250.02.
        [[255, 255, 255], [0, 0, 0], [0, 0, 0], [124, 205, 0], [250, 249, 248]],
    )
    assert cmyk_to_rgb(ink).dtype == np.uint8


def test_cmyk_to_rgb_equals_tensorflows_jpeg_decoder(image_files):
    # 256 flat 8x8 blocks of random ink: quality 100 stores flat blocks exactly, so only the
    # colour conversion of TensorFlow's decoder is compared.
    ink = np.random.default_rng(0).integers(0, 256, (16, 16, 4)).astype(np.uint8)
    ink = np.repeat(np.repeat(ink, 8, axis=0), 8, axis=1)
    buffer = io.BytesIO()
    image_files.cmyk_image(ink).save(buffer, "JPEG", quality=100)
    decoded = tf.io.decode_jpeg(buffer.getvalue(), dct_method="INTEGER_ACCURATE").numpy()
    np.testing.assert_array_equal(decoded, cmyk_to_rgb(ink))


@pytest.mark.parametrize("images", [
    np.array([0, 128, 255], np.uint8),  # any uint8: 0..255
    np.array([0.0, 0.5, 1.0], np.float32),
    np.array([0.0, 1.0], np.float64),
    np.array([0, 1], np.int64),
    np.array([True, False]),
    np.zeros((0, 64, 64, 1), np.float32),
])
def test_images_in_range_pass(images):
    check_image_values(images, "--images x.npy")


@pytest.mark.parametrize("images, found", [
    (np.array([-0.5, 0.25, 2.0], np.float32), "got float32 values from -0.5 to 2.0"),
    (np.array([0.0, 1.0000001], np.float64), "got float64 values from 0.0 to 1.0000001"),  # as float32: > 1
    (np.array([0, 128, 255], np.int64), "got int64 values from 0.0 to 255.0"),
    (np.array([0.5, np.nan], np.float32), "got float32 values from 0.5 to 0.5 and NaN"),
    (np.array([np.nan, np.nan]), "got float64 only NaN"),
    (np.array([0.0, np.inf], np.float32), "got float32 values from 0.0 to inf"),
])
def test_images_out_of_range_are_refused_with_the_serving_rule(images, found):
    with pytest.raises(BadImages) as raised:
        check_image_values(images, "--images x.npy")
    assert str(raised.value) == f"--images x.npy: {UNIT_RANGE_RULE} (or uint8 0..255); {found}"
    assert isinstance(raised.value, errors.BadInput) and raised.value.exit_code == 2


def test_images_that_are_not_numbers_are_refused():
    with pytest.raises(BadImages, match=r"^--images x.npy holds <U1 values: images must be in \[0, 1\]"):
        check_image_values(np.array(["a"]), "--images x.npy")
    with pytest.raises(BadImages, match="holds complex64 values"):
        check_image_values(np.array([0.5j], np.complex64), "--images x.npy")
