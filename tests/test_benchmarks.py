"""Smoke tests of the benchmarks' code paths (tiny windows, no timing assertions), and a check
that the PyTorch reference computes the same loss as tfbvae for the same weights."""

import importlib.util
import os

import numpy as np
import pytest

from benchmarks import _timing

HAS_TORCH = importlib.util.find_spec("torch") is not None
# The README's test command (and so CI) installs torch; elsewhere the comparison skips, except
# under CI, where a missing torch fails instead of hiding the comparison.
needs_torch = pytest.mark.skipif(
    not HAS_TORCH and not os.environ.get("CI"),
    reason="torch is not installed: pip install -e '.[bench]' torch==2.13.0",
)
TINY = ["--windows", "1", "--window_seconds", "0.05", "--warmup_steps", "1", "--max_tries", "1"]


def window(items, seconds, noisy=False):
    return _timing.Window(items, seconds, 0.5 if noisy else 0.0, noisy, 1)


def test_summary_prefers_clean_windows_and_ratio_pairs_rounds():
    runs = [window(100, 1.0), window(300, 1.0, noisy=True), window(120, 1.0), window(110, 1.0)]
    s = _timing.summarize(runs)
    assert (s.median, s.min, s.max, s.windows, s.noisy) == (110, 100, 120, 4, 1)
    # Rates 100/50, 300/100, 120/40: per-round ratios 2, 3, 3.
    a = [window(100, 1), window(300, 1), window(120, 1)]
    b = [window(50, 1), window(100, 1), window(40, 1)]
    assert _timing.median_ratio(a, b) == 3.0


def test_noise_meter_counts_other_processes_not_its_own():
    """The share is (busy - own) / capacity, computed from two snapshots (no dependence on
    what else the machine runs): a meter that forgot to subtract its own work, or divided by
    one CPU instead of all, gives other numbers here."""
    ticks = _timing.CLOCK_TICKS * _timing.NUM_CPUS  # one second of the whole machine
    before = _timing.CpuSnapshot(wall=10.0, busy=1000, own=200)
    half_busy_by_others = _timing.CpuSnapshot(wall=12.0, busy=1000 + ticks, own=200 + ticks // 2)
    assert _timing.NoiseMeter.other_share(before, half_busy_by_others) == pytest.approx(
        (ticks - ticks // 2) / (2 * ticks))
    all_ours = _timing.CpuSnapshot(wall=11.0, busy=1000 + ticks // 2, own=200 + ticks // 2)
    assert _timing.NoiseMeter.other_share(before, all_ours) == 0.0
    unknown = _timing.CpuSnapshot(wall=11.0, busy=None, own=300)
    assert _timing.NoiseMeter.other_share(before, unknown) is None

    meter = _timing.NoiseMeter()
    start = meter.snapshot()
    sum(i * i for i in range(3_000_000))  # our own work: CPU time of this process
    end = meter.snapshot()
    if end.busy is not None:  # Linux (/proc): the meter sees this process's own ticks
        assert end.own > start.own


@needs_torch
def test_torch_reference_computes_tfbvae_loss_for_the_same_weights():
    import keras
    import torch

    from benchmarks.torch_reference import BurgessVAE, capacity_loss, load_keras_weights
    from tfbvae.model.beta_vae import BetaVAE
    from tfbvae.model.networks import build_networks
    from tfbvae.model.objectives import CapacityObjective

    rng = np.random.default_rng(0)
    images = (rng.random((4, 64, 64, 1)) < 0.1).astype(np.uint8) * 255
    eps = rng.normal(size=(4, 10)).astype(np.float32)

    class FixedNoise(BetaVAE):
        def sample_noise(self, shape):
            return keras.ops.convert_to_tensor(eps)

    model = FixedNoise(*build_networks("burgess", (64, 64, 1), 10), objective=CapacityObjective(1000.0))
    model.capacity.assign(3.0)
    terms = model.compute_terms(images)
    reference = BurgessVAE(10, 1)
    load_keras_weights(reference, model.encoder, model.decoder)
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)) / np.float32(255))
    with torch.no_grad():
        out = capacity_loss(x, *reference(x, torch.from_numpy(eps)), capacity=3.0, gamma=1000.0)
    for name in ("loss", "reconstruction", "kl"):
        np.testing.assert_allclose(float(out[name]), float(terms[name]), rtol=1e-4)


def test_bench_train_runs_its_contenders():
    from benchmarks import bench_train

    contenders = ["--tf", "a:steps_per_execution=2,phase_split=0"]
    torch_flags = [] if HAS_TORCH else ["--no_torch"]
    report = bench_train.main(
        TINY + contenders + torch_flags
        + ["--batch_size", "4", "--dataset_size", "32", "--peak_seconds", "0.01"]
    )  # fmt: skip
    expected = {"a"} | ({"torch_eager"} if HAS_TORCH else set())
    assert set(report["contenders"]) == expected
    for row in report["contenders"].values():
        assert row["median"] > 0 and row["windows"] == 1
    assert report["peak_gflops"] > 0
    reference = "torch_eager" if HAS_TORCH else "a"
    assert report["contenders"][reference]["ratio_to_reference"] == 1.0


def test_bench_serving_loads_the_export_and_serves():
    from benchmarks import bench_serving

    torch_flags = [] if HAS_TORCH else ["--no_torch"]
    report = bench_serving.main(TINY + ["--batch_size", "8", "--peak_seconds", "0.01"] + torch_flags)
    assert report["contenders"]["savedmodel"]["median"] > 0
    assert HAS_TORCH == ("torch_inference" in report["contenders"])


@pytest.mark.slow  # three fresh processes per case; the other benchmarks' tests stay in the default suite
def test_bench_startup_reaches_every_milestone():
    from benchmarks import bench_startup

    cases = "train,serve,torch_serve" if HAS_TORCH else "train,serve"
    report = bench_startup.main(["--rounds", "1", "--cases", cases, "--batch_size", "4"])
    assert set(report["cases"]["train"]["marks"]) == {"imported", "built", "first_step"}
    assert set(report["cases"]["serve"]["marks"]) == {"imported", "loaded", "first_batch"}
    for case in report["cases"].values():
        assert case["peak_rss_mb"] > 0
