"""apps/visualize.py end to end: an exported model (KL from its metadata) and a training run
directory (KL curves from its TensorBoard logs), checked as the image files it writes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfbvae.export import export_model
from train_testing import REPO, tiny_config
from visualize_testing import LATENT_DIM, UNUSED, model_with_an_unused_latent, sprite_images

TILE = 64 + 2
LABEL_WIDTH, HEADER = 92, 20  # the traversal grid's label column and offsets row


def visualize(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "apps" / "visualize.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def image(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("exported_models")
    export_model(model_with_an_unused_latent(), str(base), "tiny", {"step": 3},
                 kl_images=sprite_images(16))
    return base / "tiny"


def test_pictures_of_an_export(exported, tmp_path):
    steps, num_images, gif_images = 5, 4, 2
    result = visualize(f"--model={exported}", f"--output_dir={tmp_path}", "--dsprites_source=rendered",
                       f"--steps={steps}", f"--num_images={num_images}",
                       f"--gif_images={gif_images}", "--num_samples=8", "--factor_samples=500")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "pictures.json").read_text())
    factors = record["latent_factors"]  # each row is labelled with the factor its latent encodes
    assert [f["dim"] for f in factors] == list(range(LATENT_DIM)) and factors[UNUSED]["factor"] is None
    assert {f["factor"] for f in factors} - {None} <= {"shape", "scale", "orientation", "posX", "posY"}
    assert record["model"]["version"] == 1 and record["kl_source"].startswith("export metadata")
    assert record["order_by_kl"][-1] == UNUSED and record["kl_per_dim"][UNUSED] == pytest.approx(0, abs=1e-6)
    assert set(record["files"]) == {"traversals", "gif", "reconstructions", "samples", "kl_per_dim"}
    assert "no per-dimension KL in training logs" in record["notes"][0]

    grid = image(tmp_path / "traversals.png")
    assert grid.shape == (HEADER + LATENT_DIM * TILE - 2, LABEL_WIDTH + steps * TILE - 2, 3)
    last_row = HEADER + (LATENT_DIM - 1) * TILE  # the unused latent: zero KL, the last row
    tiles = [grid[last_row:last_row + 64, LABEL_WIDTH + c * TILE:][:, :64] for c in range(steps)]
    assert all(np.array_equal(t, tiles[0]) for t in tiles)
    top = [grid[HEADER:HEADER + 64, LABEL_WIDTH + c * TILE:][:, :64] for c in range(steps)]
    assert not all(np.array_equal(t, top[0]) for t in top)  # the largest-KL latent moves

    gif = Image.open(tmp_path / "traversals.gif")
    assert gif.n_frames == 2 * steps - 2
    assert gif.size[0] == LATENT_DIM * TILE - 2 and gif.size[1] > gif_images * TILE - 2
    assert image(tmp_path / "reconstructions.png").shape == (2 * TILE - 2, num_images * TILE - 2, 3)
    assert image(tmp_path / "samples.png").shape == (TILE - 2, 8 * TILE - 2, 3)
    assert Image.open(tmp_path / "kl_per_dim.png").size[0] > 100


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real 10-step training run (1024 rendered dSprites, batch 8, logs every 5 steps)."""
    from tfbvae import training

    root = tmp_path_factory.mktemp("run")
    config = tiny_config(root / "run", root / "data", "--steps=10", f"--latent_dim={LATENT_DIM}")
    assert training.train(config).step == 10
    return root / "run"


def test_pictures_of_a_run_directory_with_kl_curves_from_its_logs(run_dir, tmp_path):
    result = visualize(f"--model={run_dir}", f"--output_dir={tmp_path}", "--dsprites_source=rendered",
                       "--what=kl_curves,traversals")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "pictures.json").read_text())
    assert record["model"]["kind"] == "run" and record["model"]["step"] == 10
    assert record["kl_source"].startswith("training logs")
    assert set(record["files"]) == {"kl_curves", "traversals"} and not record["notes"]
    assert Image.open(tmp_path / "kl_curves.png").size == (900, 600)
    assert image(tmp_path / "traversals.png").shape[0] == HEADER + LATENT_DIM * TILE - 2
    assert os.path.isfile(record["files"]["traversals"])


def test_a_missing_model_is_refused_before_anything_is_drawn(tmp_path):
    result = visualize(f"--model={tmp_path / 'nowhere'}", f"--output_dir={tmp_path / 'out'}")
    assert result.returncode == 2
    assert "does not exist: pass a training run directory" in result.stderr
    assert not (tmp_path / "out").exists()
    result = visualize(f"--model={tmp_path}", "--what=traversals,movie")
    assert result.returncode == 2 and "--what takes a comma-separated subset" in result.stderr


def test_a_run_directory_opens_as_its_latest_checkpoint(run_dir):
    from tfbvae.model_source import open_model

    source = open_model(run_dir)
    assert source.kind == "run" and source.step == 10 and source.version is None
    assert source.image_shape == (64, 64, 1) and source.latent_dim == LATENT_DIM
    assert source.data_source.startswith("dsprites-rendered")
    images = sprite_images(3)
    mean, _ = source.encode(images)
    np.testing.assert_allclose(source.representation_function()(images), mean, rtol=1e-5, atol=1e-6)
    assert source.decode_images(mean).shape == (3, 64, 64, 1)
    kl, where = source.kl_per_dim()
    assert kl.shape == (LATENT_DIM,) and (kl >= 0).all() and where.startswith("training logs")
    identity = source.identity()
    assert identity["metadata"]["flags"]["latent_dim"] == LATENT_DIM
    assert identity["metadata"]["checkpoint"].endswith("ckpt-10")
