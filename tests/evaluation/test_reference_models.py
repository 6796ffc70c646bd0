"""tools/reference_models.py: the reference's network rebuilt with its parameter names, its
weights loaded strictly, and the means, KL and reconstruction it reports checked against closed
forms on weights chosen so that the answer is known."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("reference_models", REPO / "tools" / "reference_models.py")
reference_models = sys.modules["reference_models"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(reference_models)  # tools/ is scripts, not a package

MEANS = np.array([0.5, -1.0, 0, 0, 2.0, 0, 0, 0, 0, 0.25], np.float32)
LOG_VARS = np.array([-2.0, 0, 0, -1.0, 0.5, 0, 0, 0, 0, -4.0], np.float32)
LOGIT = 1.5


def reference_folder(root: Path, name: str = "betaB") -> Path:
    """``results/<name>_dsprites`` as the reference ships it: a VAE's state dict whose encoder
    outputs MEANS and LOG_VARS (interleaved, as the reference's last layer does) whatever the
    image, and whose decoder outputs LOGIT at every pixel."""
    encoder, decoder = reference_models.burgess_networks()
    with torch.no_grad():
        encoder.mu_logvar_gen.weight.zero_()
        encoder.mu_logvar_gen.bias.copy_(torch.from_numpy(np.stack([MEANS, LOG_VARS], 1).reshape(-1)))
        decoder.convT3.weight.zero_()
        decoder.convT3.bias.fill_(LOGIT)
    state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
    state |= {f"decoder.{k}": v for k, v in decoder.state_dict().items()}
    folder = root / "results" / f"{name}_dsprites"
    folder.mkdir(parents=True)
    torch.save(state, folder / "model.pt")
    (folder / "specs.json").write_text(json.dumps({
        "loss": "betaB", "betaB_G": 100, "betaB_initC": 0, "betaB_finC": 25, "reg_anneal": 100000,
        "epochs": 30, "batch_size": 64, "lr": 0.001}))
    return root


def test_means_kl_and_reconstruction_match_their_closed_forms(tmp_path):
    model = reference_models.load_model(reference_folder(tmp_path), "betaB")
    images = (np.random.RandomState(0).rand(5, 64, 64, 1) < 0.1).astype(np.float32)
    np.testing.assert_allclose(reference_models.representation(model, batch_size=2)(images),
                               np.tile(MEANS, (5, 1)), atol=1e-6)
    terms = reference_models.losses(model, images, seed=0, batch_size=2)
    kl = 0.5 * (MEANS ** 2 + np.exp(LOG_VARS) - 1 - LOG_VARS)
    np.testing.assert_allclose(terms["kl_per_latent"], kl, rtol=1e-5)
    assert terms["kl"] == pytest.approx(kl.sum(), rel=1e-5)
    p = 1 / (1 + np.exp(-LOGIT))  # the decoder ignores z here: the sample does not matter
    bce = -(images * np.log(p) + (1 - images) * np.log(1 - p)).sum((1, 2, 3)).mean()
    assert terms["reconstruction"] == pytest.approx(bce, rel=1e-5)
    assert reference_models.settings_text(model.specs) == (
        "γ = 100, C 0 → 25 over 100,000 steps; 30 epochs ≈ 345,600 steps of batch 64, lr 0.001")


def test_weights_of_another_network_are_refused(tmp_path):
    folder = reference_folder(tmp_path) / "results" / "betaB_dsprites"
    state = torch.load(folder / "model.pt")
    state["encoder.lin1.weight"] = torch.zeros(128, 512)
    torch.save(state, folder / "model.pt")
    with pytest.raises(RuntimeError, match="lin1.weight"):
        reference_models.load_model(tmp_path, "betaB")


def test_a_folder_without_the_models_is_one_error_line(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "tools" / "reference_models.py"),
                             f"--reference={tmp_path}", "--models=VAE,betaB"],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"ERROR: {tmp_path} has no results/<model>_dsprites/model.pt for VAE, betaB: pass "
        "--reference=<a clone of YannDubs/disentangling-vae>")
