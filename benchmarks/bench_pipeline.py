"""Input pipelines: images/second of each one, against the training step's rate, and peak memory.

    python -m benchmarks.bench_pipeline                    # full dSprites, 2000 JPEGs per folder
    python -m benchmarks.bench_pipeline --train_rate 200   # skip measuring the training step
    python -m benchmarks.bench_pipeline --tiny             # seconds-long smoke run

Measured in one run, on this machine:
  * the training step: a Burgess beta-VAE (64x64x1, 10 latents, capacity objective) trained
    with ``fit`` on in-memory uint8 batches, images/s (or ``--train_rate``, e.g. the figure of
    ``benchmarks/bench_train.py``; about 375 images/s on a 2-core CPU);
  * dSprites: rendering the full set into a fresh cache (seconds, size on disk), the training
    pipeline's images/s from that cache, and the peak RSS of a process that iterates one full
    epoch of it (in a subprocess, so nothing else counts towards the peak);
  * a folder of JPEGs made on the fly (nested, 256x256) and a CelebA-like folder (178x218
    JPEGs, 148 crop): one-time pre-processing images/s, then the pipeline's images/s.
Each pipeline's rate is divided by the training rate; the target is >= 50x (the pipeline is
then never the bottleneck), and peak memory for dSprites < 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import tfbvae  # noqa: F401  (sets TensorFlow's environment before TF is imported)

TARGET_RATIO = 50.0
RSS_LIMIT_MB = 4096.0


def pipeline_rate(dataset, batch_size: int, seconds: float, warmup: int = 5) -> float:
    """Images/s of iterating ``dataset`` (batches of ``batch_size``) for about ``seconds``."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count == 0:
        next(iterator)
        count += 1
    return count * batch_size / (time.perf_counter() - start)


def training_rate(batch_size: int, warmup_steps: int, steps: int) -> float:
    """Images/s of ``fit`` on the Burgess beta-VAE (capacity objective), fed uint8 batches."""
    import keras
    import tensorflow as tf

    from tfbvae import BetaVAE, CapacityObjective, build_networks

    model = BetaVAE(*build_networks("burgess", (64, 64, 1), 10), objective=CapacityObjective(1000.0), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(5e-4))
    rng = np.random.default_rng(0)
    images = (rng.random((8 * batch_size, 64, 64, 1)) < 0.05).astype(np.uint8) * 255
    data = tf.data.Dataset.from_tensor_slices(images).batch(batch_size, drop_remainder=True)
    data = data.repeat().prefetch(2)
    model.fit(data, steps_per_epoch=warmup_steps, epochs=1, verbose=0, shuffle=False)  # traces
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return steps * batch_size / (time.perf_counter() - start)


def make_jpegs(root: Path, count: int, height: int, width: int, nested: bool, seed: int) -> None:
    """``count`` smooth random JPEGs (upsampled noise, like photos in their compressibility)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k in range(count):
        folder = root / f"group_{k % 10:02d}" / "renders" if nested else root
        folder.mkdir(parents=True, exist_ok=True)
        small = Image.fromarray(rng.integers(0, 256, (12, 10, 3)).astype(np.uint8))
        small.resize((width, height), Image.Resampling.BICUBIC).save(folder / f"{k:06d}.jpg", quality=90)


def rss_child(cache_root: str, num_images: int, batch_size: int) -> None:
    """Iterates one training epoch of the cached dSprites set; prints images, seconds, peak RSS."""
    from tfbvae.data.datasets import LoadOptions, dsprites
    from tfbvae.data.pipeline import train_dataset

    source = dsprites.load_base(LoadOptions(data_dir=cache_root, num_images=num_images))
    dataset = train_dataset(source, np.arange(source.num_examples), batch_size, seed=0)
    steps = source.num_examples // batch_size
    start = time.perf_counter()
    for _ in dataset.take(steps):
        pass
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"images": steps * batch_size, "seconds": seconds, "peak_rss_mb": peak_mb}))


def run(args) -> dict:
    from tfbvae.data.datasets import celeba, image_folder
    from tfbvae.data.datasets import LoadOptions, dsprites
    from tfbvae.data.dsprites import sources as dsprites_sources
    from tfbvae.data.pipeline import ImageSource, datasets_from_source

    work = Path(args.workdir)
    results: dict = {"batch_size": args.batch_size}
    print(f"# work dir {work}; batch size {args.batch_size}; {os.cpu_count()} CPUs")

    if args.train_rate:
        train = args.train_rate
        print(f"training step (given):                 {train:10.1f} images/s")
    else:
        train = training_rate(args.batch_size, args.train_warmup_steps, args.train_steps)
        print(f"training step (Burgess net, fit):      {train:10.1f} images/s")
    results["train_images_per_second"] = train

    # dSprites: a fresh render into an empty cache, then the pipeline from it.
    start = time.perf_counter()
    arrays = dsprites_sources.load_rendered(work / "cache", args.dsprites_images)
    render_s = time.perf_counter() - start
    size = Path(arrays.location, "data.npy").stat().st_size
    print(f"dSprites render + cache ({arrays.num_images} images): {render_s:6.1f} s, {size / 1e6:.1f} MB on disk")
    results["dsprites_render_seconds"] = render_s
    results["dsprites_cache_bytes"] = size
    rates = {}
    source = dsprites.load_base(LoadOptions(data_dir=work / "cache", num_images=args.dsprites_images))
    dsprites_train, _, _ = datasets_from_source(source, args.batch_size)
    rates["dsprites (rendered cache)"] = pipeline_rate(dsprites_train, args.batch_size, args.seconds)

    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--rss_child", str(work / "cache"),
         "--dsprites_images", str(args.dsprites_images), "--batch_size", str(args.batch_size)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    epoch = json.loads(child.stdout.strip().splitlines()[-1])
    results["dsprites_full_epoch"] = epoch

    # Folders of JPEGs: pre-processed once (timed), then served from the cache.
    for name, height, width, nested in [("jpeg folder", 256, 256, True), ("celeba-like folder", 218, 178, False)]:
        root = work / name.replace(" ", "_")
        make_jpegs(root, args.jpegs, height, width, nested, seed=len(name))
        start = time.perf_counter()
        if name.startswith("celeba"):
            loaded = celeba.load_celeba(source="folder", path=root, data_dir=work / "cache")
        else:
            loaded = image_folder.load_image_folder(root, data_dir=work / "cache")
        build = loaded.num_images / (time.perf_counter() - start)
        results[f"{name} preprocess images/s"] = build
        print(f"{name}: pre-processing {loaded.num_images} JPEGs once: {build:8.1f} images/s")
        train_ds, _, _ = datasets_from_source(
            ImageSource(name, loaded.images, loaded.source, loaded.location), args.batch_size)
        rates[name] = pipeline_rate(train_ds, args.batch_size, args.seconds)

    print(f"\n{'pipeline':<28} {'images/s':>10} {'x training':>11}  (target >= {TARGET_RATIO:.0f}x)")
    ok = True
    for name, rate in rates.items():
        ratio = rate / train
        ok &= ratio >= TARGET_RATIO
        print(f"{name:<28} {rate:10.0f} {ratio:10.1f}x  {'ok' if ratio >= TARGET_RATIO else 'BELOW TARGET'}")
    rss_ok = epoch["peak_rss_mb"] < RSS_LIMIT_MB
    print(
        f"\ndSprites, one full epoch ({epoch['images']} images) in a fresh process: "
        f"{epoch['images'] / epoch['seconds']:.0f} images/s, peak RSS {epoch['peak_rss_mb']:.0f} MB "
        f"({'ok' if rss_ok else 'ABOVE'} < {RSS_LIMIT_MB:.0f} MB)"
    )
    results["pipelines_images_per_second"] = rates
    results["ratios"] = {k: v / train for k, v in rates.items()}
    results["targets_met"] = bool(ok and rss_ok)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0, help="window per pipeline")
    parser.add_argument("--train_rate", type=float, default=None,
                        help="training images/s to compare with (default: measured on the Burgess "
                        "net; about 375 on a 2-core CPU)")
    parser.add_argument("--train_warmup_steps", type=int, default=5)
    parser.add_argument("--train_steps", type=int, default=30)
    parser.add_argument("--dsprites_images", type=int, default=737280, help="multiple of 1024")
    parser.add_argument("--jpegs", type=int, default=2000, help="JPEGs per generated folder")
    parser.add_argument("--workdir", help="where caches and JPEGs go (default: a temporary "
                        "directory, removed at the end)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--tiny", action="store_true", help="smoke run: small everything")
    parser.add_argument("--rss_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tiny:
        args.seconds, args.dsprites_images, args.jpegs = 0.2, 2048, 12
        args.train_warmup_steps, args.train_steps, args.batch_size = 1, 2, 8
    return args


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    if args.rss_child:
        rss_child(args.rss_child, args.dsprites_images, args.batch_size)
        return None
    if args.workdir:
        return run(args)
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as work:
        args.workdir = work
        return run(args)


if __name__ == "__main__":
    main()
