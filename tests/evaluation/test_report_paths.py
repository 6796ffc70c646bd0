"""Result files name paths as any machine can read them: inside the checkout relative to it,
in the home directory as ``~/``, anything else as it is."""

from pathlib import Path

from tfbvae import files
from tfbvae.evaluation.report import portable_paths


def test_the_repository_root_is_the_checkout_that_holds_the_package():
    root = files.repo_root()
    assert (root / "tfbvae" / "files.py").is_file() and (root / "apps" / "train.py").is_file()


def test_paths_in_the_checkout_and_home_become_portable_inside_any_string():
    root, home = files.repo_root(), Path.home().resolve()
    record = {"run_dir": str(root / "runs" / "x"),
              "kl_source": f"training logs ({root / 'runs' / 'x' / 'logs' / 'train'}) at step 5",
              "cache": [str(home / ".cache" / "tfbvae" / "dsprites")],
              "elsewhere": "/data/dsprites.npz", "step": 5}
    assert portable_paths(record) == {
        "run_dir": "runs/x", "kl_source": "training logs (runs/x/logs/train) at step 5",
        "cache": ["~/.cache/tfbvae/dsprites"], "elsewhere": "/data/dsprites.npz", "step": 5}
