"""Pictures of a trained beta-VAE as files: traversals (PNG and animated GIF), reconstructions,
samples from the prior, and each latent dimension's KL over training.

Every function takes a ``model`` with ``encode(images) -> (mean, log_var)`` and
``decode_images(z)``: a :class:`tfbvae.model.beta_vae.BetaVAE` or a :class:`tfbvae.trained_model.
ModelSource` (a run directory or an exported SavedModel). Pictures are uint8 RGB arrays
``(H, W, 3)``; :func:`save_png` and :func:`save_gif` write them with Pillow (no ImageMagick).
:class:`tfbvae.training.callbacks.TensorBoardImages` shows the same pictures in TensorBoard.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

_GAP = 2  # pixels between tiles
_LABEL_WIDTH = 92  # pixels of the label column of a traversal grid
_HEADER_HEIGHT = 20  # pixels of the offsets row above a traversal grid
_FONT_SIZE = 12


def _font():
    from PIL import ImageFont

    return ImageFont.load_default(size=_FONT_SIZE)


def _numpy(values) -> np.ndarray:
    """Tensors (any backend) or arrays -> numpy."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(values))


def kl_order(kl_per_dim: Sequence[float]) -> np.ndarray:
    """Latent dimensions from the largest KL to the smallest (ties keep index order)."""
    return np.argsort(-np.asarray(kl_per_dim, np.float64), kind="stable")


def to_rgb_uint8(images) -> np.ndarray:
    """Images in [0, 1] (or uint8) ``(n, H, W, C)`` -> uint8 ``(n, H, W, 3)``."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images


def tile(rows: Sequence[np.ndarray], background: int = 255) -> np.ndarray:
    """Grid of equally sized uint8 RGB tiles, ``rows[i][j]`` at row i, column j, with gaps."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    h, w = rows[0][0].shape[:2]
    grid = np.full(
        (n_rows * (h + _GAP) - _GAP, n_cols * (w + _GAP) - _GAP, 3), background, np.uint8
    )
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            grid[i * (h + _GAP) : i * (h + _GAP) + h, j * (w + _GAP) : j * (w + _GAP) + w] = image
    return grid


def reconstruction_grid(model, images) -> np.ndarray:
    """Inputs (top row) above their reconstructions from the posterior mean (bottom row)."""
    mean, _ = model.encode(images)
    reconstructions = to_rgb_uint8(_numpy(model.decode_images(mean)))
    inputs = to_rgb_uint8(
        images if np.asarray(images).dtype == np.uint8 else _numpy(images)
    )
    return tile([list(inputs), list(reconstructions)])


def kl_bar_chart(kl_per_dim: Sequence[float], step: int | None = None) -> np.ndarray:
    """Bar chart of the KL (nats) of each latent dimension, as a uint8 RGB image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kl = np.asarray(kl_per_dim, np.float64)
    figure = Figure(figsize=(max(4.0, 0.4 * len(kl) + 1.5), 3.0), dpi=80)
    canvas = FigureCanvasAgg(figure)  # no pyplot: no global state, any backend
    axes = figure.add_subplot()
    axes.bar(np.arange(len(kl)), kl, color="tab:blue")
    axes.set_xticks(np.arange(len(kl)), [f"z{i}" for i in range(len(kl))])
    axes.set_ylabel("KL (nats)")
    axes.set_title("KL per latent dimension" + (f", step {step}" if step is not None else ""))
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def traversal_tiles(
    model, images, kl_per_dim: Sequence[float], offsets: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Decoded traversals of ``images``: ``(order, tiles)``.

    ``order`` lists the latent dimensions by KL, largest first; ``tiles`` is uint8 RGB
    ``(len(images), latent_dim, len(offsets), H, W, 3)``, where tile ``[i, r, k]`` decodes the
    posterior mean of ``images[i]`` with dimension ``order[r]`` moved by ``offsets[k]``. A
    dimension the decoder ignores gives ``len(offsets)`` equal tiles.
    """
    mean, _ = model.encode(np.asarray(images))
    mean = _numpy(mean).astype(np.float32)
    n, latent_dim = mean.shape
    kl = np.asarray(kl_per_dim, np.float64)
    if kl.shape != (latent_dim,):
        raise ValueError(f"kl_per_dim has {kl.size} values, the model has {latent_dim} latents")
    order = kl_order(kl)
    offsets = np.asarray(offsets, np.float32)
    z = np.broadcast_to(mean[:, None, None], (n, latent_dim, len(offsets), latent_dim)).copy()
    for row, dim in enumerate(order):
        z[:, row, :, dim] += offsets
    decoded = to_rgb_uint8(_numpy(model.decode_images(z.reshape(-1, latent_dim))))
    return order, decoded.reshape((n, latent_dim, len(offsets)) + decoded.shape[1:])


def traversal_grid(
    model, image, kl_per_dim: Sequence[float], span: float = 3.0, steps: int = 9,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """Latent traversals of one image: one row per latent dimension, ordered by KL.

    Row ``r`` decodes the posterior mean of ``image`` with the r-th largest-KL dimension ``d``
    replaced by ``mean_d + v`` for ``v`` in ``linspace(-span, span, steps)``; the label column
    names each dimension and its KL (nats), the header row the offsets ``v``, so the active
    (high-KL) dimensions are at the top and the unused ones (KL near 0) at the bottom.
    ``labels`` (one per dimension, e.g. the factor it encodes) adds a third line to its label.
    """
    from PIL import Image, ImageDraw

    kl = np.asarray(kl_per_dim, np.float64)
    offsets = np.linspace(-span, span, steps)
    order, tiles = traversal_tiles(model, np.asarray(image)[None], kl, offsets)
    tiles = tiles[0]
    grid = tile([list(row) for row in tiles])
    tile_h, tile_w = tiles.shape[2:4]

    canvas = Image.new("RGB", (grid.shape[1] + _LABEL_WIDTH, grid.shape[0] + _HEADER_HEIGHT), "white")
    canvas.paste(Image.fromarray(grid), (_LABEL_WIDTH, _HEADER_HEIGHT))
    draw, font = ImageDraw.Draw(canvas), _font()
    for k, offset in enumerate(offsets):
        x = _LABEL_WIDTH + k * (tile_w + _GAP) + tile_w // 2
        draw.text((x, _HEADER_HEIGHT // 2), f"{offset:+.1f}", fill="black", font=font, anchor="mm")
    draw.text((4, _HEADER_HEIGHT // 2), "dim / offset", fill="black", font=font, anchor="lm")
    if labels is not None and len(labels) != len(kl):
        raise ValueError(f"{len(labels)} labels for {len(kl)} latent dimensions")
    for row, dim in enumerate(order):
        lines = [f"z{dim}", f"KL {kl[dim]:.3g}"] + ([labels[dim]] if labels is not None else [])
        y = _HEADER_HEIGHT + row * (tile_h + _GAP) + tile_h // 2 - 15 * len(lines) // 2
        for i, text in enumerate(lines):
            draw.text((4, y + 15 * i), text, fill="black", font=font)
    return np.asarray(canvas)


def traversal_frames(
    model, images, kl_per_dim: Sequence[float], span: float = 3.0, steps: int = 9
) -> list[np.ndarray]:
    """Frames of an animated traversal: frame ``k`` shows every dimension (columns, largest KL
    first, headed by name and KL) moved by the same offset ``v_k`` for each image (rows).

    The offsets go ``-span .. +span`` in ``steps`` and back (``2 * steps - 2`` frames), so the
    animation loops smoothly; each frame names its offset.
    """
    from PIL import Image, ImageDraw

    if steps < 2:
        raise ValueError(f"an animation needs steps >= 2 offsets, got {steps}")
    kl = np.asarray(kl_per_dim, np.float64)
    offsets = np.linspace(-span, span, steps)
    order, tiles = traversal_tiles(model, images, kl, offsets)  # (n, dims, steps, H, W, 3)
    tile_w = tiles.shape[4]
    line = _HEADER_HEIGHT - 4  # pixels per header line: offset, dimension, KL
    font = _font()
    frames = []
    for k in list(range(steps)) + list(range(steps - 2, 0, -1)):
        grid = tile([list(tiles[i, :, k]) for i in range(len(tiles))])
        canvas = Image.new("RGB", (grid.shape[1], grid.shape[0] + 3 * line + 4), "white")
        canvas.paste(Image.fromarray(grid), (0, 3 * line + 4))
        draw = ImageDraw.Draw(canvas)
        # The offset names the frame; consecutive frames thus always differ, so Pillow merges
        # none of them (it folds identical consecutive GIF frames into one).
        draw.text((2, 2), f"offset {offsets[k]:+.2f}; KL in nats",
                  fill="black", font=font)
        for column, dim in enumerate(order):
            x = column * (tile_w + _GAP) + tile_w // 2
            draw.text((x, line + 2), f"z{dim}", fill="black", font=font, anchor="ma")
            draw.text((x, 2 * line + 2), f"{kl[dim]:.3g}", fill="black", font=font, anchor="ma")
        frames.append(np.asarray(canvas))
    return frames


def samples_grid(model, latent_dim: int, num: int = 32, seed: int = 0, columns: int = 8) -> np.ndarray:
    """Images decoded from ``num`` codes drawn from the prior N(0, I), ``columns`` per row."""
    z = np.random.RandomState(seed).standard_normal((num, latent_dim)).astype(np.float32)
    images = list(to_rgb_uint8(_numpy(model.decode_images(z))))
    return tile([images[i:i + columns] for i in range(0, num, columns)])


def kl_curves(
    history: dict[int, list[tuple[int, float]]],
    capacity: list[tuple[int, float]] | None = None,
    title: str = "KL per latent dimension over training",
    size: tuple[int, int] = (900, 600),
) -> np.ndarray:
    """Line plot of each dimension's KL (nats) against the training step, ``size`` pixels.

    The legend lists the dimensions from the largest final KL to the smallest, with that
    value, and the ten largest curves are labelled at their ends. A lower panel shows the
    total KL (the sum over dimensions) and, when given, ``capacity`` (C of the capacity
    objectives), which the total follows when training works.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not history:
        raise ValueError("no KL per dimension to plot: the logs hold no kl_per_dim/kl_<d> scalars")
    dpi = 100
    figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)  # no pyplot: no global state, any backend
    axes, totals = figure.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    final = {dim: points[-1][1] for dim, points in history.items()}
    order = sorted(history, key=lambda dim: (-final[dim], dim))
    for rank, dim in enumerate(order):
        steps, values = zip(*history[dim])
        axes.plot(steps, values, label=f"z{dim}: {final[dim]:.3g}", color=f"C{rank % 10}",
                  linestyle="-" if rank < 10 else ":")
    _label_line_ends(axes, [(f"z{dim}", history[dim][-1], f"C{rank % 10}")
                            for rank, dim in enumerate(order[:10])])
    axes.set_ylabel("KL (nats)")
    axes.set_title(title)
    axes.legend(title="dim: final KL", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                fontsize="small")

    total: dict[int, float] = {}
    for dim in order:
        for step, value in history[dim]:
            total[step] = total.get(step, 0.0) + value
    totals.plot(sorted(total), [total[s] for s in sorted(total)], color="black",
                label=f"total KL: {sum(final.values()):.3g}")
    if capacity:
        steps, values = zip(*capacity)
        totals.plot(steps, values, color="black", linestyle=":", label=f"C: {values[-1]:.3g}")
    totals.set_xlabel("training step")
    totals.set_ylabel("nats")
    totals.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    for panel in (axes, totals):
        panel.grid(alpha=0.3)
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _label_line_ends(axes, ends: list[tuple[str, tuple[int, float], str]]) -> None:
    """Writes each label right of its line's last point, nudged apart so none overlap."""
    low, high = axes.get_ylim()
    gap = 0.04 * (high - low)  # about one line of small text
    previous = -np.inf
    for text, (step, value), colour in sorted(ends, key=lambda end: end[1][1]):
        y = max(value, previous + gap)
        axes.text(step, y, f" {text}", color=colour, va="center", ha="left", fontsize="small",
                  clip_on=False)
        previous = y


def save_png(picture: np.ndarray, path: str | os.PathLike) -> Path:
    """Writes a uint8 RGB picture as a PNG file."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(picture, np.uint8)).save(path, format="PNG")
    return path


def save_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, frame_ms: int = 120) -> Path:
    """Writes frames as an animated GIF that loops forever (Pillow; no ImageMagick)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=frame_ms, loop=0, optimize=False)
    return path
