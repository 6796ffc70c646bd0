"""A run directory written by earlier tfbvae code (tests/testdata/run_v1: before issue 15's
regrouping of the package) still resumes through the app and opens as a trained model."""

import shutil
from pathlib import Path

import numpy as np

from tfbvae.trained_model import open_model

OLD_RUN = Path(__file__).resolve().parents[1] / "testdata" / "run_v1"


def test_an_old_run_directory_resumes_and_opens(tmp_path, run_app):
    run_dir = tmp_path / "run_v1"
    shutil.copytree(OLD_RUN, run_dir)
    done = run_app(f"--flagfile={run_dir / 'flags.txt'}", f"--run_dir={run_dir}",
                   f"--data_dir={tmp_path / 'data'}", "--steps=20")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "from step 10" in done.stderr and "Done: " in done.stdout and "at step 20" in done.stdout
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.index")) == ["ckpt-20.index"]

    model = open_model(run_dir)
    assert (model.step, model.latent_dim, model.data_source) == (20, 10, "dsprites-rendered (tfbvae renderer v1)")
    mean, log_var = model.encode(np.zeros((2, 64, 64, 1), np.uint8))
    assert mean.shape == log_var.shape == (2, 10) and np.isfinite(mean).all()
