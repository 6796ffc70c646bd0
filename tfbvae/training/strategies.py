"""``tf.distribute`` strategies by name, for users who outgrow one device."""

from __future__ import annotations

import json
import logging
import os
from typing import Sequence

import tensorflow as tf

from tfbvae.model.beta_vae import num_workers  # the model reduces its logs by it too
from tfbvae.names import STRATEGIES  # the apps read the names without TensorFlow

log = logging.getLogger(__name__)


def make_strategy(name: str, tpu: str | None = None) -> tf.distribute.Strategy:
    """The strategy called ``name``; create it before any other TensorFlow work.

    * ``default``: one device (TensorFlow's default strategy).
    * ``mirrored``: synchronous data parallelism over this machine's GPUs, or, without GPUs,
      over its logical CPU devices when there are several (else the one CPU).
    * ``multi_worker``: ``MultiWorkerMirroredStrategy``, the cluster read from ``TF_CONFIG``.
    * ``tpu``: ``TPUStrategy`` on the TPU named by ``tpu`` (``""``: the local or Colab TPU).

    The global batch is split across replicas; the model averages gradients over replicas.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        devices = [d.name for d in gpus] or ([d.name for d in cpus] if len(cpus) > 1 else None)
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            log.warning("--strategy=multi_worker without TF_CONFIG: training as a single worker.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as err:
            raise RuntimeError(
                f"No TPU found ({err}). Name the TPU with --tpu (its name or grpc:// address), "
                "or choose another --strategy."
            ) from err
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}: choose one of {STRATEGIES}.")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (checkpoints, logs, export).

    Every worker of a multi-worker run takes part in saving checkpoints (they hold collective
    ops), but only the chief's land in the run directory.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return task_type in (None, "chief") or (
        task_type == "worker" and task_id == 0 and "chief" not in cluster
    )


def sync_from_chief(strategy: tf.distribute.Strategy, variables: Sequence) -> None:
    """Gives every worker of a multi-worker run the chief's values of ``variables``.

    Only the chief reads the run directory (it restores the checkpoint), so every other worker
    takes the state it resumes from, step included, from the chief: the workers start from
    one state without reading the chief's files (no shared file system needed), and cannot
    start from different checkpoints. A collective: every worker must call it, with the same
    variables in the same order. Does nothing when one worker trains.

    The chief holds replica 0 (``MultiWorkerMirroredStrategy`` numbers the ``chief`` task's,
    else ``worker`` 0's, replicas first): replica 0 offers its values and every other replica
    zeros, and their sum is assigned on every worker.
    """
    if num_workers(strategy) == 1:
        return
    variables = list(variables)
    summable = (tf.float32, tf.float64, tf.int32, tf.int64)  # what collectives reduce
    unsupported = [v.name for v in variables if tf.as_dtype(v.dtype) not in summable]
    if unsupported:
        raise TypeError(f"sync_from_chief takes float32/64 and int32/64 variables: {unsupported}")

    def chief_values(context: tf.distribute.experimental.ValueContext) -> list[tf.Tensor]:
        first = context.replica_id_in_sync_group == 0
        return [tf.identity(v.value) if first else tf.zeros(v.shape, tf.as_dtype(v.dtype))
                for v in variables]

    offered = strategy.experimental_distribute_values_from_function(chief_values)
    for variable, values in zip(variables, offered):
        variable.assign(strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None))


def worker_id(strategy: tf.distribute.Strategy) -> str:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return "local"
    return f"{resolver.task_type}-{resolver.task_id}"
