"""Pictures as images: traversal grids (one row per latent, ordered and labelled by KL, an
unused latent's row constant), animated GIFs, prior samples and KL curves from event files."""

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
