"""An on-disk cache of one large array that is never used stale, partial or corrupt.

Layout of a cache entry ``<root>/<name>/``: ``data.npy`` (memory-mapped on load) and
``manifest.json``, written *last*, holding the recipe the data was built from, the file size
and its SHA-256. A build writes into a private temporary directory that is renamed into place
only when complete, under an exclusive lock, so a killed build never leaves an entry that
looks valid. On load the manifest, recipe, size and checksum are all checked; any mismatch is
logged with its reason and the entry is rebuilt. The checksum of a multi-gigabyte entry takes
tens of seconds, so once it has matched, ``verified.json`` records the data file's size,
modification time and inode: a later load whose file still has them skips the hash (any write
to the file changes them; decay of the disk under an unchanged file does not, and is left to
the file system).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from tfbvae import files

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DATA_FILE = "data.npy"
MANIFEST_FILE = "manifest.json"
VERIFIED_FILE = "verified.json"


def _normalise(recipe: dict) -> dict:
    """The recipe as it reads back from JSON (tuples -> lists, ...), for comparison."""
    return json.loads(json.dumps(recipe, sort_keys=True))


def file_sha256(path: Path, chunk: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(root: Path, name: str) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_entry(entry: Path, recipe: dict, shape: tuple, dtype: np.dtype) -> str | None:
    """Why the cache entry cannot be used (``None`` when it is valid)."""
    manifest_path, data_path = entry / MANIFEST_FILE, entry / DATA_FILE
    if not entry.exists():
        return "missing"
    if not manifest_path.exists():
        return "partial: no manifest (a build was interrupted)"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as err:
        return f"corrupt: unreadable manifest ({err})"
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"stale: cache format {manifest.get('format_version')} != {FORMAT_VERSION}"
    if manifest.get("recipe") != _normalise(recipe):
        return "stale: built from a different recipe"
    if manifest.get("shape") != list(shape) or manifest.get("dtype") != np.dtype(dtype).str:
        return "stale: different shape or dtype"
    if not data_path.exists():
        return "partial: data file missing"
    size = data_path.stat().st_size
    if size != manifest.get("size"):
        return f"corrupt: data file has {size} bytes, manifest says {manifest.get('size')}"
    if _verified(entry, data_path, manifest["sha256"]):
        return None
    if file_sha256(data_path) != manifest.get("sha256"):
        return "corrupt: checksum mismatch"
    _record_verified(entry, data_path, manifest["sha256"])
    return None


def _record_verified(entry: Path, data_path: Path, sha256: str) -> None:
    """Records that ``data_path``, as it is now, has the checksum ``sha256``."""
    try:
        files.write_text_atomically(entry / VERIFIED_FILE, json.dumps(
            {**_identity(data_path), "sha256": sha256}))
    except OSError as err:  # a read-only cache: hashed again next time
        log.debug("Cannot record the verification of %s: %s", entry, err)


def _identity(path: Path) -> dict:
    """What changes when the file is written, replaced or truncated."""
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def _verified(entry: Path, data_path: Path, sha256: str) -> bool:
    """Whether ``data_path`` matched ``sha256`` before and is unchanged since."""
    try:
        stamp = json.loads((entry / VERIFIED_FILE).read_text())
    except (OSError, ValueError):
        return False
    return stamp == {**_identity(data_path), "sha256": sha256}


def load_or_build(
    root: Path,
    name: str,
    recipe: dict,
    shape: tuple,
    dtype: np.dtype,
    fill: Callable[[np.ndarray], dict | None],
    validate: Callable[[np.ndarray], str | None] | None = None,
) -> tuple[np.ndarray, dict]:
    """The cached array ``<root>/<name>``, built with ``fill`` first if absent or unusable.

    ``fill(out)`` writes every row of the (memory-mapped) ``out`` and may return extra
    JSON-able facts for the manifest. ``validate(array)`` is an optional semantic check of a
    loaded entry (e.g. re-render a few rows) returning a reason to rebuild, or ``None``.
    Returns the read-only memory-mapped array and the manifest.
    """
    root = Path(root)
    entry = root / name
    with _locked(root, name):
        for leftover in root.glob(f".{name}.tmp-*"):  # builds hold the lock: these are dead
            shutil.rmtree(leftover, ignore_errors=True)
        reason = check_entry(entry, recipe, shape, dtype)
        if reason is None and validate is not None:
            reason = validate(np.load(entry / DATA_FILE, mmap_mode="r"))
        if reason is not None:
            if reason != "missing":
                log.warning("Cache %s is unusable (%s); rebuilding it.", entry, reason)
            _build(root, name, recipe, shape, dtype, fill)
        array = np.load(entry / DATA_FILE, mmap_mode="r")
        manifest = json.loads((entry / MANIFEST_FILE).read_text())
    return array, manifest


def _build(root: Path, name: str, recipe: dict, shape: tuple, dtype: np.dtype, fill) -> None:
    entry = root / name
    tmp = root / f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        start = time.perf_counter()
        out = np.lib.format.open_memmap(tmp / DATA_FILE, mode="w+", dtype=dtype, shape=shape)
        extra = fill(out) or {}
        out.flush()
        del out
        data_path = tmp / DATA_FILE
        manifest = {
            "format_version": FORMAT_VERSION,
            "recipe": _normalise(recipe),
            "shape": list(shape),
            "dtype": np.dtype(dtype).str,
            "size": data_path.stat().st_size,
            "sha256": file_sha256(data_path),
            "build_seconds": round(time.perf_counter() - start, 2),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **extra,
        }
        with open(tmp / MANIFEST_FILE, "w") as f:
            json.dump(manifest, f, indent=1)
        files.fsync_tree(tmp)  # the array and its manifest on disk before the rename
        # Swap in atomically: the old entry (if any) is renamed aside before removal.
        if entry.exists():
            trash = root / f".{name}.tmp-old-{uuid.uuid4().hex[:8]}"
            os.replace(entry, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, entry)
        files.fsync_dir(root)  # the rename itself survives a power cut
        _record_verified(entry, entry / DATA_FILE, manifest["sha256"])  # hashed just now
        log.info("Built cache %s in %.1f s.", entry, manifest["build_seconds"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
