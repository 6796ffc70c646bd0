"""Shapes3D (3dshapes): 480,000 RGB 64x64 renderings of an object in a room, six factors.

The data set of Burgess & Kim (2018), "3D Shapes Dataset",
https://github.com/deepmind/3dshapes-dataset (introduced in Kim & Mnih 2018, "Disentangling by
Factorising"). Every combination of its factors appears exactly once; the factors, in the order
of the published file (row-major: orientation varies fastest) and of disentanglement_lib:

==============  =============================  =======
tfbvae name     disentanglement_lib            values
==============  =============================  =======
floor_hue       floor color                    10
wall_hue        wall color                     10
object_hue      object color                   10
scale           object size                    8
shape           object type                    4
orientation     azimuth                        15
==============  =============================  =======

(The names are those of the 3dshapes README and of tfds' labels.)

Sources: ``"tfds"``, tfds ``shapes3d`` (its builder downloads ``3dshapes.h5``, 268 MB, from
Google Cloud Storage, and stores the examples shuffled); ``"h5"``, the user's own
``3dshapes.h5`` (``path=``, read with h5py: ``images`` uint8 (480000, 64, 64, 3), ``labels``
(480000, 6) the factors' float values); ``"auto"`` never downloads: the ``path=`` file, else
``$DISENTANGLEMENT_LIB_DATA/3dshapes/3dshapes.h5``, else tfds' prepared copy, else a
``FileNotFoundError`` saying how to get Shapes3D. Rows are stored uint8 in row-major factor
order, each placed from its labels (the float values ranked per factor, as tfds' builder does),
after checking that the labels cover the factor grid exactly once; the cache (5.9 GB) is
memory-mapped under ``<data_dir>/shapes3d/``.

Against disentanglement_lib (google-research/disentanglement_lib at commit
86a644d4ed35c771560dc3360756363d35477357, ``disentanglement_lib/data/ground_truth/shapes3d.py``):

* Same factors, sizes and order (L41-47, L60) and all six are latent (L61); an observation of
  given factors is the image at row ``factors @ factor_bases`` (L65-66, L85-88), the row-major
  index :class:`~tfbvae.data.source.FactorLayout` uses.
* File: dlib reads a private ``$DISENTANGLEMENT_LIB_DATA/3dshapes/look-at-object-room_floor-hueX
  wall-hueXobj-hueXobj-sizeXobj-shapeXview-azi.npz`` (L28-32; not published, not fetched by
  ``bin/dlib_download_data``) with six leading factor axes (L56). tfbvae reads the public
  ``3dshapes.h5`` (directly or through tfds), assumed to hold the same images: not verified
  byte for byte, as the npz cannot be obtained.
* Order: dlib takes the npz's order as the factor order and does not use its labels (L59:
  ``features`` is computed, never read); tfbvae places every image by its labels, since tfds
  stores them shuffled, and refuses labels that do not cover the grid exactly once.
* Storage: dlib converts the whole set to float32 at load (L57-58: ``astype(np.float32) / 255.``,
  480,000 x 64 x 64 x 3 x 4 B = 23.6 GB in memory); tfbvae keeps the uint8 pixels (5.9 GB,
  memory-mapped, not read into memory) and divides by 255 per batch: the same float32 values.

:data:`FACTOR_SIZES` is read at load time, so that tests can shrink the grid.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from tfbvae.data import array_cache, paths, tfds_copy
from tfbvae.data.datasets.base import DataSet, LoadOptions
from tfbvae.data.source import FactorLayout, ImageSource, check_factors_cover
from tfbvae.data.tfds_copy import is_prepared, prepared_files

NAME = "shapes3d"
FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
# The factor grid, in FACTOR_NAMES' order (disentanglement_lib shapes3d.py L60). Read at load
# time: the tests monkeypatch a tiny grid.
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
IMAGE_SHAPE = (64, 64, 3)
SOURCES = ("tfds", "h5")

TFDS_NAME = "shapes3d"
TFDS_SPLIT = "train"  # its only split: all 480,000 images
TFDS_LABELS = tuple(f"label_{name}" for name in FACTOR_NAMES)
H5_FILE = "3dshapes.h5"
H5_URL = "https://storage.googleapis.com/3d-shapes/3dshapes.h5"
HOMEPAGE = "https://github.com/deepmind/3dshapes-dataset"
DLIB_DATA_ENV = paths.DLIB_DATA_ENV
DLIB_FOLDER = "3dshapes"
BATCH = 1024  # examples per tfds batch, rows per h5 read while building the cache

FLAGS = ("--data_path=/path/to/3dshapes.h5 (the published file, read with h5py), "
         "--data_source=tfds (tfds downloads 3dshapes.h5; --tfds_data_dir: its data)")


def layout() -> FactorLayout:
    """The factor grid of the stored rows (every axis a factor)."""
    return FactorLayout(FACTOR_NAMES, tuple(int(s) for s in FACTOR_SIZES))


def _how_to_get() -> str:
    return (f"Get Shapes3D one of these ways: path=/path/to/{H5_FILE} (--data_path; "
            f"{H5_URL}, published at {HOMEPAGE}; needs h5py), or put it in "
            f"${DLIB_DATA_ENV}/{DLIB_FOLDER}/{H5_FILE}, or source='tfds' (--data_source=tfds: "
            "tfds downloads the same file and prepares it; --tfds_data_dir: where).")


def _cache_root(data_dir) -> Path:
    return paths.data_dir(data_dir) / NAME


def dlib_h5() -> Path | None:
    """``$DISENTANGLEMENT_LIB_DATA/3dshapes/3dshapes.h5`` (disentanglement_lib's data folder),
    or ``None`` when the variable is unset."""
    root = os.environ.get(DLIB_DATA_ENV)
    return Path(root).expanduser() / DLIB_FOLDER / H5_FILE if root else None


def place_by_labels(batches: Iterable[tuple[np.ndarray, np.ndarray]], out: np.ndarray,
                    what: str) -> None:
    """Writes each image of ``batches`` (``(images, classes)``, classes int ``(n, 6)``) at its
    row of the factor grid in ``out``, then checks that the labels cover the grid exactly once
    (a ``ValueError`` naming what is wrong otherwise)."""
    grid = layout()
    high = np.asarray(grid.sizes, np.int64)
    seen = []
    for images, classes in batches:
        classes = np.asarray(classes, np.int64).reshape(len(images), len(FACTOR_NAMES))
        if images.shape[1:] != IMAGE_SHAPE:
            raise ValueError(f"{what}: images of shape {images.shape[1:]}, expected {IMAGE_SHAPE}")
        seen.append(classes)
        inside = ((classes >= 0) & (classes < high)).all(axis=1)
        out[classes[inside] @ grid.strides] = images[inside]
    classes = np.concatenate(seen) if seen else np.zeros((0, len(FACTOR_NAMES)), np.int64)
    check_factors_cover(grid.names, grid.sizes, classes, what)


# ----------------------------------------------------------------------------------------
# tfds


def load_tfds(data_dir=None, tfds_data_dir=None, download: bool = True) -> ImageSource:
    """tfds ``shapes3d``, put in row-major factor order from its labels, cached as uint8.
    ``download``: whether tfds may download and prepare it (else only its prepared copy)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    dataset, info = tfds_copy.load(TFDS_NAME, TFDS_SPLIT, tfds_data_dir, download, _how_to_get())
    grid = layout()
    what = f"tfds '{TFDS_NAME}'"
    count = int(dataset.cardinality())
    if count >= 0 and count != grid.num_rows:  # < 0: tfds does not know the count
        raise ValueError(f"{what} has {count} examples, expected one for each of the "
                         f"{grid.num_rows} cells of the factor grid "
                         f"{dict(zip(grid.names, grid.sizes))}: re-prepare it with tfds, or "
                         f"use your own {H5_FILE} (path=).")
    version = str(info.version)
    source = f"shapes3d-tfds:{H5_FILE} v{version}"
    location = str(getattr(info, "data_dir", None) or tfds_data_dir or "tfds default data_dir")
    labelled = dataset.map(
        lambda ex: (ex["image"], tf.stack([tf.cast(ex[key], tf.int64) for key in TFDS_LABELS], -1)))

    def fill(out: np.ndarray) -> dict:
        place_by_labels(tfds.as_numpy(labelled.batch(BATCH)), out, what)
        return {"source": source}

    recipe = {
        "kind": "shapes3d-tfds",
        "tfds": f"{TFDS_NAME}:{version}",
        "split": TFDS_SPLIT,
        "location": location,
        "files": prepared_files(location),
        "factor_sizes": list(grid.sizes),
    }
    key = hashlib.sha256(location.encode()).hexdigest()[:16]
    array, _ = array_cache.load_or_build(_cache_root(data_dir), f"tfds-{key}", recipe,
                                         (grid.num_rows,) + IMAGE_SHAPE, np.uint8, fill)
    return ImageSource(NAME, array, source, location, layout=grid)


# ----------------------------------------------------------------------------------------
# The user's 3dshapes.h5


def classes_of_values(values: np.ndarray, what: str) -> np.ndarray:
    """The class of each factor value in ``labels`` ``(n, 6)``: its rank among the factor's
    distinct values (tfds' ``shapes3d`` builder's ``_discretize``), checking the counts."""
    values = np.asarray(values)
    classes = np.zeros(values.shape, np.int64)
    for axis, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES)):
        distinct, classes[:, axis] = np.unique(values[:, axis], return_inverse=True)
        if len(distinct) != size:
            raise ValueError(f"{what}: the labels of {name!r} (column {axis}) take "
                             f"{len(distinct)} distinct values, expected {size}")
    return classes


def _open_h5(path: Path):
    try:
        import h5py
    except ImportError as err:
        raise RuntimeError(f"Reading {path} needs h5py: pip install h5py, or use "
                           "source='tfds' (--data_source=tfds), which reads the same file "
                           "through tfds.") from err
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path} is not a readable HDF5 file ({err}): expected {H5_FILE} "
                         f"from {H5_URL} ({HOMEPAGE}).") from err


def _check_h5(handle, path: Path, num_rows: int) -> None:
    expected = (f"expected {H5_FILE} from {HOMEPAGE}: 'images' uint8 ({num_rows}, "
                f"{', '.join(map(str, IMAGE_SHAPE))}) and 'labels' ({num_rows}, "
                f"{len(FACTOR_NAMES)}), the factors' values")
    if "images" not in handle or "labels" not in handle:
        raise ValueError(f"{path} has datasets {sorted(handle.keys())}: {expected}")
    images, labels = handle["images"], handle["labels"]
    if images.shape != (num_rows,) + IMAGE_SHAPE or images.dtype != np.uint8:
        raise ValueError(f"{path}: 'images' is {images.dtype} {images.shape}; {expected}")
    if labels.shape != (num_rows, len(FACTOR_NAMES)):
        raise ValueError(f"{path}: 'labels' has shape {labels.shape}; {expected}")


def load_h5(path, data_dir=None) -> ImageSource:
    """The user's ``3dshapes.h5``, in row-major factor order from its labels, cached as uint8
    (rebuilt when the file's size or modification time changes)."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise FileNotFoundError(f"Shapes3D file {path} {what}: expected {H5_FILE}. "
                                f"{_how_to_get()}")
    grid = layout()
    what = str(path)
    with _open_h5(path) as handle:
        _check_h5(handle, path, grid.num_rows)
    stat = path.stat()
    source = f"shapes3d-h5:{path}"

    def fill(out: np.ndarray) -> dict:
        with _open_h5(path) as handle:
            classes = classes_of_values(handle["labels"][:], what)
            images = handle["images"]
            batches = ((images[start:start + BATCH], classes[start:start + BATCH])
                       for start in range(0, len(classes), BATCH))
            place_by_labels(batches, out, what)
        return {"source": source}

    recipe = {
        "kind": "shapes3d-h5",
        "file": str(path),
        "bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "factor_sizes": list(grid.sizes),
    }
    key = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    array, _ = array_cache.load_or_build(_cache_root(data_dir), f"h5-{key}", recipe,
                                         (grid.num_rows,) + IMAGE_SHAPE, np.uint8, fill)
    return ImageSource(NAME, array, source, str(path), layout=grid)


# ----------------------------------------------------------------------------------------


def load(options: LoadOptions) -> ImageSource:
    """Shapes3D from ``options.source``: ``"tfds"``, ``"h5"`` (``path``, else disentanglement_lib's
    folder) or ``"auto"`` (never downloads: the ``path`` file, the h5 in disentanglement_lib's
    folder, tfds' prepared copy, else a ``FileNotFoundError`` saying how to get it)."""
    source, path = options.source, options.path
    if source not in ("auto",) + SOURCES:
        raise ValueError(f"unknown Shapes3D source {source!r}: expected 'auto' or one of "
                         f"{', '.join(SOURCES)}")
    if source == "tfds":
        if path is not None:
            raise ValueError(f"path= ({path}) is your own {H5_FILE}, read by source 'h5' (or "
                             "'auto'); source 'tfds' reads tfds' copy: drop one of them.")
        return load_tfds(options.data_dir, options.tfds_data_dir, download=options.download)
    if path is not None:
        return load_h5(path, options.data_dir)
    dlib = dlib_h5()
    if source == "h5":
        if dlib is None or not dlib.is_file():
            raise FileNotFoundError(f"Shapes3D source 'h5' needs path=/path/to/{H5_FILE} "
                                    f"(--data_path). {_how_to_get()}")
        return load_h5(dlib, options.data_dir)
    if dlib is not None and dlib.is_file():
        return load_h5(dlib, options.data_dir)
    if is_prepared(TFDS_NAME, options.tfds_data_dir):
        return load_tfds(options.data_dir, options.tfds_data_dir, download=False)
    where = f" in {options.tfds_data_dir}" if options.tfds_data_dir else ""
    looked = f", nor {dlib}" if dlib is not None else ""
    raise FileNotFoundError(
        f"Shapes3D is not on this machine: no path= given{looked}, and tfds has not prepared "
        f"'{TFDS_NAME}'{where}. Source 'auto' never downloads. {_how_to_get()}")


DATASET = DataSet(
    name=NAME,
    title="Shapes3D",
    summary="Shapes3D (Burgess & Kim 2018; Kim & Mnih 2018): 480,000 RGB 64x64 renderings "
            "of an object in a room; 6 factors.",
    sources=SOURCES,
    channels=3,
    load=load,
    factor_names=FACTOR_NAMES,
    flags=FLAGS,
)
