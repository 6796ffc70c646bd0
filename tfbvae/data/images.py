"""Decoding and pre-processing of natural images: centre crop, area resize, 1 or 3 channels.

One function, :func:`preprocess`, serves CelebA (from tfds, a zip or a folder) and any folder
of images, so every source of the same picture gives the same uint8 pixels. Crop rule: a
centred box (``crop``: ``(height, width)``, a side for a square, or ``None`` for the largest
centred square), top-left corner at ``((H - h) // 2, (W - w) // 2)``; then an area (box-filter)
resize to ``size × size``, which averages every source pixel exactly once (no aliasing).
Pixels that are not 8-bit become 8-bit first by the rules the serving graph uses
(:mod:`tfbvae.pixels`): 16-bit grey by its high byte, CMYK JPEGs by TensorFlow's formula.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image

from tfbvae.data.paths import usable_cpus
from tfbvae import pixels

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# 2: 16-bit grey by its high byte (was clipped at 255), CMYK as TensorFlow converts it.
PREPROCESS_VERSION = 2

# Pillow's 16-bit grey modes (a 16-bit grey PNG opens as "I;16").
_SIXTEEN_BIT_GREY = ("I;16", "I;16B", "I;16L", "I;16N")

Crop = int | tuple[int, int] | None


def crop_box(height: int, width: int, crop: Crop) -> tuple[int, int, int, int]:
    """``(top, left, crop_height, crop_width)`` of the centred crop of an ``height×width`` image."""
    if crop is None:
        ch = cw = min(height, width)
    elif isinstance(crop, int):
        ch = cw = crop
    else:
        ch, cw = crop
    if ch > height or cw > width or ch <= 0 or cw <= 0:
        raise ValueError(f"cannot crop {ch}x{cw} (height x width) out of a {height}x{width} image")
    return (height - ch) // 2, (width - cw) // 2, ch, cw


def to_8_bits(image: Image.Image) -> Image.Image:
    """``image`` with 8-bit samples, as the serving graph's decoder would give them.

    16-bit grey (Pillow's ``I;16`` modes, which ``convert("L")`` would clip at 255) keeps its
    high byte and CMYK (JPEG) becomes RGB by TensorFlow's formula, both from
    :mod:`tfbvae.pixels`. Pillow reads every CMYK JPEG as if Adobe had inverted it, so a file
    without Adobe's APP14 marker (``"adobe"`` not in ``image.info``) is inverted back to ink
    amounts first. 32-bit modes ("I", "F"), which no image file the serving graph decodes
    produces, are refused rather than clipped. Other modes are returned unchanged: Pillow's
    conversions of them to "L"/"RGB" already equal the graph's.
    """
    if image.mode in _SIXTEEN_BIT_GREY:
        high = pixels.sixteen_to_eight_bits(np.asarray(image).astype(np.uint16))
        return Image.fromarray(high.astype(np.uint8))
    if image.mode == "CMYK":
        values = np.asarray(image)
        ink = values if "adobe" in image.info else 255 - values
        return Image.fromarray(pixels.cmyk_to_rgb(ink))
    if image.mode in ("I", "F"):
        raise ValueError(
            f"32-bit {'integer' if image.mode == 'I' else 'float'} pixels (Pillow mode "
            f"{image.mode!r}) are not read: give 8- or 16-bit images (PNG, JPEG, BMP, GIF)"
        )
    return image


def preprocess(image: Image.Image | np.ndarray, crop: Crop, size: int, channels: int) -> np.ndarray:
    """8 bits (:func:`to_8_bits`), colour conversion, centre crop and area resize: uint8
    ``(size, size, channels)``."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    image = to_8_bits(image).convert("L" if channels == 1 else "RGB")
    top, left, ch, cw = crop_box(image.height, image.width, crop)
    image = image.crop((left, top, left + cw, top + ch))
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BOX)
    out = np.asarray(image, dtype=np.uint8)
    return out.reshape(size, size, channels)


def decode(data: bytes, name: str) -> Image.Image:
    """Decodes encoded image bytes fully; the error names ``name`` when they are not an image."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as err:  # PIL raises several types for bad data
        raise ValueError(f"cannot decode image {name}: {type(err).__name__}: {err}") from err
    return image


@dataclasses.dataclass
class PreprocessReport:
    """What :func:`preprocess_all` left out or had to enlarge (names, with the size found)."""

    skipped: list[str] = dataclasses.field(default_factory=list)
    enlarged: list[str] = dataclasses.field(default_factory=list)  # "name (W x H)"


def preprocess_all(
    names: Sequence[str],
    read: Callable[[str], bytes],
    out: np.ndarray,
    crop: Crop,
    on_error: str,
    warn: Callable[[str], None],
) -> PreprocessReport:
    """Decodes and pre-processes every named image into consecutive rows of ``out``.

    ``read(name)`` returns the encoded bytes. With ``on_error="raise"`` the first undecodable
    file raises (naming it); with ``"skip"`` it is left out (``warn`` is told) and later images
    move up. An image whose crop is smaller than the output is enlarged (a 1x1 image becomes
    one flat colour), which is rarely meant: each is reported (the caller warns, see
    :func:`enlarged_message`). Returns what was skipped and enlarged. Decoding runs on all cores (PIL releases
    the GIL).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    size, channels = out.shape[1], out.shape[3]

    def work(name: str) -> tuple[np.ndarray, str | None] | str:
        try:
            image = decode(read(name), name)
            try:
                _, _, height, width = crop_box(image.height, image.width, crop)
                prepared = preprocess(image, crop, size, channels)
            except ValueError as err:
                raise ValueError(f"cannot pre-process image {name}: {err}") from err
            small = min(height, width) < size
            return prepared, f"{name} ({image.width} x {image.height})" if small else None
        except ValueError as err:
            if on_error == "raise":
                raise
            return str(err)

    report = PreprocessReport()
    row = 0
    workers = min(usable_cpus(), 8)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for name, result in zip(names, _ordered_map(pool, work, names, 4 * workers)):
            if isinstance(result, str):
                warn(f"Skipping {result}")
                report.skipped.append(name)
            else:
                out[row], small = result
                report.enlarged += [small] if small else []
                row += 1
    return report


def enlarged_message(count: int, total: int, example: str, size: int) -> str:
    """The warning about images smaller than the training size."""
    return (f"{count} of {total} images are smaller than {size}x{size} after cropping and were "
            f"enlarged (e.g. {example}): they train as blurred or flat pictures. Use images of "
            f"at least {size}x{size} pixels, or remove the small ones.")


def _ordered_map(pool, fn, items: Iterable, window: int):
    """``pool.map`` that keeps at most ``window`` tasks in flight (bounded memory)."""
    pending = []
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()
