"""The study's capacity checks (tfbvae.study.tracking) on series whose answers are known."""

import pytest
import tensorflow as tf

from tfbvae.study import tracking
from tfbvae.training.tags import scalar_tag


def test_kl_minus_c_averages_the_last_tenth_and_bounds_the_rest():
    steps = 100
    capacity = [(s, s / 10) for s in range(10, 101, 10)]  # C = step / 10
    offsets = {10: -5.0, 20: 0.5, 30: -0.25, 80: 2.0, 90: 0.5, 100: -0.25}  # KL - C per step
    kl = [(s, c + offsets.get(s, 0.0)) for s, c in capacity]
    result = tracking.kl_minus_c(kl, capacity, steps)
    assert result["last_tenth_mean"] == pytest.approx(-0.25)  # only step 100 is past 90
    assert result["max_abs_after_first_tenth"] == pytest.approx(2.0)  # step 10's -5 is the start
    assert tracking.kl_minus_c(kl[:1], capacity, steps) == {
        "last_tenth_mean": None, "max_abs_after_first_tenth": None}


def test_switch_on_orders_latents_by_their_first_step_above_a_tenth_of_a_nat():
    per_dim = {
        0: [(10, 0.0), (20, 0.05), (30, 0.3)],
        1: [(10, 0.2), (20, 1.0), (30, 2.0)],
        2: [(10, 0.0), (20, 0.0), (30, 0.1)],  # exactly 0.1 is not above it: never
        3: [(10, 0.0), (20, 0.11), (30, 0.0)],  # switched on, then off again: still step 20
    }
    assert tracking.switch_on(per_dim) == [(1, 10), (3, 20), (0, 30), (2, None)]


def test_total_kl_sums_the_dimensions_at_the_steps_all_of_them_logged():
    per_dim = {0: [(10, 1.0), (20, 2.0)], 1: [(10, 0.5), (20, 0.25), (30, 9.0)]}
    assert tracking.total_kl(per_dim) == [(10, 1.5), (20, 2.25)]


def write_scalars(log_dir, series: dict[str, list[tuple[int, float]]]) -> None:
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for tag, points in series.items():
            for step, value in points:
                tf.summary.scalar(tag, value, step=step)
    writer.close()


def test_a_runs_logs_give_its_tracking_and_a_beta_run_has_no_capacity_check(tmp_path):
    capacity = [(s, s / 1000) for s in range(100, 1001, 100)]  # C = step / 1000
    write_scalars(tmp_path / "capacity" / "logs" / "train", {
        scalar_tag("kl_0"): [(s, 0.7 * c) for s, c in capacity],
        scalar_tag("kl_1"): [(s, 0.3 * c + (0.5 if s == 1000 else 0.0)) for s, c in capacity],
        scalar_tag("kl_2"): [(s, 0.0) for s, _ in capacity],
        scalar_tag("capacity"): capacity,
    })
    found = tracking.tracking_of_run(tmp_path / "capacity", latent_dim=3, objective="capacity", steps=1000)
    assert found["kl_minus_c"]["last_tenth_mean"] == pytest.approx(0.5)
    assert found["kl_minus_c"]["max_abs_after_first_tenth"] == pytest.approx(0.5)
    assert found["switch_on"] == [(0, 200), (1, 400), (2, None)]  # 0.7*0.2, 0.3*0.4 > 0.1

    hinge = tracking.tracking_of_run(tmp_path / "capacity", 3, "hinge", 1000)
    assert hinge["kl_minus_c"] == found["kl_minus_c"]  # the hinge's C is checked too
    # A beta run logs a C (2 here) that means nothing: it has no capacity check.
    write_scalars(tmp_path / "beta" / "logs" / "train", {
        scalar_tag("kl_0"): [(100, 3.0)], scalar_tag("capacity"): [(100, 2.0)]})
    assert tracking.tracking_of_run(tmp_path / "beta", 1, "beta", 100) == {
        "kl_minus_c": None, "switch_on": [(0, 100)]}
    assert tracking.tracking_of_run(tmp_path / "never_ran", 1, "capacity", 100) == {}
