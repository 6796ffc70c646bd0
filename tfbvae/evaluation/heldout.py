"""Reconstruction and KL of a trained model on the dSprites images its run held out.

The held-out images are the run's validation split (``--validation_fraction`` of the rows, drawn
with the run's split seed, as :func:`tfbvae.data.pipeline.split_indices` drew them): images the
model never trained on. The terms are those of the training objective: the negative
log-likelihood summed over pixels with ``z`` sampled from the posterior (one sample per image,
seeded), averaged over images, and the KL summed over latents; the reconstruction from the
posterior mean is reported too.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from tfbvae.data.dsprites import layout as dsprites_layout
from tfbvae.data.dsprites.ground_truth import DSprites
from tfbvae.data.info import DataInfo
from tfbvae.data.pipeline import split_indices
from tfbvae.model.divergences import gaussian_kl_per_dim
from tfbvae.trained_model import RunFacts


@dataclasses.dataclass(frozen=True)
class HeldOutSplit:
    """What a run says of its validation split: the numbers of its data record and settings
    that :func:`tfbvae.data.pipeline.split_indices` drew it from."""

    num_examples: int
    validation_fraction: float
    split_seed: int

    @classmethod
    def of_data(cls, data: DataInfo | None, validation_fraction: float | None) -> "HeldOutSplit":
        """The split of a run's data record (a :class:`~tfbvae.training.run_record.DataRecord`)
        and its ``--validation_fraction``.

        Raises:
            ValueError: naming what is missing, when the data is not the full dSprites set or
                no images were held out.
        """
        if data is None or data.dataset != "dsprites":
            raise ValueError("the model's run record names no dSprites training data")
        if data.num_examples != dsprites_layout.NUM_IMAGES:
            raise ValueError(f"the run trained on {data.num_examples} dSprites images, not "
                             f"the full {dsprites_layout.NUM_IMAGES}: its held-out rows are not "
                             "known here")
        if not validation_fraction or validation_fraction <= 0:
            raise ValueError("the run held no images out (--validation_fraction=0)")
        return cls(int(data.num_examples), float(validation_fraction), int(data.split_seed))

    @classmethod
    def of_run(cls, run: RunFacts | Mapping[str, Any]) -> "HeldOutSplit":
        """The split of a trained model's run (:attr:`tfbvae.trained_model.ModelSource.run`, or
        its JSON, e.g. an export metadata's ``run``).

        Raises:
            ValueError: as :meth:`of_data`, or the run's settings are not dSprites'.
        """
        if isinstance(run, Mapping):
            run = RunFacts.from_json(run)
        if run.settings is None or run.settings.dataset != "dsprites":
            raise ValueError("the model's run record names no dSprites training data")
        return cls.of_data(run.data, run.settings.validation_fraction)

    def rows(self) -> np.ndarray:
        """Row indices of the held-out dSprites images."""
        return split_indices(self.num_examples, self.validation_fraction, self.split_seed)[1]


def heldout_rows(run: RunFacts | Mapping[str, Any]) -> np.ndarray:
    """Row indices of the dSprites images that ``run`` (a model's run facts, or their JSON)
    held out for validation.

    Raises ``ValueError`` naming what is missing when the run did not train on the full
    dSprites set with a validation split.
    """
    return HeldOutSplit.of_run(run).rows()


def heldout_losses(source: Any, data: DSprites, seed: int = 0,
                   batch_size: int = 256) -> dict:
    """The training objective's terms on ``source``'s held-out dSprites images.

    ``source`` is a :class:`tfbvae.trained_model.ModelSource`; ``data`` the dSprites images
    (from whichever source).
    Returns ``{"num_images", "reconstruction", "reconstruction_at_mean", "kl", "kl_per_dim",
    "negative_elbo", "split"}`` (nats per image), or ``{"skipped": reason}``.
    """
    try:
        split = HeldOutSplit.of_run(source.run)
    except ValueError as err:
        return {"skipped": str(err)}
    rows = split.rows()
    classes = dsprites_layout.latents_classes(rows)
    factors = classes[:, 1:]  # colour (column 0) is constant
    likelihood = source.likelihood
    rng = np.random.default_rng(seed)
    recon, recon_at_mean, kl = [], [], []
    for start in range(0, len(rows), batch_size):
        # Pixels are 0/1 (uint8 here): as floats they are the Bernoulli targets themselves.
        images = data.images_from_factors(factors[start:start + batch_size])
        images = images[..., None].astype(np.float32)
        mean, log_var = source.encode(images)
        z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape).astype(np.float32)
        recon.append(np.asarray(likelihood.neg_log_likelihood(images, source.decode_logits(z))))
        recon_at_mean.append(np.asarray(
            likelihood.neg_log_likelihood(images, source.decode_logits(mean))))
        kl.append(np.asarray(gaussian_kl_per_dim(mean, log_var)))
    kl_per_dim = np.concatenate(kl).astype(np.float64).mean(axis=0)
    reconstruction = float(np.concatenate(recon).astype(np.float64).mean())
    return {
        "num_images": int(len(rows)),
        "reconstruction": reconstruction,
        "reconstruction_at_mean": float(np.concatenate(recon_at_mean).astype(np.float64).mean()),
        "kl": float(kl_per_dim.sum()),
        "kl_per_dim": [float(v) for v in kl_per_dim],
        "negative_elbo": reconstruction + float(kl_per_dim.sum()),
        "split": {"validation_fraction": split.validation_fraction,
                  "split_seed": split.split_seed, "sample_seed": seed},
    }
