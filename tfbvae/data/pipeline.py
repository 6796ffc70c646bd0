"""tf.data pipelines: one entry point, :func:`make_datasets`, for every data set.

Every data set is held as uint8 rows (:class:`~tfbvae.data.source.ImageSource`: a
memory-mapped cache, a file mapped in place, or rows made on demand), so the pipeline shuffles
*row indices*, never decoded images: no shuffle buffer of pictures, and the whole of dSprites
(377 MB bit-packed) streams in well under 4 GB. Per epoch the training rows are permuted by a
stateless shuffle seeded with ``(seed, epoch)``, so the order is a pure function of the seed
(and can resume at any step); whole batches of rows are gathered in parallel and prefetched,
and the random pixels of the data sets that have them are drawn per batch from ``(seed,
stream, step)``. Images leave as uint8 ``(B, 64, 64, C)``, values 0..255 (dSprites 0/255):
models cast late.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfbvae.data import datasets
from tfbvae.data.info import DataInfo
from tfbvae.data.source import BYTE_TO_PIXELS, ImageSource, batch_random_state

TRAIN_STREAM, VALIDATION_STREAM = 0, 1  # the random pixels' streams (see batch_random_state)


def load_source(dataset: str, options: datasets.LoadOptions | None = None,
                **load_options) -> ImageSource:
    """Loads (building its cache first if needed) the data set called ``dataset``
    (:mod:`tfbvae.data.datasets`): ``options`` (or their fields as keywords) say where its
    images are."""
    return datasets.load(dataset, options or datasets.LoadOptions(**load_options))


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


def _batch_loader(data: ImageSource, with_factors: bool, seed: int, stream: int):
    """A tf function: (int64 row indices ``(B,)``, batch number) -> uint8 images ``(B, H, W,
    C)`` [, int64 factor classes ``(B, F)``]. Random pixels (colour, noisy, scream dSprites)
    are drawn from :func:`~tfbvae.data.source.batch_random_state` of ``(seed, stream, batch)``."""
    height, width, channels = data.image_shape
    if with_factors and data.layout is None:
        raise ValueError(f"{data.dataset} has no ground-truth factors; use with_factors=False")

    def take(rows: np.ndarray) -> np.ndarray:
        return np.asarray(data.array[rows])

    def observe(rows: np.ndarray, batch: np.int64) -> np.ndarray:
        return data.observed_uint8(rows, batch_random_state(seed, stream, int(batch)))

    def load(rows: tf.Tensor, batch: tf.Tensor):
        if data.observe is not None:
            images = tf.numpy_function(observe, [rows, batch], tf.uint8, stateful=False)
        elif data.bit_packed:
            # 8 pixels per byte: (B, 64, 8) bytes -> (B, 64, 8, 8) pixels -> (B, 64, 64, 1).
            stored = tf.numpy_function(take, [rows], tf.uint8, stateful=False)
            images = tf.gather(BYTE_TO_PIXELS, tf.cast(stored, tf.int32))
        else:
            images = tf.numpy_function(take, [rows], tf.uint8, stateful=False)
        images = tf.reshape(images, (-1, height, width, channels))
        images = tf.ensure_shape(images, (rows.shape[0], height, width, channels))
        if not with_factors:
            return images
        layout = data.layout
        factors = (rows[:, None] // tf.constant(layout.strides)) % tf.constant(
            np.asarray(layout.sizes, np.int64))
        return images, tf.gather(factors, list(layout.factors), axis=1)

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
    return _finish(order, data, with_factors, seed, TRAIN_STREAM, start_step)


def eval_dataset(
    data: ImageSource, indices: np.ndarray, batch_size: int, with_factors: bool = False,
    seed: int = 0,
) -> tf.data.Dataset:
    """One pass over the rows ``indices`` in order (the last batch may be smaller); random
    pixels, where the data set has them, are the same on every pass."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    indices = np.asarray(indices, np.int64)
    full = len(indices) // batch_size * batch_size
    order = tf.data.Dataset.from_tensor_slices(indices[:full].reshape(-1, batch_size))
    if full < len(indices):
        order = order.concatenate(tf.data.Dataset.from_tensors(indices[full:]))
    return _finish(order, data, with_factors, seed, VALIDATION_STREAM, 0)


def _finish(batched_rows: tf.data.Dataset, data: ImageSource, with_factors: bool, seed: int,
            stream: int, first_batch: int) -> tf.data.Dataset:
    load = _batch_loader(data, with_factors, seed, stream)
    numbered = tf.data.Dataset.zip(batched_rows, tf.data.Dataset.counter(first_batch))
    dataset = numbered.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
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
        val = eval_dataset(data, val_rows, validation_batch_size or batch_size, with_factors, seed)
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
    split_seed: int | None = None,
    with_factors: bool = False,
    validation_batch_size: int | None = None,
    start_step: int = 0,
    **load_options,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None, DataInfo]:
    """Training and validation pipelines of ``dataset`` (a name of :mod:`tfbvae.data.datasets`).

    Returns ``(train, validation, info)``. ``train`` is infinite: uint8 ``(batch_size, 64, 64,
    C)`` batches (or ``(images, factors)`` with ``with_factors``: int64 ``(B, F)`` factor
    classes), deterministic for ``seed``, resumable at ``start_step``. ``validation`` is one
    finite pass over a held-out ``validation_fraction`` of the rows chosen by ``split_seed``
    (default ``seed``), or ``None`` when the fraction is 0. ``info`` records the source string,
    image shape and sizes. ``load_options``: the fields of
    :class:`~tfbvae.data.datasets.LoadOptions` (``source``, ``path``, ``num_images``, ...).
    """
    data = load_source(dataset, **load_options)
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
    return datasets.get(dataset).crop
