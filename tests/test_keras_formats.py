"""Converted models survive Keras' own file formats, and float64 stays exact.

- A ``.keras`` archive holding every convnetjs_keras layer loads with
  ``safe_mode=True`` and predicts the same numbers.
- ``model.to_json()`` plus a ``.weights.h5`` file reload in a fresh Python
  process that created other Keras layers first, so Keras' automatic layer
  names there differ from the saving process.
- A float64 model keeps ConvNetJS's float64 weights bit for bit through
  ``to_snapshot`` and through a ``.keras`` file.

These tests need Node.js and `npm ci` in the repository root.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from convnetjs_compare import REPO_ROOT, assert_matches_convnetjs, keras_predict, random_inputs, weights_of
from convnetjs_keras.keras_io import load_keras_model, save_keras_model
from convnetjs_keras.layers import CUSTOM_OBJECTS, ConvNetJSDropout, ConvNetJSMaxPool
from convnetjs_keras.model import from_snapshot, to_snapshot
from convnetjs_keras.regularizers import ConvNetJSDecay
from convnetjs_keras.snapshot import dumps_snapshot
from convnetjs_node import node_forward, node_make_layers

# Between them these networks use every custom layer of convnetjs_keras:
# padded pool, dropout, lrn, maxout, quadtransform, svm and regression.
NETWORKS = {
    "svm_with_every_hidden_layer": [
        {"type": "input", "out_sx": 5, "out_sy": 4, "out_depth": 2},
        {"type": "conv", "sx": 3, "filters": 6, "pad": 1, "activation": "maxout", "l1_decay_mul": 0.25},
        {"type": "lrn", "k": 1.0, "n": 3, "alpha": 0.5, "beta": 0.75},
        {"type": "pool", "sx": 2, "stride": 2, "pad": 1},
        {"type": "fc", "num_neurons": 3, "tensor": True, "drop_prob": 0.3, "l2_decay_mul": 0.5},
        {"type": "svm", "num_classes": 3},
    ],
    "regression": [
        {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 3},
        {"type": "fc", "num_neurons": 4, "activation": "relu"},
        {"type": "regression", "num_neurons": 2},
    ],
    "softmax": [
        {"type": "input", "out_sx": 4, "out_sy": 4, "out_depth": 1},
        {"type": "conv", "sx": 3, "filters": 2, "stride": 2, "pad": 1, "activation": "tanh"},
        {"type": "softmax", "num_classes": 3},
    ],
}


@functools.lru_cache(maxsize=None)
def reference(name: str):
    """Return (snapshot, inputs, ConvNetJS outputs) of a network built by makeLayers in Node."""
    snapshot = node_make_layers(NETWORKS[name], seed=5)
    x = random_inputs(snapshot, 3, seed=5)
    return snapshot, x, node_forward(snapshot, x)


def hand_written_model():
    """Return a Keras model whose layers have automatic names ("dense", "dense_1", ...)."""
    model = keras.Sequential([
        keras.Input((6, 6, 2)),
        keras.layers.Conv2D(3, 3, activation="relu"),
        ConvNetJSMaxPool(2, strides=2, pad=1),
        keras.layers.Flatten(),
        keras.layers.Dense(4, activation="tanh"),
        ConvNetJSDropout(0.5),
        keras.layers.Dense(2),
        keras.layers.Softmax(),
    ])
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def custom_layer_names(model):
    return {type(layer).__name__ for layer in model.layers} & set(CUSTOM_OBJECTS)


def test_networks_use_every_custom_layer():
    used = set()
    for name in NETWORKS:
        used |= custom_layer_names(from_snapshot(reference(name)[0]))

    assert used == set(CUSTOM_OBJECTS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_keras_archive_round_trip(name, dtype, tmp_path):
    snapshot, x, expected = reference(name)
    model = from_snapshot(snapshot, dtype=dtype)
    path = tmp_path / "model.keras"

    save_keras_model(model, path)
    loaded = load_keras_model(path)

    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_array_equal(keras_predict(loaded, x), keras_predict(model, x))
    assert_matches_convnetjs(keras_predict(loaded, x), expected, dtype, f"{name} loaded from .keras")
    assert to_snapshot(loaded)["layers"] == to_snapshot(model)["layers"]


def test_keras_archive_loads_without_custom_objects(tmp_path):
    snapshot, x, _ = reference("svm_with_every_hidden_layer")
    model = from_snapshot(snapshot)
    path = tmp_path / "model.keras"
    save_keras_model(model, path)

    # The layers are registered serializable, so plain Keras finds them.
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)

    np.testing.assert_array_equal(keras_predict(loaded, x), keras_predict(model, x))
    regularizers = [layer.kernel_regularizer for layer in loaded.layers if hasattr(layer, "kernel")]
    assert all(isinstance(regularizer, ConvNetJSDecay) for regularizer in regularizers)
    assert [(r.l1_decay_mul, r.l2_decay_mul) for r in regularizers] == [(0.25, 1.0), (0.0, 0.5), (0.0, 1.0)]


FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import keras
    import numpy as np

    # Create layers first, so automatic names here ("dense_3"...) differ
    # from the process that saved the models.
    warm_up = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(2),
                                keras.layers.Flatten(), keras.layers.Softmax()])
    extra = [keras.layers.Conv2D(1, 1) for _ in range(3)] + [keras.layers.Dense(1) for _ in range(4)]

    from convnetjs_keras.keras_io import load_keras_model

    for job in json.loads(sys.argv[1]):
        model = load_keras_model(job["config"], job["weights"])
        x = np.load(job["inputs"])
        np.save(job["outputs"], np.asarray(model.predict_on_batch(x.astype(model.inputs[0].dtype))))
    """
)


def test_json_and_weights_reload_in_fresh_process(tmp_path):
    models = {name: from_snapshot(reference(name)[0], dtype="float64") for name in NETWORKS}
    models["hand_written"] = hand_written_model()
    inputs = {name: reference(name)[1] for name in NETWORKS}
    inputs["hand_written"] = np.random.default_rng(1).normal(size=(3, 6, 6, 2))

    jobs = []
    for name, model in models.items():
        config = tmp_path / f"{name}.json"
        written = save_keras_model(model, config)
        assert [path.name for path in written] == [f"{name}.json", f"{name}.weights.h5"]
        np.save(tmp_path / f"{name}_x.npy", inputs[name])
        jobs.append({"config": str(config), "weights": str(written[1]),
                     "inputs": str(tmp_path / f"{name}_x.npy"), "outputs": str(tmp_path / f"{name}_y.npy")})
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")

    completed = subprocess.run([sys.executable, "-c", FRESH_PROCESS_SCRIPT, json.dumps(jobs)], cwd=REPO_ROOT,
                               env=env, capture_output=True, text=True, timeout=300, check=False)

    assert completed.returncode == 0, completed.stderr[-3000:]
    for name, model in models.items():
        reloaded = np.load(tmp_path / f"{name}_y.npy").reshape(len(inputs[name]), -1)
        np.testing.assert_array_equal(reloaded, keras_predict(model, inputs[name]), err_msg=name)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_float64_weights_bit_exact_through_to_snapshot(name):
    snapshot, _, _ = reference(name)
    model = from_snapshot(snapshot, dtype="float64")

    exported = to_snapshot(model)
    reparsed = json.loads(dumps_snapshot(exported))

    assert all(w.dtype == "float64" for w in model.get_weights())
    for got, want in zip(weights_of(reparsed), weights_of(snapshot), strict=True):
        np.testing.assert_array_equal(got, want)


def test_float64_weights_bit_exact_through_keras_archive(tmp_path):
    snapshot, _, _ = reference("svm_with_every_hidden_layer")
    path = tmp_path / "model64.keras"
    save_keras_model(from_snapshot(snapshot, dtype="float64"), path)

    loaded = load_keras_model(path)

    assert all(w.dtype == "float64" for w in loaded.get_weights())
    for got, want in zip(weights_of(to_snapshot(loaded)), weights_of(snapshot), strict=True):
        np.testing.assert_array_equal(got, want)


def test_float32_model_rounds_weights():
    # The float64 checks above can fail: a float32 model rounds ConvNetJS's weights.
    snapshot, _, _ = reference("regression")

    exported = to_snapshot(from_snapshot(snapshot, dtype="float32"))

    got, want = np.concatenate(weights_of(exported)), np.concatenate(weights_of(snapshot))
    assert not np.array_equal(got, want)
    np.testing.assert_array_equal(got, want.astype(np.float32).astype(np.float64))
