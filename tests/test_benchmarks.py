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


def _network_available(name: str) -> bool:
    from tfbvae.model.networks import NETWORKS

    return name in NETWORKS


def _flagfile_values(path) -> dict:
    """``--key=value`` lines of a flagfile (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("--") and "=" in line:
            key, value = line[2:].split("=", 1)
            values[key] = value
    return values


@pytest.mark.parametrize("name", ["dsprites", "celeba", "locatello"])
def test_bench_train_settings_are_their_flagfiles(name):
    """Each setting trains what its flagfile says (the app's defaults for what the file leaves
    out: dlib_annealed_vae.flags names no data set), so a setting's row measures what a user of
    that flagfile runs."""
    import dataclasses

    from benchmarks import bench_train
    from tfbvae.files import repo_root
    from tfbvae.training.settings import Settings

    setting = bench_train.SETTINGS[name]
    defaults = {f.name: str(f.default) for f in dataclasses.fields(Settings)}
    flags = defaults | _flagfile_values(repo_root() / setting.flagfile)
    assert flags["dataset"] == ("celeba" if name == "celeba" else "dsprites")
    assert flags["objective"] == "capacity"
    assert int(flags["batch_size"]) == 64  # bench_train's default --batch_size
    assert setting.network == flags["network"]
    assert setting.image_shape == (int(flags["image_size"]),) * 2 + (int(flags["channels"]),)
    assert setting.latent_dim == int(flags["latent_dim"])
    assert setting.likelihood == flags["likelihood"]
    if setting.likelihood == "gaussian":
        assert setting.gaussian_sigma == float(flags["gaussian_sigma"])
    assert (setting.gamma, setting.c_max, setting.c_stop_steps, setting.learning_rate) == (
        float(flags["gamma"]), float(flags["c_max"]), int(flags["c_stop_steps"]),
        float(flags["learning_rate"]),
    )  # fmt: skip


def _multiply_adds(model) -> tuple[float, float]:
    """Multiply-adds per image of a Keras encoder or decoder: (all, its first layer's)."""
    from keras import layers

    counts = []
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            counts.append(layer.kernel.shape[0] * layer.kernel.shape[1])
        elif isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose)):
            kh, kw = layer.kernel_size
            # Conv2D: every output pixel and channel reads kh*kw*C_in inputs; a transposed one
            # spreads every input pixel and channel over kh*kw*C_out outputs.
            pixels = np.prod((layer.input if isinstance(layer, layers.Conv2DTranspose)
                              else layer.output).shape[1:3])  # fmt: skip
            counts.append(pixels * kh * kw * layer.kernel.shape[2] * layer.kernel.shape[3])
    return float(sum(counts)), float(counts[0])


@pytest.mark.parametrize("name", ["dsprites", "celeba", "locatello"])
def test_bench_train_flop_counts_are_the_networks(name):
    """The analytic FLOP constants (written out in bench_train's comment) agree with a count
    over the Keras network's layers, to the constants' rounding."""
    from benchmarks import bench_train
    from tfbvae.model.networks import build_networks

    setting = bench_train.SETTINGS[name]
    if not _network_available(setting.network):
        pytest.skip(f"tfbvae has no {setting.network!r} network yet")
    encoder, decoder = build_networks(setting.network, setting.image_shape, setting.latent_dim)
    (enc, first), (dec, _) = _multiply_adds(encoder), _multiply_adds(decoder)
    assert setting.forward_flop_per_image == pytest.approx(2 * (enc + dec), rel=2e-3)
    assert setting.train_flop_per_image == pytest.approx(2 * (3 * (enc + dec) - first), rel=2e-3)


@needs_torch
@pytest.mark.parametrize("name", ["dsprites", "celeba", "locatello"])
def test_torch_reference_is_the_keras_network(name):
    """What makes the comparison fair: for each setting the reference has as many parameters as
    tfbvae's network and, with tfbvae's weights copied in, computes the same posterior, the
    same logits and the same loss terms (the setting's likelihood) on one batch."""
    import keras
    import torch

    from benchmarks import bench_train
    from benchmarks.torch_reference import NETWORKS, capacity_loss, load_keras_weights
    from tfbvae.model.beta_vae import BetaVAE
    from tfbvae.model.likelihoods import get_likelihood
    from tfbvae.model.networks import build_networks
    from tfbvae.model.objectives import CapacityObjective

    setting = bench_train.SETTINGS[name]
    if not _network_available(setting.network):
        pytest.skip(f"tfbvae has no {setting.network!r} network yet")
    rng = np.random.default_rng(0)
    images = bench_train.synthetic_images(4, shape=setting.image_shape)
    images[:, ::7] = rng.integers(0, 256, size=images[:, ::7].shape, dtype=np.uint8)
    eps = rng.normal(size=(4, setting.latent_dim)).astype(np.float32)

    class FixedNoise(BetaVAE):
        def sample_noise(self, shape):
            return keras.ops.convert_to_tensor(eps)

    keras.utils.set_random_seed(0)
    encoder, decoder = build_networks(setting.network, setting.image_shape, setting.latent_dim)
    for layer in encoder.layers + decoder.layers:  # non-zero biases, so that their order counts
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(scale=0.05, size=layer.bias.shape).astype(np.float32))
    sigma = {"sigma": setting.gaussian_sigma} if setting.likelihood == "gaussian" else {}
    likelihood = get_likelihood(setting.likelihood, **sigma)
    model = FixedNoise(encoder, decoder, likelihood, CapacityObjective(setting.gamma))
    model.capacity.assign(3.0)
    reference = NETWORKS[setting.network](setting.latent_dim, setting.image_shape[-1])

    keras_params = encoder.count_params() + decoder.count_params()
    assert sum(p.numel() for p in reference.parameters()) == keras_params

    load_keras_weights(reference, encoder, decoder)
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)) / np.float32(255))
    with torch.no_grad():
        mu, logvar = reference.encode(x)
        logits, _, _ = reference(x, torch.from_numpy(eps))
        out = capacity_loss(
            x, logits, mu, logvar, capacity=3.0, gamma=setting.gamma,
            likelihood=setting.likelihood, sigma=setting.gaussian_sigma,
        )  # fmt: skip
    mean, log_var = model.encode(images)
    np.testing.assert_allclose(mu.numpy(), mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logvar.numpy(), log_var, rtol=1e-4, atol=1e-5)
    z = mean + np.exp(0.5 * np.asarray(log_var)) * eps
    keras_logits = np.asarray(model.decode(z)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(logits.numpy(), keras_logits, rtol=1e-4, atol=1e-4)
    terms = model.compute_terms(images)
    for term in ("loss", "reconstruction", "kl"):
        np.testing.assert_allclose(float(out[term]), float(terms[term]), rtol=1e-4)


@pytest.mark.parametrize("channels", [1, 3])
def test_subpixel_logits_variant_is_the_same_layer(channels):
    """bench_train's logits=subpixel contender (the library's sub-pixel form for any number of
    channels) computes the decoder's last layer (forward and gradients) as Keras'
    Conv2DTranspose does, so its row measures the same network."""
    import functools

    import tensorflow as tf

    from tfbvae.model.conv_transpose import phase_conv_transpose

    subpixel_conv_transpose = functools.partial(phase_conv_transpose, subpixel=True)

    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((2, 8, 8, 5)), tf.float32)
    kernel = tf.constant(rng.normal(size=(4, 4, channels, 5)), tf.float32)
    shape = (2, 16, 16, channels)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, kernel])
        ours = subpixel_conv_transpose(x, kernel)
        theirs = tf.nn.conv2d_transpose(x, kernel, shape, strides=2, padding="SAME")
        weights = tf.constant(rng.normal(size=shape), tf.float32)
        loss_ours, loss_theirs = tf.reduce_sum(ours * weights), tf.reduce_sum(theirs * weights)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    for a, b in zip(tape.gradient(loss_ours, [x, kernel]), tape.gradient(loss_theirs, [x, kernel])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


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


@pytest.mark.parametrize("name", ["celeba", "locatello"])
def test_bench_train_runs_each_setting(name):
    """Smoke run of the other flagfiles' settings: tfbvae's network and the torch reference of
    it train side by side (no timings asserted)."""
    from benchmarks import bench_train

    if not _network_available(bench_train.SETTINGS[name].network):
        pytest.skip(f"tfbvae has no {bench_train.SETTINGS[name].network!r} network yet")
    torch_flags = [] if HAS_TORCH else ["--no_torch"]
    report = bench_train.main(
        TINY + torch_flags + ["--setting", name, "--batch_size", "4", "--dataset_size", "16",
                              "--peak_seconds", "0"]
    )  # fmt: skip
    assert report["setting"] == name
    assert set(report["contenders"]) == {"tfbvae"} | ({"torch_eager"} if HAS_TORCH else set())
    for row in report["contenders"].values():
        assert row["median"] > 0 and row["windows"] == 1


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
