"""MPI3D (Gondal et al. 2019): a robot arm moving an object, photographed or rendered; 7 factors.

Muhammad Waleed Gondal, Manuel Wüthrich, Djordje Miladinović, Francesco Locatello, Martin
Breidt, Valentin Volchkov, Joel Akpo, Olivier Bachem, Bernhard Schölkopf and Stefan Bauer, "On
the Transfer of Inductive Bias from Simulation to the Real World: a New Disentanglement
Dataset", NeurIPS 2019 (arXiv:1906.03292). Three data sets, one module: ``mpi3d_toy``
(simplistic renders, :data:`TOY`), ``mpi3d_realistic`` (realistic renders, :data:`REALISTIC`),
``mpi3d_real`` (photographs, :data:`REAL`). Each is one ``.npz`` whose ``images`` array is uint8
``(n, 64, 64, 3)``, stored row-major over the factors: object colour, object shape, object size
(2), camera height (3), background colour (3), first degree of freedom (40), second degree of
freedom (40) (the README's horizontal and vertical axis).

Published (https://github.com/rr-learning/disentanglement_dataset, README at a7a6729 L48-59,
L77-99; files on Hugging Face, https://huggingface.co/datasets/waleedgondal/mpi3d) with 6
colours x 6 shapes, 1,036,800 images, for all three. disentanglement_lib's sizes are 4 x 4 for
toy and realistic, the files of the NeurIPS 2019 challenge (460,800 images; its
``bin/dlib_download_data`` L71-75 fetches
``sim_toy_64x_ordered_without_heldout_factors.npz`` as ``mpi3d_toy.npz``). tfbvae infers the
grid from the image count (:data:`COLOURS_SHAPES`: 460,800 -> 4x4, 1,036,800 -> 6x6, for any of
the three) and records which in the source string; other counts are refused.

Where the file is: ``--data_path`` (the ``.npz``, or a folder holding ``mpi3d_<variant>.npz``),
else ``$DISENTANGLEMENT_LIB_DATA/mpi3d_<variant>/mpi3d_<variant>.npz`` (disentanglement_lib's
place), else a ``FileNotFoundError`` saying where to get it.

The file is never read whole into memory (up to 12.7 GB). Stored uncompressed (``np.savez``,
as the published files are: the repository's ``read_data.py`` writes them so), the ``images``
member is memory-mapped where it lies in the ``.npz`` (its ``.npy`` header checked; no copy).
Compressed (``np.savez_compressed``), it is extracted once, in chunks, into a memory-mapped
cache under ``<data_dir>/mpi3d_<variant>/`` (rebuilt when the member's CRC or size changes).

Follows disentanglement_lib (google-research/disentanglement_lib at commit
86a644d4ed35c771560dc3360756363d35477357, ``disentanglement_lib/data/ground_truth/mpi3d.py``):
the file places (L58-93), the factor order (L45-54), every factor latent (L98), the rows indexed
row-major (``factor_bases``, L102-103 and L122-125) and the ``images`` key (L97), served /255
(L125). Differs from it:

* the colour x shape grid comes from the image count, not from the variant (L69, L81, L93 fix
  4x4, 4x4, 6x6): with today's 6x6 toy or realistic file dlib's 4x4 strides would index the
  first 460,800 rows with the wrong factor meaning, silently;
* the images are memory-mapped (or cached) uint8 rows, not ``np.load(f)["images"]`` held in
  memory (L67-68, L97);
* errors: a missing file is a ``FileNotFoundError`` naming the places looked at and where the
  data is published (dlib: ``ValueError("Dataset ... not found")``, L62-65); a wrong key,
  dtype, image shape or count is refused with a message (dlib assumes them);
* no ``$DISENTANGLEMENT_LIB_DATA`` means no default place (dlib then reads ``./mpi3d_*``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from tfbvae.data import array_cache, paths
from tfbvae.data.datasets.base import DataSet, LoadOptions
from tfbvae.data.source import FactorLayout, ImageSource

log = logging.getLogger(__name__)

FACTOR_NAMES = ("object_color", "object_shape", "object_size", "camera_height",
                "background_color", "first_dof", "second_dof")
# (object colours, object shapes) of the files there are: the 2019 challenge files
# (disentanglement_lib's toy and realistic sizes) and today's published files (all three).
COLOURS_SHAPES = ((4, 4), (6, 6))
# The other factors: object size, camera height, background colour, first and second DOF.
# Tests shrink these (and so the image counts) to a tiny grid.
OTHER_SIZES = (2, 3, 3, 40, 40)
# disentanglement_lib's colour x shape grid of each variant (mpi3d.py L69, L81, L93).
DLIB_COLOURS_SHAPES = {"mpi3d_toy": (4, 4), "mpi3d_realistic": (4, 4), "mpi3d_real": (6, 6)}
IMAGE_SHAPE = (64, 64, 3)
MEMBER = "images.npy"  # np.savez(..., images=...) stores the array as this zip member
ENV = paths.DLIB_DATA_ENV
SOURCES = ("files",)
PUBLISHED = ("https://github.com/rr-learning/disentanglement_dataset (files: "
             "https://huggingface.co/datasets/waleedgondal/mpi3d/resolve/main/{variant}.npz)")
CHUNK_BYTES = 1 << 26  # extraction of a compressed member: 64 MiB at a time
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # a zip member's local file header (30 bytes)


def grids() -> dict[int, tuple[int, ...]]:
    """Image count -> the factor sizes of the file with that many images."""
    sizes = [tuple(cs) + tuple(OTHER_SIZES) for cs in COLOURS_SHAPES]
    return {int(np.prod(s)): s for s in sizes}


def published(variant: str) -> str:
    return PUBLISHED.format(variant=variant)


def find_file(variant: str, path: str | os.PathLike | None) -> Path:
    """The ``.npz``: ``path`` (or ``path/<variant>.npz`` for a folder), else
    ``$DISENTANGLEMENT_LIB_DATA/<variant>/<variant>.npz``."""
    name = f"{variant}.npz"
    if path is not None:
        file = Path(path).expanduser()
        if file.is_dir():
            file = file / name
        if not file.is_file():
            raise FileNotFoundError(
                f"{variant} file {file} does not exist: expected {name} (the images as uint8 "
                f"(n, 64, 64, 3)), published at {published(variant)}.")
        return file
    file, where = paths.in_dlib_data(variant, name)
    if file is not None and file.is_file():
        return file
    where = where or f"{file} is not a file"
    raise FileNotFoundError(
        f"{variant} is not on this machine: no --data_path given and {where}. Download {name} "
        f"from {published(variant)} and pass --data_path=/path/to/{name} (path=), or put it "
        f"at ${ENV}/{variant}/{name}.")


def _read_header(stream, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The ``.npy`` header of the stream (left after it): shape, Fortran order, dtype."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(stream)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(stream)
    except ValueError as err:
        raise ValueError(f"{where} is not a readable .npy array: {err}") from err
    raise ValueError(f"{where}: .npy format version {version} is not read (1.0 or 2.0, as "
                     "np.savez writes uint8 arrays)")


def _check_images(variant: str, file: Path, shape, fortran: bool, dtype) -> tuple[int, ...]:
    """The factor sizes of ``images`` of this ``shape``, after checking it can be them."""
    what = f"{file}: 'images'"
    if np.dtype(dtype) != np.uint8:
        raise ValueError(f"{what} holds {np.dtype(dtype)}, expected uint8 pixels "
                         f"({published(variant)}).")
    if len(shape) != 4 or tuple(shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"{what} has shape {tuple(shape)}, expected (n, 64, 64, 3) "
                         f"({published(variant)}).")
    if fortran:
        raise ValueError(f"{what} is stored in Fortran (column-major) order, whose rows are not "
                         "contiguous: re-save it with np.savez(path, "
                         "images=np.ascontiguousarray(images)).")
    counts = grids()
    if shape[0] not in counts:
        expected = " or ".join(
            f"{n:,} ({s[0]}x{s[1]} object colours x shapes)" for n, s in sorted(counts.items()))
        raise ValueError(f"{what} holds {shape[0]:,} images, expected {expected}, all factor "
                         f"combinations once, row-major in the order {', '.join(FACTOR_NAMES)} "
                         f"({published(variant)}).")
    return counts[shape[0]]


def _open_member(file: Path) -> tuple[zipfile.ZipFile, zipfile.ZipInfo]:
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{file} is not a readable .npz (zip) file: {err}") from err
    try:
        info = archive.getinfo(MEMBER)
    except KeyError:
        names = [n.removesuffix(".npy") for n in archive.namelist()]
        archive.close()
        raise ValueError(f"{file} has no 'images' array (it holds {names}): expected "
                         "np.savez(path, images=<uint8 (n, 64, 64, 3)>).") from None
    if info.flag_bits & 0x1:
        archive.close()
        raise ValueError(f"{file}: its 'images' member is encrypted")
    return archive, info


def _stored_offset(file: Path, info: zipfile.ZipInfo) -> int:
    """Where an uncompressed member's bytes start in the zip file (after its local header)."""
    with open(file, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise ValueError(f"{file}: no local zip header where the 'images' member should be")
    fields = _LOCAL_HEADER.unpack(header)
    return info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]


def _memory_map(variant: str, file: Path, info: zipfile.ZipInfo, header_bytes: int,
                shape: tuple[int, ...]) -> np.memmap:
    offset = _stored_offset(file, info) + header_bytes
    nbytes = int(np.prod(shape))
    if info.file_size != header_bytes + nbytes or file.stat().st_size < offset + nbytes:
        raise ValueError(f"{file}: the 'images' member has {info.file_size} bytes, expected "
                         f"{header_bytes + nbytes} for {shape} uint8 (truncated or corrupt; "
                         f"download it again from {published(variant)}).")
    return np.memmap(file, np.uint8, mode="r", offset=offset, shape=tuple(shape))


def _extract(variant: str, file: Path, info: zipfile.ZipInfo, shape: tuple[int, ...],
             data_dir) -> np.ndarray:
    """The compressed member decompressed once, in chunks, into the array cache."""
    row_bytes = int(np.prod(shape[1:]))

    def fill(out: np.ndarray) -> dict:
        archive, member = _open_member(file)
        try:
            with archive, archive.open(member) as stream:
                _read_header(stream, f"{file}: 'images'")
                step = max(1, CHUNK_BYTES // row_bytes)
                for start in range(0, shape[0], step):
                    count = min(step, shape[0] - start)
                    block = stream.read(count * row_bytes)
                    if len(block) != count * row_bytes:
                        raise ValueError(f"{file}: the 'images' member ends after "
                                         f"{start + len(block) // row_bytes} of {shape[0]} images")
                    out[start:start + count] = np.frombuffer(block, np.uint8).reshape(
                        (count,) + tuple(shape[1:]))
                if stream.read(1):  # also makes zipfile check the member's CRC
                    raise ValueError(f"{file}: the 'images' member holds more bytes than "
                                     f"{tuple(shape)} uint8")
        except (zipfile.BadZipFile, zlib.error, EOFError) as err:
            raise ValueError(f"{file} is corrupt ({type(err).__name__}: {err}): download it "
                             f"again from {published(variant)}.") from err
        return {"npz": str(file)}

    recipe = {
        "kind": "mpi3d-npz",
        "variant": variant,
        "file": str(file),
        "member_crc": info.CRC,
        "member_size": info.file_size,
        "compressed_size": info.compress_size,
    }
    key = hashlib.sha256(str(file).encode()).hexdigest()[:16]
    array, _ = array_cache.load_or_build(paths.data_dir(data_dir) / variant, f"npz-{key}",
                                         recipe, tuple(shape), np.uint8, fill)
    return array


def load_mpi3d(variant: str, path=None, data_dir=None) -> ImageSource:
    """MPI3D ``variant`` (``mpi3d_toy``, ``mpi3d_realistic``, ``mpi3d_real``) from its ``.npz``."""
    file = find_file(variant, path).absolute()
    archive, info = _open_member(file)
    try:
        with archive, archive.open(info) as stream:
            shape, fortran, dtype = _read_header(stream, f"{file}: 'images'")
            header_bytes = stream.tell()
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{file} is not a readable .npz (zip) file: {type(err).__name__}: "
                         f"{err}; download it again from {published(variant)}.") from err
    sizes = _check_images(variant, file, shape, fortran, dtype)
    if info.compress_type == zipfile.ZIP_STORED:
        array, how = _memory_map(variant, file, info, header_bytes, tuple(shape)), "memory-mapped"
    else:
        array, how = _extract(variant, file, info, tuple(shape), data_dir), "extracted to the cache"
    colours, shapes = sizes[:2]
    if (colours, shapes) != DLIB_COLOURS_SHAPES[variant]:
        dlib = DLIB_COLOURS_SHAPES[variant]
        log.info("%s: %s holds %dx%d object colours x shapes (%d images); disentanglement_lib "
                 "assumed %dx%d for %s.", variant, file, colours, shapes, shape[0], dlib[0],
                 dlib[1], variant)
    source = (f"{variant}-npz:{file} ({colours}x{shapes} object colours x shapes, "
              f"{shape[0]} images, {how})")
    return ImageSource(variant, array, source, str(file), layout=FactorLayout(FACTOR_NAMES, sizes))


def _loader(variant: str):
    def load(options: LoadOptions) -> ImageSource:
        if options.source not in ("auto",) + SOURCES:
            raise ValueError(f"unknown {variant} source {options.source!r}: expected 'auto' or "
                             f"{', '.join(SOURCES)} (both read the .npz)")
        if options.channels not in (None, 3):
            raise ValueError(f"MPI3D images are RGB: use channels=3, not {options.channels}")
        return load_mpi3d(variant, options.path, options.data_dir)

    return load


def _dataset(variant: str, title: str, what: str) -> DataSet:
    return DataSet(
        name=variant,
        title=title,
        summary=f"{title} (Gondal et al. 2019): {what} of a robot arm's object at 64x64, "
                "1,036,800 (6x6 colours x shapes) or 460,800 (4x4) images; 7 factors.",
        sources=SOURCES,
        channels=3,
        load=_loader(variant),
        factor_names=FACTOR_NAMES,
        flags=(f"--data_path=/path/to/{variant}.npz (from {published(variant)}), or "
               f"${ENV}/{variant}/{variant}.npz"),
    )


TOY = _dataset("mpi3d_toy", "MPI3D-toy", "simplistic renders")
REALISTIC = _dataset("mpi3d_realistic", "MPI3D-realistic", "realistic renders")
REAL = _dataset("mpi3d_real", "MPI3D-real", "photographs")
