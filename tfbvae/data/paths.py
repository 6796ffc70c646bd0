"""Where data and caches live: ``$TFBVAE_DATA_DIR`` (default ``~/.cache/tfbvae``) and the
places an official dSprites file is looked up."""

from __future__ import annotations

import os
from pathlib import Path

from tfbvae.files import repo_root

DATA_DIR_ENV = "TFBVAE_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.cache/tfbvae")
OFFICIAL_DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
# disentanglement_lib's data root (its data/ground_truth/*.py read their files under it); the
# data sets look for a user's files there too.
DLIB_DATA_ENV = "DISENTANGLEMENT_LIB_DATA"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache root: ``override`` if given, else ``$TFBVAE_DATA_DIR``, else ``~/.cache/tfbvae``."""
    chosen = override or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser().absolute()


def shared_dsprites_dir() -> Path:
    """``<repo>/../shared/data/dsprites``: real dSprites frames, and the official file if present."""
    return repo_root().parent / "shared" / "data" / "dsprites"


def official_dsprites_candidates() -> list[Path]:
    """Where the official ``.npz`` is looked up when no path is given, in order."""
    candidates = [shared_dsprites_dir() / OFFICIAL_DSPRITES_FILE]
    if os.environ.get(DLIB_DATA_ENV):
        root = Path(os.environ[DLIB_DATA_ENV]).expanduser()
        candidates.append(root / "dsprites" / OFFICIAL_DSPRITES_FILE)
    return candidates


def in_dlib_data(*parts: str) -> tuple[Path | None, str]:
    """``$DISENTANGLEMENT_LIB_DATA/<parts>`` when it exists, else ``None`` and why (for the
    message that says where the data was looked for)."""
    root = os.environ.get(DLIB_DATA_ENV)
    if not root:
        return None, f"${DLIB_DATA_ENV} is not set"
    candidate = Path(root).expanduser().joinpath(*parts)
    if candidate.exists():
        return candidate, ""
    return None, f"${DLIB_DATA_ENV}/{'/'.join(parts)} ({candidate}) does not exist"


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
