"""Likelihoods against tf.nn / numpy, with the reductions the beta trade-off needs."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfbvae.model.likelihoods import BernoulliLikelihood, GaussianLikelihood, get_likelihood


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    images = (rng.random((3, 8, 8, 2)) > 0.5).astype(np.float32)
    logits = rng.normal(scale=3.0, size=images.shape).astype(np.float32)
    return images, logits


def test_bernoulli_equals_sigmoid_cross_entropy_summed_over_pixels(batch):
    images, logits = batch
    expected = tf.reduce_sum(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits), axis=[1, 2, 3]
    )
    got = BernoulliLikelihood().neg_log_likelihood(images, logits)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_bernoulli_is_stable_for_extreme_logits():
    images = np.array([[[[0.0], [1.0]]]], np.float32)
    logits = np.array([[[[1e4], [-1e4]]]], np.float32)
    np.testing.assert_allclose(BernoulliLikelihood().neg_log_likelihood(images, logits), [2e4])


def test_gaussian_equals_numpy_log_density(batch):
    images, logits = batch
    images = images * 0.8 + 0.1
    sigma = 0.3
    mu = 1 / (1 + np.exp(-logits.astype(np.float64)))
    log_density = -0.5 * np.log(2 * np.pi * sigma**2) - (images - mu) ** 2 / (2 * sigma**2)
    expected = -log_density.sum(axis=(1, 2, 3))
    got = GaussianLikelihood(sigma).neg_log_likelihood(images, logits)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_reconstruction_is_a_sum_over_pixels_not_a_mean():
    # An untrained Bernoulli decoder (logits 0) on a 64x64 binary image costs 4096 ln 2 nats,
    # not ln 2: a per-pixel mean would give 0.69 and shrink the reconstruction term 4096-fold.
    images = np.ones((2, 64, 64, 1), np.float32)
    nll = BernoulliLikelihood().neg_log_likelihood(images, np.zeros_like(images))
    np.testing.assert_allclose(nll, [4096 * math.log(2)] * 2, rtol=1e-5)
    # Gaussian: channels count too, and the normalising constant is included.
    rgb = np.full((1, 64, 64, 3), 0.5, np.float32)
    nll = GaussianLikelihood(1.0).neg_log_likelihood(rgb, np.zeros_like(rgb))
    np.testing.assert_allclose(nll, [64 * 64 * 3 * 0.5 * math.log(2 * math.pi)], rtol=1e-5)


def test_means_are_images_in_unit_interval(batch):
    _, logits = batch
    for likelihood in (BernoulliLikelihood(), GaussianLikelihood(0.1)):
        mean = np.asarray(likelihood.mean(logits))
        assert mean.min() >= 0 and mean.max() <= 1


def test_lookup_and_bad_arguments():
    assert isinstance(get_likelihood("gaussian", sigma=0.5), GaussianLikelihood)
    assert GaussianLikelihood().sigma == 1.0  # the documented default
    with pytest.raises(ValueError, match="Unknown likelihood 'poisson'.*bernoulli"):
        get_likelihood("poisson")
    with pytest.raises(ValueError, match="sigma must be > 0"):
        GaussianLikelihood(0.0)
