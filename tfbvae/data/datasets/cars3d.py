"""Cars3D (Reed et al. 2015): 17,568 RGB renders of 183 car models, three factors.

Scott Reed, Yi Zhang, Yuting Zhang and Honglak Lee, "Deep Visual Analogy-Making", NeurIPS 2015
(https://papers.nips.cc/paper/5845-deep-visual-analogy-making). Published as the ``data/cars``
folder of http://www.scottreed.info/files/nips2015-analogy-data.tar.gz: one MATLAB ``.mat`` file
per car model (``car_<id>_mesh.mat``) whose ``im`` array holds its renders, 24 azimuths x 4
elevations. Factors, row-major in this order: elevation (4), azimuth (24), object type (183);
rows are stored as uint8 ``(17568, 64, 64, 3)``, cached under ``<data_dir>/cars3d/``.

Where the folder is: ``--data_path``, else ``$DISENTANGLEMENT_LIB_DATA/cars`` (where
disentanglement_lib looks and where its ``bin/dlib_download_data`` puts it), else a
``FileNotFoundError`` saying where to get it.

Follows disentanglement_lib (google-research/disentanglement_lib at commit
86a644d4ed35c771560dc3360756363d35477357, ``disentanglement_lib/data/ground_truth/cars3d.py``):

* factors ``[4, 24, 183]`` = elevation, azimuth, object type (L43-50), all of them latent (L53);
* each file's ``im`` read with ``scipy.io.loadmat`` and rearranged by
  ``np.einsum("abcde->deabc", im)`` then ``reshape((-1, H, W, 3))`` (L105-106), and image ``j``
  of a file assigned elevation ``j % 4`` and azimuth ``j // 4`` (``np.tile(range(4), 24)``,
  ``np.repeat(range(24), 4)``, L89-96): ``im`` is ``(H, W, 3, 24 azimuths, 4 elevations)``;
* each image shrunk to 64x64 by ``PIL.Image.thumbnail`` with ``ANTIALIAS`` (L109-111), which is
  Pillow's ``LANCZOS``; dlib then divides by 255 (L112): tfbvae keeps the same thumbnail's uint8
  pixels and divides when it serves floats, so the observations are equal.

Differs from it:

* the object index is the file's position in the **sorted** list of names; dlib numbers the
  files in ``gfile.ListDirectory`` order (L86-87), which is the file system's and not portable,
  so its object classes may differ from machine to machine;
* files are those whose name ends in ``.mat`` (dlib: whose name contains ``.mat``, L86);
* the folder must hold exactly 183 ``.mat`` files (:data:`NUM_OBJECTS`; tests shrink it).
  dlib allocates 183 objects' rows (L85) and fills one per file: with fewer files the missing
  objects stay black images that the metrics sample as real ones, with more it fails on an
  index out of range. A different count means an incomplete download or the wrong folder, and
  the object factor's size enters every score, so tfbvae refuses it, naming what it found;
* ``im`` must be uint8 ``(H, W, 3, 24, 4)`` and thumbnail to exactly 64x64 (square renders,
  128x128 in the published files), checked per file with a message naming it; dlib assumes it;
* ``thumbnail((64, 64), LANCZOS)``: dlib passes the size ``(64, 64, 3)`` and ``ANTIALIAS``,
  which Pillow 10 removed and whose 3-tuple Pillow 13's ``thumbnail`` rejects (it unpacks the
  size into two values). For a square image larger than 64x64 Pillow's thumbnail of that era
  and today's are one LANCZOS resize (no ``reduce()`` step below a factor of 4, the default
  ``reducing_gap`` 2);
* stored once as uint8 rows in a memory-mapped cache, not as a float64 array in memory (dlib
  holds 17568x64x64x3 float64, 1.7 GB, L85);
* no ``$DISENTANGLEMENT_LIB_DATA`` means no default folder (dlib then reads ``./cars``, L31-32):
  tfbvae does not look in the working directory.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

from tfbvae.data import array_cache, paths
from tfbvae.data.datasets.base import DataSet, LoadOptions
from tfbvae.data.source import FactorLayout, ImageSource

NAME = "cars3d"
FACTOR_NAMES = ("elevation", "azimuth", "object_type")
NUM_ELEVATIONS, NUM_AZIMUTHS = 4, 24
NUM_OBJECTS = 183  # .mat files (car models) the folder must hold; tests shrink it
SIZE = 64
FOLDER = "cars"  # under $DISENTANGLEMENT_LIB_DATA, as disentanglement_lib
ENV = paths.DLIB_DATA_ENV
PUBLISHED = ("published as the data/cars folder of "
             "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz (Reed et al. 2015)")
SOURCES = ("files",)
RESIZE = "PIL thumbnail (64, 64) LANCZOS"
PREPROCESS_VERSION = 1
FLAGS = ("--data_path=/path/to/cars (the folder of 183 car_*_mesh.mat files from "
         "nips2015-analogy-data.tar.gz), or $DISENTANGLEMENT_LIB_DATA/cars")


def factor_sizes() -> tuple[int, int, int]:
    """Elevation, azimuth, object type (the object count as :data:`NUM_OBJECTS` says now)."""
    return (NUM_ELEVATIONS, NUM_AZIMUTHS, NUM_OBJECTS)


def layout() -> FactorLayout:
    return FactorLayout(FACTOR_NAMES, factor_sizes())


def find_folder(path: str | os.PathLike | None) -> Path:
    """The folder of ``.mat`` files: ``path``, else ``$DISENTANGLEMENT_LIB_DATA/cars``."""
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.exists():
            raise FileNotFoundError(
                f"Cars3D folder {folder} does not exist: expected the folder of {NUM_OBJECTS} "
                f"car_*_mesh.mat files, {PUBLISHED}.")
        if not folder.is_dir():
            raise ValueError(
                f"Cars3D path {folder} is not a folder: give the folder holding the "
                f"{NUM_OBJECTS} car_*_mesh.mat files, not one file; Cars3D is {PUBLISHED}.")
        return folder
    folder, where = paths.in_dlib_data(FOLDER)
    if folder is not None and folder.is_dir():
        return folder
    where = where or f"{folder} is not a folder"
    raise FileNotFoundError(
        f"Cars3D is not on this machine: no --data_path given and {where}. Expected a folder "
        f"of {NUM_OBJECTS} car_*_mesh.mat files, {PUBLISHED}: unpack it and pass "
        f"--data_path=/path/to/cars (path=), or put it at $DISENTANGLEMENT_LIB_DATA/cars.")


def mat_files(folder: Path) -> list[Path]:
    """The folder's ``.mat`` files in name order (object ``i`` = the ``i``-th), checked to be
    :data:`NUM_OBJECTS` of them."""
    found = sorted((p for p in folder.iterdir() if p.name.endswith(".mat") and p.is_file()),
                   key=lambda p: p.name)
    if len(found) != NUM_OBJECTS:
        shown = ", ".join(p.name for p in found[:3]) + (", ..." if len(found) > 3 else "")
        raise ValueError(
            f"Cars3D folder {folder} holds {len(found)} .mat files"
            f"{f' ({shown})' if found else ''}, expected {NUM_OBJECTS}, one per car model "
            f"(car_*_mesh.mat), {PUBLISHED}. Fewer or more means an incomplete download or "
            f"another folder: the object-type factor has {NUM_OBJECTS} classes, as in "
            "disentanglement_lib, and every score depends on it, so a different count is "
            "refused.")
    return found


def read_mesh(path: Path) -> np.ndarray:
    """One car's renders at 64x64: uint8 ``(24 * 4, 64, 64, 3)``, image ``j`` at azimuth
    ``j // 4`` and elevation ``j % 4`` (disentanglement_lib's ``_load_mesh``)."""
    import scipy.io  # scikit-learn's dependency; only Cars3D needs it

    try:
        contents = scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises several types for a file that is not a .mat
        raise ValueError(f"cannot read Cars3D file {path} as a MATLAB .mat file "
                         f"({type(err).__name__}: {err}); Cars3D is {PUBLISHED}.") from err
    if "im" not in contents:
        keys = sorted(k for k in contents if not k.startswith("__"))
        raise ValueError(f"Cars3D file {path} has no 'im' array (it holds {keys}): expected "
                         f"the renders of one car, {PUBLISHED}.")
    im = contents["im"]
    if im.ndim != 5 or im.shape[2] != 3 or im.shape[3:] != (NUM_AZIMUTHS, NUM_ELEVATIONS):
        raise ValueError(
            f"Cars3D file {path}: 'im' has shape {im.shape}, expected (height, width, 3, "
            f"{NUM_AZIMUTHS} azimuths, {NUM_ELEVATIONS} elevations) as in the files {PUBLISHED}.")
    if im.dtype != np.uint8:
        raise ValueError(f"Cars3D file {path}: 'im' holds {im.dtype}, expected uint8 pixels.")
    mesh = np.einsum("abcde->deabc", im)  # (24 azimuths, 4 elevations, H, W, 3)
    flat = mesh.reshape((-1,) + mesh.shape[2:])
    out = np.empty((len(flat), SIZE, SIZE, 3), np.uint8)
    for i, pixels in enumerate(flat):
        picture = Image.fromarray(pixels)
        picture.thumbnail((SIZE, SIZE), Image.Resampling.LANCZOS)
        if picture.size != (SIZE, SIZE):
            raise ValueError(
                f"Cars3D file {path}: its {im.shape[1]}x{im.shape[0]} (width x height) renders "
                f"thumbnail to {picture.size[0]}x{picture.size[1]}, not {SIZE}x{SIZE}: expected "
                f"square renders of at least {SIZE}x{SIZE} (128x128 in the files {PUBLISHED}).")
        out[i] = np.asarray(picture)
    return out


def rows_of_file(obj: int) -> np.ndarray:
    """The rows of object ``obj``'s images, in the file's order (``read_mesh``)."""
    elevation = np.tile(np.arange(NUM_ELEVATIONS), NUM_AZIMUTHS)
    azimuth = np.repeat(np.arange(NUM_AZIMUTHS), NUM_ELEVATIONS)
    classes = np.stack([elevation, azimuth, np.full_like(elevation, obj)], axis=1)
    return classes @ layout().strides


def _files_digest(files: list[Path]) -> str:
    """Changes when a file is added, removed, renamed or modified."""
    digest = hashlib.sha256()
    for f in files:
        stat = f.stat()
        digest.update(f"{f.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_cars3d(path=None, data_dir=None) -> ImageSource:
    """Cars3D from the folder ``path`` (else ``$DISENTANGLEMENT_LIB_DATA/cars``), cached."""
    folder = find_folder(path).absolute()
    files = mat_files(folder)
    grid = layout()

    def fill(out: np.ndarray) -> dict:
        for obj, file in enumerate(files):
            out[rows_of_file(obj)] = read_mesh(file)
        return {"objects": [f.name for f in files]}

    recipe = {
        "kind": "cars3d-mat",
        "folder": str(folder),
        "files": _files_digest(files),
        "factor_sizes": list(grid.sizes),
        "size": SIZE,
        "resize": RESIZE,
        "preprocess_version": PREPROCESS_VERSION,
    }
    key = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    array, _ = array_cache.load_or_build(
        paths.data_dir(data_dir) / NAME, f"mat-{key}", recipe, (grid.num_rows, SIZE, SIZE, 3),
        np.uint8, fill)
    source = f"cars3d-mat:{folder} ({len(files)} car models in file-name order, {RESIZE})"
    return ImageSource(NAME, array, source, str(folder), layout=grid)


def load(options: LoadOptions) -> ImageSource:
    if options.source not in ("auto",) + SOURCES:
        raise ValueError(f"unknown Cars3D source {options.source!r}: expected 'auto' or "
                         f"{', '.join(SOURCES)} (both read the folder of .mat files)")
    if options.channels not in (None, 3):
        raise ValueError(f"Cars3D images are RGB: use channels=3, not {options.channels}")
    return load_cars3d(options.path, options.data_dir)


DATASET = DataSet(
    name=NAME,
    title="Cars3D",
    summary="Cars3D (Reed et al. 2015, Deep Visual Analogy-Making): 17,568 RGB renders of 183 "
            "car models at 64x64; factors elevation 4, azimuth 24, object type 183.",
    sources=SOURCES,
    channels=3,
    load=load,
    factor_names=FACTOR_NAMES,
    flags=FLAGS,
)
