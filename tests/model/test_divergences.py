"""The closed-form Gaussian KL against a Monte Carlo estimate."""

import numpy as np

from tfbvae.model.divergences import gaussian_kl_per_dim


def _log_normal(z, mean, log_var):
    return -0.5 * (np.log(2 * np.pi) + log_var + (z - mean) ** 2 / np.exp(log_var))


def test_kl_matches_monte_carlo_per_dimension_and_summed():
    rng = np.random.default_rng(0)
    mean = np.array([0.0, 1.5, -0.7, 0.3, 2.0])
    log_var = np.array([0.0, -1.0, 0.8, -3.0, 0.5])
    n = 400_000
    z = mean + np.exp(0.5 * log_var) * rng.standard_normal((n, mean.size))
    # log q(z) - log p(z), per dimension: an unbiased estimate of each dimension's KL.
    samples = _log_normal(z, mean, log_var) - _log_normal(z, 0.0, 0.0)
    mc = samples.mean(0)
    stderr = samples.std(0) / np.sqrt(n)
    closed = np.asarray(gaussian_kl_per_dim(mean[None], log_var[None]))[0]
    assert closed[0] == 0.0  # N(0, 1) against itself
    np.testing.assert_array_less(np.abs(closed - mc), 4 * stderr + 1e-12)
    total = samples.sum(1)
    assert abs(closed.sum() - total.mean()) < 4 * total.std() / np.sqrt(n)


def test_kl_is_non_negative_and_batched():
    rng = np.random.default_rng(1)
    mean, log_var = rng.normal(size=(2, 8, 6))
    kl = np.asarray(gaussian_kl_per_dim(mean, log_var))
    assert kl.shape == (8, 6)
    assert (kl >= 0).all()
