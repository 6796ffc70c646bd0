"""Set-up of the training tests: apps/train.py run as a program in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def train_command(repo):
    """``train_command(*args)``: the command line that runs apps/train.py with ``args``."""

    def train_command(*args: str) -> list[str]:
        return [sys.executable, str(repo / "apps" / "train.py"), *args]

    return train_command


@pytest.fixture(scope="session")
def run_app(repo, train_command):
    """``run_app(*args, timeout=300, env=None)``: runs apps/train.py to the end in a fresh
    process (in the repository root, ``env`` added to this one's environment)."""

    def run_app(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            train_command(*args), cwd=repo, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **(env or {})},
        )

    return run_app
