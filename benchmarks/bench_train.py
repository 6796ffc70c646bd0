"""Training throughput: tfbvae's Burgess beta-VAE through ``fit`` against the PyTorch reference.

    python -m benchmarks.bench_train                       # tfbvae defaults vs torch eager
    python -m benchmarks.bench_train --tf spe4:steps_per_execution=4 --tf xla:jit_compile=1

Every contender runs in its own worker process; they take turns window by window (see
``_timing.py``). Each TF contender is a ``fit`` call on a ``tf.data`` pipeline of uint8
batches, exactly as users call it; a callback (``Gate``) pauses that ``fit`` between windows.
The reference trains the same network on the same loss (``torch_reference.py``), fed from a
float32 tensor already in memory (its most favourable input path). Images are synthetic binary
64x64 frames: the arithmetic of a step does not depend on what the pixels show.

TF contender options (``--tf NAME:key=value,key=value``; the first is the headline):
  steps_per_execution=N, jit_compile=auto|0|1, input=tfdata|numpy, intra_op=N, inter_op=N
  (0: TensorFlow's default), onednn=0|1 (TF_ENABLE_ONEDNN_OPTS), callbacks=a+b+... (none or
  any of ``CALLBACKS``, set up as the training app does), steps_per_epoch=N (the app's
  logging interval is a Keras epoch; 0: one endless epoch), every=N (steps between pictures
  and between checkpoints), phase_split=0|1 (0: the decoder's last layer computes as
  keras' Conv2DTranspose instead of tfbvae's PhaseConv2DTranspose).
Torch contender options (``--torch NAME:key=value``): threads=N, channels_last=0|1.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from benchmarks import _timing

# Analytic FLOP counts of the Burgess network on 64x64x1 (2 FLOP per multiply-add): forward
# 12.45 M multiply-adds; a training step is forward + backward (2x forward, less the input
# gradient of the first convolution).
FORWARD_FLOP_PER_IMAGE = 24.9e6
TRAIN_FLOP_PER_IMAGE = 73.7e6
IMAGE_SHAPE = (64, 64, 1)
LATENT_DIM = 10
C_MAX, C_STOP_STEPS, GAMMA, LEARNING_RATE = 25.0, 100_000, 1000.0, 5e-4


def synthetic_images(n: int, seed: int = 0):
    """``n`` binary uint8 frames (0/255), dSprites-like in density (about 5 % lit pixels)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    images = np.zeros((n,) + IMAGE_SHAPE, np.uint8)
    for i in range(n):  # one filled rectangle per frame
        y, x = rng.integers(8, 48, size=2)
        h, w = rng.integers(6, 20, size=2)
        images[i, y : y + h, x : x + w] = 255
    return images


# -- peak FLOP/s -------------------------------------------------------------------------------
def matmul_peak(matmul, n: int, seconds: float) -> float:
    """GFLOP/s of repeated ``n x n`` float32 matrix products (``matmul()`` runs one, synced)."""
    matmul()  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 2:
        matmul()
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


# -- the TF worker -----------------------------------------------------------------------------
TF_DEFAULTS = {
    "steps_per_execution": "1",
    "jit_compile": "auto",
    "input": "tfdata",
    "intra_op": "0",
    "inter_op": "0",
    "onednn": "",
    "phase_split": "1",
    "callbacks": "capacity",
    "steps_per_epoch": "0",
    "every": "5000",
}


CALLBACKS = ("capacity", "tensorboard", "images", "nonfinite", "checkpoint", "progress")


def make_callbacks(names: str, model, images, logdir: str, every: int) -> list:
    """The training app's callbacks called ``names`` (``+``-separated, in the app's order), as
    ``tfbvae.training.train.train`` sets them up; images and checkpoints every ``every`` steps."""
    from tfbvae.training import callbacks as cb
    from tfbvae.training import checkpoints

    chosen = [n for n in names.split("+") if n and n != "none"]
    unknown = set(chosen) - set(CALLBACKS)
    if unknown:
        raise SystemExit(f"Unknown callbacks {sorted(unknown)}: choose from none, {CALLBACKS}.")
    made = {
        "capacity": lambda: cb.CapacityAnnealing(C_MAX, C_STOP_STEPS),
        "tensorboard": lambda: cb.TensorBoardScalars(logdir, batch_size=len(images)),
        "images": lambda: cb.TensorBoardImages(logdir, images[:8], every),
        "nonfinite": cb.TerminateOnNonFinite,
        "checkpoint": lambda: cb.CheckpointSaver(
            checkpoints.RunCheckpoint(model, checkpoints.checkpoint_dir(logdir)), every
        ),
        "progress": lambda: cb.ProgressBar(10**12, len(images), open(os.devnull, "w")),
    }
    return [made[name]() for name in CALLBACKS if name in chosen]


def tf_worker(args, options: dict) -> None:
    options = {**TF_DEFAULTS, **options}
    if options["onednn"]:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = options["onednn"]
    import tfbvae  # noqa: F401  (its defaults go in before TensorFlow is imported)
    import keras
    import tensorflow as tf

    from tfbvae.model.beta_vae import BetaVAE
    from tfbvae.model.networks import build_networks
    from tfbvae.model.objectives import CapacityObjective

    _timing.configure_tensorflow_devices(tf, args.device)
    if int(options["intra_op"]):
        tf.config.threading.set_intra_op_parallelism_threads(int(options["intra_op"]))
    if int(options["inter_op"]):
        tf.config.threading.set_inter_op_parallelism_threads(int(options["inter_op"]))
    if args.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(f"mixed_{args.mixed_precision}")

    channel = _timing.Channel()
    assert channel.receive()["command"] == "setup"

    def peak(seconds: float, n: int = 2048) -> dict:
        a = tf.random.normal((n, n))
        b = tf.random.normal((n, n))
        return {"gflops": matmul_peak(lambda: tf.linalg.matmul(a, b).numpy(), n, seconds)}

    handlers = {"peak": peak}
    encoder, decoder = build_networks("burgess", IMAGE_SHAPE, LATENT_DIM)
    decoder.get_layer("logits").phase_split = options["phase_split"] == "1"
    model = BetaVAE(encoder, decoder, objective=CapacityObjective(GAMMA), seed=0)
    spe = int(options["steps_per_execution"])
    jit = {"auto": "auto", "0": False, "1": True}[options["jit_compile"]]
    model.compile(keras.optimizers.Adam(LEARNING_RATE), steps_per_execution=spe, jit_compile=jit)
    images = synthetic_images(args.dataset_size)
    batch = args.batch_size

    class Gate(keras.callbacks.Callback):
        """Pauses ``fit`` between windows and answers the parent's commands meanwhile.

        Runs in ``on_train_batch_begin``, which Keras calls synchronously, so that it leaves
        Keras' asynchronous dispatch of ``on_train_batch_end`` as it is in a bare ``fit``.
        """

        def __init__(self):
            super().__init__()
            self.executions = 0
            self.next_stop = spe  # end of the first execution (which traces the step)
            self.phase = "trace"

        def sync(self) -> None:
            # A variable read waits for the queued steps (matters on GPUs).
            self.model.optimizer.iterations.numpy()

        def on_train_batch_begin(self, batch_index, logs=None):
            done = self.executions * spe
            self.executions += 1
            if done < self.next_stop:
                return
            self.sync()
            now = time.perf_counter()
            if self.phase == "trace":
                self.phase, self.t0, self.done0 = "warmup", now, done
                self.next_stop = done + max(spe, args.warmup_steps // spe * spe)
                return
            if self.phase == "warmup":
                step_seconds = (now - self.t0) / (done - self.done0)
                unit = spe * max(1, int(options["steps_per_epoch"]) // spe)  # whole epochs
                self.window_steps = max(unit, round(args.window_seconds / step_seconds / unit) * unit)
                answer = {"step_seconds": step_seconds, "window_steps": self.window_steps}
                self.phase = "window"
            else:
                answer = {"items": (done - self.start) * batch, "seconds": now - self.t_start}
            channel.send(answer)
            self.serve(done)

        def serve(self, done: int) -> None:
            while True:
                message = channel.receive()
                command = message.pop("command")
                if command == "run":
                    self.start, self.next_stop = done, done + self.window_steps
                    self.t_start = time.perf_counter()
                    return
                if command == "exit":
                    self.model.stop_training = True
                    self.next_stop = float("inf")
                    return
                channel.send(handlers[command](**message))

    # The callbacks' TensorBoard logs go to a directory removed when the worker ends.
    with tempfile.TemporaryDirectory(prefix="bench_train_") as logdir:
        callbacks = [Gate()] + make_callbacks(
            options["callbacks"], model, images[:batch], logdir, int(options["every"])
        )
        if options["input"] == "tfdata":
            data = (
                tf.data.Dataset.from_tensor_slices(images)
                .shuffle(len(images), seed=0)
                .repeat()
                .batch(batch, drop_remainder=True)
                .prefetch(tf.data.AUTOTUNE)
            )
            steps_per_epoch = int(options["steps_per_epoch"])  # 0: one endless epoch
            epochs = 10**12 if steps_per_epoch else 1
            steps_per_epoch = steps_per_epoch or 10**12
            model.fit(data, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0, callbacks=callbacks)
        elif options["input"] == "numpy":
            usable = len(images) // (batch * spe) * batch * spe
            model.fit(images[:usable], batch_size=batch, epochs=10**12, verbose=0, callbacks=callbacks)
        else:
            raise SystemExit(f"Unknown input {options['input']!r}: choose tfdata or numpy.")
        channel.send({})  # answers the "exit" that stopped fit
        channel.close()


# -- the torch worker --------------------------------------------------------------------------
def torch_worker(args, options: dict) -> None:
    import numpy as np
    import torch

    from benchmarks.torch_reference import Trainer

    torch.set_num_threads(int(options.get("threads", _timing.NUM_CPUS)))
    torch.set_num_interop_threads(int(options.get("threads", _timing.NUM_CPUS)))
    device = "cuda" if args.device == "gpu" else "cpu"
    amp = {"none": None, "float16": "fp16", "bfloat16": "bf16"}[args.mixed_precision]
    channels_last = options.get("channels_last", "0") == "1"
    trainer = Trainer(
        LATENT_DIM, 1, LEARNING_RATE, C_MAX, C_STOP_STEPS, GAMMA, device, amp, channels_last
    )
    images = synthetic_images(args.dataset_size)
    nchw = np.ascontiguousarray(images.transpose(0, 3, 1, 2))  # contiguous, as a DataLoader yields
    data = torch.from_numpy(nchw / np.float32(255))
    data = data.to(device)
    if channels_last:
        data = data.contiguous(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(0)
    batch = args.batch_size

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def step():
        idx = torch.randint(0, len(data), (batch,), generator=generator).to(device)
        trainer.step(data[idx])

    def peak(seconds: float, n: int = 2048) -> dict:
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        return {"gflops": matmul_peak(lambda: (torch.mm(a, b), sync()), n, seconds)}

    handlers = _timing.window_handlers(step, batch, args.window_seconds, args.warmup_steps, sync)
    _timing.serve({**handlers, "peak": peak})


# -- the parent --------------------------------------------------------------------------------
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--dataset_size", type=int, default=4096)
    _timing.add_window_flags(parser)
    parser.add_argument("--worker", choices=["tf", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        name, options = _timing.parse_contender(args.spec)
        (tf_worker if args.worker == "tf" else torch_worker)(args, options)
        return {}

    tf_specs = args.tf or ["tfbvae"]
    torch_specs = [] if args.no_torch else (args.torch or ["torch_eager"])
    print(f"# bench_train: {_timing.environment_line()}")
    print(
        f"# Burgess beta-VAE training step, batch {args.batch_size}, 64x64x1, capacity "
        f"objective, Adam; device {args.device}, mixed precision {args.mixed_precision}"
    )
    return _timing.run_tf_and_torch(
        args, tf_specs, torch_specs, lambda kind, spec: _timing.worker_argv("benchmarks.bench_train", args, kind, spec,
                                                        dataset_size=args.dataset_size),
        TRAIN_FLOP_PER_IMAGE, args.peak_seconds,
    )


if __name__ == "__main__":
    main()
