"""BetaVAE under tf.distribute (two logical CPU devices, in a subprocess: devices must be
configured before TensorFlow initialises): the objective sees the global batch, and replicas
draw independent noise."""

import json
import subprocess
import sys

import numpy as np

SCRIPT = r"""
import json
import tfbvae
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from keras import layers
from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.objectives import CapacityObjective

def build():
    images = keras.Input((2, 2, 1))
    flat = layers.Flatten()(images)
    encoder = keras.Model(images, [layers.Dense(2, name="mean")(flat), layers.Dense(2, name="log_var")(flat)])
    z = keras.Input((2,))
    decoder = keras.Model(z, layers.Reshape((2, 2, 1))(layers.Dense(4)(z)))
    return BetaVAE(encoder, decoder, objective=CapacityObjective(gamma=10.0), seed=0)

rng = np.random.default_rng(0)
x = (rng.random((8, 2, 2, 1)) > 0.5).astype(np.float32)
weights = [rng.normal(size=w.shape).astype(np.float32) for w in build().get_weights()]
out = {}
for name, strategy in (("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                       ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
    with strategy.scope():
        model = build()
        model.set_weights(weights)
        model.compile(keras.optimizers.SGD(0.05))
    model.sample_noise = lambda shape: keras.ops.zeros(shape)
    # C halfway between the KLs of the two replicas' halves of the batch: per-replica
    # |KL_r - C| would be > 0 while the global |KL - C| is 0.
    kls = []
    for half in (x[:4], x[4:]):
        terms = model.compute_terms(half)
        kls.append(float(terms["kl"]))
    model.capacity.assign(sum(kls) / 2)
    history = model.fit(x, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    out[name] = {"kls": kls, "loss": history["loss"], "regulariser": history["regulariser"],
                 "weights": [w.tolist() for w in model.get_weights()]}

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = build()
noise = strategy.run(tf.function(lambda: model.sample_noise((4, 2))))
out["noise"] = [np.asarray(v).tolist() for v in strategy.experimental_local_results(noise)]
print("RESULT" + json.dumps(out))
"""


def test_mirrored_matches_one_device_when_capacity_lies_between_replica_kls():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    one, two = out["one"], out["two"]
    assert abs(one["kls"][0] - one["kls"][1]) > 0.1  # the halves differ: the case is real
    # Global KL = C: the capacity term is zero on both (per-replica it would not be).
    assert one["regulariser"][0] < 1e-3 and two["regulariser"][0] < 1e-3
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    for a, b in zip(one["weights"], two["weights"]):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    first, second = (np.array(n) for n in out["noise"])
    assert first.shape == second.shape == (4, 2) and not np.allclose(first, second)
