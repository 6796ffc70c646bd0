"""Pictures as images: traversal grids (one row per latent, ordered and labelled by KL, an
unused latent's row constant), animated GIFs, prior samples and KL curves from event files; at 32
latents (issue 17) the KL curves' legends fit and name the top 10, and the pictures for
TensorBoard show the top 10 latents by KL with labels read at TensorBoard's image size."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfbvae import visualization as vis
from tfbvae.serving.export import kl_per_dim
from tfbvae.training import event_files
from tfbvae.training.tags import scalar_tag

LATENT_DIM, UNUSED = 4, 2  # the test model's latents; latent UNUSED carries nothing

TILE = 64 + 2  # a 64-pixel tile and the gap after it
LABEL_WIDTH, HEADER = 92, 20  # the traversal grid's label column and offsets row


@pytest.fixture(scope="module")
def model_and_kl(model_with_an_unused_latent, sprite_images):
    model = model_with_an_unused_latent(LATENT_DIM, UNUSED)
    kl = np.asarray(kl_per_dim(model, sprite_images(16)))
    return model, kl


def test_the_unused_latent_has_zero_kl_and_the_others_do_not(model_and_kl):
    _, kl = model_and_kl
    assert kl[UNUSED] == pytest.approx(0.0, abs=1e-6)
    assert (np.delete(kl, UNUSED) > 1e-3).all()


def test_traversal_grid_has_one_row_per_latent_ordered_by_kl_and_the_unused_one_is_constant(
        model_and_kl, tmp_path, sprite_images):
    model, kl = model_and_kl
    image = sprite_images(1, seed=3)[0]
    steps = 5
    path = vis.save_png(vis.traversal_grid(model, image, kl, span=3.0, steps=steps),
                        tmp_path / "traversals.png")
    grid = np.asarray(Image.open(path).convert("RGB"))
    assert grid.shape == (HEADER + LATENT_DIM * TILE - 2, LABEL_WIDTH + steps * TILE - 2, 3)

    def tile_at(row, column):
        top, left = HEADER + row * TILE, LABEL_WIDTH + column * TILE
        return grid[top:top + 64, left:left + 64]

    order = list(np.argsort(-kl, kind="stable"))
    assert order[-1] == UNUSED  # zero KL: the last row
    for row, dim in enumerate(order):
        # Each row is the traversal of its dimension: the decoded image at mean_d + offset.
        mean = np.asarray(model.encode(image[None])[0])[0]
        z = np.repeat(mean[None], steps, axis=0)
        z[:, dim] += np.linspace(-3.0, 3.0, steps)
        expected = np.round(np.asarray(model.decode_images(z)) * 255).astype(np.uint8)
        for column in range(steps):
            np.testing.assert_allclose(tile_at(row, column)[..., 0], expected[column, ..., 0], atol=1)
        changes = [np.abs(tile_at(row, c).astype(int) - tile_at(row, 0)).max() for c in range(steps)]
        if dim == UNUSED:
            assert max(changes) == 0, "moving a latent the decoder ignores changed the image"
        else:
            assert max(changes) > 2, f"moving active latent z{dim} did not change the image"
    labels = grid[HEADER:, :LABEL_WIDTH]
    for row in range(LATENT_DIM):  # every row is labelled (dark text on white)
        assert (labels[row * TILE:row * TILE + 64] < 128).any()
    assert (grid[:HEADER, LABEL_WIDTH:] < 128).any()  # the offsets are written above


def test_traversal_tiles_refuse_a_kl_of_another_latent_size(model_and_kl, sprite_images):
    model, _ = model_and_kl
    with pytest.raises(ValueError, match="kl_per_dim has 3 values, the model has 4 latents"):
        vis.traversal_tiles(model, sprite_images(1), [1.0, 2.0, 3.0], [0.0])


def test_gif_has_a_frame_per_offset_there_and_back_with_one_column_per_latent(
        model_and_kl, tmp_path, sprite_images):
    model, kl = model_and_kl
    steps, rows = 4, 2
    frames = vis.traversal_frames(model, sprite_images(rows), kl, span=2.0, steps=steps)
    path = vis.save_gif(frames, tmp_path / "traversals.gif", frame_ms=50)
    gif = Image.open(path)
    width, height = LATENT_DIM * TILE - 2, rows * TILE - 2
    assert gif.n_frames == len(frames) == 2 * steps - 2
    assert gif.size == (width, height + 3 * (HEADER - 4) + 4)
    assert gif.info["loop"] == 0 and gif.info["duration"] == 50
    decoded = []
    for index in range(gif.n_frames):
        gif.seek(index)
        decoded.append(np.asarray(gif.convert("RGB")))
    column = list(np.argsort(-kl, kind="stable")).index(UNUSED)
    top, left = decoded[0].shape[0] - height, column * TILE
    unused_tiles = [frame[top:, left:left + 64] for frame in decoded]
    assert all(np.array_equal(t, unused_tiles[0]) for t in unused_tiles)  # constant column
    first_active = [frame[top:, :64] for frame in decoded]
    assert not all(np.array_equal(t, first_active[0]) for t in first_active)
    # Offsets go there and back: frame k and frame 2*steps-2-k show the same offset.
    np.testing.assert_array_equal(decoded[1][top:], decoded[-1][top:])


def test_prior_samples_fill_a_grid(model_and_kl, tmp_path):
    model, _ = model_and_kl
    path = vis.save_png(vis.samples_grid(model, LATENT_DIM, num=10, seed=1, columns=4),
                        tmp_path / "samples.png")
    grid = np.asarray(Image.open(path))
    assert grid.shape[:2] == (3 * TILE - 2, 4 * TILE - 2)
    assert not np.array_equal(grid[:64, :64], grid[:64, TILE:TILE + 64])  # different samples


def write_training_logs(log_dir, latent_dim: int, steps) -> dict:
    """Event files as the training app writes them: KL per dimension and C, per step."""
    expected = {dim: [(s, 0.001 * s * (dim + 1)) for s in steps] for dim in range(latent_dim)}
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for i, step in enumerate(steps):
            for dim in range(latent_dim):
                tf.summary.scalar(scalar_tag(f"kl_{dim}"), expected[dim][i][1], step=step)
            tf.summary.scalar(scalar_tag("capacity"), 0.01 * step, step=step)
            tf.summary.scalar(scalar_tag("loss"), 1.0, step=step)
    writer.close()
    return expected


def test_kl_curves_are_read_back_from_event_files_and_plotted(tmp_path):
    steps = [100, 200, 300, 400]
    expected = write_training_logs(tmp_path / "train", 3, steps)
    history, capacity = event_files.kl_history(tmp_path / "train", 3)
    assert sorted(history) == [0, 1, 2]
    for dim in range(3):
        assert [s for s, _ in history[dim]] == steps
        np.testing.assert_allclose([v for _, v in history[dim]], [v for _, v in expected[dim]],
                                   rtol=1e-6)
    np.testing.assert_allclose([v for _, v in capacity], [0.01 * s for s in steps], rtol=1e-6)
    assert event_files.kl_history(tmp_path / "train", 2)[0].keys() == {0, 1}
    # C belongs to the objectives that raise it; a beta run's logged C is dropped.
    assert event_files.kl_history(tmp_path / "train", 3, "hinge")[1] == capacity
    assert event_files.kl_history(tmp_path / "train", 3, "beta") == (history, None)

    path = vis.save_png(vis.kl_curves(history, capacity, size=(640, 480)), tmp_path / "kl.png")
    plot = Image.open(path)
    assert plot.size == (640, 480) and plot.mode == "RGB"
    pixels = np.asarray(plot)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # lines and text, not blank


def test_kl_curves_need_some_kl():
    with pytest.raises(ValueError, match="no KL per dimension"):
        vis.kl_curves({})


def test_kl_order_puts_the_largest_first_and_keeps_ties_in_index_order():
    assert list(vis.kl_order([0.5, 2.0, 0.0, 2.0])) == [1, 3, 0, 2]


# Many latents (issue 17): CelebA and chairs models have 32. TensorBoard's time-series card
# shows an image scaled into about 300 x 210 CSS pixels (a 335 x 320 card less padding, heading
# and step slider; object-fit: contain, image-rendering: pixelated), unless "actual size" is on.
TENSORBOARD_BOX = (300, 210)
READABLE_PX = 7  # a digit's height on screen: about a 10-pixel font


def kl_vector(latent_dim: int, zero: int | None = None, seed: int = 0) -> np.ndarray:
    """Distinct KLs in a shuffled order (``zero``'s set to 0), so that the top ones by KL are
    not the first dimensions by index."""
    kl = np.random.RandomState(seed).permutation(np.linspace(0.05, 5.0, latent_dim))
    if zero is not None:
        kl[zero] = 0.0
    return kl


def top_by_kl(kl, k: int) -> list[int]:
    """The ``k`` dimensions of largest KL, largest first, by sorting here (not kl_order)."""
    return sorted(range(len(kl)), key=lambda d: -kl[d])[:k]


def history_ending_at(final) -> dict[int, list[tuple[int, float]]]:
    """KL curves over 20 steps that rise to ``final`` (one per dimension)."""
    return {dim: [(100 * s, float(value) * s / 20) for s in range(1, 21)]
            for dim, value in enumerate(final)}


def text_of(artist) -> str:
    return artist.get_text()


@pytest.mark.parametrize("size", [(900, 600), (640, 480)])
def test_kl_curves_of_32_latents_name_the_top_10_in_legends_inside_the_figure(size):
    final = kl_vector(32)
    capacity = [(100 * s, 0.5 * s) for s in range(1, 21)]
    figure = vis.kl_curves_figure(history_ending_at(final), capacity, size=size)
    figure.canvas.draw()
    renderer, page = figure.canvas.get_renderer(), figure.bbox
    assert (page.width, page.height) == size
    curves, totals = figure.axes
    for axes in (curves, totals):
        box = axes.get_legend().get_window_extent(renderer)
        inside = page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 <= box.y1 <= page.y1
        assert inside, f"legend {box} outside the figure {page}"
    entries = [text_of(t) for t in curves.get_legend().get_texts()]
    top = top_by_kl(final, 10)
    assert entries[:10] == [f"z{d}: {final[d]:.3g}" for d in top]  # largest final KL first
    others = sorted(set(range(32)) - set(top), key=lambda d: -final[d])
    assert len(entries) == 11 and entries[10].startswith("22 others")
    assert f"{final[others[0]]:.3g}" in entries[10]  # the largest KL of those not named
    assert "top 10 of 32 latents" in curves.get_title()
    # Each named dimension has its coloured curve; the 22 others are drawn too, in one grey.
    lines = curves.get_lines()
    assert len([line for line in lines if len(line.get_xdata())]) == 32
    grey = {line.get_color() for line in lines if not line.get_label().startswith("z")}
    assert len(grey) == 1


def test_kl_curves_of_10_latents_drop_none():
    final = kl_vector(10, seed=1)
    figure = vis.kl_curves_figure(history_ending_at(final))
    figure.canvas.draw()
    entries = [text_of(t) for t in figure.axes[0].get_legend().get_texts()]
    assert entries == [f"z{d}: {final[d]:.3g}" for d in top_by_kl(final, 10)]
    assert "all 10 latents" in figure.axes[0].get_title()
    box = figure.axes[0].get_legend().get_window_extent(figure.canvas.get_renderer())
    assert box.x1 <= figure.bbox.x1 and box.y0 >= figure.bbox.y0
    assert vis.kl_curves(history_ending_at(final)).shape == (600, 900, 3)


def test_the_captions_name_how_many_of_how_many_latents():
    assert vis.shown_latents(10, 32) == "top 10 of 32 latents by KL"
    assert vis.shown_latents(10, 10) == "all 10 latents by KL"


def fitted_traversal_parts(picture, rows: int, steps: int):
    """``(tiles, label_bands, header)`` of a traversal grid whose tiles fill its bottom right
    corner: tiles ``(rows, steps, 64, 64, 3)``, each row's strip of the label column, and the
    strip above the tiles."""
    height, width = picture.shape[:2]
    top, left = height - (rows * TILE - 2), width - (steps * TILE - 2)
    tiles = np.stack([np.stack([picture[top + r * TILE:top + r * TILE + 64,
                                        left + c * TILE:left + c * TILE + 64]
                                for c in range(steps)]) for r in range(rows)])
    bands = [picture[top + r * TILE:top + r * TILE + 64, :left] for r in range(rows)]
    return tiles, bands, picture[:top]


def expected_rows(model, image, dims, steps: int, span: float = 3.0) -> np.ndarray:
    """Decoded traversal of each of ``dims`` (grey levels), ``(len(dims), steps, 64, 64)``."""
    mean = np.asarray(model.encode(image[None])[0])[0]
    z = np.repeat(mean[None], len(dims) * steps, axis=0).reshape(len(dims), steps, -1)
    for row, dim in enumerate(dims):
        z[row, :, dim] += np.linspace(-span, span, steps)
    decoded = np.asarray(model.decode_images(z.reshape(len(dims) * steps, -1)))
    return np.round(decoded * 255).astype(np.uint8).reshape(len(dims), steps, 64, 64)


def assert_labels_read_at_tensorboard_size(picture, bands):
    """Each row's label is dark text at least READABLE_PX high once the picture is scaled into
    TensorBoard's box, and survives its nearest-neighbour scaling."""
    height, width = picture.shape[:2]
    scale = min(TENSORBOARD_BOX[0] / width, TENSORBOARD_BOX[1] / height)
    for row, band in enumerate(bands):
        ink = np.flatnonzero((band.min(axis=2) < 128).any(axis=1))
        assert ink.size, f"row {row} has no label"
        assert (ink[-1] - ink[0] + 1) * scale >= READABLE_PX, \
            f"row {row}'s label is {(ink[-1] - ink[0] + 1) * scale:.1f} px high in TensorBoard"
    shown = np.asarray(Image.fromarray(picture).resize(
        (round(width * scale), round(height * scale)), Image.NEAREST))
    rows_on_screen = len(bands)
    label_columns = round(bands[0].shape[1] * scale)
    top = shown.shape[0] - round((rows_on_screen * TILE - 2) * scale)
    for row in range(rows_on_screen):
        strip = shown[top + round(row * TILE * scale):top + round((row * TILE + 64) * scale),
                      :label_columns]
        ink = np.flatnonzero((strip.min(axis=2) < 128).any(axis=1))
        assert ink.size and ink[-1] - ink[0] + 1 >= READABLE_PX - 1, f"row {row} on screen"


def test_a_traversal_grid_for_tensorboard_shows_the_top_10_of_32_latents_readably(
        model_with_an_unused_latent, sprite_images):
    unused, steps = 5, 9
    model = model_with_an_unused_latent(32, unused)
    kl = kl_vector(32, zero=unused)
    image = sprite_images(1, seed=3)[0]
    picture = vis.traversal_grid(model, image, kl, span=3.0, steps=steps, max_rows=10,
                                 fit=TENSORBOARD_BOX)
    tiles, bands, header = fitted_traversal_parts(picture, 10, steps)
    top = top_by_kl(kl, 10)
    everyone = expected_rows(model, image, list(range(32)), steps)
    for row, dim in enumerate(top):
        np.testing.assert_allclose(tiles[row, ..., 0], everyone[dim], atol=1,
                                   err_msg=f"row {row} is not the traversal of z{dim}")
        others = [d for d in range(32) if d != dim and d != unused]
        assert all(np.abs(everyone[d].astype(int) - tiles[row, ..., 0]).max() > 8 for d in others)
    # Above the tiles: the caption and offsets (dark text on white), not an 11th row of tiles.
    assert (header.min(axis=2) > 200).mean() > 0.7
    assert (header[: header.shape[0] // 2].min(axis=2) < 128).any()  # the caption line
    assert_labels_read_at_tensorboard_size(picture, bands)


def test_a_traversal_grid_for_tensorboard_of_10_latents_drops_none(
        model_with_an_unused_latent, sprite_images):
    unused, steps = 7, 9
    model = model_with_an_unused_latent(10, unused)
    kl = kl_vector(10, zero=unused, seed=2)
    image = sprite_images(1, seed=4)[0]
    picture = vis.traversal_grid(model, image, kl, steps=steps, max_rows=10, fit=TENSORBOARD_BOX)
    tiles, bands, header = fitted_traversal_parts(picture, 10, steps)
    assert (header.min(axis=2) > 200).mean() > 0.7  # text on white, no 11th row of tiles
    order = top_by_kl(kl, 10)
    assert order[-1] == unused
    np.testing.assert_allclose(tiles[..., 0], expected_rows(model, image, order, steps), atol=1)
    assert np.ptp(tiles[-1].astype(int), axis=0).max() == 0  # the unused latent: last, constant
    assert_labels_read_at_tensorboard_size(picture, bands)


def test_a_traversal_grid_at_actual_size_with_max_rows_keeps_the_top_rows_under_a_caption(
        model_with_an_unused_latent, sprite_images):
    model = model_with_an_unused_latent(LATENT_DIM, UNUSED)
    kl = [0.3, 2.0, 0.0, 1.0]
    image = sprite_images(1, seed=3)[0]
    grid = vis.traversal_grid(model, image, kl, steps=3, max_rows=2)
    caption = HEADER - 4
    assert grid.shape == (caption + HEADER + 2 * TILE - 2, LABEL_WIDTH + 3 * TILE - 2, 3)
    tiles, _, _ = fitted_traversal_parts(grid, 2, 3)
    np.testing.assert_allclose(tiles[..., 0], expected_rows(model, image, [1, 3], 3), atol=1)
    assert (grid[:caption, :LABEL_WIDTH] < 128).any()  # "top 2 of 4 latents by KL"


@pytest.mark.parametrize("latent_dim", [32, 10])
def test_the_kl_chart_for_tensorboard_names_the_top_10_in_readable_text(latent_dim):
    kl = kl_vector(latent_dim, seed=3)
    figure = vis.kl_bar_chart_figure(kl, step=7, top=10, fit=TENSORBOARD_BOX)
    figure.canvas.draw()
    axes = figure.axes[0]
    ticks = [text_of(t) for t in axes.get_xticklabels()]
    if latent_dim == 32:
        top = top_by_kl(kl, 10)
        assert ticks == [f"z{d}" for d in top]
        np.testing.assert_allclose([bar.get_height() for bar in axes.patches], kl[top])
        assert "top 10 of 32 latents" in axes.get_title()
    else:  # nothing dropped, index order as ever
        assert ticks == [f"z{d}" for d in range(10)]
        np.testing.assert_allclose([bar.get_height() for bar in axes.patches], kl)
    width, height = figure.bbox.width, figure.bbox.height
    scale = min(TENSORBOARD_BOX[0] / width, TENSORBOARD_BOX[1] / height)
    for text in axes.get_xticklabels() + axes.get_yticklabels() + [axes.title]:
        pixels = text.get_fontsize() * figure.dpi / 72  # the font's size in the picture
        # At least a 10-pixel font on screen (DejaVu Sans: digits 7.3 pixels high).
        assert pixels * scale >= 10, f"{text_of(text)!r}: a {pixels * scale:.1f} px font on screen"
    box = axes.get_tightbbox(figure.canvas.get_renderer())
    assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height
