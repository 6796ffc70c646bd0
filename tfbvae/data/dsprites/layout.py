"""The official dSprites layout: factor names, sizes and values, row order, metadata.

Row ``i`` of the official arrays has latent classes ``np.unravel_index(i, (1, 3, 6, 40, 32,
32))`` (posY fastest). The five varying factors (colour is constant) are what metrics see.
"""

from __future__ import annotations

import numpy as np

LATENTS_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
LATENTS_SIZES = np.array([1, 3, 6, 40, 32, 32])
NUM_IMAGES = int(np.prod(LATENTS_SIZES))  # 737,280
IMAGE_SHAPE = (64, 64)
FACTOR_NAMES = LATENTS_NAMES[1:]  # the 5 factors that vary
FACTORS_NUM_VALUES = tuple(int(n) for n in LATENTS_SIZES[1:])  # (3, 6, 40, 32, 32)

# The description string stored in the official file's metadata, verbatim.
_DESCRIPTION = (
    "Disentanglement test Sprites dataset.Procedurally generated 2D shapes, from 6 disentangled "
    "latent factors.This dataset uses 6 latents, controlling the color, shape, scale, rotation "
    "and position of a sprite. All possible variations of the latents are present. Ordering "
    "along dimension 1 is fixed and can be mapped back to the exact latent values that "
    "generated that image.We made sure that the pixel outputs are different. No noise added."
)


def latents_possible_values() -> dict[str, np.ndarray]:
    """Float64 values of each latent, by name, as in the official metadata."""
    return {
        "color": np.array([1.0]),
        "shape": np.array([1.0, 2.0, 3.0]),
        "scale": np.linspace(0.5, 1.0, 6),
        "orientation": np.linspace(0.0, 2.0 * np.pi, 40),
        "posX": np.linspace(0.0, 1.0, 32),
        "posY": np.linspace(0.0, 1.0, 32),
    }


def metadata() -> dict:
    """The official file's ``metadata`` dict: same keys and values."""
    return {
        "date": "April 2017",
        "description": _DESCRIPTION,
        "version": 1,
        "latents_names": LATENTS_NAMES,
        "latents_possible_values": latents_possible_values(),
        "latents_sizes": LATENTS_SIZES.copy(),
        "author": "lmatthey@google.com",
        "title": "dSprites dataset",
    }


def latents_classes(indices: np.ndarray | None = None) -> np.ndarray:
    """Latent classes (int64 ``(n, 6)``) of the given rows (default: all 737,280, in order)."""
    rows = np.arange(NUM_IMAGES) if indices is None else np.asarray(indices, dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= NUM_IMAGES):
        raise ValueError(f"dSprites row indices must be in [0, {NUM_IMAGES})")
    return np.stack(np.unravel_index(rows, LATENTS_SIZES), axis=-1).astype(np.int64)


def latents_values(classes: np.ndarray) -> np.ndarray:
    """Float64 latent values ``(n, 6)`` of latent classes ``(n, 6)``."""
    classes = np.asarray(classes)
    values = latents_possible_values()
    return np.stack(
        [values[name][classes[:, j]] for j, name in enumerate(LATENTS_NAMES)], axis=-1
    )


def index_of(classes: np.ndarray) -> np.ndarray:
    """Row index (int64) of latent classes ``(n, 6)``: the inverse of :func:`latents_classes`."""
    classes = np.asarray(classes, dtype=np.int64)
    return np.ravel_multi_index(tuple(classes.T), LATENTS_SIZES).astype(np.int64)


def factors_to_classes(factors: np.ndarray) -> np.ndarray:
    """5 factor classes (shape, scale, orientation, posX, posY) -> 6 latent classes (colour 0)."""
    factors = np.asarray(factors, dtype=np.int64)
    if factors.ndim != 2 or factors.shape[1] != len(FACTORS_NUM_VALUES):
        raise ValueError(
            f"dSprites factors must be (n, 5) = {FACTOR_NAMES} class indices, got {factors.shape}"
        )
    if factors.size and ((factors < 0) | (factors >= np.array(FACTORS_NUM_VALUES))).any():
        raise ValueError(f"dSprites factor classes out of range {FACTORS_NUM_VALUES}")
    return np.concatenate([np.zeros((len(factors), 1), np.int64), factors], axis=1)
