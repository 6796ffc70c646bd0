"""tfbvae.files: a file rewritten in place is never seen half-written, and no temporary is left."""

import os

import pytest

from tfbvae import files


def test_a_rewrite_replaces_the_whole_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "run.json"
    files.write_text_atomically(path, "old\n")
    files.write_text_atomically(path, "new\n")
    assert path.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_a_write_that_fails_keeps_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "models.config"
    files.write_text_atomically(path, "old\n")

    def killed(*args):  # the process dies between writing the temporary and the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        files.write_text_atomically(path, "new and much longer\n")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models.config"]


def test_the_temporary_is_hidden_beside_its_target_and_private_to_the_process(tmp_path):
    tmp = files.temporary_beside(tmp_path / "results.md")
    assert tmp.parent == tmp_path and tmp.name == f".results.md.tmp{os.getpid()}"
