"""Pixel-value rules shared by training, serving and the apps, so that each is written once.

Training images are decoded by Pillow (:mod:`tfbvae.data.images`), served ones inside a
TensorFlow graph (:mod:`tfbvae.serving.image_bytes`), and arrays a user hands to an app are checked
here too; wherever the two sides could treat a value differently, the rule lives in this module
and both call it (or, for CMYK, the serving decoder applies it and training reproduces it here).
It imports numpy only (Keras only once it is handed a tensor; no Pillow), so the data, serving
and app code can all import it without importing each other.

* **16-bit samples -> 8 bits: the high byte, ``v // 256``** (:func:`sixteen_to_eight_bits`):
  65535 -> 255, 32896 -> 128, 256 -> 1, 255 -> 0. It is TensorFlow's own rule, so a client who
  prepares images with TensorFlow gets the same values: ``tf.image.convert_image_dtype`` from
  uint16 to uint8 ``floordiv``-s by ``(65535 + 1) // (255 + 1) = 256`` (image_ops_impl.py), and
  ``tf.io.decode_png``/``decode_image`` asked for uint8 strip the low byte (libpng's
  ``png_set_strip_16``, tensorflow/core/lib/png/png_io.cc). Pillow reads 16-bit RGB, RGBA and
  grey+alpha PNGs the same way (raw modes ``RGB;16B`` etc. keep the high bytes); only its 16-bit
  grey mode ``I;16`` would convert to "L" by clipping at 255 (every value above 255 -> 255).
  A rounded rule, ``round(v * 255 / 65535)``, would differ from the high byte by at most one
  grey level; the high byte is kept because every TensorFlow path applies it.
* **CMYK -> RGB: ``floor((255 - C) * (255 - K) / 255)``** for R (M for G, Y for B), C..K the ink
  amounts 0..255 (:func:`cmyk_to_rgb`): what ``tf.io.decode_jpeg``/``decode_image`` do with a
  CMYK or YCCK JPEG (tensorflow/core/lib/jpeg/jpeg_mem.cc, integer division; samples stored
  inverted when the file has Adobe's APP14 marker). No colour profile is applied on either side.
* **uint8 pixels -> float32 in [0, 1]: ``v / 255``; other dtypes are taken as already in [0, 1]**
  (:func:`images_to_float`): the model's input contract. Data pipelines keep images uint8 (4x
  less memory and bandwidth) and the model casts them inside its compiled step; an exported
  signature takes float32 (TensorFlow Serving's clients send floats), so the opener of a trained
  model, the metrics' representation functions and the ``encode_image_bytes`` graph cast with
  the same function before calling it.
* **Float images are in [0, 1] and not NaN** (:data:`UNIT_RANGE_RULE`): the serving signatures
  assert it in the graph; :func:`check_image_values` applies it to arrays given to the apps.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from tfbvae import errors

Values = TypeVar("Values")  # a numpy array or a TensorFlow tensor: only ``//`` is used

# The divisor of the 16 -> 8 bit rule: (uint16 max + 1) // (uint8 max + 1), as TensorFlow's.
_SIXTEEN_TO_EIGHT = (65535 + 1) // (255 + 1)

UNIT_RANGE_RULE = "images must be in [0, 1] (divide 8-bit pixel values by 255) and not NaN"


class BadImages(errors.BadInput, ValueError):
    """Images a user gave cannot be used as given (unreadable, wrong shape, type or values)."""


def sixteen_to_eight_bits(values: Values) -> Values:
    """16-bit samples (0..65535) -> their high byte (0..255), in the same dtype: ``v // 256``.

    Works on numpy arrays and TensorFlow tensors alike (only ``//``), so Pillow's training path
    and the serving graph run the same expression; the caller casts the result to uint8.
    """
    return values // _SIXTEEN_TO_EIGHT


def images_to_float(images: Values) -> Values:
    """Images as float32 in [0, 1]: uint8 pixels (0..255) are divided by 255, other dtypes are
    cast as they are (taken as already in [0, 1]).

    Args:
        images: a numpy array (or anything ``np.asarray`` takes), or a TensorFlow/Keras tensor,
            symbolic ones inside a traced step included.

    Returns:
        A float32 numpy array for numpy input (no copy when it already is one), else a float32
        tensor: the type given, so the compiled step stays in the graph and numpy callers get
        numpy.
    """
    if isinstance(images, np.ndarray) or not hasattr(images, "dtype"):
        images = np.asarray(images)
        floats, dtype = images.astype(np.float32, copy=False), images.dtype.name
    else:  # a tensor: TensorFlow is imported already, so Keras costs nothing more
        import keras

        floats = keras.ops.cast(images, "float32")
        dtype = keras.backend.standardize_dtype(images.dtype)  # tf.DType, or a symbolic's str
    return floats / 255.0 if dtype == "uint8" else floats


def floats_to_uint8(images: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] -> uint8 0..255, rounded to the nearest level: the inverse of
    :func:`images_to_float` up to half a level (1/510), for pixels computed in floats (the
    random observations of colour, noisy and scream dSprites) that the pipeline serves as uint8."""
    return np.rint(np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def cmyk_to_rgb(ink: np.ndarray) -> np.ndarray:
    """Ink amounts ``[..., 4]`` (C, M, Y, K; uint8, 0 = no ink) -> uint8 RGB ``[..., 3]``, as
    TensorFlow's JPEG decoder computes it: ``(255 - K) * (255 - X) // 255`` for X in C, M, Y."""
    ink = np.asarray(ink, np.int32)
    white = 255 - ink[..., 3:4]
    return (white * (255 - ink[..., :3]) // 255).astype(np.uint8)


def check_image_values(images: np.ndarray, name: str) -> None:
    """Raises :class:`BadImages` unless ``images`` are uint8 (0..255, any value) or numbers in
    [0, 1] with no NaN, the range the serving signatures assert (``UNIT_RANGE_RULE``), checked
    as float32 (what the models are given). The message names ``name`` and the values found."""
    if images.dtype == np.uint8:
        return
    if images.dtype != np.bool_ and (
        not np.issubdtype(images.dtype, np.number) or np.issubdtype(images.dtype, np.complexfloating)
    ):
        raise BadImages(f"{name} holds {images.dtype} values: {UNIT_RANGE_RULE} (or uint8 0..255)")
    values = np.asarray(images, np.float32)
    if values.size == 0 or bool(np.all((values >= 0.0) & (values <= 1.0))):
        return
    nan = np.isnan(values)
    if nan.all():
        found = "only NaN"
    else:
        finite = values[~nan]
        found = f"values from {finite.min()!s} to {finite.max()!s}" + (" and NaN" if nan.any() else "")
    raise BadImages(f"{name}: {UNIT_RANGE_RULE} (or uint8 0..255); got {images.dtype} {found}")
