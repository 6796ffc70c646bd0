"""SIGTERM (preemption) and SIGINT (Ctrl-C) stop training after the current step: the state at
that step is checkpointed, TensorBoard is flushed, one line says how to resume, the exit status
is 128 + the signal's number, and the resumed run ends exactly where an uninterrupted one does
(no step lost or repeated: the same final weights)."""

import os
import signal
import subprocess
import time

import keras
import numpy as np
import pytest

from tfbvae import errors
from tfbvae.training import checkpoints
from tfbvae.training import event_files
from tfbvae.training import train as training

STEPS, LOG = 40, 10
ARGS = ("--batch_size=4", f"--log_every={LOG}", "--checkpoint_every=20", "--validate_every=20",
        "--image_every=20")


def weights(run_dir) -> list[np.ndarray]:
    return checkpoints.restore_model(str(run_dir))[0].get_weights()


@pytest.fixture(scope="module")
def straight(tmp_path_factory, tiny_config):
    """The uninterrupted run the interrupted ones must end equal to."""
    root = tmp_path_factory.mktemp("straight")
    training.train(tiny_config(root / "run", root / "data", *ARGS, f"--steps={STEPS}"))
    return root / "run"


class SignalAtStep(keras.callbacks.Callback):
    """Sends this process a real signal when a training step ends (once)."""

    def __init__(self, step: int, signum: int):
        super().__init__()
        self.step, self.signum, self.sent = step, signum, False

    def on_train_batch_end(self, batch, logs=None):
        if not self.sent and int(self.model.optimizer.iterations.numpy()) == self.step:
            self.sent = True
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum, at_step", [(signal.SIGTERM, 23), (signal.SIGINT, 20)])
def test_a_signal_mid_interval_saves_that_step_and_the_resumed_run_is_exact(
    tmp_path, straight, signum, at_step, tiny_config
):
    config = tiny_config(tmp_path / "run", tmp_path / "data", *ARGS, f"--steps={STEPS}")
    before = signal.getsignal(signum)  # SIG_IGN for SIGINT under a shell's background job
    with pytest.raises(errors.Interrupted) as stopped:
        training.train(config, extra_callbacks=[SignalAtStep(at_step, signum)])
    assert stopped.value.exit_code == 128 + signum
    name = signal.Signals(signum).name
    assert str(stopped.value).startswith(f"Stopped by {name} at step {at_step}, saved as ")
    assert f"--flagfile={tmp_path / 'run' / 'flags.txt'}" in str(stopped.value)
    assert checkpoints.newest_intact(tmp_path / "run").name == f"ckpt-{at_step}"
    # The partial interval was logged (flushed) at the step it stopped at.
    logged = [s for s, _ in event_files.read_scalars(tmp_path / "run" / "logs" / "train")["loss"]]
    assert logged == sorted({10, 20, at_step})
    # The handlers are the previous ones again.
    assert signal.getsignal(signum) == before

    resumed = training.train(config)
    assert (resumed.start_step, resumed.step) == (at_step, STEPS)
    logged = [s for s, _ in event_files.read_scalars(tmp_path / "run" / "logs" / "train")["loss"]]
    assert logged == sorted({10, 20, at_step, 30, 40})  # every step in exactly one interval
    for a, b in zip(weights(straight), weights(tmp_path / "run")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


APP_STEPS = 200  # long enough that the signal lands well before the end


@pytest.fixture(scope="module")
def straight_app_run(tmp_path_factory, tiny_config):
    root = tmp_path_factory.mktemp("straight_app")
    training.train(tiny_config(root / "run", root / "data", *ARGS, f"--steps={APP_STEPS}"))
    return root / "run"


# SIGINT through the app is the slow variant: the in-process test above covers SIGINT's handling.
@pytest.mark.parametrize("signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_the_training_app_stops_on_a_real_signal_and_resumes_exactly(
        tmp_path, straight_app_run, signum, repo, tiny_args, train_command):
    run_dir = tmp_path / "run"
    command = train_command(f"--flagfile={repo / 'dsprites.flags'}", *tiny_args, *ARGS,
                            f"--steps={APP_STEPS}", f"--run_dir={run_dir}",
                            f"--data_dir={tmp_path / 'data'}")
    err = tmp_path / "stderr.txt"
    with open(err, "w") as stderr:
        process = subprocess.Popen(command, cwd=repo, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / "checkpoints" / "checkpoint").exists():  # training is under way
            assert process.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, err.read_text()[-3000:]
            time.sleep(0.02)
        process.send_signal(signum)
        assert process.wait(timeout=120) == 128 + signum, err.read_text()[-3000:]
    finally:
        process.kill()
    output = err.read_text()
    assert "Traceback" not in output
    stopped_at = checkpoints.step_of(str(checkpoints.newest_intact(run_dir)))
    assert 20 <= stopped_at < APP_STEPS
    assert output.strip().splitlines()[-1].startswith(
        f"ERROR: Stopped by {signal.Signals(signum).name} at step {stopped_at}, saved as ")

    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Resuming {run_dir} from step {stopped_at}." in done.stderr
    for a, b in zip(weights(straight_app_run), weights(run_dir)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_stop_on_signal_outside_training_raises_at_once_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(errors.Interrupted, match="Stopped by SIGTERM outside training") as stopped:
        with training.tfbvae_callbacks.StopOnSignal():
            assert signal.getsignal(signal.SIGTERM) != before
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
    assert stopped.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) == before
