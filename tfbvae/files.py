"""One home for writing files so that no reader ever sees half of one.

Every file tfbvae rewrites in place (run records, result tables, ``models.config``, trimmed
TensorBoard event files) is written beside its target under a temporary name, flushed to disk,
and renamed over it: a rename within a directory is atomic, so a reader (a resumed run, a
polling TF Serving, TensorBoard) sees the old file or the new one, and a process killed at any
moment leaves the old one. The directory is flushed too, so the rename survives a power cut.
This module imports only the standard library.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The source checkout this package runs from (``<repo>/tfbvae/files.py``): where
    ``runs/`` and ``exported_models/`` sit by default and ``../shared`` may hold shared data."""
    return Path(__file__).resolve().parents[1]


def fsync_dir(path: str | os.PathLike) -> None:
    """Flushes a directory's entries (e.g. a rename into it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: str | os.PathLike) -> None:
    """Flushes every file and directory under ``path`` to disk (e.g. a SavedModel written
    under a temporary name, before it is renamed into place)."""
    for root, _, names in os.walk(path):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(root)


def temporary_beside(path: str | os.PathLike) -> Path:
    """A hidden name in ``path``'s directory, private to this process, to write ``path`` under."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def replace_atomically(written: str | os.PathLike, path: str | os.PathLike) -> None:
    """Flushes the finished file ``written`` to disk and renames it over ``path``.

    Args:
        written: a complete file in ``path``'s directory (e.g. :func:`temporary_beside`).
        path: the file it replaces (or creates).
    """
    with open(written, "rb") as f:
        os.fsync(f.fileno())
    os.replace(written, path)
    fsync_dir(Path(path).parent)


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` to ``path`` as described in the module docstring.

    Args:
        path: the file to write; its directory must exist.
        text: the whole new content.
    """
    tmp = temporary_beside(path)
    try:
        tmp.write_text(text)
        replace_atomically(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
