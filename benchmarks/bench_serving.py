"""Serving throughput: the exported encoder SavedModel against the PyTorch reference's encoder.

    python -m benchmarks.bench_serving             # batch 256, SavedModel vs torch inference_mode

A Burgess model is exported once with ``tfbvae.serving.export.export_model``; each TF contender is a
process that imports TensorFlow alone (as TensorFlow Serving or a user's program would), loads
the SavedModel with ``tf.saved_model.load`` and calls its ``serving_default`` signature (a
concrete function) on float32 batches, fetching ``mean``, ``log_var`` and ``stddev`` as numpy.
The reference runs ``BurgessVAE.encode`` (and the same stddev) under ``torch.inference_mode``.
Contenders take turns window by window (see ``_timing.py``).

TF contender options (``--tf NAME:key=value,...``; the first is the headline):
  mode=savedmodel|keras (keras: the in-memory model's eager ``encode``, no tf.function),
  onednn=1|0|default (TF_ENABLE_ONEDNN_OPTS; ``default`` leaves TensorFlow's choice),
  intra_op=N, inter_op=N.
Torch contender options: threads=N.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from benchmarks import _timing
from benchmarks.bench_train import matmul_peak, synthetic_images

FORWARD_ENCODER_FLOP_PER_IMAGE = 12.45e6  # the encoder half of the 24.9 MFLOP forward pass
IMAGE_SHAPE = (64, 64, 1)
LATENT_DIM = 10


def export_encoder(base_dir: str) -> str:
    """Exports a freshly initialised Burgess model; returns the encoder's version directory.

    Serving speed does not depend on the weights' values, so an untrained model will do.
    """
    import tfbvae  # noqa: F401
    import numpy as np

    from tfbvae.model.beta_vae import BetaVAE
    from tfbvae.model.networks import build_networks
    from tfbvae.serving.export import export_model

    model = BetaVAE(*build_networks("burgess", IMAGE_SHAPE, LATENT_DIM), seed=0)
    kl_images = np.zeros((8,) + IMAGE_SHAPE, np.uint8)
    return export_model(model, base_dir, "bench", kl_images=kl_images)["encoder"]


def batch_of_images(batch: int):
    import numpy as np

    return synthetic_images(batch).astype(np.float32) / np.float32(255)


def tf_worker(args, options: dict) -> None:
    onednn = options.get("onednn", "1")
    if onednn != "default":
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = onednn
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    import tensorflow as tf

    _timing.configure_tensorflow_devices(tf, args.device)
    if int(options.get("intra_op", 0)):
        tf.config.threading.set_intra_op_parallelism_threads(int(options["intra_op"]))
    if int(options.get("inter_op", 0)):
        tf.config.threading.set_inter_op_parallelism_threads(int(options["inter_op"]))
    images = tf.constant(batch_of_images(args.batch_size))
    mode = options.get("mode", "savedmodel")
    if mode == "savedmodel":
        serve = tf.saved_model.load(args.saved_model).signatures["serving_default"]

        def step():
            out = serve(images=images)
            return [out[k].numpy() for k in ("mean", "log_var", "stddev")]

    elif mode == "keras":
        import tfbvae  # noqa: F401
        import keras

        from tfbvae.model.beta_vae import BetaVAE
        from tfbvae.model.networks import build_networks

        if args.mixed_precision != "none":
            keras.mixed_precision.set_global_policy(f"mixed_{args.mixed_precision}")
        model = BetaVAE(*build_networks("burgess", IMAGE_SHAPE, LATENT_DIM), seed=0)

        def step():
            mean, log_var = model.encode(images)
            return [mean.numpy(), log_var.numpy(), tf.exp(0.5 * log_var).numpy()]

    else:
        raise SystemExit(f"Unknown mode {mode!r}: choose savedmodel or keras.")
    def peak(seconds: float, n: int = 2048) -> dict:
        a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
        return {"gflops": matmul_peak(lambda: tf.linalg.matmul(a, b).numpy(), n, seconds)}

    handlers = _timing.window_handlers(step, args.batch_size, args.window_seconds, args.warmup_steps)
    _timing.serve({**handlers, "peak": peak})


def torch_worker(args, options: dict) -> None:
    import numpy as np
    import torch

    from benchmarks.torch_reference import BurgessVAE

    threads = int(options.get("threads", _timing.NUM_CPUS))
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    device = "cuda" if args.device == "gpu" else "cpu"
    amp = {"none": None, "float16": torch.float16, "bfloat16": torch.bfloat16}
    amp = amp[args.mixed_precision]
    model = BurgessVAE(LATENT_DIM, 1).to(device).eval()
    nchw = np.ascontiguousarray(batch_of_images(args.batch_size).transpose(0, 3, 1, 2))
    images = torch.from_numpy(nchw).to(device)

    def step():
        with torch.inference_mode(), torch.autocast(
            device, dtype=amp or torch.float32, enabled=amp is not None
        ):
            mu, logvar = model.encode(images)
            std = (0.5 * logvar).exp()
            return [t.float().cpu().numpy() for t in (mu, logvar, std)]

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def peak(seconds: float, n: int = 2048) -> dict:
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        return {"gflops": matmul_peak(lambda: (torch.mm(a, b), sync()), n, seconds)}

    handlers = _timing.window_handlers(
        step, args.batch_size, args.window_seconds, args.warmup_steps, sync
    )
    _timing.serve({**handlers, "peak": peak})


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--saved_model", help="an encoder version directory (default: export one)")
    _timing.add_window_flags(parser)
    parser.add_argument("--worker", choices=["tf", "torch", "export"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "export":
        print(export_encoder(args.saved_model), flush=True)
        return {}
    if args.worker:
        (tf_worker if args.worker == "tf" else torch_worker)(args, _timing.parse_contender(args.spec)[1])
        return {}

    print(f"# bench_serving: {_timing.environment_line()}")
    print(f"# Burgess encoder, batch {args.batch_size}, 64x64x1 float32; device {args.device}, "
          f"mixed precision {args.mixed_precision}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        saved_model = args.saved_model
        if not saved_model:  # exported in a process of its own, like a training run's export
            import subprocess
            import sys

            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_serving", "--worker", "export",
                 "--saved_model", tmp],
                check=True, stdout=subprocess.PIPE, text=True, cwd=_timing.REPO,
            )  # fmt: skip
            saved_model = out.stdout.strip().splitlines()[-1]
        print(f"# SavedModel: {saved_model}")
        tf_specs = args.tf or ["savedmodel"]
        torch_specs = [] if args.no_torch else (args.torch or ["torch_inference"])
        return _timing.run_tf_and_torch(
            args, tf_specs, torch_specs,
            lambda kind, spec: _timing.worker_argv("benchmarks.bench_serving", args, kind, spec,
                                                  saved_model=saved_model),
            FORWARD_ENCODER_FLOP_PER_IMAGE, args.peak_seconds,
        )


if __name__ == "__main__":
    main()
