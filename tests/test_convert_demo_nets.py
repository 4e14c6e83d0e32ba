"""The networks of ConvNetJS's demo pages convert exactly.

Each network is built by ConvNetJS 0.3.0's ``makeLayers`` in Node (random
initial weights from ConvNetJS itself), converted with ``from_snapshot`` and
compared with ConvNetJS's ``forward``. Tolerances: 1e-5 for float32 and 1e-10
for float64 models, absolute, times max(1, largest |output|). Image networks
get pixel-like inputs in [0, 1), the others N(0, 1) inputs.

These tests need Node.js and `npm ci` in the repository root.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from convnetjs_compare import (
    DEMO_NETWORKS,
    assert_matches_convnetjs,
    input_shape,
    keras_activations,
    keras_predict,
    weights_of,
)
from convnetjs_keras.model import from_snapshot, to_snapshot
from convnetjs_node import node_forward, node_make_layers

DTYPES = ("float32", "float64")

# The desugared layer types ConvNetJS builds for each demo (makeLayers adds
# the activation layers and the fc in front of the loss layer).
EXPECTED_LAYER_TYPES = {
    "mnist_24x24_conv": ["input", "conv", "relu", "pool", "conv", "relu", "pool", "fc", "softmax"],
    "cifar10_conv": ["input", "conv", "relu", "pool", "conv", "relu", "pool", "conv", "relu", "pool", "fc",
                     "softmax"],
    "classify_2d": ["input", "fc", "tanh", "fc", "tanh", "fc", "softmax"],
    "regression_1d": ["input", "fc", "relu", "fc", "sigmoid", "fc", "regression"],
    "mnist_autoencoder_tanh": ["input", "fc", "tanh", "fc", "tanh", "fc", "fc", "tanh", "fc", "tanh", "fc",
                               "regression"],
    "mnist_autoencoder_relu": ["input", "fc", "relu", "fc", "relu", "fc", "fc", "relu", "fc", "relu", "fc",
                               "regression"],
    "image_regression_painting": ["input"] + ["fc", "relu"] * 7 + ["fc", "regression"],
}


@functools.lru_cache(maxsize=None)
def reference(name: str):
    """Return (snapshot, inputs, ConvNetJS outputs, ConvNetJS activations) of a demo network."""
    snapshot = node_make_layers(DEMO_NETWORKS[name], seed=7)
    rng = np.random.default_rng(7)
    shape = input_shape(snapshot)
    if len(shape) == 3:
        x = rng.uniform(0.0, 1.0, size=(3, *shape))
    else:
        x = rng.normal(0.0, 1.0, size=(5, *shape))
    outputs, activations = node_forward(snapshot, x, layers=True)
    return snapshot, x, outputs, activations


@functools.lru_cache(maxsize=None)
def converted(name: str, dtype: str):
    return from_snapshot(reference(name)[0], dtype=dtype)


@pytest.mark.parametrize("name", list(DEMO_NETWORKS))
def test_demo_layer_types(name):
    snapshot, _, _, _ = reference(name)

    assert [layer["layer_type"] for layer in snapshot["layers"]] == EXPECTED_LAYER_TYPES[name]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(DEMO_NETWORKS))
def test_demo_output_matches_convnetjs(name, dtype):
    _, x, expected, _ = reference(name)

    assert_matches_convnetjs(keras_predict(converted(name, dtype), x), expected, dtype, name)


@pytest.mark.parametrize("name", list(DEMO_NETWORKS))
def test_demo_every_layer_matches_convnetjs(name):
    snapshot, x, _, expected = reference(name)

    actual = keras_activations(converted(name, "float64"), x)

    assert sorted(actual) == list(range(1, len(snapshot["layers"])))
    for index, values in actual.items():
        layer_type = snapshot["layers"][index]["layer_type"]
        assert_matches_convnetjs(values, expected[index], "float64", f"{name} layer {index} ({layer_type})")


@pytest.mark.parametrize("name", list(DEMO_NETWORKS))
def test_demo_round_trip_exact(name):
    snapshot, x, expected, _ = reference(name)

    exported = to_snapshot(converted(name, "float64"))

    for got, want in zip(weights_of(exported), weights_of(snapshot), strict=True):
        np.testing.assert_array_equal(got, want)
    # Same weights and layers, so ConvNetJS computes the very same numbers.
    np.testing.assert_array_equal(node_forward(exported, x), expected)


@pytest.mark.parametrize("name", ["mnist_24x24_conv", "classify_2d"])
def test_demo_float32_round_trip_matches(name):
    _, x, _, _ = reference(name)
    model = converted(name, "float32")

    exported = to_snapshot(model)

    assert_matches_convnetjs(node_forward(exported, x), keras_predict(model, x), "float32", f"{name} exported")
