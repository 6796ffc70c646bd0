"""Encoded image files -> model input, inside a TensorFlow graph, as the training data was made.

:func:`tfbvae.data.images.preprocess` prepares training images with Pillow: ``convert`` to
grey ("L") or RGB, centre crop, ``resize`` with the BOX filter, uint8. A served model must see
a client's file the same way, but a SavedModel cannot call Pillow, and TensorFlow's own
conversions differ (``decode_png(channels=1)`` uses other luma weights; ``resize(method=
"area")`` weighs pixels by fractional overlap where Pillow's BOX takes whole pixels, which
changes a 100 -> 64 resize by up to ~116 grey levels). So Pillow's arithmetic is reproduced
here, integer for integer, and the result equals ``preprocess`` exactly for PNG (8 or 16 bits,
any colour type), BMP, GIF, WebP and JPEG (RGB, grey or CMYK) files: see :func:`decode_8_bits`.
"""

from __future__ import annotations

import tensorflow as tf

from tfbvae import pixels

# The first bytes of every PNG file (PNG specification, 5.2), as decode_image recognises them.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pillow's fixed-point resampling (libImaging/Resample.c): weights scaled by 2**22.
_PRECISION_BITS = 22


def crop_box(height: tf.Tensor, width: tf.Tensor, crop: tuple[int, int] | None):
    """``(top, left, crop_height, crop_width)`` of the centred crop, as in
    :func:`tfbvae.data.images.crop_box` (``None``: the largest centred square)."""
    if crop is None:
        ch = cw = tf.minimum(height, width)
    else:
        ch, cw = tf.constant(crop[0]), tf.constant(crop[1])
    return (height - ch) // 2, (width - cw) // 2, ch, cw


def _luma(rgb: tf.Tensor) -> tf.Tensor:
    """Pillow's RGB -> "L": (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 (ITU-R 601-2)."""
    rgb = tf.cast(rgb, tf.int32)
    weighted = rgb[..., 0:1] * 19595 + rgb[..., 1:2] * 38470 + rgb[..., 2:3] * 7471
    return tf.cast(tf.bitwise.right_shift(weighted + 0x8000, 16), tf.uint8)


def to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """A decoded uint8 image (1: L, 2: LA, 3: RGB, 4: RGBA channels) in Pillow's "L" (1) or
    "RGB" (3): alpha dropped, grey repeated, colour to luma."""
    depth = tf.shape(image)[2]
    if channels == 1:
        out = tf.cond(depth < 3, lambda: image[..., :1], lambda: _luma(image[..., :3]))
    else:
        out = tf.cond(depth < 3, lambda: tf.tile(image[..., :1], [1, 1, 3]), lambda: image[..., :3])
    out.set_shape([None, None, channels])
    return out


def _box_ranges(in_size: tf.Tensor, out_size: int):
    """Pillow's BOX resampling of ``in_size`` pixels to ``out_size``, as ``(first, count,
    weight)`` per output pixel: it is ``weight * sum(input[first : first + count])``.

    Pillow (``precompute_coeffs``): output pixel ``i`` is centred at ``(i + 0.5) * scale`` of
    the input; input pixel ``j`` counts when ``(j + 0.5 - centre) / filterscale`` lies in
    (-0.5, 0.5] and ``j`` is within the rounded support (a run of pixels, equally weighted);
    the weights, 1/count each, are rounded to multiples of 2**-22.
    """
    size = tf.cast(in_size, tf.float64)
    scale = size / out_size
    filterscale = tf.maximum(scale, 1.0)
    support = 0.5 * filterscale
    centre = (tf.range(out_size, dtype=tf.float64) + 0.5) * scale
    first = tf.maximum(tf.floor(centre - support + 0.5), 0.0)[:, None]  # C's (int) of x >= 0
    stop = tf.minimum(tf.floor(centre + support + 0.5), size)[:, None]
    j = tf.range(in_size, dtype=tf.float64)[None, :]
    x = (j - centre[:, None] + 0.5) / filterscale
    inside = (j >= first) & (j < stop) & (x > -0.5) & (x <= 0.5)  # [out_size, in_size]
    count = tf.reduce_sum(tf.cast(inside, tf.int32), axis=1)
    start = tf.argmax(tf.cast(inside, tf.int32), axis=1, output_type=tf.int32)
    weight = tf.floor(1.0 / tf.cast(tf.maximum(count, 1), tf.float64) * 2.0**_PRECISION_BITS + 0.5)
    return start, count, tf.cast(weight, tf.int64)


def _resample_rows(image: tf.Tensor, out_size: int) -> tf.Tensor:
    """One Pillow 8-bit BOX pass along axis 0 of int64 ``[n, m, c]``: output row ``i`` is
    (weight_i * sum of its input rows + 2**21) >> 22, clipped to 0..255.

    In integers, with running sums (no float64 matmul: oneDNN, on under tfbvae, has none).
    """
    start, count, weight = _box_ranges(tf.shape(image)[0], out_size)
    running = tf.cumsum(image, axis=0)
    running = tf.concat([tf.zeros_like(running[:1]), running], axis=0)  # running[k] = sum(rows < k)
    sums = tf.gather(running, start + count) - tf.gather(running, start)
    total = weight[:, None, None] * sums + 2 ** (_PRECISION_BITS - 1)
    return tf.clip_by_value(tf.bitwise.right_shift(total, _PRECISION_BITS), 0, 255)


def box_resize(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Pillow's ``resize((width, height), BOX)`` of a uint8 ``[h, w, c]`` image: a horizontal
    pass, rounded to 0..255, then a vertical one (the identity when the size already fits)."""
    pixels = tf.cast(image, tf.int64)  # int64 throughout: exact sums, and no uint8 kernels
    columns = _resample_rows(tf.transpose(pixels, [1, 0, 2]), width)  # [width, h, c]
    return tf.cast(_resample_rows(tf.transpose(columns, [1, 0, 2]), height), tf.uint8)


def decode_8_bits(image_bytes: tf.Tensor) -> tf.Tensor:
    """One encoded image file -> uint8 ``[h, w, channels]`` (1 to 4 channels), the pixels
    Pillow gives training once :func:`tfbvae.data.images.to_8_bits` has run.

    * PNG: decoded as uint16, so a 16-bit file keeps all its bits (an 8-bit one comes widened
      to ``v * 257``, which the high byte maps back to ``v``), then
      :func:`tfbvae.pixels.sixteen_to_eight_bits`, the rule training applies.
    * JPEG: ``decode_jpeg`` with ``dct_method="INTEGER_ACCURATE"``, libjpeg's slow integer
      inverse DCT, which Pillow uses. ``decode_image``'s default is the fast one, which on noise
      differs from it by up to 10 grey levels at quality 95 and ~90 at quality 100. CMYK JPEGs
      come out as RGB by :func:`tfbvae.pixels.cmyk_to_rgb`'s formula (TensorFlow's decoder
      applies it).
    * Others (BMP, GIF: first frame, WebP): ``decode_image``, 8 bits (WebP decodes to uint8
      only).
    """

    def png() -> tf.Tensor:
        wide = tf.io.decode_png(image_bytes, dtype=tf.uint16)
        return tf.cast(pixels.sixteen_to_eight_bits(wide), tf.uint8)

    def jpeg() -> tf.Tensor:
        return tf.io.decode_jpeg(image_bytes, dct_method="INTEGER_ACCURATE")

    def other() -> tf.Tensor:
        return tf.io.decode_image(image_bytes, expand_animations=False)

    is_png = tf.equal(tf.strings.substr(image_bytes, 0, len(_PNG_SIGNATURE)), _PNG_SIGNATURE)
    return tf.cond(is_png, png, lambda: tf.cond(tf.io.is_jpeg(image_bytes), jpeg, other))


def decode_image_bytes(
    image_bytes: tf.Tensor, image_shape: tuple[int, int, int], crop: tuple[int, int] | None
) -> tf.Tensor:
    """One encoded image file (PNG, JPEG, BMP, GIF: its first frame) -> float32 ``(H, W, C)``
    in [0, 1], via :func:`tfbvae.data.images.preprocess`'s steps: 8 bits
    (:func:`decode_8_bits`), channels, centre crop, BOX resize."""
    h, w, c = image_shape
    image = to_channels(decode_8_bits(image_bytes), c)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    top, left, ch, cw = crop_box(height, width, crop)
    if crop is not None:
        big_enough = tf.debugging.Assert(
            tf.logical_and(height >= ch, width >= cw),
            [
                f"image_bytes: an image is smaller than the {crop[0]}x{crop[1]} centre crop of "
                "this export (height x width); got",
                height,
                width,
            ],
        )
        with tf.control_dependencies([big_enough]):
            top = tf.identity(top)
    image = box_resize(image[top : top + ch, left : left + cw], h, w)
    return pixels.images_to_float(image)  # box_resize gives uint8
