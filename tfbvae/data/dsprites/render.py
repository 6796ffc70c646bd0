"""Offline dSprites renderer: any of the 737,280 images from its latent class indices.

Follows the recipe measured from real dSprites pixels (``shared/data/dsprites/GEOMETRY.md``):
white on black, binary, a pixel is on when its *centre* lies inside the shape; sprite centre at
``16 + 32·pos`` px (x = posX along columns, y = posY down the rows); square half-side ``9.6·s``;
ellipse semi-axes ``12.8·s`` (x) by ``7.2·s`` (y); heart ``x = 16 sin³t``,
``y = 13 cos t − 5 cos 2t − 2 cos 3t − cos 4t`` scaled by ``(0.600, −0.6625)·s`` and shifted up
by ``1.425·s``; counter-clockwise rotation on screen by ``linspace(0, 2π, 40)``.

Exact sub-pixel lattice: a pixel centre's offset from the sprite centre is
``dx = (c + 0.5) − (16 + 32·k/31) = (m − 0.5)/31`` with the integer ``m = 31·c − 32·k − 480``.
So each of the 720 (shape, scale, orientation) sprites is rasterised once on the lattice
``(m − 0.5)/31`` and every one of its 32×32 positions is a stride-31 slice of it
(:func:`render_sprite_block`, used to build the full data set). :func:`render` evaluates the
same inside test, with the same floating-point operations on the same ``m``, at single pixels;
the two paths therefore agree bit for bit.

Inputs are class indices in the official order ``(color, shape, scale, orientation, posX,
posY)``: ``(n, 6)`` arrays, as stored in the official file's ``latents_classes``.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

RENDERER_VERSION = 1

# Recipe (GEOMETRY.md). Everything the pixels depend on is here and hashed into RECIPE_HASH,
# so a cache rendered with other numbers is recognised as stale.
CANVAS = 64
POSITION_OFFSET_PX = 16  # centre = 16 + 32 * pos px, pos in linspace(0, 1, 32); integers, as
POSITION_SPAN_PX = 32  # the exact lattice below relies on
SQUARE_HALF_SIDE = 9.6  # times scale
ELLIPSE_SEMI_AXES = (12.8, 7.2)  # (x, y) at orientation 0, times scale
HEART_SCALE = (0.600, -0.6625)  # curve units -> px (y flipped: tip points down), times scale
HEART_SHIFT_UP = 1.425  # px, times scale
HEART_POLYGON_VERTICES = 8193  # vertices on t in [0, pi] (right half; the left is its mirror)
NUM_SHAPES, NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS = 3, 6, 40, 32
SCALES = np.linspace(0.5, 1.0, NUM_SCALES)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, NUM_ORIENTATIONS)
NUM_SPRITES = NUM_SHAPES * NUM_SCALES * NUM_ORIENTATIONS  # 720
IMAGES_PER_SPRITE = NUM_POSITIONS * NUM_POSITIONS  # 1024, contiguous in the official order

RECIPE = {
    "renderer_version": RENDERER_VERSION,
    "canvas": CANVAS,
    "position": [POSITION_OFFSET_PX, POSITION_SPAN_PX],
    "sampling": "pixel centre inside shape",
    "square_half_side": SQUARE_HALF_SIDE,
    "ellipse_semi_axes": list(ELLIPSE_SEMI_AXES),
    "heart": {
        "curve": "16sin^3t, 13cos t-5cos2t-2cos3t-cos4t",
        "scale": list(HEART_SCALE),
        "shift_up": HEART_SHIFT_UP,
        "polygon_vertices": HEART_POLYGON_VERTICES,
    },
    "rotation": "u=dx cos-dy sin, v=dx sin+dy cos",
    "scales": SCALES.tolist(),
    "orientations": ORIENTATIONS.tolist(),
}
RECIPE_HASH = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:16]

# Per-class parameters, computed once and *indexed* by both render paths so that they use the
# very same floating-point numbers.
_COS = np.cos(ORIENTATIONS)
_SIN = np.sin(ORIENTATIONS)
_HALF_SIDE = SQUARE_HALF_SIDE * SCALES
_ELLIPSE_A = ELLIPSE_SEMI_AXES[0] * SCALES
_ELLIPSE_B = ELLIPSE_SEMI_AXES[1] * SCALES
_HEART_SX = HEART_SCALE[0] * SCALES
_HEART_SY = HEART_SCALE[1] * SCALES
_HEART_DY = HEART_SHIFT_UP * SCALES


def _heart_branches() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The heart's right half as a dense polygon split where its height peaks.

    In curve units (y up), t in [0, pi] runs from the cusp (0, 5) up the inner side of the right
    lobe to its top, then down the outer side to the tip (0, -17); y rises strictly, then falls
    strictly. So a horizontal line at height y meets the inner edge once (for 5 < y < peak)
    and the outer edge once: the polygon's even-odd inside test is two ``np.interp`` lookups.
    """
    t = np.linspace(0.0, np.pi, HEART_POLYGON_VERTICES)
    x = 16.0 * np.sin(t) ** 3
    y = 13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t)
    peak = int(np.argmax(y))
    inner_y, inner_x = y[: peak + 1], x[: peak + 1]  # y increasing
    outer_y, outer_x = y[peak:][::-1].copy(), x[peak:][::-1].copy()  # reversed: y increasing
    return inner_y, inner_x, outer_y, outer_x, float(y[peak])


_INNER_Y, _INNER_X, _OUTER_Y, _OUTER_X, _HEART_TOP = _heart_branches()
_HEART_CUSP_Y = float(_INNER_Y[0])  # 5: below the cusp a row crosses only the outer edge
_HEART_BOTTOM_Y = float(_OUTER_Y[0])  # -17: the tip


def _heart_radius(scale: float) -> float:
    px = np.concatenate([_OUTER_X, _INNER_X]) * abs(HEART_SCALE[0]) * scale
    py = np.concatenate([_OUTER_Y, _INNER_Y]) * HEART_SCALE[1] * scale - HEART_SHIFT_UP * scale
    return float(np.hypot(px, py).max())


# Farthest point of each shape from its centre, per scale (px): bounds the raster lattice.
_RADIUS = np.array(
    [
        [SQUARE_HALF_SIDE * np.sqrt(2.0) * s for s in SCALES],
        [max(ELLIPSE_SEMI_AXES) * s for s in SCALES],
        [_heart_radius(s) for s in SCALES],
    ]
)


def _inside(shape: int, scale, orientation, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Whether offsets ``(dx, dy)`` (px, y down) from the sprite centre fall inside the shape.

    ``scale`` and ``orientation`` are class indices (ints or arrays broadcastable with
    ``dx``/``dy``). The point is rotated into the shape's own frame (counter-clockwise on
    screen), where the shape is drawn upright.
    """
    cos, sin = _COS[orientation], _SIN[orientation]
    u = dx * cos - dy * sin
    v = dx * sin + dy * cos
    if shape == 0:
        half = _HALF_SIDE[scale]
        return (np.abs(u) < half) & (np.abs(v) < half)
    if shape == 1:
        eu = u / _ELLIPSE_A[scale]
        ev = v / _ELLIPSE_B[scale]
        return eu * eu + ev * ev < 1.0
    if shape == 2:
        # Back to curve units: x symmetric, y up (screen v is down and shifted up by 1.425 s).
        hx = np.abs(u) / _HEART_SX[scale]
        hy = (v + _HEART_DY[scale]) / _HEART_SY[scale]
        outer = np.interp(hy, _OUTER_Y, _OUTER_X, left=-1.0, right=-1.0)
        inner = np.interp(hy, _INNER_Y, _INNER_X, left=-1.0, right=-1.0)
        in_band = (hy > _HEART_BOTTOM_Y) & (hy < _HEART_TOP)
        return in_band & (hx < outer) & ((hy <= _HEART_CUSP_Y) | (hx > inner))
    raise ValueError(f"shape class must be 0 (square), 1 (ellipse) or 2 (heart), got {shape}")


def _lattice(m: np.ndarray) -> np.ndarray:
    """Offset (px) of lattice index ``m``: ``(m - 0.5) / 31``, the one formula both paths use."""
    return (m - 0.5) / (NUM_POSITIONS - 1)


def _lattice_index(pixel: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Lattice index ``m`` of pixel column (or row) ``pixel`` for position class ``position``.

    ``(pixel + 0.5) - (16 + 32·k/31) = (31·pixel + 15.5 - 31·16 - 32·k)/31 = (m - 0.5)/31``
    with ``m = 31·pixel - 32·k - (31·16 - 16)``.
    """
    n = NUM_POSITIONS - 1
    return n * pixel - POSITION_SPAN_PX * position - (n * POSITION_OFFSET_PX - 16)


def sprite_id(shape: int, scale: int, orientation: int) -> int:
    """Index of a (shape, scale, orientation) sprite; its 1024 images are rows
    ``1024·id .. 1024·id + 1023`` of the official order."""
    return (shape * NUM_SCALES + scale) * NUM_ORIENTATIONS + orientation


def _sprite_lattice(shape: int, scale: int, orientation: int) -> tuple[np.ndarray, int]:
    """The sprite rasterised on the 31x lattice, with one zero row and column appended.

    Returns ``(grid, half)``: ``grid[my + half, mx + half]`` for ``|m| <= half``; index
    ``2·half + 1`` is the zero pad that every farther lattice point maps to.
    """
    half = int(np.ceil(_RADIUS[shape, scale] * (NUM_POSITIONS - 1))) + 2
    d = _lattice(np.arange(-half, half + 1, dtype=np.float64))
    grid = np.zeros((2 * half + 2, 2 * half + 2), dtype=np.uint8)
    grid[:-1, :-1] = _inside(shape, scale, orientation, d[None, :], d[:, None])
    return grid, half


def render_sprite_block(sprite: int) -> np.ndarray:
    """All 1024 images of sprite ``sprite`` (posX major, posY minor): uint8 ``(1024, 64, 64)``, 0/1.

    These are rows ``1024·sprite ..`` of the official ``imgs`` array.
    """
    if not 0 <= sprite < NUM_SPRITES:
        raise ValueError(f"sprite id must be in [0, {NUM_SPRITES}), got {sprite}")
    shape, rest = divmod(sprite, NUM_SCALES * NUM_ORIENTATIONS)
    scale, orientation = divmod(rest, NUM_ORIENTATIONS)
    grid, half = _sprite_lattice(shape, scale, orientation)
    pixels = np.arange(CANVAS)
    positions = np.arange(NUM_POSITIONS)
    index = _lattice_index(pixels[None, :], positions[:, None]) + half  # (position, pixel)
    index[(index < 0) | (index > 2 * half)] = 2 * half + 1
    # Columns first (one gather per posX), then rows: whole contiguous lattice rows are copied.
    by_col = grid[:, index.reshape(-1)]  # (lattice row, posX * 64 + col)
    block = by_col[index.reshape(-1)]  # (posY * 64 + row, posX * 64 + col)
    block = block.reshape(NUM_POSITIONS, CANVAS, NUM_POSITIONS, CANVAS)
    return np.ascontiguousarray(block.transpose(2, 0, 1, 3)).reshape(-1, CANVAS, CANVAS)


def render(latents_classes: np.ndarray) -> np.ndarray:
    """Images of the given latent classes: uint8 ``(n, 64, 64)`` with values 0/1.

    ``latents_classes``: int ``(n, 6)`` in the official order (color, shape, scale, orientation,
    posX, posY); colour must be 0 (dSprites has one colour). Each image is evaluated on the
    32x32 pixel window that holds its sprite (every sprite fits: radius <= 13.6 px).
    """
    classes = np.asarray(latents_classes)
    if classes.ndim != 2 or classes.shape[1] != 6:
        raise ValueError(
            "latents_classes must be (n, 6): color, shape, scale, orientation, posX, posY "
            f"class indices; got shape {classes.shape}"
        )
    sizes = np.array([1, NUM_SHAPES, NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS, NUM_POSITIONS])
    if classes.size and ((classes < 0) | (classes >= sizes)).any():
        raise ValueError(f"latents_classes out of range: each column must be in [0, {sizes.tolist()})")
    classes = classes.astype(np.int64)
    n = len(classes)
    out = np.zeros((n, CANVAS, CANVAS), dtype=np.uint8)
    window = 32
    offsets = np.arange(window)
    for shape in range(NUM_SHAPES):
        rows = np.flatnonzero(classes[:, 1] == shape)
        if not len(rows):
            continue
        scale, orientation, pos_x, pos_y = (classes[rows, j][:, None, None] for j in (2, 3, 4, 5))
        # Window start: floor(sprite centre) - 16 = (32 * pos) // 31, always within the canvas.
        col0 = (POSITION_SPAN_PX * pos_x) // (NUM_POSITIONS - 1)
        row0 = (POSITION_SPAN_PX * pos_y) // (NUM_POSITIONS - 1)
        cols = col0 + offsets[None, None, :]
        rws = row0 + offsets[None, :, None]
        dx = _lattice(_lattice_index(cols, pos_x))
        dy = _lattice(_lattice_index(rws, pos_y))
        inside = _inside(shape, scale, orientation, dx, dy)
        out[rows[:, None, None], rws, cols] = inside
    return out
