"""Pictures of a trained beta-VAE as files: traversals (PNG and animated GIF), reconstructions,
samples from the prior, and each latent dimension's KL over training.

Many latents (32 for CelebA and chairs) stay readable: the KL curves name the ten largest-KL
latents and grey the others; the pictures for TensorBoard (``fit=TENSORBOARD_VIEW``) show the
ten largest-KL latents in a font read at TensorBoard's default image size, and say "top 10 of
32 latents by KL".

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

# The box (CSS px) in which TensorBoard 2.21 shows an image at its default size: an image card is
# at least 335 x 320 px, less its padding, heading and step slider (its stylesheet, in
# tensorboard/webfiles.zip); larger pictures are shrunk into it by dropping pixels.
TENSORBOARD_VIEW = (300, 210)
"""About the box (width, height in CSS pixels) in which TensorBoard's time-series dashboard shows
an image at its default settings: a card of at least 335 x 320 pixels less its padding, heading
and step slider. The image is scaled to fit the box (``object-fit: contain``, nearest neighbour:
``image-rendering: pixelated``) unless the card's "actual size" is toggled on."""
READABLE_TEXT_PX = 7
"""The least height, in displayed pixels, of a digit of a picture's labels for them to be read:
about a 10-pixel font."""
TOP_LATENTS = 10  # how many latents, the largest KL first, the KL curves and TensorBoard name


def _font(size: int = _FONT_SIZE):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


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


def kl_bar_chart(
    kl_per_dim: Sequence[float], step: int | None = None, top: int | None = None,
    fit: tuple[int, int] | None = None,
) -> np.ndarray:
    """Bar chart of the KL (nats) of each latent dimension, as a uint8 RGB image:
    :func:`kl_bar_chart_figure` drawn."""
    figure = kl_bar_chart_figure(kl_per_dim, step, top, fit)
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


_DIGIT_EM = 0.7  # a digit's height in a font's size, at least (DejaVu Sans: 0.73)


def kl_bar_chart_figure(
    kl_per_dim: Sequence[float], step: int | None = None, top: int | None = None,
    fit: tuple[int, int] | None = None,
):
    """The matplotlib figure (with an Agg canvas, no pyplot) of :func:`kl_bar_chart`.

    One bar per dimension in index order; with more than ``top`` dimensions, only the ``top``
    largest-KL ones, largest first, and the title's second line says so (``"top 10 of 32
    latents by KL"``) with the largest KL of the others. ``fit`` is the box (width, height)
    the chart will be shown in, scaled, e.g. :data:`TENSORBOARD_VIEW`: the figure then has
    its proportions, and its text is :data:`READABLE_TEXT_PX` high there.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kl = np.asarray(kl_per_dim, np.float64)
    if top is not None and top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    dims = np.arange(len(kl))
    title = "KL per latent dimension" + (f", step {step}" if step is not None else "")
    if top is not None and top < len(kl):
        order = kl_order(kl)
        dims = order[:top]
        title += (f"\n{shown_latents(top, len(kl))}; the other {len(kl) - top} "
                  f"\u2264 {kl[order[top]]:.2g}")
    if fit is None:
        figure = Figure(figsize=(max(4.0, 0.4 * len(dims) + 1.5), 3.0), dpi=80)
        fontsize = None
    else:
        dpi, enlarge = 100, 1.6  # drawn at 1.6 times the box: TensorBoard shrinks it
        figure = Figure(figsize=(fit[0] * enlarge / dpi, fit[1] * enlarge / dpi), dpi=dpi,
                        layout="constrained")
        fontsize = np.ceil(2 * READABLE_TEXT_PX * enlarge / _DIGIT_EM * 72 / dpi) / 2  # points
    FigureCanvasAgg(figure)  # no pyplot: no global state, any backend
    axes = figure.add_subplot()
    axes.bar(np.arange(len(dims)), kl[dims], color="tab:blue")
    size = {} if fontsize is None else {"fontsize": fontsize}
    axes.set_xticks(np.arange(len(dims)), [f"z{d}" for d in dims], **size)
    if fontsize is not None:
        axes.tick_params(axis="y", labelsize=fontsize)
    axes.set_ylabel("KL (nats)", **size)
    axes.set_title(title, **size)
    if fit is None:
        figure.tight_layout()
    return figure


def traversal_tiles(
    model, images, kl_per_dim: Sequence[float], offsets: Sequence[float],
    max_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decoded traversals of ``images``: ``(order, tiles)``.

    ``order`` lists the latent dimensions by KL, largest first (only the ``max_rows`` largest
    when given); ``tiles`` is uint8 RGB ``(len(images), len(order), len(offsets), H, W, 3)``,
    where tile ``[i, r, k]`` decodes the posterior mean of ``images[i]`` with dimension
    ``order[r]`` moved by ``offsets[k]``. A dimension the decoder ignores gives
    ``len(offsets)`` equal tiles.
    """
    mean, _ = model.encode(np.asarray(images))
    mean = _numpy(mean).astype(np.float32)
    n, latent_dim = mean.shape
    kl = np.asarray(kl_per_dim, np.float64)
    if kl.shape != (latent_dim,):
        raise ValueError(f"kl_per_dim has {kl.size} values, the model has {latent_dim} latents")
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    order = kl_order(kl)[:max_rows]
    offsets = np.asarray(offsets, np.float32)
    z = np.broadcast_to(mean[:, None, None], (n, len(order), len(offsets), latent_dim)).copy()
    for row, dim in enumerate(order):
        z[:, row, :, dim] += offsets
    decoded = to_rgb_uint8(_numpy(model.decode_images(z.reshape(-1, latent_dim))))
    return order, decoded.reshape((n, len(order), len(offsets)) + decoded.shape[1:])


def shown_latents(shown: int, latent_dim: int) -> str:
    """The caption of a picture of ``shown`` of ``latent_dim`` latents, the largest KL first:
    ``"top 10 of 32 latents by KL"`` or ``"all 10 latents by KL"``."""
    if shown < latent_dim:
        return f"top {shown} of {latent_dim} latents by KL"
    return f"all {latent_dim} latent{'s' if latent_dim != 1 else ''} by KL"


def traversal_grid(
    model, image, kl_per_dim: Sequence[float], span: float = 3.0, steps: int = 9,
    labels: Sequence[str] | None = None, max_rows: int | None = None,
    fit: tuple[int, int] | None = None,
) -> np.ndarray:
    """Latent traversals of one image: one row per latent dimension, ordered by KL.

    Row ``r`` decodes the posterior mean of ``image`` with the r-th largest-KL dimension ``d``
    replaced by ``mean_d + v`` for ``v`` in ``linspace(-span, span, steps)``; the label column
    names each dimension and its KL (nats), the header row the offsets ``v``, so the active
    (high-KL) dimensions are at the top and the unused ones (KL near 0) at the bottom.
    ``labels`` (one per dimension, e.g. the factor it encodes) adds a third line to its label.

    ``max_rows`` keeps the rows of that many largest-KL dimensions only; a caption above the
    grid then says so (``"top 10 of 32 latents by KL"``). ``fit`` is the box (width, height)
    the picture will be shown in, scaled down, e.g. :data:`TENSORBOARD_VIEW`: each label is
    then one line (``z3: 2.41``, then ``labels[3]``), the caption always names the count, the
    header the first, middle and last offsets, and the text is made large enough to read
    there (its digits at least :data:`READABLE_TEXT_PX` high after the scaling). The grid of
    tiles is always at the picture's bottom right corner.
    """
    from PIL import Image

    kl = np.asarray(kl_per_dim, np.float64)
    if labels is not None and len(labels) != len(kl):
        raise ValueError(f"{len(labels)} labels for {len(kl)} latent dimensions")
    offsets = np.linspace(-span, span, steps)
    order, tiles = traversal_tiles(model, np.asarray(image)[None], kl, offsets, max_rows)
    tiles = tiles[0]
    grid = Image.fromarray(tile([list(row) for row in tiles]))
    tile_h, tile_w = tiles.shape[2:4]
    caption = shown_latents(len(order), len(kl))
    if fit is not None:
        return _fitted_traversal_grid(grid, (tile_w, tile_h), order, kl, offsets, labels,
                                      caption + " (nats)", fit)
    return _traversal_grid_at_actual_size(grid, (tile_w, tile_h), order, kl, offsets, labels,
                                          caption if len(order) < len(kl) else None)


def _traversal_grid_at_actual_size(grid, tile_size, order, kl, offsets, labels, caption):
    """The labelled grid read at its own size: 12-pixel text, a 92-pixel label column (two or
    three lines per row) and a header row of every offset; ``caption``, when given, is a line
    above the header."""
    from PIL import Image, ImageDraw

    tile_w, tile_h = tile_size
    top = _HEADER_HEIGHT + (_HEADER_HEIGHT - 4 if caption else 0)
    canvas = Image.new("RGB", (grid.width + _LABEL_WIDTH, grid.height + top), "white")
    canvas.paste(grid, (_LABEL_WIDTH, top))
    draw, font = ImageDraw.Draw(canvas), _font()
    if caption:
        draw.text((4, (_HEADER_HEIGHT - 4) // 2), caption, fill="black", font=font, anchor="lm")
    middle = top - _HEADER_HEIGHT // 2
    for k, offset in enumerate(offsets):
        x = _LABEL_WIDTH + k * (tile_w + _GAP) + tile_w // 2
        draw.text((x, middle), f"{offset:+.1f}", fill="black", font=font, anchor="mm")
    draw.text((4, middle), "dim / offset", fill="black", font=font, anchor="lm")
    for row, dim in enumerate(order):
        lines = [f"z{dim}", f"KL {kl[dim]:.3g}"] + ([labels[dim]] if labels is not None else [])
        y = top + row * (tile_h + _GAP) + tile_h // 2 - 15 * len(lines) // 2
        for i, text in enumerate(lines):
            draw.text((4, y + 15 * i), text, fill="black", font=font)
    return np.asarray(canvas)


def _fitted_traversal_grid(grid, tile_size, order, kl, offsets, labels, caption, fit):
    """The labelled grid for a ``fit`` box: the smallest font whose digits are
    :data:`READABLE_TEXT_PX` high once the whole picture is scaled into ``fit`` (or the largest
    that a row's height holds)."""
    from PIL import Image, ImageDraw

    tile_w, tile_h = tile_size
    texts = [f"z{dim}: {kl[dim]:.3g}" + (f" {labels[dim]}" if labels is not None else "")
             for dim in order]
    columns = sorted({0, len(offsets) // 2, len(offsets) - 1})
    layout = None
    for size in range(_FONT_SIZE, 8 * _FONT_SIZE):
        candidate = _TextLayout(size, texts, caption, grid.size, fit)
        if candidate.line > tile_h + _GAP and layout is not None:
            break  # a label would no longer fit its row
        layout = candidate
        if layout.digit * layout.scale >= READABLE_TEXT_PX:
            break
    font, pad, line = layout.font, layout.pad, layout.line
    canvas = Image.new("RGB", layout.size, "white")
    left, top = layout.size[0] - grid.width, layout.size[1] - grid.height
    canvas.paste(grid, (left, top))
    draw = ImageDraw.Draw(canvas)
    text = dict(fill="black", font=font, stroke_width=layout.stroke, stroke_fill="black")
    draw.text((pad, pad // 2), caption, anchor="la", **text)
    header = pad // 2 + line
    drawn_right = pad + font.getlength("offset") + 2 * layout.stroke
    if drawn_right + pad < left:
        draw.text((pad, header), "offset", anchor="la", **text)
    else:
        drawn_right = 0  # no room for the word
    for k in columns:
        label = f"{offsets[k]:+.1f}"
        half = font.getlength(label) / 2 + layout.stroke
        x = min(left + k * (tile_w + _GAP) + tile_w / 2, canvas.width - half - 1)
        if x - half < drawn_right + pad // 2:
            continue  # no room beside the previous offset
        draw.text((x, header), label, anchor="ma", **text)
        drawn_right = x + half
    for row, label in enumerate(texts):
        y = top + row * (tile_h + _GAP) + tile_h / 2
        draw.text((pad, y), label, anchor="lm", **text)
    return np.asarray(canvas)


def _ink_height(font, text: str) -> int:
    """Pixels from the top to the bottom of ``text``'s ink at least half dark."""
    from PIL import Image, ImageDraw

    _, _, right, bottom = font.getbbox(text)
    mask = Image.new("L", (int(right) + 2, int(bottom) + 2), 0)
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font)
    rows = np.flatnonzero((np.asarray(mask) >= 128).any(axis=1))
    return int(rows[-1] - rows[0] + 1)


class _TextLayout:
    """The sizes of a fitted traversal grid drawn with a ``size``-pixel font."""

    def __init__(self, size: int, texts: Sequence[str], caption: str, grid: tuple[int, int],
                 fit: tuple[int, int]):
        self.font = _font(size)
        ascent, descent = self.font.getmetrics()
        self.pad = max(4, size // 3)
        self.line = ascent + descent  # pixels per line of text
        self.stroke = size // 24  # thicker strokes survive TensorBoard's nearest-neighbour scaling
        self.digit = _ink_height(self.font, "0123456789")  # without the stroke
        widest = max(self.font.getlength(t) for t in texts) + 2 * self.stroke
        width = max(grid[0] + int(np.ceil(widest)) + 2 * self.pad,
                    int(np.ceil(self.font.getlength(caption))) + 2 * self.stroke + 2 * self.pad)
        height = grid[1] + 2 * self.line + self.pad
        self.size = (width, height)
        self.scale = min(fit[0] / width, fit[1] / height)


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
    top: int = TOP_LATENTS,
) -> np.ndarray:
    """Line plot of each dimension's KL (nats) against the training step, ``size`` pixels, as
    a uint8 RGB image: :func:`kl_curves_figure` drawn."""
    figure = kl_curves_figure(history, capacity, title, size, top)
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def kl_curves_figure(
    history: dict[int, list[tuple[int, float]]],
    capacity: list[tuple[int, float]] | None = None,
    title: str = "KL per latent dimension over training",
    size: tuple[int, int] = (900, 600),
    top: int = TOP_LATENTS,
):
    """The matplotlib figure (with an Agg canvas, no pyplot) of :func:`kl_curves`.

    The ``top`` dimensions with the largest final KL are drawn in colour, labelled at their
    line ends and listed in the legend, largest first, with that value; the others (when
    there are more) are thin grey lines under one legend entry that gives their largest final
    KL, and the title's second line says how many of how many latents it names (``"top 10 of
    32 latents by final KL"``). The legends are right of the panels, in as many columns (and
    at last as small a font) as it takes for them to fit in the figure. A lower panel shows
    the total KL (the sum over all dimensions) and, when given, ``capacity`` (C of the
    capacity objectives), which the total follows when training works.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not history:
        raise ValueError("no KL per dimension to plot: the logs hold no kl_per_dim/kl_<d> scalars")
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    dpi = 100
    figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)  # no pyplot: no global state, any backend
    axes, totals = figure.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    final = {dim: points[-1][1] for dim, points in history.items()}
    order = sorted(history, key=lambda dim: (-final[dim], dim))
    named, others = order[:top], order[top:]
    for dim in others:  # under the named ones
        steps, values = zip(*history[dim])
        axes.plot(steps, values, color="0.78", linewidth=0.8, zorder=1)
    if others:
        axes.plot([], [], color="0.78", linewidth=0.8,
                  label=f"{len(others)} others: \u2264 {final[others[0]]:.3g}")
    for rank, dim in enumerate(named):
        steps, values = zip(*history[dim])
        axes.plot(steps, values, label=f"z{dim}: {final[dim]:.3g}", color=f"C{rank % 10}",
                  linestyle="-" if rank < 10 else ":", zorder=2)
    _label_line_ends(axes, [(f"z{dim}", history[dim][-1], f"C{rank % 10}")
                            for rank, dim in enumerate(named[:10])])
    axes.set_ylabel("KL (nats)")
    shown = shown_latents(len(named), len(order)).replace("by KL", "by final KL")
    axes.set_title(f"{title}\n{shown}", fontsize="medium")
    handles, labels = axes.get_legend_handles_labels()
    if others:  # the named ones first, largest first, then the others
        handles, labels = handles[1:] + handles[:1], labels[1:] + labels[:1]

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
    for panel in (axes, totals):
        panel.grid(alpha=0.3)
    _fitting_legend(figure, axes, handles, labels, title="dim: final KL")
    _fitting_legend(figure, totals, *totals.get_legend_handles_labels())
    return figure


def _fitting_legend(figure, axes, handles, labels, title=None):
    """A legend right of ``axes``, in more columns or at last a smaller font until it lies
    within the figure (constrained layout makes room for its width)."""
    import warnings

    renderer = figure.canvas.get_renderer()
    for fontsize in ("small", "x-small", "xx-small"):
        for columns in (1, 2, 3):
            legend = axes.legend(handles, labels, title=title, loc="upper left",
                                 bbox_to_anchor=(1.01, 1.0), fontsize=fontsize,
                                 title_fontsize=fontsize, ncols=columns)
            with warnings.catch_warnings():  # a trial that does not fit may collapse the axes
                warnings.filterwarnings("ignore", "constrained_layout not applied")
                figure.canvas.draw()
            box, page = legend.get_window_extent(renderer), figure.bbox
            if box.y0 >= page.y0 and box.x1 <= page.x1 and box.y1 <= page.y1:
                return legend
    return legend


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
