"""--strategy=multi_worker with two real apps/train.py worker processes on loopback ports.

One SIGKILLed worker, then both restarted: they resume from the chief's newest checkpoint, end
at the step count holding the same weights (those of the chief's last checkpoint), and only the
chief wrote the run's files (one export). The workers talk over gRPC on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tfbvae.training import checkpoints
from tfbvae.training import event_files

REPO = Path(__file__).resolve().parents[2]
STEPS, LOG, CHECKPOINT = 60, 5, 20
ARGS = [f"--flagfile={REPO / 'dsprites.flags'}", "--strategy=multi_worker",
        "--dsprites_num_images=1024", "--batch_size=8", f"--steps={STEPS}", f"--log_every={LOG}",
        f"--checkpoint_every={CHECKPOINT}", f"--validate_every={CHECKPOINT}",
        f"--image_every={CHECKPOINT}", "--validation_fraction=0.02", "--validation_steps=1",
        "--keep_checkpoints=2", "--noprogress"]
LAUNCHER = REPO / "tests" / "training" / "multi_worker_launcher.py"


def free_ports(count: int) -> list[int]:
    """Ports the kernel picks as free on 127.0.0.1 (bound together, so all differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Worker:
    """One worker process of apps/train.py (through the weight-saving launcher when
    ``weights`` is given), its output in files the test reads; its temporary files under its
    own ``TMPDIR``."""

    def __init__(self, tmp_path: Path, name: str, index: int, ports: list[int], args: list[str],
                 weights: Path | None = None):
        self.name = name
        self.out, self.err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        self.tmp = tmp_path / f"{name}.tmp"
        self.tmp.mkdir()
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                     "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TMPDIR": str(self.tmp), "TF_CONFIG": json.dumps(tf_config)}
        command = [sys.executable, str(REPO / "apps" / "train.py"), *args]
        if weights is not None:
            command.insert(1, str(LAUNCHER))
            env["TFBVAE_TEST_WEIGHTS"] = str(weights)
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=err, env=env)

    def stderr(self) -> str:
        return self.err.read_text()

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout} s:\n"
                                 f"{self.stderr()[-3000:]}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def workers():
    """Every worker a test starts; each is SIGKILLed at teardown if still running."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.kill()


def newest_checkpoint_step(run_dir: Path) -> int:
    newest = checkpoints.scan(checkpoints.checkpoint_dir(run_dir)).newest
    return checkpoints.step_of(str(newest)) if newest else 0


def test_two_workers_survive_a_sigkill_and_finish_with_equal_weights(tmp_path, workers):
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    args = ARGS + [f"--run_dir={run_dir}", f"--data_dir={data_dir}"]

    # 1. Both workers train until the chief's first checkpoint; then worker 1 is SIGKILLed.
    # The chief, left waiting for it in a collective, is stopped too if it has not failed yet.
    ports = free_ports(2)
    first = [Worker(tmp_path, f"first-{i}", i, ports, args) for i in range(2)]
    workers += first
    deadline = time.monotonic() + 300
    while not newest_checkpoint_step(run_dir):
        for worker in first:
            assert worker.process.poll() is None, f"{worker.name}:\n{worker.stderr()[-3000:]}"
        assert time.monotonic() < deadline, f"no checkpoint:\n{first[0].stderr()[-3000:]}"
        time.sleep(0.01)
    os.kill(first[1].process.pid, signal.SIGKILL)
    assert first[1].wait(30) == -signal.SIGKILL
    # The chief notices (TensorFlow's heartbeat) and says what to do, without a traceback.
    assert first[0].wait(60) == 1, first[0].stderr()[-3000:]
    assert "Traceback" not in first[0].stderr()
    assert "ERROR: A worker of this multi-worker run stopped (" in first[0].stderr()
    assert "Start every worker again with its same command" in first[0].stderr()
    resumed_from = newest_checkpoint_step(run_dir)
    assert CHECKPOINT <= resumed_from < STEPS, first[0].stderr()[-3000:]  # it did not finish

    # 2. Both restarted, on new ports: they resume from that checkpoint and finish.
    ports = free_ports(2)
    weights = [tmp_path / f"weights-{i}.npz" for i in range(2)]
    second = [Worker(tmp_path, f"second-{i}", i, ports, args, weights[i]) for i in range(2)]
    workers += second
    for worker in second:
        assert worker.wait(300) == 0, worker.stderr()[-3000:]
        assert f"Resuming {run_dir} from step {resumed_from}." in worker.stderr()
        assert f"Done: {run_dir} at step {STEPS}." in worker.out.read_text()

    # The workers hold the same weights, and they are those of the chief's last checkpoint.
    held = [np.load(path) for path in weights]
    assert [int(h["step"]) for h in held] == [STEPS, STEPS]
    names = [f"w{i}" for i in range(len(held[0].files) - 1)]
    for name in names:
        np.testing.assert_array_equal(held[1][name], held[0][name], err_msg=name)
    model, facts = checkpoints.restore_model(str(run_dir))
    assert facts.step == STEPS == newest_checkpoint_step(run_dir)
    for name, saved in zip(names, model.get_weights()):
        np.testing.assert_array_equal(held[1][name], saved, err_msg=name)

    # Only the chief wrote: one export, TensorBoard's steps once each, nothing of worker 1's
    # in the run directory or left in its temporary directory.
    exports = run_dir / "exported_models" / "dsprites_capacity"
    assert sorted(p.name for p in exports.iterdir()) == ["decoder", "encoder"]
    assert [p.name for p in (exports / "encoder").iterdir()] == ["1"]
    assert "Exported:" in second[0].out.read_text()
    assert "Exported:" not in second[1].out.read_text()
    assert sorted(p.name for p in run_dir.iterdir()) == [
        ".lock", "checkpoints", "exported_models", "flags.txt", "logs", "run.json"]
    loss_steps = [step for step, _ in event_files.read_scalars(run_dir / "logs" / "train")["loss"]]
    assert loss_steps == list(range(LOG, STEPS + 1, LOG))
    assert list(second[1].tmp.iterdir()) == []
