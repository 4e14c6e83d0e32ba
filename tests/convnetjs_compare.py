"""Helpers that compare Keras models built by convnetjs_keras with ConvNetJS.

Used by the exactness tests (test_convert_layers, test_convert_demo_nets,
test_corpus, test_keras_formats, test_layer_defs). The reference outputs come
from the real ConvNetJS 0.3.0 through ``convnetjs_node``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus"

# Largest allowed |Keras - ConvNetJS| per dtype, relative to max(1, largest
# |ConvNetJS output|) of the compared array. ConvNetJS computes in float64, so
# a float64 model differs only by summation order; a float32 model carries
# float32 rounding through every layer.
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}

# Keras layer names that build_model gives the layer of ConvNetJS layer i:
# "<layer_type>_<i>". Helper layers carry a suffix ("conv_1_pad",
# "fc_5_flatten") and do not match.
CONVNETJS_LAYER_NAME = re.compile(r"^([a-z]+)_(\d+)$")


def input_shape(snapshot: dict[str, Any]) -> tuple[int, ...]:
    """Return the shape of one input example: (sy, sx, depth), or (depth,) for 1x1xD."""
    first = snapshot["layers"][0]
    sx, sy, depth = first["out_sx"], first["out_sy"], first["out_depth"]
    return (depth,) if sx == sy == 1 else (sy, sx, depth)


def random_inputs(snapshot: dict[str, Any], count: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """Return ``count`` float64 examples drawn from N(0, scale**2), shaped for the snapshot's input."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, scale, size=(count, *input_shape(snapshot)))


def keras_predict(model, x: np.ndarray) -> np.ndarray:
    """Return ``model``'s prediction on ``x`` as a float64 array shaped (N, outputs).

    Uses ``predict_on_batch`` because ``model.predict`` on a NumPy array casts
    every float input to ``keras.config.floatx()`` (float32 by default) before
    the model is called (keras/src/trainers/data_adapters/array_slicing.py,
    Keras 3.15). A float64 model would then compute from float32 inputs.
    """
    dtype = model.inputs[0].dtype
    outputs = model.predict_on_batch(np.asarray(x, dtype=dtype))
    return np.asarray(outputs, dtype=np.float64).reshape(len(x), -1)


def keras_activations(model, x: np.ndarray) -> dict[int, np.ndarray]:
    """Return each ConvNetJS layer's output computed by ``model``, keyed by layer index.

    Every array is flattened to (N, size) in NHWC order, the order of
    ConvNetJS's ``out_act.w``. The input layer (index 0) has no Keras layer and
    is left out.
    """
    import keras

    indices, outputs = [], []
    for layer in model.layers:
        match = CONVNETJS_LAYER_NAME.match(layer.name)
        if match:
            indices.append(int(match.group(2)))
            outputs.append(layer.output)
    probe = keras.Model(model.inputs, outputs)
    values = probe.predict_on_batch(np.asarray(x, dtype=model.inputs[0].dtype))
    if not isinstance(values, (list, tuple)):
        values = [values]
    return {
        index: np.asarray(value, dtype=np.float64).reshape(len(x), -1)
        for index, value in zip(indices, values)
    }


def tolerance_for(expected: np.ndarray, dtype: str) -> float:
    """Return the absolute tolerance for comparing with ``expected`` at ``dtype``."""
    magnitude = float(np.max(np.abs(expected), initial=0.0))
    return TOLERANCE[dtype] * max(1.0, magnitude)


def assert_matches_convnetjs(actual: np.ndarray, expected: np.ndarray, dtype: str, what: str) -> None:
    """Assert ``actual`` equals the ConvNetJS output ``expected`` within ``TOLERANCE[dtype]``.

    The tolerance is absolute, scaled by the largest magnitude in ``expected``
    (at least 1), so a layer whose values reach 1e5 is compared to 1e5 * tol.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, ConvNetJS {expected.shape}"
    atol = tolerance_for(expected, dtype)
    np.testing.assert_allclose(
        actual, expected, rtol=0.0, atol=atol,
        err_msg=f"{what}: {dtype} Keras differs from ConvNetJS by more than {atol:.3g}",
    )


def vol_values(serialized: dict[str, Any]) -> np.ndarray:
    """Return a serialized Vol's ``w`` as float64, from a list or a {"0": ..} object."""
    w = serialized["w"]
    if isinstance(w, dict):
        return np.array([w[str(i)] for i in range(len(w))], dtype=np.float64)
    return np.array(w, dtype=np.float64)


def layer_fields(layer: dict[str, Any]) -> dict[str, Any]:
    """Return a snapshot layer without its weights, plus the sizes of its filter and bias Vols."""
    fields = {key: value for key, value in layer.items() if key not in ("filters", "biases")}
    if "filters" in layer:
        fields["filter_sizes"] = [(f["sx"], f["sy"], f["depth"]) for f in layer["filters"]]
    if "biases" in layer:
        biases = layer["biases"]
        fields["bias_size"] = (biases["sx"], biases["sy"], biases["depth"])
    return fields


def weights_of(snapshot: dict[str, Any]) -> list[np.ndarray]:
    """Return every filter and bias Vol of a snapshot as float64 arrays, in layer order."""
    arrays = []
    for layer in snapshot["layers"]:
        for vol in layer.get("filters", []):
            arrays.append(vol_values(vol))
        if "biases" in layer:
            arrays.append(vol_values(layer["biases"]))
    return arrays


# The layer_defs of ConvNetJS's demo pages, as written in demo/mnist.html,
# demo/cifar10.html and demo/js/{classify2d,regression,autoencoder,
# image_regression}.js of github.com/karpathy/convnetjs.
DEMO_NETWORKS = {
    "mnist_24x24_conv": [
        {"type": "input", "out_sx": 24, "out_sy": 24, "out_depth": 1},
        {"type": "conv", "sx": 5, "filters": 8, "stride": 1, "pad": 2, "activation": "relu"},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "conv", "sx": 5, "filters": 16, "stride": 1, "pad": 2, "activation": "relu"},
        {"type": "pool", "sx": 3, "stride": 3},
        {"type": "softmax", "num_classes": 10},
    ],
    "cifar10_conv": [
        {"type": "input", "out_sx": 32, "out_sy": 32, "out_depth": 3},
        {"type": "conv", "sx": 5, "filters": 16, "stride": 1, "pad": 2, "activation": "relu"},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "conv", "sx": 5, "filters": 20, "stride": 1, "pad": 2, "activation": "relu"},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "conv", "sx": 5, "filters": 20, "stride": 1, "pad": 2, "activation": "relu"},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "softmax", "num_classes": 10},
    ],
    "classify_2d": [
        {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 2},
        {"type": "fc", "num_neurons": 6, "activation": "tanh"},
        {"type": "fc", "num_neurons": 2, "activation": "tanh"},
        {"type": "softmax", "num_classes": 2},
    ],
    "regression_1d": [
        {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 1},
        {"type": "fc", "num_neurons": 20, "activation": "relu"},
        {"type": "fc", "num_neurons": 20, "activation": "sigmoid"},
        {"type": "regression", "num_neurons": 1},
    ],
    # The demo page uses tanh hidden layers; the relu variant below is the
    # other common form of the same autoencoder.
    "mnist_autoencoder_tanh": [
        {"type": "input", "out_sx": 28, "out_sy": 28, "out_depth": 1},
        {"type": "fc", "num_neurons": 50, "activation": "tanh"},
        {"type": "fc", "num_neurons": 50, "activation": "tanh"},
        {"type": "fc", "num_neurons": 2},
        {"type": "fc", "num_neurons": 50, "activation": "tanh"},
        {"type": "fc", "num_neurons": 50, "activation": "tanh"},
        {"type": "regression", "num_neurons": 28 * 28},
    ],
    "mnist_autoencoder_relu": [
        {"type": "input", "out_sx": 28, "out_sy": 28, "out_depth": 1},
        {"type": "fc", "num_neurons": 50, "activation": "relu"},
        {"type": "fc", "num_neurons": 50, "activation": "relu"},
        {"type": "fc", "num_neurons": 2},
        {"type": "fc", "num_neurons": 50, "activation": "relu"},
        {"type": "fc", "num_neurons": 50, "activation": "relu"},
        {"type": "regression", "num_neurons": 28 * 28},
    ],
    "image_regression_painting": [
        {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 2},
        *[{"type": "fc", "num_neurons": 20, "activation": "relu"} for _ in range(7)],
        {"type": "regression", "num_neurons": 3},
    ],
}
