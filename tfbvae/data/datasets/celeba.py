"""CelebA (aligned, 178×218) as uint8 ``(n, 64, 64, 3)``, pre-processed as the β-VAE papers do.

Sources: tfds ``celeb_a`` (downloads from Google Drive, or uses files placed in tfds' manual
directory), the user's ``img_align_celeba.zip``, or the folder of JPEGs it unpacks to (no tfds
needed). Source ``"auto"`` never downloads, as dSprites' does not: it takes what is on this
machine or stops at once saying how to get CelebA. Pre-processing: the centred 148×148 crop (rows 35..182, columns 15..162 of a 218×178
image) area-resized to 64×64, RGB. The result is cached on disk once per source.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zipfile
from pathlib import Path

import numpy as np

from tfbvae.data import array_cache, images, paths
from tfbvae.data.datasets import image_folder
from tfbvae.data.datasets.base import DataSet, LoadOptions
from tfbvae.data.datasets.image_folder import ImageArrays
from tfbvae.data.source import ImageSource

CROP = 148  # centred square, of the 178 (wide) x 218 (high) aligned images
SIZE = 64
TFDS_SPLIT = "train+validation+test"  # all 202,599 images, as the papers train on
SOURCES = ("tfds", "zip", "folder")
TFDS_MANUAL_FILES = (
    "img_align_celeba.zip",
    "list_eval_partition.txt",
    "list_attr_celeba.txt",
    "list_landmarks_align_celeba.txt",
    "identity_CelebA.txt",
)


def tfds_help(manual_dir: str | os.PathLike | None) -> str:
    where = manual_dir or "~/tensorflow_datasets/downloads/manual/"
    return (
        "Google Drive, which hosts CelebA, often refuses automated downloads (quota exceeded). "
        f"Either download {', '.join(TFDS_MANUAL_FILES)} by hand (links on "
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html) into tfds' manual directory "
        f"{where} (pass manual_dir= to use another) and retry, or skip tfds: pass "
        "path=/path/to/img_align_celeba.zip (or the folder of JPEGs it unpacks to)."
    )


def _tfds_local_state(tfds_data_dir, manual_dir) -> tuple[bool, Path, list[str]]:
    """Whether tfds has prepared ``celeb_a``, the manual directory tfds would read (its default:
    ``<tfds data_dir>/downloads/manual``) and the manual files missing from it."""
    import tensorflow_datasets as tfds

    builder = tfds.builder("celeb_a", data_dir=tfds_data_dir)
    if manual_dir is not None:
        manual = Path(manual_dir).expanduser()
    else:
        manual = Path(str(builder.data_dir_root)) / "downloads" / "manual"
    missing = [name for name in TFDS_MANUAL_FILES if not (manual / name).is_file()]
    return builder.is_prepared(), manual, missing


def _not_local_help(tfds_data_dir, manual: Path, missing: list[str]) -> str:
    where = f" in {tfds_data_dir}" if tfds_data_dir else ""
    return (
        f"CelebA is not on this machine: tfds has not prepared celeb_a{where}, and its "
        f"manual-download directory {manual} lacks {', '.join(missing)}. Source 'auto' never "
        "downloads; get CelebA one of these ways:\n"
        "  * your own copy: path=/path/to/img_align_celeba.zip (or the folder of JPEGs it unpacks "
        "to), from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html;\n"
        f"  * tfds' manual download: put {', '.join(TFDS_MANUAL_FILES)} in {manual} (or pass "
        "manual_dir= the folder holding them);\n"
        "  * let tfds download it: source='tfds' (from Google Drive, which often refuses "
        "automated downloads with a quota error; then use one of the above)."
    )


def _cache_root(data_dir) -> Path:
    return paths.data_dir(data_dir) / "celeba"


def _load_zip(zip_path: Path, data_dir, on_error: str) -> ImageArrays:
    if not zip_path.is_file():
        raise FileNotFoundError(
            f"CelebA zip {zip_path} does not exist: expected img_align_celeba.zip (1.4 GB, "
            "202,599 JPEGs) or pass the folder of JPEGs instead."
        )
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = sorted(
                (i for i in archive.infolist() if Path(i.filename).suffix.lower() in (".jpg", ".jpeg")),
                key=lambda i: i.filename,
            )
    except zipfile.BadZipFile as err:
        raise ValueError(f"{zip_path} is not a readable zip archive: {err}") from err
    if not members:
        raise ValueError(
            f"No JPEG images found in {zip_path}: expected img_align_celeba/*.jpg inside it."
        )
    digest = hashlib.sha256()
    for info in members:  # zip entries carry a CRC: a changed member changes the key
        digest.update(f"{info.filename}\0{info.file_size}\0{info.CRC}\n".encode())
    local = threading.local()  # one open archive per decoding thread

    def read(name: str) -> bytes:
        if not hasattr(local, "archive"):
            local.archive = zipfile.ZipFile(zip_path)
        return local.archive.read(name)

    key = hashlib.sha256(str(zip_path.absolute()).encode()).hexdigest()[:16]
    return image_folder.cached_images(
        _cache_root(data_dir),
        f"zip-{key}",
        {"kind": "celeba-zip", "zip": str(zip_path.absolute()), "members": digest.hexdigest()},
        [i.filename for i in members],
        read,
        CROP,
        SIZE,
        3,
        on_error,
        source=f"celeba-zip:{zip_path.absolute()}",
        location=str(zip_path.absolute()),
    )


def _load_folder(folder: Path, data_dir, on_error: str) -> ImageArrays:
    arrays = image_folder.load_image_folder(
        folder, data_dir=_cache_root(data_dir), size=SIZE, channels=3, crop=CROP, on_error=on_error
    )
    return ImageArrays(arrays.images, f"celeba-folder:{arrays.location}", arrays.location, arrays.skipped)


def _load_tfds(
    data_dir, tfds_data_dir, manual_dir, download: bool, local_only: bool = False
) -> ImageArrays:
    """tfds ``celeb_a``, pre-processed and cached. ``local_only``: prepare it from the manual
    files without asking GCS for a prepared copy first (no network)."""
    import tensorflow_datasets as tfds

    kwargs = {}
    if manual_dir is not None or local_only:
        config = tfds.download.DownloadConfig(
            manual_dir=None if manual_dir is None else str(manual_dir),
            try_download_gcs=not local_only,
        )
        kwargs["download_and_prepare_kwargs"] = {"download_config": config}
    try:
        dataset = tfds.load(
            "celeb_a",
            split=TFDS_SPLIT,
            data_dir=tfds_data_dir,
            download=download,
            shuffle_files=False,
            **kwargs,
        )
    except Exception as err:  # tfds raises many types (network, quota, missing data)
        raise RuntimeError(
            f"tfds could not provide 'celeb_a' ({type(err).__name__}: {err}). {tfds_help(manual_dir)}"
        ) from err
    count = int(dataset.cardinality())
    if count <= 0:
        raise RuntimeError(f"tfds 'celeb_a' reports {count} examples; {tfds_help(manual_dir)}")
    images_only = dataset.map(lambda ex: ex["image"])

    def fill(out: np.ndarray) -> dict:
        row = 0
        for image in tfds.as_numpy(images_only):
            out[row] = images.preprocess(image, CROP, SIZE, 3)
            row += 1
        if row != count:
            raise RuntimeError(f"tfds 'celeb_a' yielded {row} images, announced {count}")
        return {"num_valid": count, "skipped": [], "source": "celeba-tfds"}

    location = str(tfds_data_dir) if tfds_data_dir else "tfds default data_dir"
    recipe = {
        "kind": "celeba-tfds",
        "split": TFDS_SPLIT,
        "tfds_data_dir": location,
        "num_examples": count,
        "crop": CROP,
        "size": SIZE,
        "resize": "PIL BOX (area)",
        "preprocess_version": images.PREPROCESS_VERSION,
    }
    key = hashlib.sha256(location.encode()).hexdigest()[:16]
    array, _ = array_cache.load_or_build(
        _cache_root(data_dir), f"tfds-{key}", recipe, (count, SIZE, SIZE, 3), np.uint8, fill
    )
    return ImageArrays(array, "celeba-tfds", location)


def _load_local_tfds(data_dir, tfds_data_dir, manual_dir) -> ImageArrays:
    """Source ``"auto"`` without a path: tfds' copy when it is on this machine, else stop."""
    prepared, manual, missing = _tfds_local_state(tfds_data_dir, manual_dir)
    if prepared:
        return _load_tfds(data_dir, tfds_data_dir, manual_dir, download=False)
    if not missing:
        # tfds takes every file it would download from the manual directory when it is there.
        return _load_tfds(data_dir, tfds_data_dir, manual, download=True, local_only=True)
    raise FileNotFoundError(_not_local_help(tfds_data_dir, manual, missing))


def load_celeba(
    source: str = "auto",
    path: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    tfds_data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    download: bool = True,
    on_error: str = "raise",
) -> ImageArrays:
    """CelebA as uint8 ``(n, 64, 64, 3)``, cached under ``<data_dir>/celeba/``.

    ``source``: ``"zip"`` (``path`` = img_align_celeba.zip), ``"folder"`` (``path`` = folder of
    JPEGs), ``"tfds"`` (``tfds_data_dir``, ``manual_dir``; ``download``: whether tfds may
    download), or ``"auto"``, which never downloads: zip or folder when ``path`` is given, else
    tfds' prepared copy, else tfds prepared from all of :data:`TFDS_MANUAL_FILES` in the manual
    directory, else a ``FileNotFoundError`` that says how to get CelebA. ``on_error`` applies
    to undecodable JPEGs of a zip or folder: ``"raise"`` (naming the file) or ``"skip"``.
    """
    if source == "auto":
        if path is None:
            return _load_local_tfds(data_dir, tfds_data_dir, manual_dir)
        source = "zip" if Path(path).suffix.lower() == ".zip" else "folder"
    if source in ("zip", "folder") and path is None:
        raise ValueError(f"CelebA source '{source}' needs path= (img_align_celeba.zip or its folder)")
    if source == "zip":
        return _load_zip(Path(path).expanduser(), data_dir, on_error)
    if source == "folder":
        return _load_folder(Path(path).expanduser(), data_dir, on_error)
    if source == "tfds":
        return _load_tfds(data_dir, tfds_data_dir, manual_dir, download)
    raise ValueError(f"unknown CelebA source {source!r}: expected 'auto' or one of {SOURCES}")


def load(options: LoadOptions) -> ImageSource:
    arrays = load_celeba(options.source, options.path, options.data_dir, options.tfds_data_dir,
                         options.manual_dir, download=options.download, on_error=options.on_error)
    return ImageSource("celeba", arrays.images, arrays.source, arrays.location)


DATASET = DataSet(
    name="celeba",
    title="CelebA",
    summary="CelebA (Liu et al. 2015), aligned faces: 202,599 RGB photos, centre 148 px "
            "square at 64x64; no ground-truth factors.",
    sources=SOURCES,
    channels=3,
    load=load,
    crop=CROP,
    flags="--data_path=/path/to/img_align_celeba.zip (or the folder of JPEGs it unpacks to), "
          "--tfds_manual_dir (tfds' manual-download directory), --tfds_data_dir (tfds' data), "
          "--data_source=tfds (lets tfds download it)",
)
