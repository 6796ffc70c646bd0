"""Sanity scores of the disentanglement metrics on each ground-truth data set: an oracle code and
a random projection of the pixels, with the ``fast`` counts and seed 0.

    nice -n 10 .venv/bin/python tools/dataset_sanity.py     # every ground-truth data set
    .venv/bin/python tools/dataset_sanity.py --datasets=shapes3d,cars3d --metrics=beta_vae,factor_vae

The oracle (each factor's class index divided by its largest) depends on the factors alone, so
it is scored on a data set whose observations are the factor vectors
(:class:`~tfbvae.data.ground_truth.IdentityObservationsData`) with the data set's factor sizes
(disentanglement_lib's: ``data/ground_truth/named_data.py`` and each data set's file at commit
86a644d). BetaVAE and FactorVAE should be 1 and DCI near 1 (MIG and SAP are lower by their
definitions: 20 histogram bins, a linear classifier on one code). The random projection (10
Gaussian directions of the pixels) needs the images: it is scored where the data set can be
loaded on this machine without a download (``auto``), and should be near chance. Prints one
Markdown table.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from tfbvae.data import datasets
from tfbvae.data.ground_truth import IdentityObservationsData, SourceGroundTruth
from tfbvae.evaluation.metrics import evaluate

DSPRITES = (3, 6, 40, 32, 32)
# disentanglement_lib's factor sizes. MPI3D: 4 x 4 object colours x shapes for toy and
# realistic (the 2019 files it downloads), 6 x 6 for real; today's published toy and
# realistic files are 6 x 6 (tfbvae reads the grid from the file).
FACTOR_SIZES = {
    "dsprites": DSPRITES,
    "dsprites_noshape": DSPRITES[1:],
    "color_dsprites": DSPRITES,
    "noisy_dsprites": DSPRITES,
    "scream_dsprites": DSPRITES,
    "shapes3d": (10, 10, 10, 8, 4, 15),
    "smallnorb": (5, 9, 18, 6),
    "cars3d": (4, 24, 183),
    "mpi3d_toy": (4, 4, 2, 3, 3, 40, 40),
    "mpi3d_realistic": (4, 4, 2, 3, 3, 40, 40),
    "mpi3d_real": (6, 6, 2, 3, 3, 40, 40),
}
METRICS = ("beta_vae", "factor_vae", "mig", "dci", "sap")


def oracle_scores(sizes: tuple[int, ...], metrics: list[str]) -> dict:
    top = np.array(sizes, np.float32) - 1
    return evaluate(IdentityObservationsData(sizes), lambda x: x / top, metrics, "fast", 0)["summary"]


def random_projection_scores(name: str, metrics: list[str]) -> dict | str:
    """The scores of a random projection of the pixels, or why the pixels are not here."""
    try:
        data = datasets.load(name, datasets.LoadOptions(download=False, sample_only=True))
    except (FileNotFoundError, OSError, RuntimeError, ValueError) as err:
        return f"images not on this machine ({str(err).splitlines()[0][:80]}...)"
    weights = np.random.RandomState(0).normal(size=(int(np.prod(data.image_shape)), 10))
    weights = (weights / np.sqrt(weights.shape[0])).astype(np.float32)
    return evaluate(SourceGroundTruth(data), lambda x: x.reshape(len(x), -1) @ weights, metrics,
                    "fast", 0)["summary"]


def row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(FACTOR_SIZES))
    parser.add_argument("--metrics", default=",".join(METRICS))
    args = parser.parse_args()
    metrics = args.metrics.split(",")
    print(row(["data set", "code"] + metrics))
    print(row(["---"] * (len(metrics) + 2)))
    for name in args.datasets.split(","):
        oracle = oracle_scores(FACTOR_SIZES[name], metrics)
        print(row([name, "oracle"] + [f"{oracle[m]:.2f}" for m in metrics]), flush=True)
        random = random_projection_scores(name, metrics)
        if isinstance(random, str):
            print(row([name, "random projection"] + [random] + [""] * (len(metrics) - 1)))
        else:
            print(row([name, "random projection"] + [f"{random[m]:.2f}" for m in metrics]))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
