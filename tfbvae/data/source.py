"""A loaded data set: its stored rows, the factors that generated them, and how a row is observed.

Every data set, whatever its files, becomes one :class:`ImageSource` (no TensorFlow here: the
metrics and the run records read it too):

* ``array``: the stored rows, uint8 ``(n, H, W, C)`` (values 0..255), or dSprites' bit-packed
  ``(n, 64, 8)``. Any object with ``__len__``, ``shape`` and ``__getitem__(int64 rows)`` serves
  (a memory-mapped cache, or rows drawn on demand), so no data set is ever copied as floats.
* ``layout``: for a ground-truth data set, the factor grid the rows are stored in (row-major,
  as disentanglement_lib's ``util.StateSpaceAtomIndex`` indexes it), with the axes that are
  nuisances rather than factors (e.g. SmallNORB's ``instance``).
* ``observe``: for the data sets whose pixels are random given the factors (disentanglement_lib's
  colour, noisy and scream dSprites), the random function from stored pixels to observed ones.
  The training pipeline seeds it per batch from ``(seed, stream, batch index)``
  (:func:`batch_random_state`), so a resumed run sees the same pixels; the metrics pass their
  ``np.random.RandomState``, as disentanglement_lib does.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Protocol, Sequence

import numpy as np

from tfbvae import pixels

# Byte value -> its 8 pixels (0/255), most significant bit first as np.packbits writes them.
BYTE_TO_PIXELS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1) * np.uint8(255)


class RowStore(Protocol):
    """Stored rows: a numpy array, a memory map, or rows made on demand."""

    shape: tuple[int, ...]

    def __len__(self) -> int: ...

    def __getitem__(self, rows: np.ndarray) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class Observation:
    """The random pixels of stored rows: ``apply(pixels, random_state)``.

    ``pixels``: uint8 ``(n, H, W, C_stored)``, 0..255; returns float ``(n, H, W, channels)`` in
    [0, 1]. ``random_state``: a ``np.random.RandomState`` (draws in disentanglement_lib's order).
    ``recipe``: what the pixels depend on (goes into the source string and caches).
    """

    channels: int
    apply: Callable[[np.ndarray, np.random.RandomState], np.ndarray]
    recipe: str


@dataclasses.dataclass(frozen=True)
class FactorLayout:
    """Rows stored in row-major order over ``sizes`` (``names`` the axes); ``factors``: the
    axes that are factors of variation, the others are nuisances (drawn uniformly when an
    observation of given factors is sampled, as disentanglement_lib's
    ``SplitDiscreteStateSpace``)."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    factors: tuple[int, ...] | None = None  # None: every axis

    def __post_init__(self):
        if len(self.names) != len(self.sizes):
            raise ValueError(f"{len(self.names)} axis names for {len(self.sizes)} axis sizes")
        if self.factors is None:
            object.__setattr__(self, "factors", tuple(range(len(self.sizes))))

    @property
    def num_rows(self) -> int:
        return int(np.prod(self.sizes))

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(self.names[i] for i in self.factors)

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return tuple(int(self.sizes[i]) for i in self.factors)

    @property
    def strides(self) -> np.ndarray:
        """Rows between neighbouring classes of each axis (row-major)."""
        sizes = np.asarray(self.sizes, np.int64)
        return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)

    def classes_of(self, rows: np.ndarray) -> np.ndarray:
        """Every axis' class of each row: int64 ``(n, len(sizes))``."""
        rows = np.asarray(rows, np.int64)
        return (rows[:, None] // self.strides) % np.asarray(self.sizes, np.int64)

    def factors_of(self, rows: np.ndarray) -> np.ndarray:
        """The factor classes of each row: int64 ``(n, num_factors)``."""
        return self.classes_of(rows)[:, list(self.factors)]

    def rows_of(self, factors: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
        """Rows showing the given factor classes; each nuisance axis drawn uniformly, in
        increasing axis order (disentanglement_lib's ``sample_all_factors``)."""
        factors = np.asarray(factors, np.int64)
        if factors.ndim != 2 or factors.shape[1] != len(self.factors):
            raise ValueError(f"factors must be (n, {len(self.factors)}) class indices of "
                             f"{self.factor_names}, got shape {factors.shape}")
        bad = (factors < 0) | (factors >= np.asarray(self.factors_num_values))
        if bad.any():
            raise ValueError(f"factor classes out of range {self.factors_num_values}")
        classes = np.zeros((len(factors), len(self.sizes)), np.int64)
        classes[:, list(self.factors)] = factors
        for axis in range(len(self.sizes)):
            if axis not in self.factors:
                classes[:, axis] = random_state.randint(self.sizes[axis], size=len(factors))
        return classes @ self.strides


@dataclasses.dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class ImageSource:
    """A data set held as stored rows, with the facts every log and result must carry.

    With a ``layout``, row ``i`` shows the classes ``layout.classes_of(i)``; the rows may be a
    leading block of the grid (quick dSprites runs), which trains but cannot be sampled by
    factors (:attr:`complete`)."""

    dataset: str
    array: RowStore
    source: str
    location: str
    bit_packed: bool = False
    layout: FactorLayout | None = None
    observe: Observation | None = None

    def __post_init__(self):
        if self.layout is not None and len(self.array) > self.layout.num_rows:
            raise ValueError(f"{self.dataset}: {len(self.array)} stored rows, but the factor "
                             f"grid {self.layout.sizes} has only {self.layout.num_rows}")

    @property
    def complete(self) -> bool:
        """Whether every cell of the factor grid is stored (not only a leading block of it)."""
        return self.layout is not None and len(self.array) == self.layout.num_rows

    @property
    def num_examples(self) -> int:
        return len(self.array)

    @property
    def stored_shape(self) -> tuple[int, int, int]:
        if self.bit_packed:
            return (int(self.array.shape[1]), int(self.array.shape[2]) * 8, 1)
        return tuple(int(d) for d in self.array.shape[1:])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The shape of one observed image, ``(H, W, C)``."""
        height, width, channels = self.stored_shape
        return (height, width, self.observe.channels if self.observe else channels)

    @property
    def factor_names(self) -> tuple[str, ...]:
        return self.layout.factor_names if self.layout else ()

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return self.layout.factors_num_values if self.layout else ()

    def stored_pixels(self, rows: np.ndarray) -> np.ndarray:
        """The stored pixels of ``rows``: uint8 ``(n, H, W, C_stored)``, 0..255."""
        stored = np.asarray(self.array[np.asarray(rows, np.int64)])
        if self.bit_packed:
            stored = BYTE_TO_PIXELS[stored].reshape((len(stored),) + self.stored_shape)
        return stored

    def observed_floats(self, rows: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
        """Observations of ``rows``: float32 ``(n, H, W, C)`` in [0, 1] (random ones drawn from
        ``random_state``)."""
        stored = self.stored_pixels(rows)
        if self.observe is None:
            return np.asarray(pixels.images_to_float(stored), np.float32)
        return np.asarray(self.observe.apply(stored, random_state), np.float32)

    def observed_uint8(self, rows: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
        """Observations of ``rows`` as the training pipeline serves them: uint8 0..255."""
        if self.observe is None:
            return self.stored_pixels(rows)
        return pixels.floats_to_uint8(self.observe.apply(self.stored_pixels(rows), random_state))


def batch_random_state(seed: int, stream: int, batch: int) -> np.random.RandomState:
    """The random state of one pipeline batch: a pure function of ``(seed, stream, batch)``, so
    a resumed pipeline draws the same pixels (``stream``: 0 training, 1 validation)."""
    entropy = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(stream), int(batch)])
    return np.random.RandomState(entropy.generate_state(4))


def check_factors_cover(names: Sequence[str], sizes: Sequence[int], classes: np.ndarray,
                        what: str) -> np.ndarray:
    """The row (in the row-major order of ``sizes``) of each labelled example, after checking
    that the labels ``classes`` (int ``(n, len(sizes))``) cover every cell of the grid exactly
    once (disentanglement_lib's ``StateSpaceAtomIndex`` check), naming what is wrong."""
    layout = FactorLayout(tuple(names), tuple(int(s) for s in sizes))
    classes = np.asarray(classes, np.int64)
    if classes.shape != (layout.num_rows, len(sizes)):
        raise ValueError(f"{what}: {classes.shape[0]} labelled examples, expected one for each of "
                         f"the {layout.num_rows} cells of the factor grid "
                         f"{dict(zip(names, sizes))}")
    high = np.asarray(sizes, np.int64)
    if ((classes < 0) | (classes >= high)).any():
        axis = int(np.flatnonzero(((classes < 0) | (classes >= high)).any(axis=0))[0])
        raise ValueError(f"{what}: labels of {names[axis]!r} outside 0..{sizes[axis] - 1}")
    rows = classes @ layout.strides
    if len(np.unique(rows)) != len(rows):
        raise ValueError(f"{what}: some factor combinations appear twice and others not at all")
    return rows
