"""Helpers of the training tests: the app's settings, tiny dSprites runs, event files."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from absl import flags

REPO = Path(__file__).resolve().parents[2]

# A tiny dSprites run through the real code path: 1024 rendered images (the first sprite's
# positions), batch 8, intervals of a few steps.
TINY = [
    "--dsprites_num_images=1024",
    "--batch_size=8",
    "--log_every=5",
    "--validate_every=10",
    "--image_every=10",
    "--checkpoint_every=10",
    "--validation_fraction=0.02",
    "--validation_steps=1",
    "--noexport",
    "--noprogress",
]


def load_app():
    """apps/train.py as a module (it defines its flags only when run as a program)."""
    spec = importlib.util.spec_from_file_location("train_app", REPO / "apps" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


APP = load_app()


def app_config(*args: str):
    """The settings apps/train.py would train with for ``args`` (parsed and validated)."""
    fv = flags.FlagValues()
    APP.define_flags(fv)
    fv(["train.py", *args])
    return APP.settings_from_flags(fv)


def data_record(source: str):
    """A data record naming ``source`` (a tiny dSprites block), to write a run record with."""
    from tfbvae.training.run_record import DataRecord

    return DataRecord(dataset="dsprites", source=source, location="test", image_shape=(64, 64, 1),
                      num_examples=1024, num_train=1004, num_validation=20, batch_size=8, seed=0,
                      split_seed=0)


def tiny_config(run_dir, data_dir, *args: str, flagfile: str = "dsprites.flags"):
    """A tiny run of ``flagfile``'s setting in ``run_dir``, data cached in ``data_dir``."""
    return app_config(f"--flagfile={REPO / flagfile}", *TINY, f"--run_dir={run_dir}",
                      f"--data_dir={data_dir}", *args)


def train_command(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "apps" / "train.py"), *args]


def run_app(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs apps/train.py to the end in a fresh process."""
    return subprocess.run(
        train_command(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )
