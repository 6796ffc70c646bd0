"""SmallNORB: 48,600 grey photographs of 50 toys, resized to 64x64; four factors and a nuisance.

The data set of LeCun, Huang & Bottou (2004), "Learning methods for generic object recognition
with invariance to pose and lighting" (CVPR), https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/:
5 categories of toys (four-legged animals, human figures, airplanes, trucks, cars), 10
instances of each, photographed by a stereo camera at 9 elevations, 18 azimuths and 6
lightings. As in disentanglement_lib, both published chunks (training: instances 4, 6, 7, 8, 9;
testing: 0, 1, 2, 3, 5) make one set of all 48,600 pairs, only the first image of each pair
is used, and the instance is a nuisance: the rows are stored in row-major order over the axes
``category`` (5), ``instance`` (10), ``elevation`` (9), ``azimuth`` (18), ``lighting`` (6),
and the factors are category, elevation, azimuth and lighting (an observation of given factors
shows a uniformly drawn instance).

Source: tfds ``smallnorb``, splits ``train+test`` (its builder downloads the six
``.mat.gz`` files from NYU and stores the examples shuffled; its ``label_azimuth`` is already
halved to 0..17 and the instance feature is called ``instance``). ``"auto"`` never downloads:
tfds' prepared copy, else a ``FileNotFoundError`` saying how to get it. Every image is placed at
its row from its labels, after checking that they cover the grid exactly once; the cache (199
MB, uint8 ``(48600, 64, 64, 1)``) is memory-mapped under ``<data_dir>/smallnorb/``.

Against disentanglement_lib (google-research/disentanglement_lib at commit
86a644d4ed35c771560dc3360756363d35477357, ``disentanglement_lib/data/ground_truth/norb.py``):

* Same data: both chunks concatenated (L34-37, L91-94), the first image of each pair (L105:
  ``norb[:, 0]``), azimuth halved (L93), the axes ``factor_sizes = [5, 10, 9, 18, 6]`` (L58)
  with ``latent_factor_indices = [0, 2, 3, 4]`` ("Instances are not part of the latent space",
  L59-60), rows indexed by their labels (``util.StateSpaceAtomIndex``, L62, L85), the instance
  drawn uniformly (``SplitDiscreteStateSpace.sample_all_factors``, L84).
* Same resize: PIL's LANCZOS (dlib's ``PIL.Image.ANTIALIAS``, L139, the same filter under its
  old name) from 96x96 to 64x64, computed as dlib's is: dlib reads the pixels as ``int8``
  (L125), which ``PIL.Image.fromarray`` turns into a 32-bit integer image (mode ``"I"``, raw
  mode ``"I;8"``: the bytes read back unsigned), so the filter's sums are not clipped to 8 bits
  between its horizontal and vertical passes. tfbvae resizes the same 32-bit image.
* Storage: dlib keeps the resized images as float64 / 255 (L136-141; 1.6 GB) and returns
  float32 (L86); tfbvae stores uint8 (199 MB) and divides by 255 per batch. The resized values
  are integers either way; only the LANCZOS overshoot at sharp edges (values below 0 or above
  255, which dlib keeps as pixels slightly outside [0, 1]) is clipped to 0..255 here.
* Files: dlib reads the uncompressed ``smallnorb-*.mat`` from ``$DISENTANGLEMENT_LIB_DATA/
  small_norb`` (L30-32); tfbvae reads tfds' copy of the same files.

:data:`AXIS_SIZES` is read at load time, so that tests can shrink the grid.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from tfbvae.data import array_cache, paths, tfds_copy
from tfbvae.data.datasets.base import DataSet, LoadOptions
from tfbvae.data.source import FactorLayout, ImageSource, check_factors_cover
from tfbvae.data.tfds_copy import is_prepared, prepared_files

NAME = "smallnorb"
AXIS_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")
# The stored grid, in AXIS_NAMES' order (disentanglement_lib norb.py L58). Read at load time:
# the tests monkeypatch a tiny grid.
AXIS_SIZES = (5, 10, 9, 18, 6)
FACTORS = (0, 2, 3, 4)  # the instance is a nuisance (norb.py L59-60)
FACTOR_NAMES = tuple(AXIS_NAMES[i] for i in FACTORS)
SOURCE_SIZE = 96  # tfds' images: (96, 96, 1)
SIZE = 64
SOURCES = ("tfds",)

TFDS_NAME = "smallnorb"
TFDS_SPLIT = "train+test"  # both chunks: all 10 instances, as dlib (norb.py L34-37)
TFDS_LABELS = ("label_category", "instance", "label_elevation", "label_azimuth",
               "label_lighting")
HOMEPAGE = "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/"
BATCH = 512  # examples per tfds batch while building the cache
RESIZE = "PIL LANCZOS of the 32-bit image (as disentanglement_lib), clipped to 0..255"

FLAGS = ("--data_source=tfds (tfds downloads SmallNORB from NYU and prepares it), "
         "--tfds_data_dir (tfds' data)")


def layout() -> FactorLayout:
    """The stored grid: category, instance, elevation, azimuth, lighting; the instance a
    nuisance."""
    return FactorLayout(AXIS_NAMES, tuple(int(s) for s in AXIS_SIZES), FACTORS)


def resize(image: np.ndarray) -> np.ndarray:
    """One 96x96 (or ``(96, 96, 1)``) uint8 image -> uint8 ``(64, 64)``: disentanglement_lib's
    ``PIL.Image.fromarray(int8 pixels).resize((64, 64), ANTIALIAS)`` (a 32-bit integer image,
    LANCZOS), clipped to 0..255."""
    pixels = np.asarray(image)
    if pixels.ndim == 3:
        pixels = pixels[..., 0]
    resized = Image.fromarray(pixels.astype(np.int32)).resize((SIZE, SIZE), Image.LANCZOS)
    return np.clip(np.asarray(resized), 0, 255).astype(np.uint8)


def _how_to_get() -> str:
    return ("Get SmallNORB with source='tfds' (--data_source=tfds): tfds downloads its six "
            f".mat.gz files (263 MB) from {HOMEPAGE} and prepares them (--tfds_data_dir: "
            "where); after that, source 'auto' finds tfds' copy offline.")


def _cache_root(data_dir) -> Path:
    return paths.data_dir(data_dir) / NAME


def load_tfds(data_dir=None, tfds_data_dir=None, download: bool = True) -> ImageSource:
    """tfds ``smallnorb`` (train+test), resized to 64x64, put in row-major order over
    :data:`AXIS_NAMES` from its labels and cached as uint8. ``download``: whether tfds may
    download and prepare it (else only its prepared copy)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    dataset, info = tfds_copy.load(TFDS_NAME, TFDS_SPLIT, tfds_data_dir, download, _how_to_get())
    grid = layout()
    what = f"tfds '{TFDS_NAME}' ({TFDS_SPLIT})"
    count = int(dataset.cardinality())
    if count >= 0 and count != grid.num_rows:  # < 0: tfds does not know the count
        raise ValueError(f"{what} has {count} examples, expected one for each of the "
                         f"{grid.num_rows} cells of the grid {dict(zip(grid.names, grid.sizes))}"
                         ": re-prepare it with tfds.")
    version = str(info.version)
    source = f"smallnorb-tfds:{TFDS_SPLIT} v{version}"
    location = str(getattr(info, "data_dir", None) or tfds_data_dir or "tfds default data_dir")
    labelled = dataset.map(
        lambda ex: (ex["image"], tf.stack([tf.cast(ex[key], tf.int64) for key in TFDS_LABELS], -1)))

    def fill(out: np.ndarray) -> dict:
        high = np.asarray(grid.sizes, np.int64)
        seen = []
        for images, classes in tfds.as_numpy(labelled.batch(BATCH)):
            if images.shape[1:] != (SOURCE_SIZE, SOURCE_SIZE, 1):
                raise ValueError(f"{what}: images of shape {images.shape[1:]}, expected "
                                 f"({SOURCE_SIZE}, {SOURCE_SIZE}, 1)")
            seen.append(classes)
            for image, labels in zip(images, classes):
                if ((labels >= 0) & (labels < high)).all():
                    out[labels @ grid.strides, :, :, 0] = resize(image)
        classes = np.concatenate(seen) if seen else np.zeros((0, len(AXIS_NAMES)), np.int64)
        check_factors_cover(grid.names, grid.sizes, classes, what)
        return {"source": source}

    recipe = {
        "kind": "smallnorb-tfds",
        "tfds": f"{TFDS_NAME}:{version}",
        "split": TFDS_SPLIT,
        "location": location,
        "files": prepared_files(location),
        "axis_sizes": list(grid.sizes),
        "image": "image (the first of the pair)",
        "resize": RESIZE,
        "size": SIZE,
    }
    key = hashlib.sha256(location.encode()).hexdigest()[:16]
    array, _ = array_cache.load_or_build(_cache_root(data_dir), f"tfds-{key}", recipe,
                                         (grid.num_rows, SIZE, SIZE, 1), np.uint8, fill)
    return ImageSource(NAME, array, source, location, layout=grid)


def load(options: LoadOptions) -> ImageSource:
    """SmallNORB from ``options.source``: ``"tfds"`` (``options.download``: whether tfds may
    download it) or ``"auto"`` (tfds' prepared copy, never the network)."""
    if options.source not in ("auto",) + SOURCES:
        raise ValueError(f"unknown SmallNORB source {options.source!r}: expected 'auto' or "
                         f"one of {', '.join(SOURCES)}")
    if options.path is not None:
        raise ValueError(f"path= ({options.path}) is not read for SmallNORB: tfbvae reads "
                         f"tfds' copy (--tfds_data_dir). {_how_to_get()}")
    if options.source == "tfds":
        return load_tfds(options.data_dir, options.tfds_data_dir, download=options.download)
    if is_prepared(TFDS_NAME, options.tfds_data_dir):
        return load_tfds(options.data_dir, options.tfds_data_dir, download=False)
    where = f" in {options.tfds_data_dir}" if options.tfds_data_dir else ""
    raise FileNotFoundError(f"SmallNORB is not on this machine: tfds has not prepared "
                            f"'{TFDS_NAME}'{where}. Source 'auto' never downloads. "
                            f"{_how_to_get()}")


DATASET = DataSet(
    name=NAME,
    title="SmallNORB",
    summary="SmallNORB (LeCun, Huang & Bottou 2004): 48,600 grey photos of 50 toys at 64x64; "
            "4 factors (the instance a nuisance).",
    sources=SOURCES,
    channels=1,
    load=load,
    factor_names=FACTOR_NAMES,
    flags=FLAGS,
)
