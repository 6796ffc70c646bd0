"""Objective values and gradients at hand-picked points, and the capacity schedule."""

import numpy as np
import pytest
import tensorflow as tf

from tfbvae.model.objectives import (
    BetaObjective,
    CapacityObjective,
    HingeCapacityObjective,
    capacity_schedule,
    get_objective,
)


def value_and_grads(objective, recon, kl, c):
    recon, kl, c = (tf.Variable(float(v)) for v in (recon, kl, c))
    with tf.GradientTape() as tape:
        loss, reg = objective(recon, kl, c)
    grads = tape.gradient(loss, [recon, kl, c])
    return float(loss), float(reg), [0.0 if g is None else float(g) for g in grads]


@pytest.mark.parametrize(
    "objective, kl, c, loss, d_kl, d_c",
    [
        (BetaObjective(4.0), 3.0, 10.0, 100 + 12.0, 4.0, 0.0),
        (CapacityObjective(1000.0), 3.0, 10.0, 100 + 7000.0, -1000.0, 1000.0),  # KL < C
        (CapacityObjective(1000.0), 12.0, 10.0, 100 + 2000.0, 1000.0, -1000.0),  # KL > C
        (CapacityObjective(1000.0), 10.0, 10.0, 100.0, 0.0, 0.0),  # KL = C: subgradient 0
        (HingeCapacityObjective(1000.0), 3.0, 10.0, 100.0, 0.0, 0.0),  # KL < C costs nothing
        (HingeCapacityObjective(1000.0), 12.0, 10.0, 100 + 2000.0, 1000.0, -1000.0),
        (HingeCapacityObjective(1000.0), 10.0, 10.0, 100.0, 0.0, 0.0),
    ],
)
def test_value_and_gradient(objective, kl, c, loss, d_kl, d_c):
    got_loss, got_reg, (d_recon, got_d_kl, got_d_c) = value_and_grads(objective, 100.0, kl, c)
    assert got_loss == pytest.approx(loss)
    assert got_reg == pytest.approx(loss - 100.0)
    assert d_recon == 1.0
    assert (got_d_kl, got_d_c) == (pytest.approx(d_kl), pytest.approx(d_c))


def test_beta_one_is_the_negative_elbo():
    loss, _, grads = value_and_grads(BetaObjective(1.0), 2839.0, 25.0, 0.0)
    assert loss == -(-(2839.0 + 25.0))
    assert grads == [1.0, 1.0, 0.0]


def test_lookup_config_and_validation():
    obj = get_objective("hinge", gamma=10.0)
    assert isinstance(obj, HingeCapacityObjective) and obj.uses_capacity
    assert not get_objective("beta").uses_capacity
    assert type(obj).from_config(obj.get_config()).gamma == 10.0
    with pytest.raises(ValueError, match="beta must be >= 0"):
        BetaObjective(-1.0)
    # 0 is allowed (beta = 0: a plain autoencoder's loss; gamma = 0: no capacity pressure).
    assert BetaObjective(0.0).beta == 0.0 and CapacityObjective(0.0).gamma == 0.0
    assert BetaObjective(0.5).beta == 0.5
    # Burgess et al. 2018 train dSprites with gamma = 1000.
    assert CapacityObjective().gamma == 1000.0 and HingeCapacityObjective().gamma == 1000.0
    with pytest.raises(ValueError, match="Unknown objective 'factor'.*beta.*capacity.*hinge"):
        get_objective("factor")


def test_capacity_schedule_numbers_arrays_and_tensors():
    assert capacity_schedule(0, 25.0, 100_000) == 0.0
    assert capacity_schedule(50_000, 25.0, 100_000) == 12.5
    assert capacity_schedule(100_000, 25.0, 100_000) == 25.0
    assert capacity_schedule(250_000, 25.0, 100_000) == 25.0  # held at C_max
    assert capacity_schedule(7, 25.0, 0) == 25.0  # no ramp
    assert capacity_schedule(0, 25.0, 0) == 25.0  # ... already at the first step (not 0/0)
    assert capacity_schedule(0, 25.0, 1) == 0.0  # a one-step ramp still starts at 0
    assert capacity_schedule(1, 25.0, 1) == 25.0
    steps = np.array([0, 1, 40_000, 10**6])
    np.testing.assert_allclose(capacity_schedule(steps, 25.0, 100_000), [0, 2.5e-4, 10, 25])
    tensor = capacity_schedule(tf.constant(steps), 25.0, 100_000)
    assert tensor.dtype == tf.float32
    np.testing.assert_allclose(tensor, [0, 2.5e-4, 10, 25], rtol=1e-6)
    np.testing.assert_array_equal(capacity_schedule(tf.constant([0, 3]), 25.0, 0), [25.0, 25.0])
    np.testing.assert_array_equal(capacity_schedule(tf.constant([0, 1]), 25.0, 1), [0.0, 25.0])
