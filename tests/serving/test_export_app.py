"""apps/export.py: from a .keras file or a training run directory, and its flag errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.networks import build_networks
from tfbvae.serving.export import read_metadata

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APP = os.path.join(REPO, "apps", "export.py")


def run_app(*flags, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, APP, *flags], capture_output=True, text=True, cwd=REPO)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def written_paths(stdout: str) -> dict:
    """The JSON the app prints (the paths written), before its serving hint."""
    return json.loads(stdout[: stdout.index("}") + 1])


def images(n: int) -> np.ndarray:
    return ((np.random.default_rng(0).random((n, 64, 64, 1)) > 0.8) * 255).astype(np.uint8)


def assert_serves(model, written: dict):
    """The exported encoder gives the model's posterior: the weights made it through."""
    x = images(3)
    served = tf.saved_model.load(written["encoder"]).signatures["serving_default"](images=x / 255.0)
    np.testing.assert_allclose(served["mean"], model.encode(x)[0], atol=1e-5, rtol=1e-5)


def test_export_from_a_keras_file(tmp_path):
    model = BetaVAE(*build_networks("burgess", (64, 64, 1), 3), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(2)  # as after two training steps
    model.save(tmp_path / "dsprites_beta.keras")
    np.save(tmp_path / "kl.npy", images(16))

    result = run_app(f"--keras_model={tmp_path / 'dsprites_beta.keras'}", f"--export_base={tmp_path / 'out'}",
                     f"--kl_images={tmp_path / 'kl.npy'}", "--crop=60")
    written = written_paths(result.stdout)
    assert written["encoder"] == str(tmp_path / "out" / "dsprites_beta" / "encoder" / "1")
    assert f"--model_config_file={written['models_config']}" in result.stdout
    meta = read_metadata(written["encoder"])
    assert meta["run"] == {"source": str(tmp_path / "dsprites_beta.keras"), "latent_dim": 3, "step": 2}
    assert meta["kl_per_dim_source"] == "measured on kl_images at export" and len(meta["kl_per_dim"]) == 3
    assert meta["image_bytes_crop"] == [60, 60]
    assert_serves(model, written)


def test_export_from_a_run_directory(tmp_path, data_record):
    checkpoints = pytest.importorskip("tfbvae.training.checkpoints", reason="the training app's checkpoints module is absent")
    from tfbvae.training import run_record
    from tfbvae.training.settings import Settings

    run_dir = tmp_path / "run"
    config = Settings(latent_dim=3, run_dir=str(run_dir))
    run_record.write_run(run_dir, config, data_record("rendered"))
    model = checkpoints.build_model(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.capacity.assign(7.0)
    checkpoints.RunCheckpoint(model, checkpoints.checkpoint_dir(run_dir)).save()
    # The run's logged training KL per dimension (as TensorBoardScalars writes it) at step 0,
    # and a later value the step-0 checkpoint must not take.
    with tf.summary.create_file_writer(str(run_dir / "logs" / "train")).as_default():
        for step, values in ((0, [0.5, 2.0, 0.0]), (100, [9.0, 9.0, 9.0])):
            for dim, value in enumerate(values):
                tf.summary.scalar(f"kl_per_dim/kl_{dim}", value, step=step)

    # --base_dir: --export_base's old name, still accepted
    written = written_paths(run_app(f"--run_dir={run_dir}", f"--base_dir={tmp_path / 'out'}").stdout)
    assert written["decoder"] == str(tmp_path / "out" / "dsprites_capacity" / "decoder" / "1")
    meta = read_metadata(written["decoder"])
    assert meta["run"]["flags"] == config.to_json() and meta["run"]["step"] == 0
    assert meta["run"]["data_source"] == "rendered"
    assert meta["capacity"] == 7.0
    assert meta["kl_per_dim"] == pytest.approx([0.5, 2.0, 0.0])
    assert "at the checkpoint's step" in meta["kl_per_dim_source"]
    assert_serves(model, written)


@pytest.mark.parametrize("flags, message", [
    ([], "Give exactly one of --run_dir"),
    (["--run_dir=/nonexistent", "--keras_model=/x.keras"], "Give exactly one of --run_dir"),
    (["--keras_model=/nonexistent.keras"], "--keras_model must be an existing .keras file"),
    (["--run_dir=/", "--model_name=a/b"], "--model_name must be letters, digits"),
    (["--run_dir=/", "--crop=1,2,3"], "--crop must be SIDE or HEIGHT,WIDTH"),
    (["--run_dir=/"], "--run_dir / is not a training run directory"),
])
def test_flag_errors_name_the_flag_and_the_fix(flags, message):
    result = run_app(*flags, check=False)
    assert result.returncode == 2 and message in result.stderr
