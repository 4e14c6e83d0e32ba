"""Training on several devices or machines: one context manager per ``--distribute`` choice.

=================  ============  ==========================================================
kind               backend       what ``strategy_scope(kind)`` sets up
=================  ============  ==========================================================
``none``           any           nothing; one replica on Keras' default device
``mirrored``       TensorFlow    ``tf.distribute.MirroredStrategy`` over every local GPU
                                 (or the ``devices`` given; one CPU replica without GPUs)
``multi-worker``   TensorFlow    ``tf.distribute.MultiWorkerMirroredStrategy``; the
                                 machines and this process's role come from ``TF_CONFIG``
``data-parallel``  JAX           ``keras.distribution.DataParallel`` over every local
                                 device (or the ``devices`` given)
=================  ============  ==========================================================

Build, compile and fit the model inside the ``with`` block: Keras binds a
model to the strategy that is current when the model is created.

Each training step takes one global batch (the ``batch_size`` given to
``fit``) and splits it evenly into one slice per replica. The ConvNetJS
semantics stay those of one device with that batch size, because Keras 3
(checked in 3.15: ``keras/src/losses/loss.py`` and
``keras/src/backend/tensorflow/trainer.py``) divides each replica's batch-mean
loss and its regularization losses by the number of replicas, and
``tf.distribute`` sums the replicas' gradients. An update therefore applies
the mean gradient over the global batch plus the ``ConvNetJSDecay`` term
once, which is what ConvNetJS's ``Trainer`` does for a batch of that size.
``DataParallel`` computes the loss on the global batch as one sharded array,
so the same holds on JAX. Both need the global batch size to be a multiple
of the number of replicas (see ``Replicas.per_replica_batch_size``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from typing import Any, Iterator, Sequence

from convnetjs_keras.errors import DistributionError, Problem

logger = logging.getLogger(__name__)

KINDS = ("none", "mirrored", "multi-worker", "data-parallel")

# The Keras backend each kind runs on; "none" runs on every backend.
REQUIRED_BACKEND = {"mirrored": "tensorflow", "multi-worker": "tensorflow", "data-parallel": "jax"}

# The TF_CONFIG jobs whose machines MultiWorkerMirroredStrategy trains on. Its
# other jobs ("evaluator", and "ps" for parameter servers) are rejected here.
TF_CONFIG_JOBS = ("chief", "worker")


@dataclasses.dataclass(frozen=True)
class Replicas:
    """The replicas that ``strategy_scope`` set up.

    ``strategy`` is the ``tf.distribute.Strategy`` for ``mirrored`` and
    ``multi-worker``, the ``keras.distribution.DataParallel`` for
    ``data-parallel``, and None for ``none``. ``num_replicas`` counts the
    replicas of the whole cluster, so on several machines it is the total.
    """

    kind: str
    num_replicas: int
    strategy: Any = None

    def per_replica_batch_size(self, global_batch_size: int) -> int:
        """Return the examples each replica computes per step for ``fit(batch_size=global_batch_size)``.

        Raises:
            DistributionError: ``global_batch_size`` is not a positive
                multiple of ``num_replicas``. With uneven slices Keras would
                average each replica's loss over a different number of
                examples, which is no longer ConvNetJS's batch mean.
        """
        if isinstance(global_batch_size, bool) or not isinstance(global_batch_size, int) or global_batch_size < 1:
            raise DistributionError(Problem(f"is {global_batch_size!r}; expected a positive integer.",
                                            field="batch_size"))
        if global_batch_size % self.num_replicas:
            lower = global_batch_size - global_batch_size % self.num_replicas
            upper = lower + self.num_replicas
            suggestions = f"{lower} or {upper}" if lower else str(upper)
            raise DistributionError(Problem(
                f"is {global_batch_size}, which does not split evenly over the {self.num_replicas} replicas "
                f"of '{self.kind}'.", field="batch_size",
                hint=f"Use a multiple of {self.num_replicas}, such as {suggestions}, and set the trainer's "
                     "batch_size to the same number."))
        return global_batch_size // self.num_replicas


def _current_backend() -> str:
    import keras

    return keras.backend.backend()


def _check_kind(kind: str, backend: str) -> None:
    if kind not in KINDS:
        raise DistributionError(Problem(f"is {kind!r}; expected one of {', '.join(KINDS)}.", field="distribute"))
    required = REQUIRED_BACKEND.get(kind)
    if required is not None and backend != required:
        other = "data-parallel (JAX)" if required == "tensorflow" else "mirrored or multi-worker (TensorFlow)"
        raise DistributionError(Problem(
            f"'{kind}' needs Keras' {required} backend, but Keras runs on {backend}.", field="distribute",
            hint=f"Set KERAS_BACKEND={required} before starting Python, or use {other} on that backend."))


def _is_host_port(address) -> bool:
    if not isinstance(address, str):
        return False
    host, _, port = address.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def read_tf_config(text: str | None = None) -> dict:
    """Parse and check ``TF_CONFIG`` for ``MultiWorkerMirroredStrategy``.

    ``text`` defaults to the ``TF_CONFIG`` environment variable. The expected
    form, with the same ``cluster`` on every machine and a different
    ``index`` on each::

        {"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
         "task": {"type": "worker", "index": 0}}

    A ``chief`` job (one address) may join the ``worker`` job.

    Returns:
        The parsed object.

    Raises:
        DistributionError: listing every problem found.
    """
    source = "TF_CONFIG"
    if text is None:
        text = os.environ.get("TF_CONFIG")
    if text is None or not text.strip():
        raise DistributionError(Problem(
            "is not set; multi-worker training reads the list of machines and this machine's index from it.",
            source=source,
            hint='Set it on each machine, e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", '
                 '"host2:12345"]}, "task": {"type": "worker", "index": 0}}\' with index 1 on the second machine.'))
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise DistributionError(Problem(f"is not valid JSON: {error}.", source=source)) from None
    if not isinstance(config, dict):
        raise DistributionError(Problem(f"is a JSON {type(config).__name__}; expected an object with 'cluster' "
                                        "and 'task'.", source=source))

    problems: list[Problem] = []

    def problem(field, message, element=None, hint=None):
        problems.append(Problem(message, source=source, field=field, element=element, hint=hint))

    cluster = config.get("cluster")
    jobs: dict[str, list] = {}
    if not isinstance(cluster, dict) or not cluster:
        problem("cluster", f"is {'missing' if cluster is None else repr(cluster)}; expected an object such as "
                           '{"worker": ["host1:12345", "host2:12345"]}.')
    else:
        for job, addresses in cluster.items():
            if job not in TF_CONFIG_JOBS:
                problem("cluster", f"has job {job!r}, which multi-worker training does not use.",
                        hint=f"Use only {' and '.join(TF_CONFIG_JOBS)}. Parameter servers ('ps') and "
                             "evaluators need other TensorFlow strategies, which this tool does not set up.")
                continue
            if not isinstance(addresses, list) or not addresses:
                problem(f"cluster.{job}", f"is {addresses!r}; expected a non-empty list of 'host:port' strings.")
                continue
            for i, address in enumerate(addresses):
                if not _is_host_port(address):
                    problem(f"cluster.{job}", f"is {address!r}; expected 'host:port', e.g. '10.0.0.1:12345'.",
                            element=i)
            jobs[job] = addresses
        if "chief" in jobs and len(jobs["chief"]) != 1:
            problem("cluster.chief", f"lists {len(jobs['chief'])} addresses; expected exactly one.")

    task = config.get("task")
    if not isinstance(task, dict):
        problem("task", f"is {'missing' if task is None else repr(task)}; expected an object such as "
                        '{"type": "worker", "index": 0}.')
    else:
        task_type = task.get("type")
        index = task.get("index", 0)
        if task_type not in TF_CONFIG_JOBS:
            problem("task.type", f"is {task_type!r}; expected 'worker' or 'chief'.")
        elif jobs and task_type not in jobs:
            problem("task.type", f"is {task_type!r}, but the cluster has no {task_type!r} job.")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            problem("task.index", f"is {index!r}; expected a non-negative integer.")
        elif task_type in jobs and index >= len(jobs[task_type]):
            problem("task.index", f"is {index}, but the {task_type!r} job lists only {len(jobs[task_type])} "
                                  f"address(es), so the index must be below {len(jobs[task_type])}.")
    if problems:
        raise DistributionError(problems)
    return config


def _mirrored(devices: Sequence[str] | None):
    import tensorflow as tf

    if devices is None and not tf.config.list_logical_devices("GPU"):
        logger.warning("mirrored: TensorFlow sees no GPU, so training runs as one replica on the CPU.")
    try:
        return tf.distribute.MirroredStrategy(devices=None if devices is None else list(devices))
    except (ValueError, RuntimeError) as error:
        raise DistributionError(Problem(f"cannot be set up on devices {devices!r}: {error}", field="distribute",
                                        hint="List the devices with tf.config.list_logical_devices().")) from error


def _multi_worker_strategy_class():
    import tensorflow as tf

    class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """``MultiWorkerMirroredStrategy`` whose ``reduce`` accepts what Keras 3 passes it.

        Keras 3.15's TensorFlow trainer calls ``strategy.reduce`` on the
        ``(x, y)`` tuple of the first batch to build the model, and with
        ``axis=0`` on scalar metrics (``_maybe_symbolic_build`` and
        ``reduce_per_replica`` in ``keras/src/backend/tensorflow/trainer.py``).
        ``MultiWorkerMirroredStrategy`` rejects both, so ``fit`` fails. This
        reduces each element of a nested value separately and reduces a
        scalar across replicas only.
        """

        def reduce(self, reduce_op, value, axis=None):
            parent = super()

            def reduce_one(item):
                local = self.experimental_local_results(item)[0]
                item_axis = None if axis is not None and local.shape.rank == 0 else axis
                return parent.reduce(reduce_op, item, axis=item_axis)

            return tf.nest.map_structure(reduce_one, value)

    return MultiWorkerStrategy


def _multi_worker():
    config = read_tf_config()
    try:
        strategy = _multi_worker_strategy_class()()
    except RuntimeError as error:
        # TensorFlow configures collective ops when its runtime starts.
        raise DistributionError(Problem(
            f"could not start: {error}", field="distribute",
            hint="Enter strategy_scope('multi-worker') before building a model or running any TensorFlow "
                 "operation in this process.")) from error
    task = config["task"]
    logger.info("multi-worker: %s %d of a cluster of %s", task["type"], task.get("index", 0),
                {job: len(addresses) for job, addresses in config["cluster"].items()})
    return strategy


def _data_parallel(devices: Sequence[str] | None):
    import keras

    if devices is not None:
        devices = list(devices)
    try:
        distribution = keras.distribution.DataParallel(devices=devices)
    except (ValueError, RuntimeError) as error:
        raise DistributionError(Problem(f"cannot be set up on devices {devices!r}: {error}", field="distribute",
                                        hint="List the devices with keras.distribution.list_devices().")) from error
    if distribution.device_mesh.devices.size == 1:
        logger.warning("data-parallel: JAX sees one device, so training runs as one replica.")
    return distribution


@contextlib.contextmanager
def strategy_scope(kind: str = "none", *, devices: Sequence[str] | None = None) -> Iterator[Replicas]:
    """Run the enclosed model building, compiling and training under distribution ``kind``.

    See the table in this module's docstring. The previous strategy or
    distribution is current again after the block.

    Args:
        kind: ``"none"``, ``"mirrored"``, ``"multi-worker"`` or ``"data-parallel"``.
        devices: for ``mirrored``, TensorFlow device names such as
            ``["/gpu:0", "/gpu:1"]``; for ``data-parallel``, Keras device
            names such as ``["gpu:0", "gpu:1"]``. Default `None`: every
            local GPU, or the CPU when there is none.

    Yields:
        A ``Replicas`` with the number of replicas and the strategy.

    Raises:
        DistributionError: ``kind`` is unknown, does not run on the current
            Keras backend, ``devices`` is given for a kind that takes none,
            ``TF_CONFIG`` is missing or invalid, or the strategy cannot start.
    """
    backend = _current_backend()
    _check_kind(kind, backend)
    if devices is not None and kind not in ("mirrored", "data-parallel"):
        raise DistributionError(Problem(f"devices {list(devices)!r} were given, but '{kind}' takes none.",
                                        field="distribute",
                                        hint="Pass devices only with mirrored or data-parallel."))

    if kind == "none":
        yield Replicas(kind, 1, None)
        return

    if kind == "data-parallel":
        distribution = _data_parallel(devices)
        replicas = Replicas(kind, int(distribution.device_mesh.devices.size), distribution)
        logger.info("data-parallel: %d replicas", replicas.num_replicas)
        with distribution.scope():
            yield replicas
        return

    strategy = _mirrored(devices) if kind == "mirrored" else _multi_worker()
    replicas = Replicas(kind, int(strategy.num_replicas_in_sync), strategy)
    logger.info("%s: %d replicas", kind, replicas.num_replicas)
    with strategy.scope():
        yield replicas
