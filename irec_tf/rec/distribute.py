"""tf.distribute for the two training loops (issue 14), over :mod:`shared_data.tfdist`.

* ``strategy``: ``default`` (one device: :mod:`rec.train`'s original step, untouched — a run without the new
  config entry / flag is bit-identical to before), ``mirrored`` (``MirroredStrategy`` over the local GPUs, or
  ``cpu_replicas`` logical CPU devices: the testing aid for CPU-only machines) or ``multiworker``
  (``MultiWorkerMirroredStrategy`` from ``$TF_CONFIG``).
* The config's ``batch_size`` stays the **global** batch (as in ``cpm_tf``): each of R replicas gets
  ``batch_size / R`` consecutive images of the global batch that a one-device run would see, so the recipe
  (learning rate, schedule) does not depend on R; ``batch_size`` must be a multiple of R.
* The reparameterisation noise of a distributed step is not the stateful ``tf.random.normal`` of the
  one-device step (each replica would draw its own stream): :func:`replica_noise` draws the *global* batch's
  standard normals with ``tf.random.stateless_normal`` keyed by (seed, step, sample index) and each replica
  keeps its rows. A distributed step is therefore the same function of (weights, global batch, step) for every
  replica count, and a run resumed under another replica count continues the same noise stream.
"""

from __future__ import annotations

from shared_data import tfdist
from shared_data.errors import ConfigError

STRATEGIES = tfdist.STRATEGIES


def check(strategy: str = "default", cpu_replicas: int | None = None, what: str = "--strategy") -> None:
    """One-line :class:`ConfigError` for a bad strategy name, ``cpu_replicas`` or ``$TF_CONFIG`` — before
    TensorFlow starts and before anything is written. ``what`` names the flag / config entry in the message."""
    try:
        tfdist.check_name(strategy)
    except ConfigError as e:
        raise ConfigError(str(e).replace(tfdist.FLAG, what, 1)) from None
    if cpu_replicas and (strategy != "mirrored" or cpu_replicas < 1):
        name = "--cpu_replicas" if what.startswith("--") else "cpu_replicas"
        raise ConfigError(f"{name} {cpu_replicas}: needs {what} mirrored and N >= 1")
    if strategy == "multiworker":
        tfdist.check_tf_config()


def make(strategy: str = "default", cpu_replicas: int | None = None):
    """The ``tf.distribute.Strategy`` of ``strategy``, or None for ``default`` (the one-device step)."""
    check(strategy, cpu_replicas)
    if strategy == "default":
        return None
    return tfdist.make_strategy(strategy, cpu_replicas=cpu_replicas or None)


def replica_noise(seed, step, replica, replicas):
    """``noise(i, shape)`` for the models' ``noise`` argument (:func:`rec.models.layers.sample_noise`): this
    replica's rows of the global batch's standard normals of sample ``i``, ``stateless_normal`` keyed by
    ``(seed, step·64 + i)``; ``shape`` is the replica's, its batch ``shape[0]``."""
    import tensorflow as tf

    def noise(i, shape):
        shape = tf.cast(shape, tf.int64)
        b = shape[0]
        full = tf.concat([[b * tf.cast(replicas, tf.int64)], shape[1:]], 0)
        key = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64) * 64 + i])
        eps = tf.random.stateless_normal(full, seed=key)
        r = tf.cast(replica, tf.int64)
        return eps[r * b:(r + 1) * b]
    return noise


def per_replica(strategy, batch: int) -> int:
    """Per-replica batch of a global ``batch`` (ConfigError unless the replicas divide it)."""
    r = tfdist.replicas(strategy)
    if batch % r:
        raise ConfigError(f"batch_size {batch} (the global batch) is not a multiple of the {r} replicas of the "
                          "strategy")
    return batch // r


def split_batch(strategy, x):
    """The global batch ``x`` (numpy, first axis) as per-replica values: replica k (global id, also across
    workers) gets rows ``[k·b, (k+1)·b)``. Every worker reads the same global batch (same seeded data)."""
    import tensorflow as tf

    b = per_replica(strategy, x.shape[0])

    def part(ctx):
        k = ctx.replica_id_in_sync_group
        return tf.constant(x[k * b:(k + 1) * b])
    return strategy.experimental_distribute_values_from_function(part)


def common_seed(strategy, seed: int) -> int:
    """The chief's ``seed`` on every worker (a collective: worker processes started without the same ``seed``
    — sacred draws one per process — still read the same global batches and draw the same noise)."""
    import tensorflow as tf

    def first(seed_value):
        ctx = tf.distribute.get_replica_context()
        return tf.where(tf.equal(ctx.replica_id_in_sync_group, 0), seed_value, tf.zeros_like(seed_value))
    out = strategy.run(first, args=(tf.constant(int(seed), tf.int64),))
    return int(strategy.reduce(tf.distribute.ReduceOp.SUM, out, axis=None).numpy())


def describe(strategy) -> dict:
    return {"type": type(strategy).__name__, "replicas": tfdist.replicas(strategy)}


__all__ = ["STRATEGIES", "check", "make", "replica_noise", "per_replica", "split_batch", "common_seed", "describe"]
