"""Any tree of images (3D chairs' ``rendered_chairs/<id>/renders/*.png``, a folder of JPEGs, ...)
as one uint8 ``(n, 64, 64, C)`` array, pre-processed once and cached on disk.

Files are found recursively (extensions in :data:`tfbvae.data.images.IMAGE_EXTENSIONS`, any
case) and ordered by relative path. Each is decoded, centre-cropped and area-resized
(:func:`tfbvae.data.images.preprocess`). The cache is keyed on the folder and rebuilt when any
file is added, removed or modified, or the pre-processing changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from tfbvae.data import array_cache, images, paths
from tfbvae.data.datasets.base import DataSet, LoadOptions
from tfbvae.data.source import ImageSource

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ImageArrays:
    """Pre-processed images (uint8 ``(n, size, size, C)``, memory-mapped) and where they came from."""

    images: np.ndarray
    source: str
    location: str
    skipped: tuple[str, ...] = ()

    @property
    def num_images(self) -> int:
        return len(self.images)


def discover_images(root: str | os.PathLike) -> list[Path]:
    """Image files under ``root`` (recursive), sorted by relative path."""
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(
            f"Image folder {root} does not exist: expected a directory holding PNG/JPEG images "
            "(searched recursively, e.g. rendered_chairs/<chair>/renders/*.png)."
        )
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory: expected a folder of PNG/JPEG images.")
    files = sorted(
        p for p in root.rglob("*") if p.suffix.lower() in images.IMAGE_EXTENSIONS and p.is_file()
    )
    if not files:
        raise ValueError(
            f"No images found under {root}: expected files ending in "
            f"{', '.join(images.IMAGE_EXTENSIONS)} (any case) in it or its subfolders."
        )
    return files


def _files_digest(root: Path, files: Sequence[Path]) -> str:
    """Changes whenever a file is added, removed, renamed or modified."""
    digest = hashlib.sha256()
    for f in files:
        stat = f.stat()
        digest.update(f"{f.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cached_images(
    cache_root: Path,
    name: str,
    recipe: dict,
    names: Sequence[str],
    read: Callable[[str], bytes],
    crop: images.Crop,
    size: int,
    channels: int,
    on_error: str,
    source: str,
    location: str,
) -> ImageArrays:
    """Decodes ``names`` (via ``read``) into a cached array, or loads it when already built."""
    recipe = {
        **recipe,
        "crop": crop,
        "size": size,
        "channels": channels,
        "resize": "PIL BOX (area)",
        "preprocess_version": images.PREPROCESS_VERSION,
        "on_error": on_error,
    }

    def warn(message: str) -> None:
        warnings.warn(message, stacklevel=2)
        log.warning(message)

    def fill(out: np.ndarray) -> dict:
        log.info("Pre-processing %d images from %s (once; cached).", len(names), location)
        report = images.preprocess_all(names, read, out, crop, on_error, warn)
        if len(report.skipped) == len(names):
            raise ValueError(f"None of the {len(names)} images in {location} could be decoded.")
        return {"num_valid": len(names) - len(report.skipped), "skipped": report.skipped,
                "enlarged": report.enlarged, "source": source}

    array, manifest = array_cache.load_or_build(
        cache_root, name, recipe, (len(names), size, size, channels), np.uint8, fill
    )
    skipped = tuple(manifest["skipped"])
    if skipped:
        warn(f"{len(skipped)} undecodable images were skipped from {location}: {list(skipped[:5])}")
    enlarged = manifest.get("enlarged", [])
    if enlarged:
        warn(images.enlarged_message(len(enlarged), len(names), enlarged[0], size))
    return ImageArrays(array[: manifest["num_valid"]], source, location, skipped)


def load_image_folder(
    path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    size: int = 64,
    channels: int = 3,
    crop: images.Crop = None,
    on_error: str = "raise",
) -> ImageArrays:
    """Every image under ``path``, pre-processed to uint8 ``(n, size, size, channels)``.

    ``crop`` as in :func:`tfbvae.data.images.crop_box` (default: the largest centred square).
    A file that cannot be decoded raises an error naming it, or with ``on_error="skip"`` is
    left out with a warning. Cached under ``<data_dir>/image_folder/``.
    """
    root = Path(path).expanduser().absolute()
    files = discover_images(root)
    key = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    recipe = {"kind": "image_folder", "root": str(root), "files": _files_digest(root, files)}
    return cached_images(
        paths.data_dir(data_dir) / "image_folder",
        f"{root.name}-{key}",
        recipe,
        [str(f) for f in files],
        lambda name: Path(name).read_bytes(),
        crop,
        size,
        channels,
        on_error,
        source=f"image-folder:{root}",
        location=str(root),
    )


def load(options: LoadOptions) -> ImageSource:
    if options.path is None:
        raise ValueError("dataset 'image_folder' needs path= (the folder of images)")
    arrays = load_image_folder(options.path, options.data_dir, 64, options.channels or 3, None,
                               options.on_error)
    return ImageSource("image_folder", arrays.images, arrays.source, arrays.location)


DATASET = DataSet(
    name="image_folder",
    title="The folder's",
    summary="Any tree of images (e.g. 3D chairs' rendered_chairs/), centre square at 64x64, "
            "1 or 3 channels; no ground-truth factors.",
    sources=(),
    channels=None,
    load=load,
    needs_path=True,
    flags="--data_path=<folder of images> (searched recursively), "
          "--on_bad_image=skip (skip undecodable files with a warning)",
)
