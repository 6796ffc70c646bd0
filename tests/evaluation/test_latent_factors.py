"""Naming the factor each latent encodes (tfbvae.evaluation.latent_factors) on codes whose answer is known."""

import numpy as np
import pytest

from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation.latent_factors import label, latent_factors


def test_each_latent_is_named_after_the_factor_it_copies_and_quiet_ones_are_unused():
    data = IdentityObservationsData((3, 6, 10))
    names = list(data.factor_names)
    # z0 copies factor 2, z1 is a monotone function of factor 0, z2 is noise, z3 copies factor 1.
    def representation(x):
        noise = np.random.RandomState(len(x)).normal(size=len(x))
        return np.stack([x[:, 2], np.exp(x[:, 0]), noise, x[:, 1]], axis=1)

    records = latent_factors(data, representation, kl_per_dim=[3.0, 2.0, 0.01, 1.0],
                             num_points=3000, seed=0)
    assert [r["dim"] for r in records] == [0, 1, 2, 3]
    assert [r["factor"] for r in records] == [names[2], names[0], None, names[1]]
    for record in (records[0], records[1], records[3]):
        assert record["normalized_mi"] == pytest.approx(1.0, abs=1e-9)
    assert records[2]["normalized_mi"] < 0.05 and label(records[2]) == "unused"
    assert label(records[0]) == f"{names[2]} 1.00"
    assert label({"factor": "posX", "normalized_mi": 0.714}) == "pos x 0.71"
    with pytest.raises(ValueError, match="kl_per_dim has 3 values"):
        latent_factors(data, representation, kl_per_dim=[1.0, 1.0, 1.0], num_points=100)
