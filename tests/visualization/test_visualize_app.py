"""apps/visualize.py end to end: an exported model (KL from its metadata) and a training run
directory (KL curves from its TensorBoard logs), checked as the image files it writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfbvae.evaluation import representation
from tfbvae.serving.export import export_model

REPO = Path(__file__).resolve().parents[2]
LATENT_DIM, UNUSED = 4, 2  # the exported model's latents; latent UNUSED carries nothing
TILE = 64 + 2
LABEL_WIDTH, HEADER = 92, 20  # the traversal grid's label column and offsets row


def visualize(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "apps" / "visualize.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def image(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def decoded_uint8(model, z) -> np.ndarray:
    """``model``'s decoded images of codes ``z`` as the pictures' uint8 grey levels."""
    return np.round(np.clip(np.asarray(model.decode_images(np.asarray(z, np.float32))), 0, 1)
                    * 255).astype(np.uint8)[..., 0]


def expected_traversal(model, image, kl, span: float, steps: int) -> np.ndarray:
    """The traversal tiles the pictures must show, computed here from ``model`` itself:
    ``[row, column]`` decodes the posterior mean of ``image`` with only the ``row``-th largest-KL
    latent moved by ``linspace(-span, span, steps)[column]``; shape ``(latents, steps, H, W)``."""
    image = np.asarray(image, np.float32)[None]
    image = image / 255.0 if image.max() > 1 else image
    mean = np.asarray(model.encode(image)[0])[0]
    order = np.argsort(-np.asarray(kl, np.float64), kind="stable")
    offsets = np.linspace(-span, span, steps).astype(np.float32)
    z = np.repeat(np.repeat(mean[None, None], len(order), 0), steps, 1)
    for row, dim in enumerate(order):
        z[row, :, dim] += offsets
    return decoded_uint8(model, z.reshape(-1, len(mean))).reshape(len(order), steps, *image.shape[1:3])


def gaussian_kl_per_dim(model, images) -> np.ndarray:
    """Mean over ``images`` of KL(q(z|x) || N(0, I)) per latent, by its closed form."""
    mean, log_var = (np.asarray(t, np.float64) for t in model.encode(np.asarray(images, np.float32) / 255.0))
    return np.mean(0.5 * (mean ** 2 + np.exp(log_var) - 1.0 - log_var), axis=0)


@pytest.fixture(scope="module")
def exported_model(model_with_an_unused_latent):
    return model_with_an_unused_latent(LATENT_DIM, UNUSED)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, exported_model, sprite_images):
    base = tmp_path_factory.mktemp("exported_models")
    export_model(exported_model, str(base), "tiny", {"step": 3}, kl_images=sprite_images(16))
    return base / "tiny"


def grid_tiles(picture: np.ndarray, rows: int, columns: int, top: int = 0, left: int = 0) -> np.ndarray:
    """The 64x64 tiles of a picture grid, grey (channel 0): ``(rows, columns, 64, 64)``."""
    return np.array([[picture[top + r * TILE:top + r * TILE + 64, left + c * TILE:left + c * TILE + 64, 0]
                      for c in range(columns)] for r in range(rows)])


def assert_close_pixels(got: np.ndarray, expected: np.ndarray, what: str):
    """Equal to within one grey level (the SavedModel and Keras round alike up to float error)."""
    difference = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    assert difference.max() <= 1, f"{what}: {np.count_nonzero(difference > 1)} pixels differ"


def recorded_inputs(record, count):
    """The input images pictures.json names: dSprites rows, rendered."""
    from tfbvae.data.dsprites import layout
    from tfbvae.data.dsprites.ground_truth import DSprites

    inputs = record["inputs"]
    assert inputs["dataset"] == "dsprites" and len(inputs["rows"]) == count
    assert len(set(inputs["rows"])) == count  # drawn without replacement
    classes = layout.latents_classes(np.array(inputs["rows"]))
    return DSprites("rendered").images_from_factors(classes[:, 1:])[..., None].astype(np.float32)


def test_pictures_of_an_export(exported, exported_model, tmp_path, sprite_images):
    """The pictures' numbers against the model itself: the KL (export metadata = the closed
    form on the export's kl_images), reconstructions, samples from the seeded prior, and every
    traversal tile (rows by KL, each moving only its own latent). Catches a wrong row order,
    a traversal that moves the wrong latent or all of them, reconstructions from a sample
    instead of the mean, unseeded samples, and KL from the wrong place."""
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

    model = exported_model
    kl = gaussian_kl_per_dim(model, sprite_images(16))
    np.testing.assert_allclose(record["kl_per_dim"], kl, rtol=1e-4, atol=1e-6)
    assert record["order_by_kl"] == list(np.argsort(-kl, kind="stable"))
    inputs = recorded_inputs(record, num_images)
    mean = np.asarray(model.encode(inputs)[0])
    expected = expected_traversal(model, inputs[0], kl, 3.0, steps)
    got = grid_tiles(grid, LATENT_DIM, steps, HEADER, LABEL_WIDTH)
    assert_close_pixels(got, expected, "traversal tiles")
    assert np.ptp(got[-1].astype(int), axis=0).max() == 0  # the unused latent (last row) moves nothing
    for row in range(LATENT_DIM - 1):  # the active rows move, each differently
        assert np.ptp(got[row].astype(int), axis=0).max() > 64, f"row {row} does not move"
        assert any(np.abs(got[row].astype(int) - got[other].astype(int)).max() > 64
                   for other in range(LATENT_DIM) if other != row)
    reconstruction = decoded_uint8(model, mean[:1])[0]
    for row in range(LATENT_DIM):  # offset 0 (the middle column): every row is the reconstruction
        assert_close_pixels(got[row, steps // 2], reconstruction, f"row {row} at offset 0")
    recon = grid_tiles(image(tmp_path / "reconstructions.png"), 2, num_images)
    assert np.array_equal(recon[0], np.round(inputs[..., 0] * 255).astype(np.uint8))
    assert_close_pixels(recon[1], decoded_uint8(model, mean), "reconstructions")
    prior = np.random.RandomState(0).standard_normal((8, LATENT_DIM))
    assert_close_pixels(grid_tiles(image(tmp_path / "samples.png"), 1, 8)[0], decoded_uint8(model, prior), "samples")

    gif = Image.open(tmp_path / "traversals.gif")
    assert gif.n_frames == 2 * steps - 2
    assert gif.size[0] == LATENT_DIM * TILE - 2 and gif.size[1] > gif_images * TILE - 2
    assert image(tmp_path / "reconstructions.png").shape == (2 * TILE - 2, num_images * TILE - 2, 3)
    assert image(tmp_path / "samples.png").shape == (TILE - 2, 8 * TILE - 2, 3)
    assert Image.open(tmp_path / "kl_per_dim.png").size[0] > 100


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_config):
    """A real 10-step training run (1024 rendered dSprites, batch 8, logs every 5 steps)."""
    from tfbvae.training import train as training

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
    # The KL the app claims to take from the training logs is the one logged at step 10, and
    # the traversals are the restored checkpoint's decodings of it, rows by that KL.
    from tfbvae.training import event_files
    from tfbvae.training.checkpoints import restore_model

    logged = event_files.read_scalars(run_dir / "logs" / "train")
    kl = [dict(logged[f"kl_per_dim/kl_{d}"])[10] for d in range(LATENT_DIM)]
    np.testing.assert_allclose(record["kl_per_dim"], kl, rtol=1e-6)
    model, _ = restore_model(str(run_dir))
    from tfbvae.trained_model import open_model

    capacity = open_model(run_dir).kl_history()[1]  # a capacity run: its C is drawn
    assert [step for step, _ in capacity] == [5, 10] and capacity[-1][1] > 0
    first = recorded_inputs(record, 8)[0]
    # Images the run never trained on: its held-out split (2 % of its 1024 images).
    from tfbvae.data.pipeline import split_indices

    assert record["inputs"]["from"] == "the run's held-out images"
    _, validation = split_indices(1024, 0.02, 0)
    assert set(record["inputs"]["rows"]) <= set(validation.tolist())
    grid = image(tmp_path / "traversals.png")
    assert grid.shape[0] == HEADER + LATENT_DIM * TILE - 2
    assert_close_pixels(grid_tiles(grid, LATENT_DIM, 9, HEADER, LABEL_WIDTH),
                        expected_traversal(model, first, kl, 3.0, 9), "traversal tiles")
    assert os.path.isfile(record["files"]["traversals"])


def test_a_missing_model_is_refused_before_anything_is_drawn(tmp_path):
    result = visualize(f"--model={tmp_path / 'nowhere'}", f"--output_dir={tmp_path / 'out'}")
    assert result.returncode == 2
    assert "does not exist: pass a training run directory" in result.stderr
    assert not (tmp_path / "out").exists()
    result = visualize(f"--model={tmp_path}", "--what=traversals,movie")
    assert result.returncode == 2 and "--what takes a comma-separated subset" in result.stderr


def test_a_run_directory_opens_as_its_latest_checkpoint(run_dir, sprite_images):
    from tfbvae.trained_model import open_model

    source = open_model(run_dir)
    assert source.kind == "run" and source.step == 10 and source.version is None
    assert source.image_shape == (64, 64, 1) and source.latent_dim == LATENT_DIM
    assert source.data_source.startswith("dsprites-rendered")
    images = sprite_images(3)
    mean, _ = source.encode(images)
    np.testing.assert_allclose(representation.of_model(source)(images), mean, rtol=1e-5, atol=1e-6)
    assert source.decode_images(mean).shape == (3, 64, 64, 1)
    kl, where = source.kl_per_dim()
    assert kl.shape == (LATENT_DIM,) and (kl >= 0).all() and where.startswith("training logs")
    identity = source.identity()
    assert identity["metadata"]["flags"]["latent_dim"] == LATENT_DIM
    assert identity["metadata"]["checkpoint"].endswith("ckpt-10")
