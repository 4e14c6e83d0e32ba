"""The library on each Keras backend: TensorFlow, JAX and PyTorch.

``scripts/test.sh`` runs the tests marked ``backend_independent`` (this file
and the error tests of test_distribute.py) once per backend, selected with
``KERAS_BACKEND``. They cover conversion against ConvNetJS 0.3.0 in Node for
every layer type, the custom layers, each loss's value and gradient, each
trainer method against a NumPy transcription of ConvNetJS's
``Trainer.train``, a short training run against Node, and export. Two tests
run once, in subprocesses: one saves a ``.keras`` file under each backend and
loads it under the others, and one runs the CPU dry run of
``scripts/gpu_check.py`` with TensorFlow made unimportable.

Precision: Keras 3.15 computes float64 models wholly in float64 only on
TensorFlow. On JAX it computes tanh in float32 (and everything without
JAX_ENABLE_X64=1), on PyTorch matrix products, so these tests use float32
models and float32 tolerances on those two backends.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

from convnetjs_compare import TOLERANCE, assert_matches_convnetjs, keras_predict, random_inputs, weights_of
from convnetjs_keras.keras_io import load_keras_model, save_keras_model
from convnetjs_keras.layers import ConvNetJSDropout
from convnetjs_keras.losses import ConvNetJSHingeLoss, ConvNetJSRegressionLoss, ConvNetJSSoftmaxLoss
from convnetjs_keras.model import from_layer_defs, from_snapshot, to_snapshot
from convnetjs_keras.training import compile_like_convnetjs
from convnetjs_node import node_forward, node_make_layers, node_train

BACKEND = keras.backend.backend()
REPO_ROOT = Path(__file__).resolve().parent.parent


DTYPE = "float64" if BACKEND == "tensorflow" else "float32"

# Every ConvNetJS layer type appears in one of these nets.
NETWORKS = {
    "conv_lrn_pool_maxout_dropout": [
        {"type": "input", "out_sx": 7, "out_sy": 7, "out_depth": 3},
        {"type": "conv", "sx": 3, "filters": 4, "stride": 2, "pad": 1, "activation": "relu"},
        {"type": "lrn", "k": 1, "n": 3, "alpha": 0.1, "beta": 0.75},
        {"type": "pool", "sx": 2, "stride": 1, "pad": 1},
        {"type": "conv", "sx": 1, "filters": 4, "activation": "maxout", "group_size": 2},
        {"type": "fc", "num_neurons": 6, "activation": "sigmoid", "drop_prob": 0.25},
        {"type": "fc", "num_neurons": 3, "activation": "tanh"},
        {"type": "softmax", "num_classes": 3},
    ],
    "quadtransform_svm": [
        {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 3},
        {"type": "fc", "num_neurons": 4, "tensor": True, "activation": "relu"},
        {"type": "svm", "num_classes": 3},
    ],
    "pool_regression": [
        {"type": "input", "out_sx": 6, "out_sy": 5, "out_depth": 2},
        {"type": "conv", "sx": 3, "sy": 2, "filters": 3, "stride": 1, "pad": 0, "activation": "tanh"},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "regression", "num_neurons": 2},
    ],
}

def _model_from_convnetjs(name: str, dtype: str = DTYPE):
    snapshot = node_make_layers(NETWORKS[name], seed=3)
    return snapshot, from_snapshot(snapshot, dtype=dtype)


# --- conversion and export against ConvNetJS --------------------------------

@pytest.mark.backend_independent
@pytest.mark.parametrize("name", list(NETWORKS))
def test_conversion_matches_convnetjs(name):
    snapshot, model = _model_from_convnetjs(name)
    x = random_inputs(snapshot, 5, seed=1)

    expected = node_forward(snapshot, x)

    assert_matches_convnetjs(keras_predict(model, x), expected, DTYPE, f"{name} on {BACKEND}")


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", list(NETWORKS))
def test_export_loads_in_convnetjs(name):
    snapshot, model = _model_from_convnetjs(name)
    x = random_inputs(snapshot, 4, seed=2)

    exported = to_snapshot(model)

    assert_matches_convnetjs(keras_predict(model, x), node_forward(exported, x), DTYPE,
                             f"{name} exported on {BACKEND}")
    assert [layer["layer_type"] for layer in exported["layers"]] == \
        [layer["layer_type"] for layer in snapshot["layers"]]


# --- custom layers ------------------------------------------------------------

@pytest.mark.backend_independent
@pytest.mark.parametrize("name", list(NETWORKS))
def test_keras_file_round_trip(name, tmp_path):
    snapshot, model = _model_from_convnetjs(name)
    x = random_inputs(snapshot, 3, seed=4)
    path = tmp_path / f"{name}.keras"

    save_keras_model(model, path)
    loaded = load_keras_model(path)

    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_array_equal(keras_predict(loaded, x), keras_predict(model, x))


@pytest.mark.backend_independent
def test_dropout_training_keeps_values_unscaled():
    layer = ConvNetJSDropout(0.25, seed=7, dtype=DTYPE)
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=(64, 32)).astype(DTYPE)

    trained = keras.ops.convert_to_numpy(layer(x, training=True))
    predicted = keras.ops.convert_to_numpy(layer(x, training=False))

    kept = trained != 0
    np.testing.assert_array_equal(trained[kept], x[kept])
    assert 0.65 < kept.mean() < 0.85, f"kept fraction {kept.mean():.3f}, expected about 0.75"
    np.testing.assert_allclose(predicted, x * 0.25, rtol=1e-6)


# --- losses -------------------------------------------------------------------

def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _reference_loss(kind, z, y):
    """Per-example loss and its gradient on the loss layer's input, as ConvNetJS's backward()."""
    rows = np.arange(len(z))
    if kind == "softmax":
        p = _softmax(z)
        gradient = p.copy()
        gradient[rows, y] -= 1.0
        return -np.log(p[rows, y]), gradient
    if kind == "svm":
        margins = z - z[rows, y][:, None] + 1.0
        violated = (margins > 0).astype(np.float64)
        violated[rows, y] = 0.0
        gradient = violated.copy()
        gradient[rows, y] = -violated.sum(axis=1)
        return np.maximum(margins, 0.0).sum(axis=1), gradient
    skipped = np.isnan(y)
    difference = np.where(skipped, 0.0, z - np.where(skipped, 0.0, y))
    return 0.5 * (difference ** 2).sum(axis=1), difference


LOSS_CASES = {
    "softmax": (ConvNetJSSoftmaxLoss, [{"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
                                       {"type": "softmax", "num_classes": 3}]),
    "svm": (ConvNetJSHingeLoss, [{"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
                                 {"type": "svm", "num_classes": 3}]),
    "regression": (ConvNetJSRegressionLoss, [{"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
                                             {"type": "regression", "num_neurons": 3}]),
}


def _loss_data(kind, count=6):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(count, 4))
    if kind == "regression":
        y = rng.normal(size=(count, 3))
        y[1, 2] = np.nan  # ConvNetJS's {dim, val} label trains only some outputs
        return x, y
    return x, rng.integers(0, 3, size=count)


@pytest.mark.backend_independent
@pytest.mark.parametrize("kind", list(LOSS_CASES))
def test_loss_value_matches_reference(kind):
    loss_class, _ = LOSS_CASES[kind]
    rng = np.random.default_rng(6)
    z = rng.normal(size=(6, 3))
    _, y = _loss_data(kind)
    y_pred = _softmax(z) if kind == "softmax" else z

    value = float(keras.ops.convert_to_numpy(loss_class(dtype=DTYPE)(y.astype(DTYPE) if kind == "regression" else y,
                                                                        y_pred.astype(DTYPE))))

    expected, _ = _reference_loss(kind, z, y)
    np.testing.assert_allclose(value, expected.mean(), rtol=TOLERANCE[DTYPE])


@pytest.mark.backend_independent
@pytest.mark.parametrize("kind", list(LOSS_CASES))
def test_loss_gradient_matches_reference(kind):
    """One SGD step (rate 1, no momentum) moves the last biases by minus the mean loss gradient."""
    _, layer_defs = LOSS_CASES[kind]
    model = from_layer_defs(layer_defs, seed=2, dtype=DTYPE)
    x, y = _loss_data(kind)
    dense = model.layers[-2]
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in dense.get_weights())
    _, gradient = _reference_loss(kind, x @ kernel + bias, y)

    compile_like_convnetjs(model, {"method": "sgd", "learning_rate": 1.0, "momentum": 0.0, "batch_size": len(x)})
    model.train_on_batch(x.astype(DTYPE), y.astype(DTYPE) if kind == "regression" else y)

    new_bias = np.asarray(dense.get_weights()[1], dtype=np.float64)
    np.testing.assert_allclose(bias - new_bias, gradient.mean(axis=0), rtol=0, atol=TOLERANCE[DTYPE])


# --- trainer methods against a NumPy transcription of Trainer.train ------------

@pytest.fixture
def model_floatx():
    """Set floatx to DTYPE for the test.

    fit() casts NumPy inputs to floatx, and optimizers create their learning
    rate variable in floatx (float32 by default, so 0.05 would be rounded).
    """
    previous = keras.config.floatx()
    keras.config.set_floatx(DTYPE)
    yield
    keras.config.set_floatx(previous)


def _convnetjs_update(method, params, gradients, state, options, k):
    """Apply one ConvNetJS update to ``params`` in place (convnet_trainers.js, GitHub source).

    ``params`` maps a name to ``(values, l1_decay_mul, l2_decay_mul)``;
    ``gradients`` are the batch sums of the loss gradients; ``k`` is the
    trainer's example counter after this batch.
    """
    lr, batch = options["learning_rate"], options["batch_size"]
    momentum, ro, eps = options["momentum"], options["ro"], options["eps"]
    beta1, beta2 = options["beta1"], options["beta2"]
    for name, (p, l1_mul, l2_mul) in params.items():
        l1 = options["l1_decay"] * l1_mul
        l2 = options["l2_decay"] * l2_mul
        g = (l2 * p + l1 * np.where(p > 0, 1.0, -1.0) + gradients[name]) / batch
        gsum, xsum = state.setdefault(name, (np.zeros_like(p), np.zeros_like(p)))
        if method == "adam":
            gsum[:] = gsum * beta1 + (1 - beta1) * g
            xsum[:] = xsum * beta2 + (1 - beta2) * g * g
            m_hat = gsum * (1 - beta1 ** k)
            v_hat = xsum * (1 - beta2 ** k)
            p += -lr * m_hat / (np.sqrt(v_hat) + eps)
        elif method == "adagrad":
            gsum[:] = gsum + g * g
            p += -lr / np.sqrt(gsum + eps) * g
        elif method == "windowgrad":
            gsum[:] = ro * gsum + (1 - ro) * g * g
            p += -lr / np.sqrt(gsum + eps) * g
        elif method == "adadelta":
            gsum[:] = ro * gsum + (1 - ro) * g * g
            dx = -np.sqrt((xsum + eps) / (gsum + eps)) * g
            xsum[:] = ro * xsum + (1 - ro) * dx * dx
            p += dx
        elif method == "nesterov":
            dx = gsum.copy()
            gsum[:] = gsum * momentum + lr * g
            p += momentum * dx - (1.0 + momentum) * gsum
        elif momentum > 0:
            dx = momentum * gsum - lr * g
            gsum[:] = dx
            p += dx
        else:
            p += -lr * g


def _linear_gradients(params, x, y):
    """Batch sums of the gradients of ``0.5 * |(x K1 + b1) K2 + b2 - y|^2`` (two fc layers, regression)."""
    k1, b1, k2, b2 = (params[name][0] for name in ("k1", "b1", "k2", "b2"))
    hidden = x @ k1 + b1
    residual = hidden @ k2 + b2 - y  # (batch, outputs), the regression layer's gradient
    hidden_gradient = residual @ k2.T
    return {"k1": x.T @ hidden_gradient, "b1": hidden_gradient.sum(axis=0),
            "k2": hidden.T @ residual, "b2": residual.sum(axis=0)}


METHODS = {
    "sgd": {"method": "sgd", "momentum": 0.0},
    "momentum": {"method": "sgd", "momentum": 0.9},
    "nesterov": {"method": "nesterov", "momentum": 0.8},
    "adagrad": {"method": "adagrad"},
    "windowgrad": {"method": "windowgrad", "ro": 0.9},
    "adadelta": {"method": "adadelta", "ro": 0.9},
    "adam": {"method": "adam", "beta1": 0.8, "beta2": 0.95},
}

OPTIMIZER_STEPS = 3

# The first fc layer decays with both rates; the one makeLayers adds before
# regression has ConvNetJS's default multipliers, l1 0 and l2 1.
METHOD_NET = [
    {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
    {"type": "fc", "num_neurons": 3, "l1_decay_mul": 1.0, "l2_decay_mul": 0.5},
    {"type": "regression", "num_neurons": 2},
]


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", list(METHODS))
def test_trainer_method_matches_reference(name, model_floatx):
    options = {"learning_rate": 0.05, "momentum": 0.9, "ro": 0.95, "eps": 1e-6, "beta1": 0.9, "beta2": 0.999,
               "batch_size": 3, "l1_decay": 0.01, "l2_decay": 0.05, **METHODS[name]}
    model = from_layer_defs(METHOD_NET, seed=4, dtype=DTYPE)
    first, second = model.layers[0], model.layers[1]
    k1, b1 = (np.asarray(w, dtype=np.float64) for w in first.get_weights())
    k2, b2 = (np.asarray(w, dtype=np.float64) for w in second.get_weights())
    params = {"k1": (k1, 1.0, 0.5), "b1": (b1, 0.0, 0.0), "k2": (k2, 0.0, 1.0), "b2": (b2, 0.0, 0.0)}
    compile_like_convnetjs(model, options)
    rng = np.random.default_rng(8)
    state = {}

    for step in range(1, OPTIMIZER_STEPS + 1):
        x = rng.normal(size=(options["batch_size"], 4))
        y = rng.normal(size=(options["batch_size"], 2))
        gradients = _linear_gradients(params, x, y)
        _convnetjs_update(options["method"], params, gradients, state, options, k=step * options["batch_size"])
        model.train_on_batch(keras.ops.convert_to_tensor(x, DTYPE), keras.ops.convert_to_tensor(y, DTYPE))

    actual = [*first.get_weights(), *second.get_weights()]
    for (label, (expected, _, _)), value in zip(params.items(), actual):
        np.testing.assert_allclose(np.asarray(value, dtype=np.float64), expected, rtol=0, atol=TOLERANCE[DTYPE],
                                   err_msg=f"{label} after {OPTIMIZER_STEPS} {name} updates on {BACKEND}")


# --- a short training run against ConvNetJS -------------------------------------

TRAINING_NET = [
    {"type": "input", "out_sx": 5, "out_sy": 5, "out_depth": 2},
    {"type": "conv", "sx": 3, "filters": 3, "stride": 1, "pad": 1, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "fc", "num_neurons": 4, "activation": "tanh"},
    {"type": "softmax", "num_classes": 3},
]


@pytest.mark.backend_independent
@pytest.mark.parametrize("trainer", [
    {"method": "sgd", "learning_rate": 0.05, "momentum": 0.9, "batch_size": 2, "l2_decay": 0.01, "l1_decay": 0.001},
    {"method": "adadelta", "batch_size": 4, "l2_decay": 0.001},
], ids=["sgd_momentum_decay", "adadelta"])
def test_short_training_matches_convnetjs(trainer, model_floatx):
    snapshot = node_make_layers(TRAINING_NET, seed=5)
    rng = np.random.default_rng(9)
    x = rng.normal(size=(8, 5, 5, 2))
    y = rng.integers(0, 3, size=8)
    expected, _ = node_train(snapshot, dict(trainer, eps=1e-6), x, y, epochs=2)

    model = from_snapshot(snapshot, dtype=DTYPE)
    compile_like_convnetjs(model, dict(trainer, version="npm-0.3.0"))
    model.fit(x.astype(DTYPE), y, batch_size=trainer["batch_size"], epochs=2, shuffle=False, verbose=0)

    trained = to_snapshot(model)
    tolerance = 1e-9 if DTYPE == "float64" else 1e-4
    for actual, reference in zip(weights_of(trained), weights_of(expected)):
        np.testing.assert_allclose(actual, reference, rtol=0, atol=tolerance * max(1.0, np.abs(reference).max()))
    assert_matches_convnetjs(keras_predict(model, x), node_forward(trained, x), DTYPE, "trained, exported")


# --- .keras files across backends ------------------------------------------------

BACKENDS = [name for name, module in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch"))
            if importlib.util.find_spec(module) is not None]

# Saves a compiled, once-trained model under its backend after loading the
# files the earlier backends saved, and records every prediction.
CROSS_BACKEND_SCRIPT = r'''
import json
import sys
from pathlib import Path

import keras
import numpy as np

from convnetjs_keras.keras_io import load_keras_model, save_keras_model
from convnetjs_keras.model import from_snapshot
from convnetjs_keras.training import compile_like_convnetjs

folder = Path(sys.argv[1])
backend = keras.backend.backend()
request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
x = np.load(folder / "x.npy")
results = {}
for source in request["load"]:
    model = load_keras_model(folder / f"{source}.keras", compile=True)
    results[source] = {
        "predictions": np.asarray(model.predict_on_batch(x), dtype=np.float64).tolist(),
        "optimizer": type(model.optimizer).__name__,
        "loss": type(model.loss).__name__,
    }
if request["save"]:
    model = from_snapshot(request["snapshot"])
    compile_like_convnetjs(model, {"method": "adam", "batch_size": 2, "l2_decay": 0.01})
    model.train_on_batch(x[:2], np.array([0, 1]))
    save_keras_model(model, folder / f"{backend}.keras")
    np.save(folder / f"{backend}_predictions.npy", np.asarray(model.predict_on_batch(x), dtype=np.float64))
(folder / f"{backend}_loaded.json").write_text(json.dumps(results), encoding="utf-8")
'''


def _run_under(backend, folder, load, save):
    request = {"load": load, "save": save, "snapshot": json.loads((folder / "snapshot.json").read_text())}
    (folder / "request.json").write_text(json.dumps(request), encoding="utf-8")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    completed = subprocess.run([sys.executable, str(folder / "script.py"), str(folder)], env=env, cwd=folder,
                               capture_output=True, text=True, timeout=180, check=False)
    assert completed.returncode == 0, f"{backend} failed:\n{completed.stderr[-4000:]}"
    return json.loads((folder / f"{backend}_loaded.json").read_text(encoding="utf-8"))


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs a second Keras backend: pip install jax torch")
def test_keras_file_loads_under_every_backend(tmp_path):
    snapshot = to_snapshot(from_layer_defs(NETWORKS["conv_lrn_pool_maxout_dropout"], seed=6))
    (tmp_path / "snapshot.json").write_text(json.dumps(snapshot), encoding="utf-8")
    (tmp_path / "script.py").write_text(CROSS_BACKEND_SCRIPT, encoding="utf-8")
    np.save(tmp_path / "x.npy", random_inputs(snapshot, 4, seed=7).astype("float32"))

    # Each backend loads the files of the backends before it and saves its
    # own, then loads those of the backends after it: every ordered pair once.
    loaded = {}
    for index, backend in enumerate(BACKENDS):
        results = _run_under(backend, tmp_path, load=BACKENDS[:index], save=True)
        loaded.update({(source, backend): result for source, result in results.items()})
    for index, backend in enumerate(BACKENDS[:-1]):
        results = _run_under(backend, tmp_path, load=BACKENDS[index + 1:], save=False)
        loaded.update({(source, backend): result for source, result in results.items()})

    assert len(loaded) == len(BACKENDS) * (len(BACKENDS) - 1)
    for target in BACKENDS:
        for source in BACKENDS:
            if source == target:
                continue
            result = loaded[source, target]
            expected = np.load(tmp_path / f"{source}_predictions.npy")
            np.testing.assert_allclose(np.array(result["predictions"]), expected, rtol=0, atol=1e-5,
                                       err_msg=f"saved under {source}, loaded under {target}")
            assert result["optimizer"] == "ConvNetJSAdam", f"{source} -> {target}"
            assert result["loss"] == "ConvNetJSSoftmaxLoss", f"{source} -> {target}"


@pytest.mark.backend_independent
def test_float64_warning_names_backend():
    layer_defs = [{"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 2}, {"type": "softmax", "num_classes": 2}]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from_layer_defs(layer_defs, dtype="float64")
    messages = [str(warning.message) for warning in caught if "dtype='float64'" in str(warning.message)]
    if DTYPE == "float64":
        assert messages == []
    else:
        assert len(messages) == 1
        assert f"on Keras' {BACKEND} backend" in messages[0]


# --- scripts/gpu_check.py without TensorFlow -------------------------------------

# Runs gpu_check.py with TensorFlow made unimportable, so any convnetjs_keras
# module that imports it at import time fails the run.
GPU_CHECK_WITHOUT_TENSORFLOW = r'''
import runpy
import sys

sys.modules["tensorflow"] = None
sys.argv = ["gpu_check.py", *sys.argv[1:]]
runpy.run_path(sys.argv.pop(1), run_name="__main__")
'''


@pytest.mark.skipif(not {"jax", "torch"} & set(BACKENDS), reason="needs JAX or PyTorch: pip install jax")
def test_gpu_check_dry_run_without_tensorflow(tmp_path):
    backend = "jax" if "jax" in BACKENDS else "torch"
    script = REPO_ROOT / "scripts" / "gpu_check.py"
    out = tmp_path / "out"
    env = dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")

    completed = subprocess.run(
        [sys.executable, "-c", GPU_CHECK_WITHOUT_TENSORFLOW, str(script), "--backend", backend, "--cpu-ok",
         "--batch-sizes", "4,8", "--steps", "1", "--out", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False)

    assert completed.returncode == 0, f"gpu_check.py failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    summary = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert summary["tensorflow_modules_imported"] == []
    assert summary["failures"] == []
    assert [run["batch_size"] for run in summary["training"]] == [4, 8]
    assert summary["export"]["max_difference"] < 1e-4
