"""Each ConvNetJS layer type and option converts exactly, in both directions.

Every case builds a small network with ConvNetJS's own ``makeLayers`` in Node,
so ConvNetJS draws the random weights. The snapshot is converted with
``from_snapshot``, and Keras is compared with ConvNetJS 0.3.0's ``forward`` on
random inputs, for the final output and for every layer's activations.
Tolerances (see ``convnetjs_compare.TOLERANCE``): 1e-5 for a float32 model
and 1e-10 for a float64 model, absolute, times max(1, largest |output|).
Then ``to_snapshot`` writes the model back and ConvNetJS runs that snapshot.

These tests need Node.js and `npm ci` in the repository root.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from convnetjs_compare import (
    assert_matches_convnetjs,
    keras_activations,
    keras_predict,
    layer_fields,
    random_inputs,
    vol_values,
    weights_of,
)
from convnetjs_keras.model import from_snapshot, to_snapshot
from convnetjs_keras.regularizers import ConvNetJSDecay
from convnetjs_node import node_forward, node_make_layers

EXAMPLES = 3


def vector_input(depth):
    return {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": depth}


def volume_input(sx, sy, depth):
    return {"type": "input", "out_sx": sx, "out_sy": sy, "out_depth": depth}


def regression(num_neurons=3):
    return {"type": "regression", "num_neurons": num_neurons}


# Each case is a layer_defs list that puts the layer under test between an
# input and a loss layer. The loss layer's fc mixes all values, so a wrong
# value anywhere also shows in the final output.
CASES = {
    # input: a 1x1xD vector and a volume, with nothing but the loss fc after it.
    "input_vector": [vector_input(4), regression()],
    "input_volume": [volume_input(3, 2, 2), regression()],
    # conv: pad, stride, non-square filters and inputs, uneven sizes, decay.
    "conv_pad0": [volume_input(6, 6, 2), {"type": "conv", "sx": 3, "filters": 4}, regression()],
    "conv_pad1_same": [volume_input(6, 6, 2), {"type": "conv", "sx": 3, "filters": 4, "pad": 1}, regression()],
    "conv_pad2_same_5x5": [volume_input(6, 5, 3), {"type": "conv", "sx": 5, "filters": 3, "pad": 2},
                           regression()],
    "conv_pad2_3x3": [volume_input(5, 5, 2), {"type": "conv", "sx": 3, "filters": 3, "pad": 2}, regression()],
    "conv_stride2_pad1": [volume_input(7, 7, 2), {"type": "conv", "sx": 3, "filters": 3, "stride": 2, "pad": 1},
                          regression()],
    "conv_stride3_uneven": [volume_input(10, 10, 2), {"type": "conv", "sx": 3, "filters": 3, "stride": 3},
                            regression()],
    "conv_stride2_even_kernel": [volume_input(7, 7, 1), {"type": "conv", "sx": 2, "filters": 2, "stride": 2},
                                 regression()],
    "conv_sx_ne_sy": [volume_input(7, 6, 2), {"type": "conv", "sx": 3, "sy": 2, "filters": 3}, regression()],
    "conv_sx_ne_sy_stride2_pad1": [volume_input(7, 6, 2),
                                   {"type": "conv", "sx": 2, "sy": 3, "filters": 3, "stride": 2, "pad": 1},
                                   regression()],
    "conv_decay_muls": [volume_input(5, 5, 2),
                        {"type": "conv", "sx": 3, "filters": 2, "l1_decay_mul": 0.5, "l2_decay_mul": 2.0},
                        regression()],
    "conv_relu_bias": [volume_input(5, 5, 2), {"type": "conv", "sx": 3, "filters": 3, "activation": "relu"},
                       regression()],
    "conv_on_1x1_input": [vector_input(5), {"type": "conv", "sx": 1, "filters": 4}, regression()],
    "conv_stack": [volume_input(8, 8, 1), {"type": "conv", "sx": 3, "filters": 4, "pad": 1, "activation": "relu"},
                   {"type": "conv", "sx": 3, "filters": 2, "stride": 2, "activation": "tanh"}, regression()],
    # fc: on a vector, on a 3-D volume, with decay multipliers.
    "fc_on_vector": [vector_input(5), {"type": "fc", "num_neurons": 4}, regression()],
    "fc_on_volume": [volume_input(3, 4, 2), {"type": "fc", "num_neurons": 5}, regression()],
    "fc_filters_alias": [vector_input(3), {"type": "fc", "filters": 4}, regression()],
    "fc_decay_muls": [vector_input(4), {"type": "fc", "num_neurons": 3, "l1_decay_mul": 1.5, "l2_decay_mul": 0.0},
                      regression()],
    # pool: default stride 2, pad, stride != sx, sx != sy, uneven sizes.
    "pool_2x2": [volume_input(6, 6, 2), {"type": "pool", "sx": 2}, regression()],
    "pool_pad1": [volume_input(5, 5, 2), {"type": "pool", "sx": 3, "stride": 2, "pad": 1}, regression()],
    "pool_pad1_stride1": [volume_input(4, 4, 2), {"type": "pool", "sx": 2, "stride": 1, "pad": 1}, regression()],
    "pool_stride_ne_sx": [volume_input(6, 6, 2), {"type": "pool", "sx": 3, "stride": 1}, regression()],
    "pool_sx_ne_sy": [volume_input(7, 6, 2), {"type": "pool", "sx": 3, "sy": 2, "stride": 2}, regression()],
    "pool_uneven": [volume_input(7, 7, 2), {"type": "pool", "sx": 3, "stride": 3}, regression()],
    "pool_on_1x1_input": [vector_input(3), {"type": "pool", "sx": 1, "stride": 1}, regression()],
    # A window that lies wholly in the padding outputs ConvNetJS's -99999.
    "pool_window_in_padding": [volume_input(4, 4, 1), {"type": "pool", "sx": 2, "stride": 2, "pad": 2},
                               regression(2)],
    # Element-wise nonlinearities, on vectors and on volumes.
    "relu_vector": [vector_input(4), {"type": "fc", "num_neurons": 6, "activation": "relu"}, regression()],
    "relu_volume": [volume_input(4, 3, 2), {"type": "relu"}, regression()],
    "sigmoid_vector": [vector_input(4), {"type": "fc", "num_neurons": 6, "activation": "sigmoid"}, regression()],
    "sigmoid_volume": [volume_input(4, 3, 2), {"type": "sigmoid"}, regression()],
    "tanh_vector": [vector_input(4), {"type": "fc", "num_neurons": 6, "activation": "tanh"}, regression()],
    "tanh_volume": [volume_input(4, 3, 2), {"type": "tanh"}, regression()],
    # maxout on fc outputs (ConvNetJS's 1x1 branch) and on conv outputs.
    "maxout_fc_group2": [vector_input(4), {"type": "fc", "num_neurons": 6, "activation": "maxout"}, regression()],
    "maxout_fc_group3": [vector_input(4),
                         {"type": "fc", "num_neurons": 6, "activation": "maxout", "group_size": 3}, regression()],
    "maxout_fc_group3_remainder": [vector_input(4), {"type": "fc", "num_neurons": 7, "activation": "maxout",
                                                     "group_size": 3}, regression()],
    "maxout_conv_group2": [volume_input(4, 4, 2), {"type": "conv", "sx": 3, "filters": 4, "pad": 1,
                                                   "activation": "maxout"}, regression()],
    "maxout_conv_group3_remainder": [volume_input(4, 3, 2), {"type": "conv", "sx": 3, "filters": 7, "pad": 1,
                                                             "activation": "maxout", "group_size": 3},
                                     regression()],
    # dropout: prediction multiplies by drop_prob (0 gives zeros).
    "dropout_after_fc": [vector_input(4), {"type": "fc", "num_neurons": 5, "drop_prob": 0.5}, regression()],
    "dropout_layer_0_2": [vector_input(4), {"type": "dropout", "drop_prob": 0.2}, regression()],
    "dropout_default_prob": [vector_input(4), {"type": "dropout"}, regression()],
    "dropout_zero_prob": [vector_input(4), {"type": "fc", "num_neurons": 5, "drop_prob": 0.0}, regression()],
    "dropout_on_volume": [volume_input(3, 3, 2), {"type": "conv", "sx": 3, "filters": 2, "pad": 1,
                                                  "drop_prob": 0.7}, regression()],
    # lrn: odd n, several k / alpha / beta, windows wider than the depth.
    "lrn_n3": [volume_input(3, 3, 5), {"type": "lrn", "k": 1.0, "n": 3, "alpha": 0.5, "beta": 0.75},
               regression()],
    "lrn_n5_caffe_like": [volume_input(3, 3, 6), {"type": "lrn", "k": 2.0, "n": 5, "alpha": 1e-4, "beta": 0.75},
                          regression()],
    "lrn_n1": [volume_input(2, 2, 3), {"type": "lrn", "k": 0.5, "n": 1, "alpha": 2.0, "beta": 0.5}, regression()],
    "lrn_n7_shallow": [volume_input(2, 3, 3), {"type": "lrn", "k": 1.5, "n": 7, "alpha": 3.0, "beta": 1.25},
                       regression()],
    "lrn_on_vector": [vector_input(6), {"type": "lrn", "k": 1.0, "n": 3, "alpha": 1.0, "beta": 0.75},
                      regression()],
    # Loss layers.
    "softmax": [vector_input(4), {"type": "softmax", "num_classes": 5}],
    "softmax_after_conv": [volume_input(4, 4, 2), {"type": "conv", "sx": 3, "filters": 2},
                           {"type": "softmax", "num_classes": 3}],
    "svm": [vector_input(4), {"type": "svm", "num_classes": 3}],
    "regression": [volume_input(2, 2, 2), regression(4)],
    # quadtransform, inserted by tensor: true, on a vector and on a volume.
    "quadtransform_vector": [vector_input(3), {"type": "fc", "num_neurons": 4, "tensor": True}, regression()],
    "quadtransform_volume": [volume_input(3, 2, 2), {"type": "conv", "sx": 2, "filters": 2, "tensor": True},
                             regression()],
}

DTYPES = ("float32", "float64")


@functools.lru_cache(maxsize=None)
def reference(case: str):
    """Return (snapshot, inputs, ConvNetJS outputs, ConvNetJS activations) of a case."""
    snapshot = node_make_layers(CASES[case], seed=len(case))
    x = random_inputs(snapshot, EXAMPLES, seed=len(case))
    outputs, activations = node_forward(snapshot, x, layers=True)
    return snapshot, x, outputs, activations


@functools.lru_cache(maxsize=None)
def converted(case: str, dtype: str):
    snapshot, _, _, _ = reference(case)
    return from_snapshot(snapshot, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_output_matches_convnetjs(case, dtype):
    _, x, expected, _ = reference(case)
    model = converted(case, dtype)

    assert_matches_convnetjs(keras_predict(model, x), expected, dtype, f"{case} output")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_every_layer_matches_convnetjs(case, dtype):
    snapshot, x, _, expected = reference(case)
    model = converted(case, dtype)

    actual = keras_activations(model, x)

    assert sorted(actual) == list(range(1, len(snapshot["layers"])))
    for index, values in actual.items():
        layer_type = snapshot["layers"][index]["layer_type"]
        assert_matches_convnetjs(values, expected[index], dtype, f"{case} layer {index} ({layer_type})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_matches_convnetjs(case, dtype):
    _, x, _, _ = reference(case)
    model = converted(case, dtype)

    exported = to_snapshot(model)

    assert_matches_convnetjs(node_forward(exported, x), keras_predict(model, x), dtype,
                             f"{case} exported from Keras")


@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_keeps_snapshot_fields(case):
    snapshot, _, _, _ = reference(case)

    exported = to_snapshot(converted(case, "float64"))

    assert [layer_fields(layer) for layer in exported["layers"]] == \
        [layer_fields(layer) for layer in snapshot["layers"]]
    # Layer.toJSON()'s key order, which diffs against ConvNetJS's own files rely on.
    assert [list(layer) for layer in exported["layers"]] == [list(layer) for layer in snapshot["layers"]]
    for got, want in zip(weights_of(exported), weights_of(snapshot)):
        np.testing.assert_array_equal(got, want)


def test_dropout_prediction_scales_by_drop_prob():
    _, x, _, activations = reference("dropout_after_fc")
    fc, dropout = activations[1], activations[2]

    np.testing.assert_allclose(dropout, 0.5 * fc, rtol=0, atol=1e-15)
    np.testing.assert_allclose(keras_activations(converted("dropout_after_fc", "float64"), x)[2], 0.5 * fc,
                               rtol=0, atol=1e-15)


def test_dropout_zero_prob_outputs_zeros():
    snapshot, x, outputs, activations = reference("dropout_zero_prob")
    loss_fc_biases = vol_values(snapshot["layers"][3]["biases"])

    assert snapshot["layers"][2] == {"out_depth": 5, "out_sx": 1, "out_sy": 1, "layer_type": "dropout",
                                     "drop_prob": 0}
    np.testing.assert_array_equal(activations[2], np.zeros((EXAMPLES, 5)))
    np.testing.assert_array_equal(keras_activations(converted("dropout_zero_prob", "float64"), x)[2],
                                  np.zeros((EXAMPLES, 5)))
    # With zero inputs the loss layer's fc outputs its biases.
    np.testing.assert_array_equal(outputs, np.tile(loss_fc_biases, (EXAMPLES, 1)))


def test_pool_window_in_padding_outputs_floor():
    snapshot, x, _, activations = reference("pool_window_in_padding")
    pool = snapshot["layers"][1]

    # (4 + 2 * 2 - 2) // 2 + 1 = 4 windows per axis. The first and last lie in the padding.
    assert (pool["out_sx"], pool["out_sy"]) == (4, 4)
    corners = activations[1].reshape(EXAMPLES, 4, 4)[:, [0, 0, 3, 3], [0, 3, 0, 3]]
    np.testing.assert_array_equal(corners, -99999.0)
    keras_pool = keras_activations(converted("pool_window_in_padding", "float64"), x)[1]
    np.testing.assert_array_equal(keras_pool.reshape(EXAMPLES, 4, 4)[:, [0, 0, 3, 3], [0, 3, 0, 3]], -99999.0)


def test_maxout_remainder_channel_dropped():
    snapshot, _, _, _ = reference("maxout_fc_group3_remainder")
    maxout = snapshot["layers"][2]

    assert maxout["group_size"] == 3
    assert maxout["out_depth"] == 7 // 3
    assert converted("maxout_fc_group3_remainder", "float32").get_layer("maxout_2").output.shape == (None, 2)


@pytest.mark.parametrize("case", ["conv_decay_muls", "fc_decay_muls"])
def test_decay_multipliers_reach_regularizer(case):
    snapshot, _, _, _ = reference(case)
    layer = snapshot["layers"][1]
    keras_layer = converted(case, "float32").get_layer(f"{layer['layer_type']}_1")

    regularizer = keras_layer.kernel_regularizer
    assert isinstance(regularizer, ConvNetJSDecay)
    assert (regularizer.l1_decay_mul, regularizer.l2_decay_mul) == (layer["l1_decay_mul"], layer["l2_decay_mul"])


def test_softmax_directly_on_volume():
    # makeLayers always puts an fc in front of softmax, but a hand-edited
    # snapshot can apply softmax to a 2x2x2 volume, read as 8 values.
    snapshot, x, _, _ = reference("softmax_after_conv")
    layers = [dict(layer) for layer in snapshot["layers"]]
    conv = layers[1]
    size = conv["out_sx"] * conv["out_sy"] * conv["out_depth"]
    edited = {"layers": [layers[0], conv, {"out_depth": size, "out_sx": 1, "out_sy": 1,
                                           "layer_type": "softmax", "num_inputs": size}]}
    expected = node_forward(edited, x)

    for dtype in DTYPES:
        model = from_snapshot(edited, dtype=dtype)
        assert_matches_convnetjs(keras_predict(model, x), expected, dtype, f"softmax on a volume ({dtype})")
    assert node_forward(to_snapshot(from_snapshot(edited, dtype="float64")), x).tolist() == expected.tolist()
