"""Scores the published dSprites models of a PyTorch reference implementation with tfbvae's
metrics: an outside calibration of what the metrics give models trained to the reference's own
schedule.

    git clone https://github.com/YannDubs/disentangling-vae /path/to/disentangling-vae
    nice -n 10 .venv/bin/python tools/reference_models.py --reference=/path/to/disentangling-vae

YannDubs/disentangling-vae ships, in ``results/<model>_dsprites/``, each model's weights
(``model.pt``: Burgess et al. 2018's network, 10 latents) and its training settings
(``specs.json``). This tool rebuilds that network in PyTorch (``pip install -e .[bench]``),
loads the weights, and scores the encoder's means on tfbvae's dSprites (rendered, or the official
file when ``--data_source`` names it) with ``tfbvae.evaluation.metrics.evaluate``, the preset and
seed given; it also reports each latent's KL and the reconstruction (Bernoulli, summed over
pixels, one posterior sample per image) on ``--num_images`` images drawn from dSprites (all of
which those models trained on: the reference holds none out). Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfbvae.data import datasets
from tfbvae.data.dsprites.layout import NUM_IMAGES
from tfbvae.data.ground_truth import SourceGroundTruth
from tfbvae.evaluation.metrics import evaluate

MODELS = ("VAE", "betaH", "betaB", "btcvae", "factor")
METRICS = ("beta_vae", "factor_vae", "mig", "dci", "sap")
LATENTS = 10


@dataclass(frozen=True)
class ReferenceModel:
    """One published model: its name, training settings and the two halves of its network."""

    name: str
    specs: dict
    encoder: object  # torch.nn.Module: images (N, 1, 64, 64) -> (mean, log variance)
    decoder: object  # torch.nn.Module: codes (N, 10) -> Bernoulli logits (N, 1, 64, 64)


def burgess_networks():
    """Burgess et al. 2018's encoder and decoder with the reference's parameter names (4 convs
    of 32 4x4 filters, stride 2, padding 1; dense 256, 256; the mean and log variance of each
    latent interleaved in one dense layer of 20)."""
    import torch
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            conv = dict(kernel_size=4, stride=2, padding=1)
            self.conv1, self.conv2 = nn.Conv2d(1, 32, **conv), nn.Conv2d(32, 32, **conv)
            self.conv3, self.conv_64 = nn.Conv2d(32, 32, **conv), nn.Conv2d(32, 32, **conv)
            self.lin1, self.lin2 = nn.Linear(512, 256), nn.Linear(256, 256)
            self.mu_logvar_gen = nn.Linear(256, 2 * LATENTS)

        def forward(self, x):
            for layer in (self.conv1, self.conv2, self.conv3, self.conv_64):
                x = torch.relu(layer(x))
            x = torch.relu(self.lin2(torch.relu(self.lin1(x.flatten(1)))))
            return self.mu_logvar_gen(x).view(-1, LATENTS, 2).unbind(-1)

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            conv = dict(kernel_size=4, stride=2, padding=1)
            self.lin1, self.lin2, self.lin3 = nn.Linear(LATENTS, 256), nn.Linear(256, 256), nn.Linear(256, 512)
            self.convT_64, self.convT1 = nn.ConvTranspose2d(32, 32, **conv), nn.ConvTranspose2d(32, 32, **conv)
            self.convT2, self.convT3 = nn.ConvTranspose2d(32, 32, **conv), nn.ConvTranspose2d(32, 1, **conv)

        def forward(self, z):
            x = torch.relu(self.lin3(torch.relu(self.lin2(torch.relu(self.lin1(z))))))
            x = x.view(-1, 32, 4, 4)
            for layer in (self.convT_64, self.convT1, self.convT2):
                x = torch.relu(layer(x))
            return self.convT3(x)  # logits: the reference applies the sigmoid after

    return Encoder(), Decoder()


def load_model(reference: Path, name: str) -> ReferenceModel:
    """``results/<name>_dsprites`` of the reference clone, its weights loaded (strictly: every
    parameter name and shape must match)."""
    import torch

    folder = reference / "results" / f"{name}_dsprites"
    weights = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    encoder, decoder = burgess_networks()
    for part, module in (("encoder", encoder), ("decoder", decoder)):
        prefix = f"{part}."
        module.load_state_dict({k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)})
        module.eval()
    return ReferenceModel(name, json.loads((folder / "specs.json").read_text()), encoder, decoder)


def _channels_first(images: np.ndarray):
    """float32 (N, 64, 64, 1) as the reference's PyTorch network takes it: (N, 1, 64, 64)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def representation(model: ReferenceModel, batch_size: int = 1000):
    """The encoder's means as the metrics want them: float32 (N, 64, 64, 1) in [0, 1] -> (N, 10)."""
    import torch

    def mean(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            parts = [model.encoder(_channels_first(images[i:i + batch_size]))[0].numpy()
                     for i in range(0, len(images), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, LATENTS), np.float32)

    return mean


def losses(model: ReferenceModel, images: np.ndarray, seed: int, batch_size: int = 1000) -> dict:
    """Each latent's KL from N(0, 1), and the Bernoulli reconstruction summed over pixels with
    one posterior sample per image, averaged over ``images`` (nats)."""
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(seed)
    kl, recon = np.zeros(LATENTS), 0.0
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = _channels_first(images[i:i + batch_size])
            mean, log_var = model.encoder(x)
            kl += (0.5 * (mean ** 2 + log_var.exp() - 1 - log_var)).sum(0).numpy()
            z = mean + (0.5 * log_var).exp() * torch.randn(mean.shape, generator=generator)
            recon += F.binary_cross_entropy_with_logits(model.decoder(z), x, reduction="sum").item()
    return {"kl_per_latent": (kl / len(images)).tolist(), "kl": float(kl.sum() / len(images)),
            "reconstruction": recon / len(images)}


def settings_text(specs: dict) -> str:
    """The reference's training settings that set the objective and the schedule."""
    steps = specs["epochs"] * NUM_IMAGES // specs["batch_size"]
    loss = specs["loss"]
    if loss == "betaB":
        objective = (f"γ = {specs['betaB_G']:g}, C {specs['betaB_initC']:g} → {specs['betaB_finC']:g} "
                     f"over {specs['reg_anneal']:,} steps")
    else:
        objective = {"VAE": "β = 1", "betaH": f"β = {specs.get('betaH_B', '?')}",
                     "btcvae": f"β-TC β = {specs.get('btcvae_B', '?')}",
                     "factor": f"FactorVAE γ = {specs.get('factor_G', '?')}"}.get(loss, loss)
    return (f"{objective}; {specs['epochs']} epochs ≈ {steps:,} steps "
            f"of batch {specs['batch_size']}, lr {specs['lr']:g}")


def row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True, type=Path, help="a clone of YannDubs/disentangling-vae")
    parser.add_argument("--models", default="VAE,betaH,betaB", help=f"of {', '.join(MODELS)}")
    parser.add_argument("--preset", default="fast", choices=("fast", "paper"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_images", type=int, default=10000)
    parser.add_argument("--data_source", default="auto", help="dSprites: auto, rendered, official, tfds")
    parser.add_argument("--data_path", default=None, help="the official .npz, with --data_source=official")
    args = parser.parse_args()
    if importlib.util.find_spec("torch") is None:
        print("ERROR: PyTorch is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    names = args.models.split(",")
    missing = [n for n in names if not (args.reference / "results" / f"{n}_dsprites" / "model.pt").is_file()]
    if missing:
        print(f"ERROR: {args.reference} has no results/<model>_dsprites/model.pt for {', '.join(missing)}: "
              "pass --reference=<a clone of YannDubs/disentangling-vae>", file=sys.stderr)
        return 2
    data = SourceGroundTruth(datasets.load("dsprites", datasets.LoadOptions(
        source=args.data_source, path=args.data_path, sample_only=True)))
    random_state = np.random.RandomState(args.seed)
    images = data.sample_observations_from_factors(data.sample_factors(args.num_images, random_state), random_state)
    print(f"dSprites: {data.source}; metrics: preset {args.preset}, seed {args.seed}; "
          f"KL and reconstruction: {args.num_images:,} images drawn with seed {args.seed}\n")
    print(row(["model", "reference settings"] + list(METRICS) + ["recon (nats)", "KL (nats)", "KL per latent > 0.1 nats"]))
    print(row(["---"] * (len(METRICS) + 5)))
    for name in names:
        model = load_model(args.reference, name)
        scores = evaluate(data, representation(model), METRICS, args.preset, args.seed)["summary"]
        terms = losses(model, images, args.seed)
        active = ", ".join(f"{k:.1f}" for k in sorted(terms["kl_per_latent"], reverse=True) if k > 0.1)
        print(row([name, settings_text(model.specs)] + [f"{scores[m]:.3f}" for m in METRICS]
                  + [f"{terms['reconstruction']:.1f}", f"{terms['kl']:.2f}", active]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
