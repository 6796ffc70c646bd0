"""The beta-VAE: an encoder, a decoder, a likelihood and an objective, trained with ``fit``."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

import tfbvae.model.conv_transpose  # noqa: F401  (registers the networks' layer: saved models load)
from tfbvae.model.divergences import gaussian_kl_per_dim
from tfbvae.model.likelihoods import BernoulliLikelihood, Likelihood
from tfbvae.model.objectives import BetaObjective, Objective
from tfbvae.pixels import images_to_float


def cross_replica_mean(value):
    """Mean of ``value`` over the replicas of a ``tf.distribute`` strategy (itself on one device).

    Differentiable. Each replica sees only its share of the global batch: the objective must be
    applied to global batch means, because ``|KL - C|`` is not linear in KL.
    """
    replica = tf.distribute.get_replica_context()
    if replica is None or replica.num_replicas_in_sync == 1:
        return value
    return replica.all_reduce(tf.distribute.ReduceOp.MEAN, value)


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """How many processes (``chief`` and ``worker`` tasks of ``TF_CONFIG``) train together under
    a ``MultiWorkerMirroredStrategy``; 1 for every other strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    spec = resolver.cluster_spec()
    return max(1, sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs))


def _step_logs(logs: dict) -> dict:
    """A step's logs in the shape Keras' ``fit``/``evaluate`` can combine across replicas.

    Each replica's logs already are the global batch's (:func:`cross_replica_mean`). Keras 3
    combines them with ``strategy.reduce("MEAN", value, axis=0)`` when the strategy spans
    several workers, which fails on scalars ("Invalid reduction dimension 0 for input with 0
    dimensions"; tensorflow/tensorflow#72388); as one-element vectors each reduces to the same
    scalar. On one worker Keras reduces scalars itself, and they are left as they are.
    """
    if num_workers(tf.distribute.get_strategy()) == 1:
        return logs
    return {name: ops.reshape(value, (1,)) for name, value in logs.items()}


@keras.saving.register_keras_serializable(package="tfbvae")
class BetaVAE(keras.Model):
    """beta-VAE with a diagonal-Gaussian posterior and an N(0, I) prior.

    ``fit`` minimises ``objective(reconstruction, KL, C)`` where reconstruction is
    ``-log p(x|z)`` summed over pixels and averaged over the batch, KL is summed over latents
    and averaged over the batch, and C is ``self.capacity``, a non-trainable variable (saved in
    checkpoints; set by ``tfbvae.training.callbacks.CapacityAnnealing``). Metrics: ``loss``,
    ``reconstruction``, ``kl``, ``regulariser``, ``capacity``, ``elbo`` (nats per image) and
    ``kl_0``... ``kl_{z-1}``, the batch-mean KL of each latent dimension.

    Args:
        encoder: a model mapping images to ``[mean, log_var]``.
        decoder: a model mapping ``z`` to per-pixel logits.
        likelihood: ``BernoulliLikelihood()`` (default) or ``GaussianLikelihood(sigma)``.
        objective: ``BetaObjective(beta)`` (default beta=1), ``CapacityObjective(gamma)`` or
            ``HingeCapacityObjective(gamma)``.
        seed: seed of the reparameterisation noise (reproducible runs).
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        likelihood: Likelihood | None = None,
        objective: Objective | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood or BernoulliLikelihood()
        self.objective = objective or BetaObjective(1.0)
        self.seed = seed
        self.latent_dim = int(encoder.outputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed, name="reparameterisation")
        self.capacity = self.add_weight(
            name="capacity", shape=(), initializer="zeros", trainable=False, dtype="float32"
        )
        names = ["loss", "reconstruction", "kl", "regulariser", "capacity", "elbo"]
        self._scalar_trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self._kl_dim_trackers = [
            keras.metrics.Mean(name=f"kl_{i}") for i in range(self.latent_dim)
        ]
        self.build()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The images the encoder takes, ``(height, width, channels)``."""
        return tuple(int(d) for d in self.encoder.inputs[0].shape[1:])

    @property
    def metrics(self):
        # Listed here so that fit/evaluate reset them at the start of each epoch.
        return list(self._scalar_trackers.values()) + self._kl_dim_trackers

    def build(self, input_shape=None):
        # Every variable exists once __init__ has run (the encoder and decoder are functional
        # models); being built lets .keras loading restore the optimizer's state too.
        self.built = True

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras' build before ``fit``/``evaluate``, without reading a batch when none is needed.

        Under a ``tf.distribute`` strategy, Keras 3's TensorFlow trainer takes the first batch
        of every ``fit`` and ``evaluate`` (each validation too) and all-reduces it across the
        replicas (``strategy.reduce("MEAN", batch)``), only to learn the input's shape for
        building layers and compiled losses and metrics. This model has every variable from
        ``__init__`` and its losses and metrics are its own, so there is nothing to learn from a
        batch: the iterator is withheld and only the optimizer is built, if need be. Under
        ``MultiWorkerMirroredStrategy`` that reduction is a ``CollectiveReduceV2`` of the uint8
        images, which has no uint8 kernel: it stopped multi-worker training before the first
        step ("Value for attr 'T' of uint8 is not in the list of allowed values").
        """
        needs_batch = (
            not all(layer.built for layer in self._flatten_layers())
            or self._compile_loss is not None
            or self._compile_metrics is not None
        )
        if needs_batch:  # compiled with a loss or metrics of Keras': it builds them from a batch
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        return super()._maybe_symbolic_build()

    # -- inference ---------------------------------------------------------------------------
    def encode(self, images, training: bool = False):
        """Posterior parameters ``(mean, log_var)`` of images (uint8 or float in [0, 1])."""
        mean, log_var = self.encoder(images_to_float(images), training=training)
        return ops.cast(mean, "float32"), ops.cast(log_var, "float32")

    def decode(self, z, training: bool = False):
        """Per-pixel logits of p(x | z)."""
        return ops.cast(self.decoder(z, training=training), "float32")

    def decode_images(self, z):
        """The likelihood's mean image for ``z``, in [0, 1]."""
        return self.likelihood.mean(self.decode(z))

    def sample_noise(self, shape):
        """Standard-normal noise of the reparameterisation trick (override to fix it).

        Drawn from ``seed_generator`` (reproducible for a seed); under ``tf.distribute`` each
        replica offsets the seed by its id, so replicas draw independent noise.
        """
        seed = self.seed_generator.next()
        replica = tf.distribute.get_replica_context()
        if replica is not None and replica.num_replicas_in_sync > 1:
            offset = tf.cast(replica.replica_id_in_sync_group, seed.dtype)
            seed = seed + tf.stack([offset, tf.zeros_like(offset)])
        # Stateless ops want int32 seeds; the same mapping keras.random uses.
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), "int32")
        return tf.random.stateless_normal(shape, seed=seed)

    def sample_posterior(self, mean, log_var):
        """z = mean + exp(log_var / 2) * eps: the reparameterisation trick."""
        return mean + ops.exp(0.5 * log_var) * self.sample_noise(ops.shape(mean))

    def call(self, images, training: bool = False):
        """Reconstructions in [0, 1]: decodes a posterior sample in training, the mean otherwise."""
        mean, log_var = self.encode(images, training=training)
        z = self.sample_posterior(mean, log_var) if training else mean
        return self.likelihood.mean(self.decode(z, training=training))

    # -- training ----------------------------------------------------------------------------
    def compute_terms(self, images, training: bool = False) -> dict:
        """Every term of the objective for a batch, each averaged over the batch."""
        x = images_to_float(images)
        mean, log_var = self.encode(x, training=training)
        z = self.sample_posterior(mean, log_var)
        logits = self.decode(z, training=training)
        reconstruction = cross_replica_mean(
            ops.mean(self.likelihood.neg_log_likelihood(x, logits))
        )
        kl_per_dim = cross_replica_mean(ops.mean(gaussian_kl_per_dim(mean, log_var), axis=0))
        kl = ops.sum(kl_per_dim)
        loss, regulariser = self.objective(reconstruction, kl, self.capacity)
        return {
            "loss": loss,
            "reconstruction": reconstruction,
            "kl": kl,
            "regulariser": regulariser,
            "capacity": ops.convert_to_tensor(self.capacity),
            "elbo": -(reconstruction + kl),
            "kl_per_dim": kl_per_dim,
        }

    def _update_trackers(self, terms: dict) -> dict:
        for name, tracker in self._scalar_trackers.items():
            tracker.update_state(terms[name])
        for i, tracker in enumerate(self._kl_dim_trackers):
            tracker.update_state(terms["kl_per_dim"][i])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            terms = self.compute_terms(images, training=True)
            # Every replica holds the global loss (cross_replica_mean) and its gradient flows
            # back through its own share of the batch; tf.distribute then sums the replicas'
            # gradients, so the loss is scaled by 1/replicas (as Keras scales its losses).
            loss = terms["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
            loss = self.optimizer.scale_loss(loss)  # mixed precision loss scaling, if any
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return _step_logs(self._update_trackers(terms))

    def test_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return _step_logs(self._update_trackers(self.compute_terms(images, training=False)))

    # -- serialisation -----------------------------------------------------------------------
    def get_config(self) -> dict:
        serialize = keras.saving.serialize_keras_object
        return {
            "name": self.name,
            "encoder": serialize(self.encoder),
            "decoder": serialize(self.decoder),
            "likelihood": serialize(self.likelihood),
            "objective": serialize(self.objective),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict) -> "BetaVAE":
        config = dict(config)
        for key in ("encoder", "decoder", "likelihood", "objective"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
