"""The three dSprites sources, each giving the same bit-packed images in the official order.

* ``rendered``: the offline renderer (:mod:`tfbvae.data.dsprites.render`), cached on disk once.
* ``official``: the user's ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.
* ``tfds``: TensorFlow Datasets' ``dsprites`` (needs the internet once).

Images are held bit-packed: row ``i`` is ``np.packbits(imgs[i], axis=-1)``, uint8 ``(64, 8)``,
so the whole set takes 377 MB instead of 3 GB; :func:`unpack` restores 0/1 pixels. Every
source records a ``source`` string that travels into logs, exports and results.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from tfbvae.data import array_cache, paths
from tfbvae.data.dsprites import layout as dsprites_layout
from tfbvae.data.dsprites import render as dsprites_render
from tfbvae.data.paths import usable_cpus

log = logging.getLogger(__name__)

PACKED_ROW_SHAPE = (64, 8)
SOURCES = ("rendered", "official", "tfds")
RENDERED_SOURCE = f"dsprites-rendered (tfbvae renderer v{dsprites_render.RENDERER_VERSION})"
OFFICIAL_SOURCE = "dsprites-official-npz"
TFDS_SOURCE = "dsprites-tfds"
_PROBE_ROWS = 64  # rows re-rendered on every cache load to catch renderer changes


@dataclasses.dataclass(frozen=True)
class DSpritesArrays:
    """Bit-packed dSprites images (uint8 ``(n, 64, 8)``) in the official row order."""

    packed: np.ndarray
    source: str
    location: str  # the cache entry, official file or tfds data dir the images came from

    @property
    def num_images(self) -> int:
        return len(self.packed)

    def images(self, indices: np.ndarray) -> np.ndarray:
        """Official-layout pixels of the given rows: uint8 ``(n, 64, 64)``, values 0/1."""
        return unpack(self.packed[np.asarray(indices)])

    def official_layout(self) -> dict:
        """The official file's arrays: ``imgs`` (3 GB for the full set: uint8 0/1),
        ``latents_classes``, ``latents_values`` and ``metadata``."""
        classes = dsprites_layout.latents_classes(np.arange(self.num_images))
        return {
            "imgs": unpack(self.packed),
            "latents_classes": classes,
            "latents_values": dsprites_layout.latents_values(classes),
            "metadata": dsprites_layout.metadata(),
        }


def pack(imgs: np.ndarray) -> np.ndarray:
    """uint8 0/1 images ``(n, 64, 64)`` -> bit-packed ``(n, 64, 8)``."""
    return np.packbits(imgs, axis=-1)


def unpack(packed: np.ndarray) -> np.ndarray:
    """Bit-packed ``(n, 64, 8)`` -> uint8 0/1 images ``(n, 64, 64)``."""
    return np.unpackbits(packed, axis=-1)


def _check_num_images(num_images: int) -> None:
    per = dsprites_render.IMAGES_PER_SPRITE
    whole = isinstance(num_images, (int, np.integer)) and not isinstance(num_images, bool)
    if not (whole and 0 < num_images <= dsprites_layout.NUM_IMAGES and num_images % per == 0):
        raise ValueError(
            f"num_images must be a multiple of {per} in (0, {dsprites_layout.NUM_IMAGES}] "
            f"(a leading block of the official order), got {num_images}"
        )


# ----------------------------------------------------------------------------------------
# Rendered


def rendered_cache_recipe(num_images: int) -> dict:
    return {
        "dataset": "dsprites",
        "layout": "official order, bit-packed rows (np.packbits axis=-1, big-endian bits)",
        "num_images": num_images,
        "renderer": dsprites_render.RECIPE,
        "recipe_hash": dsprites_render.RECIPE_HASH,
    }


def _fill_rendered(out: np.ndarray) -> dict:
    """Renders every sprite block into ``out`` (rows in the official order), on every core."""
    per = dsprites_render.IMAGES_PER_SPRITE
    num_sprites = len(out) // per

    def render_into(sprite: int) -> None:
        out[sprite * per : (sprite + 1) * per] = pack(dsprites_render.render_sprite_block(sprite))

    # numpy releases the GIL in the heavy loops, so threads render blocks in parallel.
    workers = min(usable_cpus(), 8)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(render_into, range(num_sprites)))
    return {"source": RENDERED_SOURCE, "render_threads": workers}


def _probe_rows(num_images: int) -> np.ndarray:
    return np.unique(np.linspace(0, num_images - 1, _PROBE_ROWS).astype(np.int64))


def _validate_rendered(packed: np.ndarray) -> str | None:
    """Re-renders a few rows: a renderer change that forgot its version bump is caught here."""
    rows = _probe_rows(len(packed))
    fresh = pack(dsprites_render.render(dsprites_layout.latents_classes(rows)))
    if not np.array_equal(fresh, packed[rows]):
        return "stale: the current renderer draws some rows differently"
    return None


def rendered_cache_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Directory of the rendered-dSprites cache (``<data_dir>/dsprites``)."""
    return paths.data_dir(data_dir) / "dsprites"


def load_rendered(
    data_dir: str | os.PathLike | None = None, num_images: int = dsprites_layout.NUM_IMAGES
) -> DSpritesArrays:
    """The rendered set from its cache, rendering it first if needed.

    ``num_images`` (a multiple of 1024) limits it to a leading block of the official order,
    cached separately: for tests.
    """
    _check_num_images(num_images)
    name = "rendered" if num_images == dsprites_layout.NUM_IMAGES else f"rendered-{num_images}"
    packed, _ = array_cache.load_or_build(
        rendered_cache_dir(data_dir),
        name,
        rendered_cache_recipe(num_images),
        (num_images,) + PACKED_ROW_SHAPE,
        np.uint8,
        _fill_rendered,
        validate=_validate_rendered,
    )
    return DSpritesArrays(packed, RENDERED_SOURCE, str(rendered_cache_dir(data_dir) / name))


# ----------------------------------------------------------------------------------------
# Official file

_OFFICIAL_DTYPES = {"imgs": np.uint8, "latents_classes": np.int64, "latents_values": np.float64}


def find_official_npz(path: str | os.PathLike | None = None) -> Path | None:
    """The official file: ``path`` (the file, or a directory holding it) if given, else the
    first of :func:`tfbvae.data.paths.official_dsprites_candidates` that exists."""
    if path is not None:
        path = Path(path).expanduser()
        return path / paths.OFFICIAL_DSPRITES_FILE if path.is_dir() else path
    for candidate in paths.official_dsprites_candidates():
        if candidate.is_file():
            return candidate
    return None


def _member_header(archive: zipfile.ZipFile, key: str, path: Path):
    """Opens ``<key>.npy`` inside the npz and reads its header: (stream, shape, dtype)."""
    stream = archive.open(f"{key}.npy")
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    if fortran:
        raise ValueError(f"{path}: '{key}' is stored in Fortran order; expected C order")
    return stream, shape, dtype


def load_official(
    path: str | os.PathLike | None = None,
    expected_num_images: int = dsprites_layout.NUM_IMAGES,
) -> DSpritesArrays:
    """Reads the official ``.npz``, checking keys, shapes, dtypes, pixel values and row order.

    The images are streamed out of the archive and bit-packed chunk by chunk: no 3 GB copy and
    no float copy. ``metadata`` (a pickle) is required but not unpickled. ``expected_num_images``
    exists for tests that write a small file in the same format.
    """
    found = find_official_npz(path)
    if found is None or not found.is_file():
        looked = [str(found)] if found else [str(p) for p in paths.official_dsprites_candidates()]
        raise FileNotFoundError(
            f"Official dSprites file not found (looked at: {', '.join(looked)}). Download "
            f"{paths.OFFICIAL_DSPRITES_FILE} from https://github.com/deepmind/dsprites-dataset "
            "and pass its path, or use source='rendered' (offline renderer)."
        )
    n = expected_num_images
    try:
        archive = zipfile.ZipFile(found)
    except zipfile.BadZipFile as err:
        raise ValueError(f"{found} is not an .npz (zip) archive: {err}") from err
    with archive:
        keys = {name[:-4] for name in archive.namelist() if name.endswith(".npy")}
        missing = sorted((set(_OFFICIAL_DTYPES) | {"metadata"}) - keys)
        if missing:
            raise ValueError(
                f"{found} is not the official dSprites file: missing keys {missing} "
                f"(has {sorted(keys)}; expected imgs, latents_classes, latents_values, metadata)"
            )
        expected_shapes = {
            "imgs": (n, 64, 64),
            "latents_classes": (n, 6),
            "latents_values": (n, 6),
        }
        headers = {}
        for key, want_shape in expected_shapes.items():
            stream, shape, dtype = _member_header(archive, key, found)
            if tuple(shape) != want_shape or dtype != np.dtype(_OFFICIAL_DTYPES[key]):
                stream.close()
                raise ValueError(
                    f"{found}: '{key}' is {dtype} {tuple(shape)}, expected "
                    f"{np.dtype(_OFFICIAL_DTYPES[key])} {want_shape}"
                )
            headers[key] = stream
        classes = np.frombuffer(headers["latents_classes"].read(), np.int64).reshape(n, 6)
        values = np.frombuffer(headers["latents_values"].read(), np.float64).reshape(n, 6)
        expected_classes = dsprites_layout.latents_classes(np.arange(n))
        if not np.array_equal(classes, expected_classes):
            bad = int(np.flatnonzero((classes != expected_classes).any(axis=1))[0])
            raise ValueError(
                f"{found}: latents_classes are not in the official order (row {bad} is "
                f"{classes[bad].tolist()}, expected {expected_classes[bad].tolist()})"
            )
        if not np.allclose(values, dsprites_layout.latents_values(expected_classes), atol=1e-6):
            raise ValueError(f"{found}: latents_values do not match the official factor values")
        packed = np.empty((n,) + PACKED_ROW_SHAPE, np.uint8)
        chunk = 8192
        stream = headers["imgs"]
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            block = np.frombuffer(stream.read(rows * 64 * 64), np.uint8).reshape(rows, 64, 64)
            if block.max(initial=0) > 1:
                raise ValueError(f"{found}: imgs must hold 0/1 pixels, found {block.max()}")
            packed[start : start + rows] = pack(block)
        for stream in headers.values():
            stream.close()
    return DSpritesArrays(packed, OFFICIAL_SOURCE, str(found))


# ----------------------------------------------------------------------------------------
# TensorFlow Datasets

_TFDS_LABELS = (
    "label_shape",
    "label_scale",
    "label_orientation",
    "label_x_position",
    "label_y_position",
)


def load_tfds(
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    expected_num_images: int = dsprites_layout.NUM_IMAGES,
) -> DSpritesArrays:
    """tfds ``dsprites``, put back into the official order from its labels and bit-packed.

    tfds stores examples in a shuffled order and images as 0/1 ``(64, 64, 1)``; every row must
    appear exactly once. ``data_dir`` is tfds' own data directory (its default when ``None``).
    """
    import tensorflow_datasets as tfds

    try:
        dataset = tfds.load(
            "dsprites", split="train", data_dir=data_dir, download=download, shuffle_files=False
        )
    except Exception as err:  # tfds raises many types (network, missing data, checksums)
        raise RuntimeError(
            f"tfds could not provide 'dsprites' ({type(err).__name__}: {err}). It needs the "
            "internet once (download=True) or an already prepared copy in data_dir. Offline, use "
            "source='rendered' (the tfbvae renderer) or source='official' with the .npz file."
        ) from err
    n = expected_num_images
    packed = np.zeros((n,) + PACKED_ROW_SHAPE, np.uint8)
    seen = np.zeros(n, bool)
    sizes = np.array(dsprites_layout.FACTORS_NUM_VALUES)
    strides = np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]])
    for batch in tfds.as_numpy(dataset.batch(4096)):
        factors = np.stack([batch[k] for k in _TFDS_LABELS], axis=1).astype(np.int64)
        rows = factors @ strides
        images = batch["image"][..., 0]
        if images.max(initial=0) > 1:
            raise ValueError(f"tfds dsprites images must be 0/1, found {images.max()}")
        if rows.max(initial=0) >= n or seen[rows].any() or len(np.unique(rows)) != len(rows):
            raise ValueError(
                "tfds dsprites has duplicate or unexpected examples (labels out of the first "
                f"{n} rows): the prepared data does not match dSprites' 737,280 images"
            )
        seen[rows] = True
        packed[rows] = pack(images)
    if not seen.all():
        raise ValueError(
            f"tfds dsprites is incomplete: {int(seen.sum())} of {n} images present "
            f"(first missing row {int(np.flatnonzero(~seen)[0])}). Re-prepare it with tfds."
        )
    location = str(data_dir) if data_dir else "tfds default data_dir"
    return DSpritesArrays(packed, TFDS_SOURCE, location)


# ----------------------------------------------------------------------------------------


def resolve_source(source: str, path: str | os.PathLike | None = None) -> str:
    """``"auto"`` -> ``"official"`` when ``path`` is given or the official file is found in the
    usual places, else ``"rendered"`` (never the network); other names pass through."""
    if source != "auto":
        return source
    resolved = "official" if path is not None or find_official_npz() is not None else "rendered"
    log.info("dSprites source 'auto' resolved to '%s'.", resolved)
    return resolved


def load_dsprites(
    source: str = "auto",
    path: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    tfds_data_dir: str | os.PathLike | None = None,
    *,
    num_images: int | None = None,
    download: bool = True,
) -> DSpritesArrays:
    """All 737,280 dSprites images (bit-packed, official order) from the chosen source.

    ``source``: ``"rendered"`` (cache under ``data_dir``, see :func:`rendered_cache_dir`),
    ``"official"`` (``path`` or the usual places, :func:`find_official_npz`), ``"tfds"``
    (``download``: whether tfds may fetch it), or ``"auto"``: the official file when one is
    found, else rendered (never the network). ``num_images`` (a multiple of 1024) takes only
    that leading block of the official order, rendered: quick runs and tests.
    """
    if source != "auto" and source not in SOURCES:
        raise ValueError(f"unknown dSprites source {source!r}: expected 'auto' or one of {SOURCES}")
    if num_images is not None:
        if source not in ("auto", "rendered") or (source == "auto" and path is not None):
            given = f"source={source!r}" + (f" with path={str(path)!r}" if path is not None else "")
            raise ValueError(
                f"num_images={num_images} takes a leading block of the rendered dSprites images, "
                f"not of {given}: use source='rendered' (or 'auto' without path=), or drop "
                "num_images to load the whole set from that source."
            )
        return load_rendered(data_dir, num_images)
    source = resolve_source(source, path)
    if source == "rendered":
        return load_rendered(data_dir)
    if source == "official":
        return load_official(path)
    return load_tfds(tfds_data_dir, download)
