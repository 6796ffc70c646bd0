"""Training throughput: tfbvae's beta-VAE through ``fit`` against a PyTorch reference of the same
network and loss, one flagfile's setting at a time.

    python -m benchmarks.bench_train                       # dsprites.flags: Burgess net vs torch
    python -m benchmarks.bench_train --setting celeba      # celeba.flags: higgins_conv, Gaussian
    python -m benchmarks.bench_train --setting locatello   # dlib_annealed_vae.flags, dSprites
    python -m benchmarks.bench_train --tf spe4:steps_per_execution=4 --tf xla:jit_compile=1

Every contender runs in its own worker process; they take turns window by window (see
``_timing.py``). Each TF contender is a ``fit`` call on a ``tf.data`` pipeline of uint8
batches, exactly as users call it; a callback (``Gate``) pauses that ``fit`` between windows.
The reference trains the same network on the same loss (``torch_reference.py``), fed from a
float32 tensor already in memory (its most favourable input path). Images are synthetic 64x64
frames (binary for one channel, coloured rectangles for three): the arithmetic of a step does
not depend on what the pixels show. ``--setting`` picks the network, image shape, likelihood
and objective of a flagfile (``SETTINGS``).

TF contender options (``--tf NAME:key=value,key=value``; the first is the headline):
  steps_per_execution=N, jit_compile=auto|0|1, input=tfdata|numpy, intra_op=N, inter_op=N
  (0: TensorFlow's default), onednn=0|1 (TF_ENABLE_ONEDNN_OPTS), callbacks=a+b+... (none or
  any of ``CALLBACKS``, set up as the training app does), steps_per_epoch=N (the app's
  logging interval is a Keras epoch; 0: one endless epoch), every=N (steps between pictures
  and between checkpoints), phase_split=0|1 (0: the decoder's last layer computes as
  keras' Conv2DTranspose instead of tfbvae's PhaseConv2DTranspose), logits=phase|keras|subpixel
  (that layer's forward pass: tfbvae's (a phase split with one output channel, a sub-pixel
  convolution with more), keras', or the sub-pixel form for any number of channels).
Torch contender options (``--torch NAME:key=value``): threads=N, channels_last=0|1.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

from benchmarks import _timing

@dataclasses.dataclass(frozen=True)
class Setting:
    """What a flagfile trains, as far as a training step's arithmetic goes."""

    flagfile: str  # the published settings it follows (a test checks that they agree)
    description: str  # the header line's start
    network: str  # a tfbvae.model.networks name and a torch_reference.NETWORKS key
    image_shape: tuple
    latent_dim: int
    likelihood: str  # bernoulli | gaussian
    gaussian_sigma: float
    gamma: float
    c_max: float
    c_stop_steps: int
    learning_rate: float
    forward_flop_per_image: float
    train_flop_per_image: float


# Analytic FLOP counts per image (2 FLOP per multiply-add, MAC below; biases, activations and
# the loss not counted). A KxK convolution costs (output pixels) x C_out x K*K*C_in; a KxK
# stride-2 transposed one (input pixels) x C_in x K*K*C_out; a Dense In x Out. A training step
# is forward + backward, the backward twice the forward (input and weight gradients) less the
# first convolution's input gradient, which nothing needs: train = 3 x forward - first conv.
#
# burgess, 64x64x1, z = 10 (dsprites.flags):
#   encoder: conv 1->32 32*32*32*16*1 = 0.524 M, 32->32 16*16*32*16*32 = 4.194 M,
#     8*8*32*16*32 = 1.049 M, 4*4*32*16*32 = 0.262 M; dense 512*256 = 0.131 M,
#     256*256 = 0.066 M, heads 256*20 = 0.005 M: 6.23 M MAC
#   decoder: dense 10*256, 256*256, 256*512: 0.200 M; deconv 4*4*32*16*32 = 0.262 M,
#     8*8*32*16*32 = 1.049 M, 16*16*32*16*32 = 4.194 M, 32*32*32*16*1 = 0.524 M: 6.23 M MAC
#   forward 12.46 M MAC = 24.9 MFLOP; train 3 * 12.46 - 0.524 = 36.85 M MAC = 73.7 MFLOP
# higgins_conv, 64x64x3, z = 32 (celeba.flags):
#   encoder: conv 3->32 32*32*32*16*3 = 1.573 M, 32->32 16*16*32*16*32 = 4.194 M,
#     32->64 8*8*64*16*32 = 2.097 M, 64->64 4*4*64*16*64 = 1.049 M; dense 1024*256 = 0.262 M,
#     heads 256*64 = 0.016 M: 9.191 M MAC
#   decoder: dense 32*256 = 0.008 M, 256*1024 = 0.262 M; deconv 64->64 4*4*64*16*64 = 1.049 M,
#     64->32 8*8*64*16*32 = 2.097 M, 32->32 16*16*32*16*32 = 4.194 M,
#     32->3 32*32*32*16*3 = 1.573 M: 9.183 M MAC
#   forward 18.37 M MAC = 36.75 MFLOP; train 3 * 18.375 - 1.573 = 53.55 M MAC = 107.1 MFLOP
# locatello, 64x64x1, z = 10 (dlib_annealed_vae.flags on the default data, dSprites):
#   encoder: conv 1->32 (4x4) 32*32*32*16*1 = 0.524 M, 32->32 (4x4) 16*16*32*16*32 = 4.194 M,
#     32->64 (2x2) 8*8*64*4*32 = 0.524 M, 64->64 (2x2) 4*4*64*4*64 = 0.262 M;
#     dense 1024*256 = 0.262 M, heads 256*20 = 0.005 M: 5.772 M MAC
#   decoder: dense 10*256 = 0.003 M, 256*1024 = 0.262 M; deconv 64->64 1.049 M, 64->32
#     2.097 M, 32->32 4.194 M, 32->1 32*32*32*16*1 = 0.524 M: 8.129 M MAC
#   forward 13.90 M MAC = 27.8 MFLOP; train 3 * 13.901 - 0.524 = 41.18 M MAC = 82.4 MFLOP
SETTINGS = {
    "dsprites": Setting(
        "dsprites.flags", "Burgess beta-VAE", "burgess", (64, 64, 1), 10, "bernoulli", 1.0,
        1000.0, 25.0, 100_000, 5e-4, 24.9e6, 73.7e6,
    ),
    "celeba": Setting(
        "celeba.flags", "Higgins et al.'s CelebA beta-VAE (higgins_conv)", "higgins_conv",
        (64, 64, 3), 32, "gaussian", 0.1, 1000.0, 50.0, 100_000, 5e-4, 36.75e6, 107.1e6,
    ),
    # disentanglement_lib's network with its AnnealedVAE (the capacity objective, as the other
    # rows); dlib_beta_vae.flags trains the same network on recon + 4 KL, the same arithmetic.
    "locatello": Setting(
        "dlib_annealed_vae.flags", "disentanglement_lib's AnnealedVAE (locatello)", "locatello",
        (64, 64, 1), 10, "bernoulli", 1.0, 1000.0, 25.0, 100_000, 1e-4, 27.8e6, 82.4e6,
    ),
}
# The default setting's figures, under their old names.
FORWARD_FLOP_PER_IMAGE = SETTINGS["dsprites"].forward_flop_per_image
TRAIN_FLOP_PER_IMAGE = SETTINGS["dsprites"].train_flop_per_image
IMAGE_SHAPE = SETTINGS["dsprites"].image_shape
LATENT_DIM = SETTINGS["dsprites"].latent_dim


def synthetic_images(n: int, seed: int = 0, shape: tuple = IMAGE_SHAPE):
    """``n`` uint8 frames of ``shape``: binary (0/255), dSprites-like in density (about 5 % lit
    pixels), for one channel; a coloured rectangle on a coloured background for more."""
    import numpy as np

    rng = np.random.default_rng(seed)
    images = np.zeros((n,) + tuple(shape), np.uint8)
    colour = shape[-1] > 1
    for i in range(n):  # one filled rectangle per frame
        y, x = rng.integers(8, 48, size=2)
        h, w = rng.integers(6, 20, size=2)
        if colour:
            images[i] = rng.integers(0, 256, size=shape[-1], dtype=np.uint8)
            images[i, y : y + h, x : x + w] = rng.integers(0, 256, size=shape[-1], dtype=np.uint8)
        else:
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
    "logits": "phase",
    "callbacks": "capacity",
    "steps_per_epoch": "0",
    "every": "5000",
}


CALLBACKS = ("capacity", "tensorboard", "images", "nonfinite", "checkpoint", "progress")


def make_callbacks(
    names: str, model, images, logdir: str, every: int, setting: Setting = SETTINGS["dsprites"]
) -> list:
    """The training app's callbacks called ``names`` (``+``-separated, in the app's order), as
    ``tfbvae.training.train.train`` sets them up; images and checkpoints every ``every`` steps."""
    from tfbvae.training import callbacks as cb
    from tfbvae.training import checkpoints

    chosen = [n for n in names.split("+") if n and n != "none"]
    unknown = set(chosen) - set(CALLBACKS)
    if unknown:
        raise SystemExit(f"Unknown callbacks {sorted(unknown)}: choose from none, {CALLBACKS}.")
    made = {
        "capacity": lambda: cb.CapacityAnnealing(setting.c_max, setting.c_stop_steps),
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
    from tfbvae.model.likelihoods import get_likelihood
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
    setting = SETTINGS[args.setting]
    encoder, decoder = build_networks(setting.network, setting.image_shape, setting.latent_dim)
    logits = options["logits"] if options["phase_split"] == "1" else "keras"
    if logits not in ("phase", "keras", "subpixel"):
        raise SystemExit(f"Unknown logits={logits!r}: choose phase, keras or subpixel.")
    decoder.get_layer("logits").phase_split = logits != "keras"
    if logits == "subpixel":  # the layer calls the module's function when it is traced
        import functools

        from tfbvae.model import conv_transpose

        conv_transpose.phase_conv_transpose = functools.partial(
            conv_transpose.phase_conv_transpose, subpixel=True)
    likelihood = get_likelihood(
        setting.likelihood, **({"sigma": setting.gaussian_sigma} if setting.likelihood == "gaussian" else {})
    )
    model = BetaVAE(encoder, decoder, likelihood, CapacityObjective(setting.gamma), seed=0)
    spe = int(options["steps_per_execution"])
    jit = {"auto": "auto", "0": False, "1": True}[options["jit_compile"]]
    model.compile(
        keras.optimizers.Adam(setting.learning_rate), steps_per_execution=spe, jit_compile=jit
    )
    images = synthetic_images(args.dataset_size, shape=setting.image_shape)
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
            options["callbacks"], model, images[:batch], logdir, int(options["every"]), setting
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
    setting = SETTINGS[args.setting]
    trainer = Trainer(
        setting.latent_dim, setting.image_shape[-1], setting.learning_rate, setting.c_max,
        setting.c_stop_steps, setting.gamma, device, amp, channels_last, setting.network,
        setting.likelihood, setting.gaussian_sigma,
    )  # fmt: skip
    images = synthetic_images(args.dataset_size, shape=setting.image_shape)
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
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="dsprites",
                        help="the flagfile's network, image shape and loss to train")  # fmt: skip
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
    setting = SETTINGS[args.setting]
    likelihood = "" if setting.likelihood == "bernoulli" else (
        f", Gaussian pixels (sigma {setting.gaussian_sigma:g})")
    print(f"# bench_train: {_timing.environment_line()}")
    print(
        f"# {setting.description} training step, batch {args.batch_size}, "
        f"{'x'.join(map(str, setting.image_shape))}{likelihood}, capacity "
        f"objective, Adam; device {args.device}, mixed precision {args.mixed_precision}"
    )  # fmt: skip
    table = _timing.run_tf_and_torch(
        args, tf_specs, torch_specs, lambda kind, spec: _timing.worker_argv("benchmarks.bench_train", args, kind, spec,
                                                        dataset_size=args.dataset_size, setting=args.setting),
        setting.train_flop_per_image, args.peak_seconds,
    )
    return {**table, "setting": args.setting}


if __name__ == "__main__":
    main()
