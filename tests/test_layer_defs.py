"""``from_layer_defs`` builds what ConvNetJS's ``net.makeLayers`` builds.

The reference is ConvNetJS 0.3.0's ``makeLayers`` run in Node. Layers are
compared field by field through ``to_snapshot``: desugared layer types, output
sizes, options (stride, pad, group_size, drop_prob, decay multipliers...),
filter and bias sizes, and the initial biases. The random weights differ
(ConvNetJS uses ``Math.random``), so only their distribution is compared.

These tests need Node.js and `npm ci` in the repository root.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from convnetjs_compare import DEMO_NETWORKS, layer_fields, vol_values
from convnetjs_keras.model import from_layer_defs, from_snapshot, to_snapshot
from convnetjs_keras.regularizers import ConvNetJSDecay
from convnetjs_node import node_make_layers, node_train

DEFINITIONS = {
    "conv_pool_fc_softmax": [
        {"type": "input", "out_sx": 9, "out_sy": 9, "out_depth": 2},
        {"type": "conv", "sx": 3, "filters": 4, "stride": 2, "pad": 0, "activation": "relu"},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "fc", "num_neurons": 5, "activation": "sigmoid"},
        {"type": "softmax", "num_classes": 3},
    ],
    # Every optional field left out: conv sy = sx, stride 1, pad 0; pool
    # sy = sx, stride 2; dropout drop_prob 0.5; maxout group_size 2.
    "defaults": [
        {"type": "input", "out_sx": 11, "out_sy": 7, "out_depth": 3},
        {"type": "conv", "sx": 3, "filters": 6},
        {"type": "pool", "sx": 3},
        {"type": "maxout"},
        {"type": "dropout"},
        {"type": "fc", "filters": 4},
        {"type": "regression", "num_neurons": 2},
    ],
    "activations_and_dropout": [
        {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
        {"type": "fc", "num_neurons": 8, "activation": "relu", "drop_prob": 0.25},
        {"type": "fc", "num_neurons": 7, "activation": "sigmoid"},
        {"type": "fc", "num_neurons": 6, "activation": "tanh", "drop_prob": 0.0},
        {"type": "fc", "num_neurons": 7, "activation": "maxout", "group_size": 3},
        {"type": "svm", "num_classes": 3},
    ],
    "conv_options": [
        {"type": "input", "out_sx": 10, "out_sy": 9, "out_depth": 2},
        {"type": "conv", "sx": 3, "sy": 2, "filters": 3, "stride": 3, "pad": 2, "activation": "maxout"},
        {"type": "lrn", "k": 2, "n": 5, "alpha": 0.0001, "beta": 0.75},
        {"type": "pool", "sx": 2, "sy": 3, "stride": 1, "pad": 1},
        {"type": "conv", "sx": 1, "filters": 2, "l1_decay_mul": 0.5, "l2_decay_mul": 3},
        {"type": "softmax", "num_classes": 4},
    ],
    "tensor": [
        {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 3},
        {"type": "fc", "num_neurons": 4, "tensor": True, "activation": "tanh"},
        {"type": "fc", "num_neurons": 3, "tensor": False},
        {"type": "regression", "num_neurons": 2},
    ],
    "explicit_bias_pref": [
        {"type": "input", "out_sx": 3, "out_sy": 3, "out_depth": 1},
        {"type": "conv", "sx": 3, "filters": 2, "bias_pref": -0.25, "activation": "relu"},
        {"type": "fc", "num_neurons": 3, "bias_pref": 0.5},
        {"type": "regression", "num_neurons": 1},
    ],
    "input_in_names": [
        {"type": "input", "in_sx": 3, "in_sy": 2, "in_depth": 2},
        {"type": "softmax", "num_classes": 2},
    ],
    **DEMO_NETWORKS,
}


def snapshot_from_python(defs):
    return to_snapshot(from_layer_defs(defs, seed=0, dtype="float64"))


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_layers_match_make_layers(name):
    defs = DEFINITIONS[name]
    expected = node_make_layers(defs)["layers"]

    actual = snapshot_from_python(defs)["layers"]

    assert [layer["layer_type"] for layer in actual] == [layer["layer_type"] for layer in expected]
    for index, (got, want) in enumerate(zip(actual, expected)):
        assert layer_fields(got) == layer_fields(want), f"layer {index} ({want['layer_type']})"


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_initial_biases_match_make_layers(name):
    defs = DEFINITIONS[name]
    expected = node_make_layers(defs)["layers"]

    actual = snapshot_from_python(defs)["layers"]

    for index, (got, want) in enumerate(zip(actual, expected)):
        if "biases" in want:
            np.testing.assert_array_equal(vol_values(got["biases"]), vol_values(want["biases"]),
                                          err_msg=f"layer {index} ({want['layer_type']})")


def test_layer_defs_not_modified():
    defs = DEFINITIONS["conv_pool_fc_softmax"]
    before = [dict(definition) for definition in defs]

    from_layer_defs(defs, seed=0)

    # makeLayers itself writes bias_pref into the caller's objects.
    assert defs == before


def test_bias_pref_before_relu():
    layers = snapshot_from_python(DEFINITIONS["activations_and_dropout"])["layers"]
    fc_layers = [(i, layer) for i, layer in enumerate(layers) if layer["layer_type"] == "fc"]
    next_types = [layers[i + 1]["layer_type"] for i, _ in fc_layers]

    assert next_types == ["relu", "sigmoid", "tanh", "maxout", "svm"]
    assert [vol_values(layer["biases"]).tolist() for _, layer in fc_layers] == [
        [0.1] * 8, [0.0] * 7, [0.0] * 6, [0.0] * 7, [0.0] * 3]


def test_explicit_bias_pref_kept():
    layers = snapshot_from_python(DEFINITIONS["explicit_bias_pref"])["layers"]

    assert vol_values(layers[1]["biases"]).tolist() == [-0.25, -0.25]
    assert vol_values(layers[3]["biases"]).tolist() == [0.5, 0.5, 0.5]


def test_pool_stride_defaults_to_2():
    defs = [{"type": "input", "out_sx": 7, "out_sy": 7, "out_depth": 1}, {"type": "pool", "sx": 3},
            {"type": "regression", "num_neurons": 1}]

    pool = snapshot_from_python(defs)["layers"][1]

    assert pool["stride"] == node_make_layers(defs)["layers"][1]["stride"] == 2
    assert (pool["out_sx"], pool["out_sy"]) == (3, 3)


def test_conv_stride_defaults_to_1():
    defs = [{"type": "input", "out_sx": 7, "out_sy": 7, "out_depth": 1}, {"type": "conv", "sx": 3, "filters": 1},
            {"type": "regression", "num_neurons": 1}]

    conv = snapshot_from_python(defs)["layers"][1]

    assert (conv["stride"], conv["sy"], conv["pad"]) == (1, 3, 0)
    assert (conv["out_sx"], conv["out_sy"]) == (5, 5)


def test_tensor_inserts_quadtransform():
    layers = snapshot_from_python(DEFINITIONS["tensor"])["layers"]

    assert [layer["layer_type"] for layer in layers[:4]] == ["input", "quadtransform", "fc", "tanh"]
    assert layers[1]["out_depth"] == 3 + 3 * 3
    assert layers[2]["num_inputs"] == 12


# fan_in of the layer under test: fc over 1x1x50, conv 3x3 over depth 4.
WEIGHT_CASES = {
    "fc": ([{"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 50}, {"type": "fc", "num_neurons": 400},
            {"type": "regression", "num_neurons": 1}], 50),
    "conv": ([{"type": "input", "out_sx": 5, "out_sy": 5, "out_depth": 4}, {"type": "conv", "sx": 3, "filters": 500},
              {"type": "regression", "num_neurons": 1}], 36),
}


def _first_layer_weights(snapshot):
    return np.concatenate([vol_values(f) for f in snapshot["layers"][1]["filters"]])


@pytest.mark.parametrize("source", ["convnetjs", "python"])
@pytest.mark.parametrize("case", list(WEIGHT_CASES))
def test_initial_weight_std_is_sqrt_inverse_fan_in(case, source):
    defs, fan_in = WEIGHT_CASES[case]
    if source == "convnetjs":
        weights = _first_layer_weights(node_make_layers(defs, seed=3))
    else:
        weights = _first_layer_weights(snapshot_from_python(defs))
    std = math.sqrt(1.0 / fan_in)

    assert weights.size >= 18000
    # For n normal samples the sample std has a standard error of about
    # std / sqrt(2n) (under 0.6% here); the mean's is std / sqrt(n).
    assert abs(weights.std() / std - 1.0) < 0.03
    assert abs(weights.mean()) < 4 * std / math.sqrt(weights.size)


def test_seed_reproduces_weights():
    defs = DEFINITIONS["conv_pool_fc_softmax"]

    first = from_layer_defs(defs, seed=11).get_weights()
    second = from_layer_defs(defs, seed=11).get_weights()
    other = from_layer_defs(defs, seed=12).get_weights()

    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not np.array_equal(first[0], other[0])


def test_l1_decay_mul_default_0():
    defs = [{"type": "input", "out_sx": 4, "out_sy": 4, "out_depth": 1}, {"type": "conv", "sx": 3, "filters": 2},
            {"type": "regression", "num_neurons": 2}]
    model = from_layer_defs(defs, seed=0)

    decays = [(layer.name, layer.kernel_regularizer) for layer in model.layers if hasattr(layer, "kernel")]

    assert [name for name, _ in decays] == ["conv_1", "fc_2"]
    for name, regularizer in decays:
        assert isinstance(regularizer, ConvNetJSDecay), name
        assert (regularizer.l1_decay_mul, regularizer.l2_decay_mul) == (0.0, 1.0), name
    for layer in node_make_layers(defs)["layers"][1:3]:
        assert (layer["l1_decay_mul"], layer["l2_decay_mul"]) == (0, 1)


def test_l1_decay_mul_missing_reads_as_1():
    defs = [{"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 3}, {"type": "fc", "num_neurons": 2},
            {"type": "regression", "num_neurons": 2}]
    snapshot = node_make_layers(defs)
    for layer in snapshot["layers"]:
        layer.pop("l1_decay_mul", None)

    model = from_snapshot(snapshot)

    assert [model.get_layer(name).kernel_regularizer.l1_decay_mul for name in ("fc_1", "fc_2")] == [1.0, 1.0]
    assert [layer.get("l1_decay_mul") for layer in to_snapshot(model)["layers"]] == [None, 1.0, 1.0, None]
    # ConvNetJS's fromJSON also reads a missing l1_decay_mul as 1: a trainer
    # step with learning rate 0 returns the loaded net's toJSON().
    reloaded, _ = node_train(snapshot, {"learning_rate": 0.0}, np.zeros((1, 3)), np.zeros((1, 2)))
    assert [layer.get("l1_decay_mul") for layer in reloaded["layers"]] == [None, 1, 1, None]
