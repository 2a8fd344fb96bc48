"""tf.distribute for the three TensorFlow sub-projects (``cpm_tf``, ``sga_tf``, ``irec_tf``): one flag, one
strategy factory, one TF_CONFIG check (TensorFlow is imported inside the functions, so this module stays
importable from framework-free code)::

    ddp-like use in a training script:
        tfdist.add_strategy_argument(parser)                    # --strategy default|mirrored|multiworker
        strategy = tfdist.make_strategy(args.strategy)          # ConfigError (one line) for a bad name / TF_CONFIG
        with strategy.scope(): model, optimizer = ...
        global_batch = tfdist.global_batch(per_replica, strategy)
        loss = tfdist.average(per_example_loss, global_batch)   # tf.nn.compute_average_loss
        if tfdist.is_chief(): manager.save()                    # checkpoints written once

* ``default``: one device (TF's default strategy; the original scripts' behaviour).
* ``mirrored``: ``MirroredStrategy`` over the local GPUs (or, for tests on a CPU-only machine, over logical
  CPU devices made by :func:`split_cpu` before TensorFlow starts).
* ``multiworker``: ``MultiWorkerMirroredStrategy`` configured from ``TF_CONFIG`` (checked first: valid JSON with
  ``cluster.worker`` addresses and a ``task`` of type ``worker``/``chief`` whose index exists). Inside a SLURM job
  step (``srun``) with no ``TF_CONFIG``, it is derived from the step's variables by TensorFlow's
  ``SlurmClusterResolver`` (:func:`tf_config_from_slurm`; one worker per task, ports from
  ``$LIC_TF_PORT_BASE``, default 8888; GPUs are left as SLURM binds them, e.g. ``--gpus-per-task``).

Global batch = per-replica batch × replicas; the loss is summed per replica and divided by the global batch
(``tf.nn.compute_average_loss``), so a 2-replica step equals a 1-replica step on the same global batch.
"""

from __future__ import annotations

import json
import os

from .errors import ConfigError

STRATEGIES = ("default", "mirrored", "multiworker")
FLAG = "--strategy"


def add_strategy_argument(parser, default: str = "default") -> None:
    """``--strategy {default,mirrored,multiworker}`` on a training parser."""
    parser.add_argument(FLAG, default=default, metavar="|".join(STRATEGIES),
                        help="tf.distribute strategy: default (one device), mirrored (local GPUs), multiworker "
                             "(MultiWorkerMirroredStrategy from $TF_CONFIG); global batch = batch × replicas")


def check_name(name: str) -> str:
    if name not in STRATEGIES:
        raise ConfigError(f"{FLAG} {name!r}: unknown strategy; use one of {', '.join(STRATEGIES)}")
    return name


def check_tf_config(text: str | None = None) -> dict:
    """Parse and check ``$TF_CONFIG`` (or ``text``); :class:`ConfigError` naming the variable and the problem."""
    raw = os.environ.get("TF_CONFIG", "") if text is None else text
    if not raw.strip():
        raise ConfigError(f"TF_CONFIG is not set (and this is not a SLURM job step): {FLAG} multiworker needs it, e.g. "
                          '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}')
    try:
        cfg = json.loads(raw)
    except ValueError as e:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({e})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("cluster"), dict):
        raise ConfigError("TF_CONFIG: needs a 'cluster' object (e.g. {\"worker\": [\"host:port\", ...]})")
    cluster, task = cfg["cluster"], cfg.get("task")
    for role, addrs in cluster.items():
        if not isinstance(addrs, list) or not addrs or not all(isinstance(a, str) and ":" in a for a in addrs):
            raise ConfigError(f"TF_CONFIG: cluster.{role} must be a non-empty list of 'host:port' strings")
    if "worker" not in cluster and "chief" not in cluster:
        raise ConfigError("TF_CONFIG: cluster has neither 'worker' nor 'chief'")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ConfigError(f"TF_CONFIG: task.type must be one of the cluster's roles {sorted(cluster)}")
    idx = task.get("index")
    if not isinstance(idx, int) or not 0 <= idx < len(cluster[task["type"]]):
        raise ConfigError(f"TF_CONFIG: task.index {idx!r} is not an index of cluster.{task['type']}")
    return cfg


SLURM_STEP_VARS = ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_STEP_NODELIST", "SLURM_STEP_TASKS_PER_NODE")


def tf_config_from_slurm() -> dict | None:
    """``TF_CONFIG`` of this task of a SLURM job step, or None outside one (not all of :data:`SLURM_STEP_VARS`
    set). One ``worker`` per task, in the order of TensorFlow's ``SlurmClusterResolver`` (hosts sorted, tasks of a
    host on consecutive ports from ``$LIC_TF_PORT_BASE``, default 8888); task index = ``SLURM_PROCID``. GPU
    placement is not changed (SLURM's ``--gpus-per-task`` / ``--gpu-bind`` decide what each task sees)."""
    if not all(os.environ.get(v) for v in SLURM_STEP_VARS):
        return None
    try:
        port = int(os.environ.get("LIC_TF_PORT_BASE", "8888"))
    except ValueError:
        raise ConfigError(f"LIC_TF_PORT_BASE={os.environ['LIC_TF_PORT_BASE']!r} is not a port number") from None
    import tensorflow as tf
    from tensorflow.python.distribute.cluster_resolver.slurm_cluster_resolver import expand_tasks_per_node

    try:
        most = max(expand_tasks_per_node(os.environ["SLURM_STEP_TASKS_PER_NODE"]))
        # gpus_per_node/task only steer CUDA_VISIBLE_DEVICES, which auto_set_gpu=False leaves alone; they must
        # just not cap the tasks per host (the resolver pairs each task with a GPU slot)
        res = tf.distribute.cluster_resolver.SlurmClusterResolver(port_base=port, auto_set_gpu=False, gpus_per_node=most, gpus_per_task=1)
        spec = res.cluster_spec().as_dict()
    except (RuntimeError, ValueError) as e:
        raise ConfigError(f"SLURM job step variables do not describe a cluster ({e})") from None
    return {"cluster": {"worker": list(spec["worker"])}, "task": {"type": "worker", "index": int(res.task_id)}}


def split_cpu(n: int) -> None:
    """Split the CPU into ``n`` logical devices (call before TensorFlow runs anything): MirroredStrategy then
    has ``n`` replicas on a CPU-only machine — how the tests check distributed training here."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    if len(tf.config.get_logical_device_configuration(cpus[0]) or ()) >= n:
        return  # an earlier split (not yet in effect) already gives n devices: keep it, do not shrink it
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as e:
        raise ConfigError(f"cannot split the CPU into {n} devices: TensorFlow has already started ({e})") from None


def make_strategy(name: str = "default", cpu_replicas: int | None = None):
    """The ``tf.distribute.Strategy`` of ``name``. ``cpu_replicas`` (mirrored, no GPU): that many logical CPU
    devices (:func:`split_cpu`)."""
    check_name(name)
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG", "").strip():
            cfg = tf_config_from_slurm()
            if cfg is not None:  # set for TensorFlow and for is_chief / write_dir
                os.environ["TF_CONFIG"] = json.dumps(cfg)
        check_tf_config()
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_physical_devices("GPU")
        if cpu_replicas:
            try:
                split_cpu(cpu_replicas)
            except ConfigError:  # TF started already: fine if an earlier split made enough devices
                if len(tf.config.list_logical_devices("CPU")) < cpu_replicas:
                    raise
            devices = [d.name for d in tf.config.list_logical_devices("CPU")][:cpu_replicas]
            return tf.distribute.MirroredStrategy(devices=devices)
        return tf.distribute.MirroredStrategy() if gpus else tf.distribute.MirroredStrategy(["/cpu:0"])
    comm = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=comm)


def replicas(strategy) -> int:
    return int(strategy.num_replicas_in_sync)


def global_batch(per_replica: int, strategy) -> int:
    """Per-replica batch × replicas in sync."""
    return int(per_replica) * replicas(strategy)


def average(per_example_loss, global_batch_size: int):
    """Sum over this replica's examples / the global batch (``tf.nn.compute_average_loss``): the gradients
    summed across replicas then equal one device's on the whole batch."""
    import tensorflow as tf

    return tf.nn.compute_average_loss(per_example_loss, global_batch_size=global_batch_size)


def is_chief() -> bool:
    """True unless ``TF_CONFIG`` names this process a non-chief worker (checkpoints and logs are written by
    the chief only: task type ``chief``, or ``worker`` 0 when the cluster has no chief)."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw.strip():
        return True
    try:
        cfg = json.loads(raw)
        task, cluster = cfg.get("task", {}), cfg.get("cluster", {})
    except (ValueError, AttributeError):
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index") == 0 and "chief" not in cluster


def write_dir(base: str | os.PathLike) -> str:
    """Where this worker writes a checkpoint: ``base`` for the chief, a private temporary folder for the others
    (every worker must take part in a MultiWorkerMirroredStrategy save; only the chief's copy is kept —
    call :func:`discard_write_dir` after saving)."""
    if is_chief():
        return str(base)
    idx = json.loads(os.environ["TF_CONFIG"]).get("task", {}).get("index", 0)
    return os.path.join(str(base), f".worker-{idx}.tmp")


def discard_write_dir(path: str | os.PathLike) -> None:
    """Remove a non-chief worker's temporary checkpoint folder (no-op for the chief)."""
    import shutil
    if not is_chief():
        shutil.rmtree(path, ignore_errors=True)


__all__ = ["write_dir", "discard_write_dir", "STRATEGIES", "add_strategy_argument", "check_name", "check_tf_config", "split_cpu", "make_strategy",
           "replicas", "global_batch", "average", "is_chief"]
