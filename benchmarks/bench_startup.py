"""Start-up time and peak memory: process start -> first training step, -> first served batch.

    python -m benchmarks.bench_startup                   # tfbvae vs torch, 5 rounds each
    python -m benchmarks.bench_startup --app_steps 200   # + the training app on full dSprites

Each case is a fresh Python process; the clock starts just before the parent spawns it and
each milestone is the wall-clock time at which the child reached it (the same clock, so
milestones include the interpreter's start). Cases alternate round by round (tfbvae, torch,
torch, tfbvae, ...). The peak resident memory of each process comes from ``wait4``; a run in
which other processes used the CPU (``/proc/stat`` minus the child's own CPU time) is flagged.

Cases:
  train        import tfbvae, build the Burgess model, ``fit`` one step (the step is traced)
  serve        import TensorFlow only, load the exported encoder, run one batch of 256
  torch_train  import torch, build the reference and Adam, one training step
  torch_serve  import torch, build the encoder and load its weights from disk, one batch
  app          ``apps/train.py --flagfile=dsprites.flags`` on the full data set for
               ``--app_steps`` steps, with pictures, checkpoints and validation every half
               run, and the export at the end: the peak memory of a real run (the first run
               also renders dSprites into the cache: run it twice to time the cached case)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

from benchmarks import _timing

PREAMBLE = """
import time, sys
def mark(name):
    print("MARK", name, repr(time.time()), flush=True)
"""

TRAIN = """
import numpy as np
import tfbvae
import keras
import tensorflow as tf
from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.networks import build_networks
from tfbvae.model.objectives import CapacityObjective
from tfbvae.training.callbacks import CapacityAnnealing
mark("imported")
model = BetaVAE(*build_networks("burgess", (64, 64, 1), 10), objective=CapacityObjective(1000.0))
model.compile(keras.optimizers.Adam(5e-4))
images = (np.random.default_rng(0).random((BATCH, 64, 64, 1)) < 0.05).astype(np.uint8) * 255
data = tf.data.Dataset.from_tensor_slices(images).repeat().batch(BATCH).prefetch(tf.data.AUTOTUNE)
mark("built")
model.fit(data, steps_per_epoch=1, epochs=1, verbose=0, callbacks=[CapacityAnnealing(25.0, 100000)])
mark("first_step")
"""

SERVE = """
import numpy as np
import tensorflow as tf
mark("imported")
serve = tf.saved_model.load(SAVED_MODEL).signatures["serving_default"]
mark("loaded")
images = tf.constant(np.zeros((256, 64, 64, 1), np.float32))
out = serve(images=images)
out["mean"].numpy()
mark("first_batch")
"""

TORCH_TRAIN = """
import torch
from benchmarks.torch_reference import Trainer
torch.set_num_threads(NUM_CPUS)
mark("imported")
trainer = Trainer()
images = (torch.rand(BATCH, 1, 64, 64) < 0.05).float()
mark("built")
trainer.step(images)
mark("first_step")
"""

TORCH_SERVE = """
import torch
from benchmarks.torch_reference import BurgessVAE
torch.set_num_threads(NUM_CPUS)
mark("imported")
model = BurgessVAE()
model.load_state_dict(torch.load(TORCH_WEIGHTS))
model.eval()
mark("loaded")
with torch.inference_mode():
    mu, logvar = model.encode(torch.zeros(256, 1, 64, 64))
    mu.numpy()
mark("first_batch")
"""


def run_case(name: str, argv: list[str], env: dict | None = None) -> dict:
    """Runs one process; returns its milestones (seconds since spawn), peak RSS and noise."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = _timing.REPO + os.pathsep + full_env.get("PYTHONPATH", "")
    busy0 = _timing._busy_jiffies()
    start = time.time()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, env=full_env, text=True, cwd=_timing.REPO)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.time() - start
    busy1 = _timing._busy_jiffies()
    if status != 0:
        raise RuntimeError(f"case {name!r} failed (status {status}); its stderr is above")
    marks = {}
    for line in out.splitlines():
        if line.startswith("MARK "):
            _, mark, value = line.split()
            marks[mark] = float(value) - start
    other = None
    if busy0 is not None and busy1 is not None:
        own = (usage.ru_utime + usage.ru_stime) * _timing.CLOCK_TICKS
        other = max(0.0, (busy1 - busy0 - own) / (wall * _timing.NUM_CPUS * _timing.CLOCK_TICKS))
    return {"marks": marks, "peak_rss_mb": usage.ru_maxrss / 1024, "other_cpu": other, "wall": wall}


def python_case(source: str, **constants) -> list[str]:
    header = "".join(f"{k} = {v!r}\n" for k, v in constants.items())
    return [sys.executable, "-c", PREAMBLE + header + textwrap.dedent(source)]


def export_encoder(tmp: str) -> str:
    """Exports a tfbvae encoder (done once, untimed); returns its version directory."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_serving", "--worker", "export",
         "--saved_model", os.path.join(tmp, "export")],
        check=True, stdout=subprocess.PIPE, text=True, cwd=_timing.REPO,
        env={**os.environ, "PYTHONPATH": _timing.REPO},
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def save_torch_encoder(tmp: str) -> str:
    """Saves the reference encoder's weights (done once, untimed); returns the file."""
    weights = os.path.join(tmp, "torch_encoder.pt")
    subprocess.run(
        [sys.executable, "-c", "import torch, sys\nfrom benchmarks.torch_reference import "
         "BurgessVAE\ntorch.save(BurgessVAE().state_dict(), sys.argv[1])", weights],
        check=True, cwd=_timing.REPO, env={**os.environ, "PYTHONPATH": _timing.REPO},
    )  # fmt: skip
    return weights


def app_case(args, run_dir: str) -> list[str]:
    flagfile = os.path.join(_timing.REPO, "dsprites.flags")
    every = max(100, args.app_steps // 200 * 100)  # pictures, checkpoints, validation inside
    return [
        sys.executable, os.path.join(_timing.REPO, "apps", "train.py"), f"--flagfile={flagfile}",
        f"--run_dir={run_dir}", f"--steps={args.app_steps}", f"--image_every={every}",
        f"--checkpoint_every={every}", f"--validate_every={every}",
    ]  # fmt: skip


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", default="train,serve,torch_train,torch_serve",
                        help="comma-separated; see the module docstring")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--app_steps", type=int, default=0,
                        help="also run the training app for this many steps (0: don't)")
    parser.add_argument("--noise_threshold", type=float, default=0.05)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)  # fmt: skip

    cases = [c for c in args.cases.split(",") if c]
    print(f"# bench_startup: {_timing.environment_line()}")
    results: dict[str, list[dict]] = {c: [] for c in cases}
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        saved_model = export_encoder(tmp) if "serve" in cases else None
        weights = save_torch_encoder(tmp) if "torch_serve" in cases else None
        sources = {
            "train": python_case(TRAIN, BATCH=args.batch_size),
            "serve": python_case(SERVE, SAVED_MODEL=saved_model),
            "torch_train": python_case(TORCH_TRAIN, BATCH=args.batch_size, NUM_CPUS=_timing.NUM_CPUS),
            "torch_serve": python_case(TORCH_SERVE, TORCH_WEIGHTS=weights, NUM_CPUS=_timing.NUM_CPUS),
        }
        unknown = set(cases) - set(sources)
        if unknown:
            raise SystemExit(f"Unknown cases {sorted(unknown)}: choose from {sorted(sources)}.")
        for i in range(args.rounds):
            for case in cases if i % 2 == 0 else reversed(cases):
                r = run_case(case, sources[case])
                results[case].append(r)
                noisy = r["other_cpu"] is not None and r["other_cpu"] > args.noise_threshold
                marks = ", ".join(f"{k} {v:.2f}s" for k, v in r["marks"].items())
                print(f"  round {i + 1} {case:>12}: {marks}; peak RSS {r['peak_rss_mb']:.0f} MB"
                      f"{' NOISY' if noisy else ''}")  # fmt: skip
        if args.app_steps:
            run_dir = os.path.join(tmp, "app_run")
            r = run_case("app", app_case(args, run_dir))
            results["app"] = [r]
            print(f"  app ({args.app_steps} steps): {r['wall']:.1f}s, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip

    print(f"\n{'case':>12}  {'milestone':>12}  {'seconds: median (min, max)':<28} {'peak RSS MB':>11}")
    table = {}
    for case, runs in results.items():
        table[case] = {"peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "marks": {}}
        for mark in runs[0]["marks"]:
            values = [r["marks"][mark] for r in runs]
            med = statistics.median(values)
            table[case]["marks"][mark] = {"median": med, "min": min(values), "max": max(values)}
            print(f"{case:>12}  {mark:>12}  {med:6.2f} ({min(values):.2f}, {max(values):.2f})"
                  f"{'':<12} {table[case]['peak_rss_mb']:11.0f}")  # fmt: skip
        if case == "app":
            print(f"{case:>12}  {'whole run':>12}  {runs[0]['wall']:6.2f}{'':<22} "
                  f"{table[case]['peak_rss_mb']:11.0f}")  # fmt: skip
    report = {"environment": _timing.environment_line(), "cases": table}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
