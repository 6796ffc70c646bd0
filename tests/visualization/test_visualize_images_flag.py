"""apps/visualize.py --images: an array the model cannot take as images is refused with one
line naming the file and the rule (the serving signatures' [0, 1] rule, from tfbvae.pixels),
exit status 2 (bad input), and no traceback."""

import subprocess
import sys

import numpy as np
import pytest

from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.networks import build_networks
from tfbvae.pixels import UNIT_RANGE_RULE
from tfbvae.serving.export import export_model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Any untrained 64x64 grey model will do: the images are refused before it is used."""
    base = tmp_path_factory.mktemp("exported_models")
    export_model(BetaVAE(*build_networks("burgess", (64, 64, 1), 2), seed=0), str(base), "untrained")
    return base / "untrained"


def write(path, array: np.ndarray | None) -> str:
    if array is None:
        path.write_bytes(b"not a numpy file")
    else:
        np.save(path, array)
    return str(path)


@pytest.mark.parametrize("array, found", [
    (np.linspace(-0.5, 2.0, 3 * 64 * 64, dtype=np.float32).reshape(3, 64, 64, 1),
     f"{UNIT_RANGE_RULE} (or uint8 0..255); got float32 values from -0.5 to 2.0"),
    (np.full((3, 64, 64, 1), 255, np.int64),  # 8-bit values, but not uint8
     f"{UNIT_RANGE_RULE} (or uint8 0..255); got int64 values from 255.0 to 255.0"),
    (None, "is not a readable .npy array: "),
], ids=["float outside [0, 1]", "int64 0..255", "not a .npy"])
def test_unusable_images_are_refused_in_one_line(exported, tmp_path, array, found, repo):
    images = write(tmp_path / "images.npy", array)
    result = subprocess.run(
        [sys.executable, str(repo / "apps" / "visualize.py"), f"--model={exported}",
         f"--images={images}", f"--output_dir={tmp_path / 'pictures'}"],
        cwd=repo, capture_output=True, text=True, timeout=300,
    )
    assert f"ERROR: --images {images}" in result.stderr and found in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == 2, result.stderr
    assert not (tmp_path / "pictures").exists()
