"""Held-out reconstruction and KL (tfbvae.evaluation.heldout): the run's validation rows, scored with the
training objective's terms, through an exported model, equal to the Keras model's own terms."""

import numpy as np
import pytest

from tfbvae.data import datasets
from tfbvae.data.dsprites import layout as dsprites_layout
from tfbvae.data.dsprites.ground_truth import DSprites
from tfbvae.data.pipeline import split_indices
from tfbvae.data.source import ImageSource
from tfbvae.evaluation.heldout import HeldOutSplit, heldout_losses
from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.divergences import gaussian_kl_per_dim
from tfbvae.model.networks import build_networks
from tfbvae.serving.export import export_model
from tfbvae.trained_model import open_model
from tfbvae.training.run_record import DataRecord, RunFacts
from tfbvae.training.settings import Settings

FRACTION = 1e-4  # 74 of dSprites' 737,280 images


def run_record(fraction=FRACTION, num_examples=dsprites_layout.NUM_IMAGES):
    """The ``run`` JSON of an export (RunFacts.to_json()) of a dSprites run."""
    data = DataRecord("dsprites", "dsprites-rendered", "nowhere", (64, 64, 1), num_examples,
                      num_examples - 74, 74, 64, 0, 5)
    settings = Settings.from_json({"dataset": "dsprites", "validation_fraction": fraction})
    return RunFacts.of_run(settings, data, 0).to_json()


def test_heldout_rows_are_the_runs_validation_split_and_refuse_what_is_unknown():
    rows = HeldOutSplit.of_run(run_record()).rows()
    train, validation = split_indices(dsprites_layout.NUM_IMAGES, FRACTION, 5)
    np.testing.assert_array_equal(rows, validation)
    assert len(rows) == 74 and not np.isin(rows, train).any()
    for record, message in [(run_record(fraction=0.0), "held no images out"),
                            ({"step": 3}, "names no training data")]:
        with pytest.raises(ValueError, match=message):
            HeldOutSplit.of_run(record).rows()
    # A quick run's leading block of dSprites: its rows are those of the whole set.
    block = HeldOutSplit.of_run(run_record(num_examples=2048), DSprites("rendered").data)
    np.testing.assert_array_equal(block.rows(), split_indices(2048, FRACTION, 5)[1])


def test_a_heldout_split_is_refused_on_other_data_than_the_runs():
    celeba = ImageSource("celeba", np.zeros((10, 64, 64, 3), np.uint8), "test", "memory")
    with pytest.raises(ValueError, match="the run trained on dsprites, not celeba"):
        HeldOutSplit.of_run(run_record(), celeba)
    data = DataRecord("celeba", "test", "memory", (64, 64, 3), 12, 11, 1, 64, 0, 5)
    settings = Settings.from_json({"dataset": "celeba", "channels": 3, "likelihood": "gaussian",
                                   "validation_fraction": 0.1})
    with pytest.raises(ValueError, match="the run trained on 12 celeba images, this copy holds 10"):
        HeldOutSplit.of_run(RunFacts.of_run(settings, data, 0), celeba)
    # The same number of images from another source (a zip's sorted names, tfds' shuffled
    # storage): its rows may be in another order.
    twelve = ImageSource("celeba", np.zeros((12, 64, 64, 3), np.uint8), "celeba-tfds", "memory")
    with pytest.raises(ValueError, match="the run trained on test, this copy is celeba-tfds"):
        HeldOutSplit.of_run(RunFacts.of_run(settings, data, 0), twelve)
    same = ImageSource("celeba", twelve.array, "test", "memory")
    assert HeldOutSplit.of_run(RunFacts.of_run(settings, data, 0), same).num_examples == 12


def test_heldout_losses_of_an_export_equal_the_keras_models_terms(tmp_path):
    model = BetaVAE(*build_networks("burgess", (64, 64, 1), 10), seed=0)
    export_model(model, str(tmp_path), "m", run_record())
    source = open_model(tmp_path / "m")
    assert source.run == RunFacts.from_json(run_record()) and source.run.settings.dataset == "dsprites"
    assert HeldOutSplit.of_run(source.run) == HeldOutSplit.of_data(source.run.data, FRACTION)
    data = datasets.load("dsprites", datasets.LoadOptions(source="rendered", sample_only=True))
    result = heldout_losses(source, data, seed=1, batch_size=32)  # 3 batches, the last short

    classes = dsprites_layout.latents_classes(HeldOutSplit.of_run(run_record()).rows())
    images = DSprites("rendered").images_from_factors(classes[:, 1:])[..., None].astype(np.float32)
    mean, log_var = (np.asarray(t) for t in model.encode(images))
    at_mean = np.asarray(model.likelihood.neg_log_likelihood(images, model.decode(mean)))
    kl = np.asarray(gaussian_kl_per_dim(mean, log_var)).mean(axis=0)
    assert result["num_images"] == 74
    assert result["reconstruction_at_mean"] == pytest.approx(at_mean.mean(), rel=1e-5)
    assert result["kl_per_dim"] == pytest.approx(kl, rel=1e-4, abs=1e-6)
    assert result["kl"] == pytest.approx(kl.sum(), rel=1e-4)
    # The sampled reconstruction: z = mean + stddev * noise, the noise drawn batch by batch
    # from the seed, scored by the Keras model's decoder and likelihood.
    rng = np.random.default_rng(1)
    noise = np.concatenate([rng.standard_normal((n, 10)).astype(np.float32) for n in (32, 32, 10)])
    sampled = model.likelihood.neg_log_likelihood(
        images, model.decode(mean + np.exp(0.5 * log_var) * noise))
    assert result["reconstruction"] == pytest.approx(np.asarray(sampled).mean(), rel=1e-5)
    assert result["negative_elbo"] == pytest.approx(result["reconstruction"] + result["kl"])
    assert heldout_losses(source, data, seed=1, batch_size=32) == result  # seeded sampling
    assert heldout_losses(source, data, seed=2)["reconstruction"] != result["reconstruction"]
