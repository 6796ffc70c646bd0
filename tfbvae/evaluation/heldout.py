"""Reconstruction and KL of a trained model on the images its run held out.

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

from tfbvae.data import datasets
from tfbvae.data.info import DataInfo
from tfbvae.data.pipeline import split_indices
from tfbvae.data.source import ImageSource
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
    def of_data(cls, data: DataInfo | None, validation_fraction: float | None,
                loaded: ImageSource | None = None) -> "HeldOutSplit":
        """The split of a run's data record (a :class:`~tfbvae.training.run_record.DataRecord`)
        and its ``--validation_fraction``; ``loaded``: the data set as loaded now, checked to
        hold the run's rows in the run's order: the same data set and number of images, and
        for a data set whose rows are not placed by their factors (CelebA, image folders: a
        zip and tfds store them in different orders) the same source.

        Raises:
            ValueError: naming what is missing or differs: no data record, no images held out,
                another data set, or not the run's number of images (a leading block of the
                rows is kept, for data sets whose quick runs train on one).
        """
        if data is None:
            raise ValueError("the model's run record names no training data")
        if not validation_fraction or validation_fraction <= 0:
            raise ValueError("the run held no images out (--validation_fraction=0)")
        if loaded is not None:
            if loaded.dataset != data.dataset:
                raise ValueError(f"the run trained on {data.dataset}, not {loaded.dataset}")
            block = datasets.get(data.dataset).takes_num_images
            if data.num_examples != loaded.num_examples and not (
                    block and data.num_examples < loaded.num_examples):
                raise ValueError(f"the run trained on {data.num_examples} {data.dataset} "
                                 f"images, this copy holds {loaded.num_examples}: its held-out "
                                 "rows are not known here")
            if loaded.layout is None and loaded.source != data.source:
                raise ValueError(f"the run trained on {data.source}, this copy is "
                                 f"{loaded.source}, whose rows may be in another order: its "
                                 "held-out rows are not known here")
        return cls(int(data.num_examples), float(validation_fraction), int(data.split_seed))

    @classmethod
    def of_run(cls, run: RunFacts | Mapping[str, Any],
               loaded: ImageSource | None = None) -> "HeldOutSplit":
        """The split of a trained model's run (:attr:`tfbvae.trained_model.ModelSource.run`, or
        its JSON, e.g. an export metadata's ``run``).

        Raises:
            ValueError: as :meth:`of_data`, or the run records no settings.
        """
        if isinstance(run, Mapping):
            run = RunFacts.from_json(run)
        if run.settings is None:
            raise ValueError("the model's run record names no training data")
        return cls.of_data(run.data, run.settings.validation_fraction, loaded)

    def rows(self) -> np.ndarray:
        """Row indices of the held-out images."""
        return split_indices(self.num_examples, self.validation_fraction, self.split_seed)[1]


def heldout_losses(source: Any, data: ImageSource, seed: int = 0,
                   batch_size: int = 256) -> dict:
    """The training objective's terms on ``source``'s held-out images.

    ``source`` is a :class:`tfbvae.trained_model.ModelSource`; ``data`` its data set as loaded
    now (from whichever source); random pixels (colour, noisy, scream dSprites) are drawn from
    ``seed``.
    Returns ``{"num_images", "reconstruction", "reconstruction_at_mean", "kl", "kl_per_dim",
    "negative_elbo", "split"}`` (nats per image), or ``{"skipped": reason}``.
    """
    try:
        split = HeldOutSplit.of_run(source.run, data)
    except ValueError as err:
        return {"skipped": str(err)}
    rows = split.rows()
    likelihood = source.likelihood
    pixels_rng = np.random.RandomState(seed)
    rng = np.random.default_rng(seed)
    recon, recon_at_mean, kl = [], [], []
    for start in range(0, len(rows), batch_size):
        images = data.observed_floats(rows[start:start + batch_size], pixels_rng)
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
