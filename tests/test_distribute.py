"""``convnetjs_keras.distribute``: its errors, and distributed training that equals one device.

The error tests run on every Keras backend. The training tests start their
own Python processes, because device counts, ``TF_CONFIG`` and the Keras
backend are fixed when TensorFlow or JAX starts:

- ``mirrored`` on two logical CPUs of one TensorFlow process;
- ``multi-worker`` with two worker processes on 127.0.0.1, through the library
  and through ``convnetjs-keras train``;
- ``data-parallel`` on two JAX host devices.

Each compares the trained weights with single-device training on the same
data, and the TensorFlow runs also with ConvNetJS 0.3.0 training in Node.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from convnetjs_compare import weights_of
from convnetjs_keras.distribute import KINDS, REQUIRED_BACKEND, Replicas, read_tf_config, strategy_scope
from convnetjs_keras.errors import DistributionError
from convnetjs_node import node_train

BACKEND = keras.backend.backend()

LAYER_DEFS = [
    {"type": "input", "out_sx": 6, "out_sy": 6, "out_depth": 2},
    {"type": "conv", "sx": 3, "filters": 3, "stride": 1, "pad": 1, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "fc", "num_neurons": 5, "activation": "tanh"},
    {"type": "softmax", "num_classes": 3},
]

# Large decay rates, so that counting the decay once per replica instead of
# once per update would change the weights far beyond the tolerance.
SGD_TRAINER = {"method": "sgd", "learning_rate": 0.05, "momentum": 0.9, "batch_size": 4, "l2_decay": 0.1,
               "l1_decay": 0.01}
ADAM_TRAINER = {"method": "adam", "learning_rate": 0.01, "batch_size": 4, "l2_decay": 0.1}
EPOCHS = 2
EXAMPLES = 16  # a multiple of the batch size, so every Keras step is a full ConvNetJS batch

# Largest relative weight difference between distributed and single-device
# training: float64 differs by summation order only; float32 (JAX) by rounding.
RELATIVE_TOLERANCE = {"float64": 1e-6, "float32": 1e-5}

# Seconds each training subprocess may run, TensorFlow's start-up included.
SUBPROCESS_TIMEOUT_S = 150

# Trains LAYER_DEFS once per entry of request["runs"] and saves the trained
# snapshots. It is a separate process because the device layout, TF_CONFIG and
# the backend must be set before TensorFlow or JAX starts.
TRAIN_SCRIPT = r'''
import json
import sys

request = json.loads(open(sys.argv[1], encoding="utf-8").read())
if request.get("logical_cpus"):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * request["logical_cpus"])

import numpy as np
import keras

# fit() casts NumPy inputs to floatx, so float64 training needs floatx float64.
keras.config.set_floatx(request["dtype"])

import convnetjs_keras as ck
from convnetjs_keras.distribute import strategy_scope
from convnetjs_keras.training import compile_like_convnetjs

data = np.load(request["data"])
x, y = data["x"].astype(request["dtype"]), data["y"]
results = {}
for run in request["runs"]:
    with strategy_scope(run["kind"], devices=run.get("devices")) as replicas:
        model = ck.from_layer_defs(request["layer_defs"], seed=request["seed"], dtype=request["dtype"])
        compile_like_convnetjs(model, run["trainer"])
        model.fit(x, y, batch_size=run["trainer"]["batch_size"], epochs=request["epochs"], shuffle=False,
                  verbose=0)
    results[run["name"]] = {"replicas": replicas.num_replicas, "snapshot": ck.to_snapshot(model)}
with open(request["out"], "w", encoding="utf-8") as out:
    json.dump(results, out)
'''


# --- errors, on every backend ---------------------------------------------

WRONG_BACKEND_KINDS = [kind for kind, backend in REQUIRED_BACKEND.items() if backend != BACKEND]


@pytest.mark.backend_independent
def test_unknown_kind_raises():
    with pytest.raises(DistributionError, match=r"'horovod'; expected one of none, mirrored, multi-worker, "
                                                r"data-parallel"):
        with strategy_scope("horovod"):
            pass


@pytest.mark.backend_independent
@pytest.mark.parametrize("kind", WRONG_BACKEND_KINDS)
def test_kind_on_wrong_backend_raises(kind):
    required = REQUIRED_BACKEND[kind]
    with pytest.raises(DistributionError, match=f"'{kind}' needs Keras' {required} backend, but Keras runs on "
                                                f"{BACKEND}.*KERAS_BACKEND={required}"):
        with strategy_scope(kind):
            pass


@pytest.mark.backend_independent
def test_none_yields_one_replica():
    with strategy_scope("none") as replicas:
        assert replicas == Replicas("none", 1, None)
    assert set(KINDS) == {"none", *REQUIRED_BACKEND}


@pytest.mark.backend_independent
def test_devices_for_none_raises():
    with pytest.raises(DistributionError, match=r"devices \['cpu:0'\] were given, but 'none' takes none"):
        with strategy_scope("none", devices=["cpu:0"]):
            pass


@pytest.mark.backend_independent
@pytest.mark.parametrize(("global_batch", "replicas", "expected"), [(8, 2, 4), (4, 4, 1), (3, 1, 3)])
def test_per_replica_batch_size_divides(global_batch, replicas, expected):
    assert Replicas("mirrored", replicas).per_replica_batch_size(global_batch) == expected


@pytest.mark.backend_independent
@pytest.mark.parametrize(("global_batch", "message"), [
    (6, r"is 6, which does not split evenly over the 4 replicas of 'mirrored'.*such as 4 or 8"),
    (3, r"is 3, which does not split evenly over the 4 replicas.*such as 4, and set the trainer's batch_size"),
    (0, r"field 'batch_size': is 0; expected a positive integer"),
    (2.0, r"is 2.0; expected a positive integer"),
])
def test_per_replica_batch_size_uneven_raises(global_batch, message):
    with pytest.raises(DistributionError, match=message):
        Replicas("mirrored", 4).per_replica_batch_size(global_batch)


TWO_WORKERS = {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}

TF_CONFIG_ERRORS = {
    "empty": ("", r"TF_CONFIG: is not set.*\"task\": \{\"type\": \"worker\", \"index\": 0\}"),
    "not_json": ("{cluster: 1}", r"TF_CONFIG: is not valid JSON"),
    "list": ("[1, 2]", r"is a JSON list; expected an object with 'cluster' and 'task'"),
    "no_cluster": (json.dumps({"task": {"type": "worker", "index": 0}}),
                   r"field 'cluster': is missing; expected an object"),
    "no_task": (json.dumps({"cluster": TWO_WORKERS}), r"field 'task': is missing"),
    "index_too_large": (json.dumps({"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 2}}),
                        r"field 'task.index': is 2, but the 'worker' job lists only 2 address\(es\)"),
    "negative_index": (json.dumps({"cluster": TWO_WORKERS, "task": {"type": "worker", "index": -1}}),
                       r"field 'task.index': is -1; expected a non-negative integer"),
    "bad_address": (json.dumps({"cluster": {"worker": ["10.0.0.1", "h:2"]}, "task": {"type": "worker"}}),
                    r"field 'cluster.worker' \[0\]: is '10.0.0.1'; expected 'host:port'"),
    "parameter_server": (json.dumps({"cluster": {"worker": ["h:1"], "ps": ["h:2"]},
                                     "task": {"type": "worker", "index": 0}}),
                         r"has job 'ps', which multi-worker training does not use.*Parameter servers"),
    "evaluator_task": (json.dumps({"cluster": TWO_WORKERS, "task": {"type": "evaluator", "index": 0}}),
                       r"field 'task.type': is 'evaluator'; expected 'worker' or 'chief'"),
    "two_chiefs": (json.dumps({"cluster": {"chief": ["a:1", "b:1"], "worker": ["c:1"]},
                               "task": {"type": "worker", "index": 0}}),
                   r"field 'cluster.chief': lists 2 addresses; expected exactly one"),
}


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", list(TF_CONFIG_ERRORS))
def test_invalid_tf_config_raises(name):
    text, message = TF_CONFIG_ERRORS[name]
    with pytest.raises(DistributionError, match=message):
        read_tf_config(text)


@pytest.mark.backend_independent
def test_tf_config_lists_every_problem():
    text = json.dumps({"cluster": {"worker": ["nohost"], "ps": ["h:2"]}, "task": {"type": "ps", "index": "0"}})
    with pytest.raises(DistributionError) as raised:
        read_tf_config(text)
    fields = [problem.field for problem in raised.value.problems]
    assert fields == ["cluster.worker", "cluster", "task.type", "task.index"]


@pytest.mark.backend_independent
def test_valid_tf_config_parses():
    text = json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "chief", "index": 0}})
    assert read_tf_config(text)["task"] == {"type": "chief", "index": 0}


@pytest.mark.skipif(BACKEND != "tensorflow", reason="multi-worker runs on the TensorFlow backend only")
def test_multi_worker_without_tf_config_raises(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(DistributionError, match="TF_CONFIG: is not set"):
        with strategy_scope("multi-worker"):
            pass


# --- distributed training, in subprocesses ----------------------------------

def _training_data(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(EXAMPLES, 6, 6, 2))
    y = rng.integers(0, 3, size=EXAMPLES)
    np.savez(path, x=x, y=y)
    return x, y


def _request(tmp_path: Path, name: str, runs: list, *, dtype: str = "float64", **extra) -> Path:
    request = {"layer_defs": LAYER_DEFS, "seed": 1, "epochs": EPOCHS, "dtype": dtype,
               "data": str(tmp_path / "data.npz"), "out": str(tmp_path / f"{name}.json"), "runs": runs, **extra}
    path = tmp_path / f"{name}_request.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    return path


def _environment(backend: str, **extra) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", **extra)
    return env


def _run_training(tmp_path: Path, request: Path, env: dict) -> dict:
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT, encoding="utf-8")
    completed = subprocess.run([sys.executable, str(script), str(request)], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, check=False)
    assert completed.returncode == 0, f"training process failed:\n{completed.stderr[-4000:]}"
    out = json.loads(request.read_text(encoding="utf-8"))["out"]
    return json.loads(Path(out).read_text(encoding="utf-8"))


def _largest_relative_difference(snapshot_a: dict, snapshot_b: dict) -> float:
    a, b = weights_of(snapshot_a), weights_of(snapshot_b)
    assert [w.shape for w in a] == [w.shape for w in b]
    return max(float(np.max(np.abs(u - v))) / max(1.0, float(np.max(np.abs(u)))) for u, v in zip(a, b))


def _initial_snapshot() -> dict:
    from convnetjs_keras.model import from_layer_defs, to_snapshot

    return to_snapshot(from_layer_defs(LAYER_DEFS, seed=1, dtype="float64"))


def _assert_matches_node(snapshot: dict, x: np.ndarray, y: np.ndarray, trainer: dict) -> None:
    """Train the same initial net in ConvNetJS 0.3.0 and compare the weights."""
    expected, _ = node_train(_initial_snapshot(), trainer, x, y, epochs=EPOCHS)
    difference = _largest_relative_difference(expected, snapshot)
    assert difference < 1e-9, f"weights differ from ConvNetJS's by {difference:.3g} (relative)"


def test_mirrored_on_two_cpus_matches_one_device(tmp_path):
    x, y = _training_data(tmp_path / "data.npz")
    runs = []
    for label, trainer in (("sgd", SGD_TRAINER), ("adam", ADAM_TRAINER)):
        runs.append({"name": f"{label}_single", "kind": "none", "trainer": trainer})
        runs.append({"name": f"{label}_mirrored", "kind": "mirrored", "devices": ["/cpu:0", "/cpu:1"],
                     "trainer": trainer})
    runs.append({"name": "sgd_double_decay", "kind": "none",
                 "trainer": dict(SGD_TRAINER, l2_decay=2 * SGD_TRAINER["l2_decay"])})
    request = _request(tmp_path, "mirrored", runs, logical_cpus=2)

    results = _run_training(tmp_path, request, _environment("tensorflow"))

    assert results["sgd_mirrored"]["replicas"] == 2
    for label in ("sgd", "adam"):
        difference = _largest_relative_difference(results[f"{label}_single"]["snapshot"],
                                                  results[f"{label}_mirrored"]["snapshot"])
        assert difference < RELATIVE_TOLERANCE["float64"], f"{label}: mirrored differs by {difference:.3g}"
    # The decay changes the weights far more than the tolerance, so a decay
    # counted once per replica would fail the comparison above.
    assert _largest_relative_difference(results["sgd_single"]["snapshot"],
                                        results["sgd_double_decay"]["snapshot"]) > 1e-3
    _assert_matches_node(results["sgd_mirrored"]["snapshot"], x, y, SGD_TRAINER)


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _run_two_workers(tmp_path: Path, command_for_worker) -> None:
    """Run ``command_for_worker(index)`` for workers 0 and 1 of one cluster on 127.0.0.1.

    Both are killed when they have not finished within SUBPROCESS_TIMEOUT_S,
    because a worker waiting for a missing peer ignores SIGTERM.
    """
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        log = open(tmp_path / f"worker{index}.log", "w", encoding="utf-8")
        process = subprocess.Popen(command_for_worker(index), cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                   env=_environment("tensorflow", TF_CONFIG=tf_config))
        workers.append((process, log))

    deadline = time.monotonic() + SUBPROCESS_TIMEOUT_S
    try:
        for process, _ in workers:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the two workers did not finish within {SUBPROCESS_TIMEOUT_S} s")
    finally:
        for process, log in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()

    for index, (process, _) in enumerate(workers):
        log_text = (tmp_path / f"worker{index}.log").read_text(encoding="utf-8")
        assert process.returncode == 0, f"worker {index} failed:\n{log_text[-4000:]}"


def test_multi_worker_two_processes_agree(tmp_path):
    x, y = _training_data(tmp_path / "data.npz")
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT, encoding="utf-8")
    requests = [_request(tmp_path, f"worker{index}",
                         [{"name": "multi_worker", "kind": "multi-worker", "trainer": SGD_TRAINER}])
                for index in range(2)]

    _run_two_workers(tmp_path, lambda index: [sys.executable, str(script), str(requests[index])])

    results = [json.loads((tmp_path / f"worker{index}.json").read_text(encoding="utf-8"))["multi_worker"]
               for index in range(2)]
    assert [result["replicas"] for result in results] == [2, 2]
    assert _largest_relative_difference(results[0]["snapshot"], results[1]["snapshot"]) == 0.0
    _assert_matches_node(results[0]["snapshot"], x, y, SGD_TRAINER)


def test_cli_multi_worker_two_processes_agree(tmp_path):
    """``convnetjs-keras train --distribute multi-worker``, which also shuffles and validates."""
    _training_data(tmp_path / "data.npz")
    net = tmp_path / "net.json"
    net.write_text(json.dumps(_initial_snapshot()), encoding="utf-8")
    trainer = json.dumps(SGD_TRAINER)

    def command(index):
        return [sys.executable, "-m", "convnetjs_keras", "train", str(net), "--data", str(tmp_path / "data.npz"),
                "--epochs", str(EPOCHS), "--trainer", trainer, "--seed", "3", "--validation-split", "0.25",
                "--steps-per-execution", "2", "--distribute", "multi-worker", "--out", str(tmp_path / f"run{index}")]

    _run_two_workers(tmp_path, command)

    log = (tmp_path / "worker0.log").read_text(encoding="utf-8")
    assert "multi-worker: 2 replicas" in log
    assert "--steps-per-execution 2 is ignored: multi-worker training runs one step per execution" in log
    assert "steps per execution 1" in log
    snapshots = [json.loads((tmp_path / f"run{index}" / "snapshot.json").read_text(encoding="utf-8"))
                 for index in range(2)]
    assert _largest_relative_difference(*snapshots) == 0.0
    assert _largest_relative_difference(_initial_snapshot(), snapshots[0]) > 1e-3


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install jax)")
def test_jax_data_parallel_matches_one_device(tmp_path):
    _training_data(tmp_path / "data.npz")
    runs = [
        {"name": "single", "kind": "none", "trainer": SGD_TRAINER},
        {"name": "data_parallel", "kind": "data-parallel", "trainer": SGD_TRAINER},
    ]
    # Keras 3.15 computes Dense layers in float32 on JAX whatever the model's
    # dtype, so this run uses float32 throughout.
    request = _request(tmp_path, "data_parallel", runs, dtype="float32")
    env = _environment("jax", XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")

    results = _run_training(tmp_path, request, env)

    assert results["data_parallel"]["replicas"] == 2
    difference = _largest_relative_difference(results["single"]["snapshot"], results["data_parallel"]["snapshot"])
    assert difference < RELATIVE_TOLERANCE["float32"], f"data-parallel differs by {difference:.3g}"
