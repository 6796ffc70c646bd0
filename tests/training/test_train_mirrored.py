"""--strategy=mirrored on two logical CPU devices: the same losses and weights as one device
for the same global batch, and a run of the training app on it. In a subprocess: logical
devices must be configured before TensorFlow initialises."""

import json
import subprocess
import sys

import numpy as np

SCRIPT = """
import dataclasses, json
import tfbvae
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from tfbvae.data import pipeline
from tfbvae.training import checkpoints
from tfbvae.training import strategies
from tfbvae.training import train as training
from tfbvae.training.callbacks import CapacityAnnealing
from tfbvae.training.settings import Settings

config = Settings.from_json(json.loads({settings!r}))
source = training.load_data_source(config)
train, _, _ = pipeline.datasets_from_source(source, config.batch_size, seed=0)
out = {{}}
for name in ("default", "mirrored"):
    strategy = strategies.make_strategy(name)
    with strategy.scope():
        model = training.compile_model(config)
    # The same posterior sample on every device count: the noise is drawn per replica.
    model.sample_noise = lambda shape: keras.ops.zeros(shape)
    history = model.fit(train, steps_per_epoch=1, epochs=4, verbose=0, shuffle=False,
                        callbacks=[CapacityAnnealing(config.c_max, config.c_stop_steps)])
    out[name] = {{"replicas": strategy.num_replicas_in_sync, "loss": history.history["loss"],
                 "capacity": history.history["capacity"],
                 "weights": [w.tolist() for w in model.get_weights()[-4:]]}}

result = training.train(dataclasses.replace(config, strategy="mirrored", steps=10))
out["app"] = {{"step": result.step, "restored_step": checkpoints.restore_model({run!r})[1].step}}
print("RESULT" + json.dumps(out))
"""


def test_mirrored_on_two_devices_matches_one_device_for_the_same_global_batch(tmp_path, repo, tiny_config):
    # C reaches 0.02 nats within the steps: the capacity term is active.
    config = tiny_config(tmp_path / "run", tmp_path / "data", "--c_max=0.02", "--c_stop_steps=2")
    script = SCRIPT.format(settings=json.dumps(config.to_json()), run=str(tmp_path / "run"))
    done = subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    one, two = out["default"], out["mirrored"]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    np.testing.assert_allclose(two["capacity"], one["capacity"], rtol=1e-6)
    assert one["capacity"][-1] == np.float32(0.02)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    for a, b in zip(one["weights"], two["weights"]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    assert out["app"] == {"step": 10, "restored_step": 10}
