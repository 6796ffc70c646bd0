"""tf.data pipelines: one entry point, :func:`make_datasets`, for every data set.

Every source is first materialised once as a uint8 array on disk (memory-mapped), so the
pipeline shuffles *row indices*, never decoded images: no shuffle buffer of pictures, and
the whole of dSprites (377 MB bit-packed) streams in well under 4 GB. Per epoch the training
rows are permuted by a stateless shuffle seeded with ``(seed, epoch)``, so the order is a
pure function of the seed (and can resume at any step); whole batches of rows are gathered
in parallel and prefetched. Images leave as uint8 ``(B, 64, 64, C)``, values 0..255 (dSprites 0/255):
models cast late.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from tfbvae.data import celeba, image_folder, images
from tfbvae.data.dsprites import layout as dsprites_layout
from tfbvae.data.dsprites import sources as dsprites_sources
from tfbvae.data.info import DataInfo
from tfbvae.names import DATASETS as DATASET_NAMES

# Byte value -> its 8 pixels (0/255), most significant bit first as np.packbits writes them.
# One table lookup per byte unpacks 2-3x faster than shifting and masking.
_BYTE_TO_PIXELS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1) * np.uint8(255)


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """A data set held as one array, with the facts every log and result must carry.

    ``array``: bit-packed dSprites rows ``(n, 64, 8)`` when ``bit_packed``, else uint8
    ``(n, H, W, C)``. For dSprites, row ``i`` shows factor classes ``np.unravel_index(i,
    factors_num_values)`` (the official order).
    """

    dataset: str
    array: np.ndarray
    source: str
    location: str
    bit_packed: bool = False
    factor_names: tuple[str, ...] = ()
    factors_num_values: tuple[int, ...] = ()

    @property
    def num_examples(self) -> int:
        return len(self.array)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        if self.bit_packed:
            return (self.array.shape[1], self.array.shape[2] * 8, 1)
        return tuple(int(d) for d in self.array.shape[1:])

    @classmethod
    def from_dsprites(cls, arrays: dsprites_sources.DSpritesArrays) -> "ImageSource":
        return cls(
            "dsprites",
            arrays.packed,
            arrays.source,
            arrays.location,
            bit_packed=True,
            factor_names=tuple(dsprites_layout.FACTOR_NAMES),
            factors_num_values=tuple(dsprites_layout.FACTORS_NUM_VALUES),
        )

    @classmethod
    def from_images(cls, dataset: str, arrays: image_folder.ImageArrays) -> "ImageSource":
        return cls(dataset, arrays.images, arrays.source, arrays.location)


def load_source(
    dataset: str,
    *,
    source: str = "auto",
    path: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    tfds_data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    channels: int = 3,
    crop: images.Crop = None,
    on_error: str = "raise",
    num_images: int | None = None,
    download: bool = True,
) -> ImageSource:
    """Loads (building its cache first if needed) one data set as an :class:`ImageSource`.

    * ``"dsprites"``: ``source`` ``"auto" | "rendered" | "official" | "tfds"``; ``path`` = the
      official ``.npz``; the rendered cache lives under ``data_dir``. ``num_images`` (a
      multiple of 1024): only that leading block of the official order, rendered (quick runs
      and tests; source ``"rendered"`` or ``"auto"`` without ``path``).
    * ``"celeba"``: ``source`` ``"auto" | "tfds" | "zip" | "folder"``; ``path`` = the zip or
      folder; ``tfds_data_dir`` / ``manual_dir`` for tfds.
    * ``"image_folder"``: ``path`` = the folder; ``channels`` (1 or 3), ``crop``, ``on_error``.

    ``download``: whether an explicit ``source="tfds"`` may download; ``"auto"`` never does
    (it uses what is on this machine, or says how to get it). ``data_dir`` is the cache root
    (default ``$TFBVAE_DATA_DIR`` or ``~/.cache/tfbvae``).
    """
    if dataset not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {DATASET_NAMES}")
    if num_images is not None and dataset != "dsprites":
        raise ValueError(
            f"num_images (a leading block of rendered dSprites) applies to dataset 'dsprites' "
            f"only, not {dataset!r}: drop it."
        )
    if dataset == "dsprites":
        arrays = dsprites_sources.load_dsprites(
            source, path, data_dir, tfds_data_dir, num_images=num_images, download=download
        )
        return ImageSource.from_dsprites(arrays)
    if dataset == "celeba":
        arrays = celeba.load_celeba(
            source, path, data_dir, tfds_data_dir, manual_dir, download=download, on_error=on_error
        )
        return ImageSource.from_images("celeba", arrays)
    if path is None:
        raise ValueError("dataset 'image_folder' needs path= (the folder of images)")
    arrays = image_folder.load_image_folder(path, data_dir, 64, channels, crop, on_error)
    return ImageSource.from_images("image_folder", arrays)


def split_indices(
    num_examples: int, validation_fraction: float, split_seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and validation row indices: a fixed random subset of
    ``round(fraction · n)`` rows (at least one when the fraction is positive) is held out."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    num_val = int(round(validation_fraction * num_examples))
    if validation_fraction > 0:
        num_val = max(num_val, 1)
    if num_val >= num_examples:
        raise ValueError(
            f"validation_fraction {validation_fraction} leaves no training data of {num_examples}"
        )
    order = np.random.default_rng(split_seed).permutation(num_examples)
    return np.sort(order[num_val:]), np.sort(order[:num_val])


def _batch_loader(data: ImageSource, with_factors: bool):
    """A tf function: int64 row indices ``(B,)`` -> uint8 images ``(B, H, W, C)`` [, factors]."""
    array = data.array
    height, width, channels = data.image_shape

    def take(rows: np.ndarray) -> np.ndarray:
        return array[rows]

    if data.factors_num_values:
        sizes = np.array(data.factors_num_values, np.int64)
        strides = tf.constant(np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]), tf.int64)
        sizes = tf.constant(sizes)

    def load(rows: tf.Tensor):
        stored = tf.numpy_function(take, [rows], tf.uint8, stateful=False)
        if data.bit_packed:
            # 8 pixels per byte: (B, 64, 8) bytes -> (B, 64, 8, 8) pixels -> (B, 64, 64, 1).
            pixels = tf.gather(_BYTE_TO_PIXELS, tf.cast(stored, tf.int32))
            batch = tf.reshape(pixels, (-1, height, width, 1))
        else:
            batch = tf.reshape(stored, (-1, height, width, channels))
        batch = tf.ensure_shape(batch, (rows.shape[0], height, width, channels))
        if not with_factors:
            return batch
        factors = (rows[:, None] // strides) % sizes
        return batch, factors

    if with_factors and not data.factors_num_values:
        raise ValueError(f"{data.dataset} has no ground-truth factors; use with_factors=False")
    return load


def train_dataset(
    data: ImageSource,
    indices: np.ndarray,
    batch_size: int,
    seed: int,
    with_factors: bool = False,
    start_step: int = 0,
) -> tf.data.Dataset:
    """Infinite batches of the rows ``indices``, reshuffled every epoch, deterministic for a seed.

    Epoch ``e`` is ``stateless_shuffle(indices, seed=(seed, e))`` cut into ``len // batch_size``
    full batches; the ``len % batch_size`` rows left over (different ones each epoch) wait
    for a later epoch. ``start_step`` resumes: the first batch is the one step ``start_step``
    of a fresh pipeline would see, and no batch before it is loaded.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    batches_per_epoch = len(indices) // batch_size
    if batches_per_epoch == 0:
        raise ValueError(f"batch_size {batch_size} exceeds the {len(indices)} training rows")
    rows = tf.constant(np.asarray(indices, np.int64))
    first_epoch, offset = divmod(start_step, batches_per_epoch)

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        shuffle_seed = tf.stack([tf.constant(seed, tf.int64), epoch])
        order = tf.random.experimental.stateless_shuffle(rows, seed=shuffle_seed, alg="philox")
        batches = tf.reshape(order[: batches_per_epoch * batch_size], (-1, batch_size))
        return tf.data.Dataset.from_tensor_slices(batches)

    order = tf.data.Dataset.counter(first_epoch).flat_map(epoch_batches).skip(offset)
    return _finish(order, data, with_factors)


def eval_dataset(
    data: ImageSource, indices: np.ndarray, batch_size: int, with_factors: bool = False
) -> tf.data.Dataset:
    """One pass over the rows ``indices`` in order (the last batch may be smaller)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    indices = np.asarray(indices, np.int64)
    full = len(indices) // batch_size * batch_size
    order = tf.data.Dataset.from_tensor_slices(indices[:full].reshape(-1, batch_size))
    if full < len(indices):
        order = order.concatenate(tf.data.Dataset.from_tensors(indices[full:]))
    return _finish(order, data, with_factors)


def _finish(batched_rows: tf.data.Dataset, data: ImageSource, with_factors: bool):
    load = _batch_loader(data, with_factors)
    dataset = batched_rows.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def datasets_from_source(
    data: ImageSource,
    batch_size: int,
    seed: int = 0,
    validation_fraction: float = 0.0,
    *,
    split_seed: int | None = None,
    with_factors: bool = False,
    validation_batch_size: int | None = None,
    start_step: int = 0,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None, DataInfo]:
    """:func:`make_datasets` for an already loaded :class:`ImageSource`."""
    split_seed = seed if split_seed is None else split_seed
    train_rows, val_rows = split_indices(data.num_examples, validation_fraction, split_seed)
    train = train_dataset(data, train_rows, batch_size, seed, with_factors, start_step)
    val = None
    if len(val_rows):
        val = eval_dataset(data, val_rows, validation_batch_size or batch_size, with_factors)
    info = DataInfo(
        dataset=data.dataset,
        source=data.source,
        location=data.location,
        image_shape=data.image_shape,
        num_examples=data.num_examples,
        num_train=len(train_rows),
        num_validation=len(val_rows),
        batch_size=batch_size,
        seed=seed,
        split_seed=split_seed,
        factor_names=data.factor_names,
        factors_num_values=data.factors_num_values,
    )
    return train, val, info


def make_datasets(
    dataset: str,
    batch_size: int,
    seed: int = 0,
    validation_fraction: float = 0.0,
    *,
    source: str = "auto",
    path: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    split_seed: int | None = None,
    with_factors: bool = False,
    validation_batch_size: int | None = None,
    start_step: int = 0,
    tfds_data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    channels: int = 3,
    crop: int | Sequence[int] | None = None,
    on_error: str = "raise",
    num_images: int | None = None,
    download: bool = True,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None, DataInfo]:
    """Training and validation pipelines of ``dataset`` ("dsprites", "celeba", "image_folder").

    Returns ``(train, validation, info)``. ``train`` is infinite: uint8 ``(batch_size, 64, 64,
    C)`` batches (or ``(images, factors)`` with ``with_factors``: int64 ``(B, 5)`` dSprites
    factor classes), deterministic for ``seed``, resumable at ``start_step``. ``validation`` is
    one finite pass over a held-out ``validation_fraction`` of the rows chosen by ``split_seed``
    (default ``seed``), or ``None`` when the fraction is 0. ``info`` records the source string,
    image shape and sizes. Source options (``num_images``, ``download``, ...): see
    :func:`load_source`.
    """
    data = load_source(
        dataset,
        source=source,
        path=path,
        data_dir=data_dir,
        tfds_data_dir=tfds_data_dir,
        manual_dir=manual_dir,
        channels=channels,
        crop=tuple(crop) if isinstance(crop, (list, tuple)) else crop,
        on_error=on_error,
        num_images=num_images,
        download=download,
    )
    return datasets_from_source(
        data,
        batch_size,
        seed,
        validation_fraction,
        split_seed=split_seed,
        with_factors=with_factors,
        validation_batch_size=validation_batch_size,
        start_step=start_step,
    )


def image_crop(dataset: str) -> int | None:
    """The centre crop (a square's side) that ``dataset``'s pipeline takes before resizing, so
    that an export prepares a raw photo as training did (CelebA: Higgins et al.'s 148-pixel
    square of the aligned faces); ``None``: the largest centred square."""
    return celeba.CROP if dataset == "celeba" else None
