"""Checks that the Node harness drives the real ConvNetJS 0.3.0 correctly.

These tests need Node.js and `npm ci` in the repository root.
"""

import math

import numpy as np
import pytest

import convnetjs_node
from convnetjs_node import node_forward, node_make_layers, node_train


def vol(sx, sy, depth, values):
    values = np.asarray(values, dtype=np.float64).ravel()
    assert values.size == sx * sy * depth
    return {"sx": sx, "sy": sy, "depth": depth, "w": values.tolist()}


def vol_values(serialized):
    """Read a serialized Vol's weights, stored as a list or as {"0": ..} keys."""
    w = serialized["w"]
    if isinstance(w, dict):
        return np.array([w[str(i)] for i in range(len(w))], dtype=np.float64)
    return np.array(w, dtype=np.float64)


def fc_layer(weights, biases):
    """Serialize an fc layer from a (num_inputs, out_depth) matrix."""
    weights = np.asarray(weights, dtype=np.float64)
    num_inputs, out_depth = weights.shape
    return {
        "out_depth": out_depth,
        "out_sx": 1,
        "out_sy": 1,
        "layer_type": "fc",
        "num_inputs": num_inputs,
        "l1_decay_mul": 0,
        "l2_decay_mul": 1,
        "filters": [vol(1, 1, num_inputs, weights[:, j]) for j in range(out_depth)],
        "biases": vol(1, 1, out_depth, biases),
    }


def shape_layer(layer_type, sx, sy, depth, **extra):
    return {"out_sx": sx, "out_sy": sy, "out_depth": depth, "layer_type": layer_type, **extra}


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def tiny_classifier(rng):
    """Return (snapshot, params) for input 3 -> fc 4 -> tanh -> fc 2 -> softmax."""
    w1, b1 = rng.normal(size=(3, 4)), rng.normal(size=4)
    w2, b2 = rng.normal(size=(4, 2)), rng.normal(size=2)
    snapshot = {
        "layers": [
            shape_layer("input", 1, 1, 3),
            fc_layer(w1, b1),
            shape_layer("tanh", 1, 1, 4),
            fc_layer(w2, b2),
            shape_layer("softmax", 1, 1, 2, num_inputs=2),
        ]
    }
    return snapshot, (w1, b1, w2, b2)


MNIST_LIKE_DEFS = [
    {"type": "input", "out_sx": 9, "out_sy": 9, "out_depth": 2},
    {"type": "conv", "sx": 3, "filters": 4, "stride": 2, "pad": 0, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "fc", "num_neurons": 5, "activation": "sigmoid"},
    {"type": "softmax", "num_classes": 3},
]


def test_make_layers_desugars_activations():
    snapshot = node_make_layers(MNIST_LIKE_DEFS)
    types = [layer["layer_type"] for layer in snapshot["layers"]]
    assert types == ["input", "conv", "relu", "pool", "fc", "sigmoid", "fc", "softmax"]


def test_make_layers_floor_output_sizes():
    layers = node_make_layers(MNIST_LIKE_DEFS)["layers"]
    sizes = [(layer["out_sx"], layer["out_sy"], layer["out_depth"]) for layer in layers]

    conv_side = math.floor((9 + 2 * 0 - 3) / 2 + 1)  # 4
    pool_side = math.floor((conv_side + 2 * 0 - 2) / 2 + 1)  # 2
    assert sizes[1] == (conv_side, conv_side, 4)
    assert sizes[2] == (conv_side, conv_side, 4)
    assert sizes[3] == (pool_side, pool_side, 4)
    assert sizes[4] == (1, 1, 5)
    assert sizes[6] == (1, 1, 3)
    assert sizes[7] == (1, 1, 3)
    assert layers[4]["num_inputs"] == pool_side * pool_side * 4


def test_make_layers_relu_bias_and_weight_format():
    layers = node_make_layers(MNIST_LIKE_DEFS)["layers"]
    conv, fc_hidden = layers[1], layers[4]

    # ConvNetJS starts biases at 0.1 for layers followed by relu, else 0.
    np.testing.assert_array_equal(vol_values(conv["biases"]), np.full(4, 0.1))
    np.testing.assert_array_equal(vol_values(fc_hidden["biases"]), np.zeros(5))

    # JSON.stringify writes a Float64Array as an object keyed "0", "1", ...
    first_filter = conv["filters"][0]
    assert isinstance(first_filter["w"], dict)
    assert (first_filter["sx"], first_filter["sy"], first_filter["depth"]) == (3, 3, 2)
    assert len(first_filter["w"]) == 3 * 3 * 2


def test_make_layers_seed_reproducible():
    first = node_make_layers(MNIST_LIKE_DEFS, seed=5)
    second = node_make_layers(MNIST_LIKE_DEFS, seed=5)
    other = node_make_layers(MNIST_LIKE_DEFS, seed=6)
    assert first == second
    assert first != other


def test_make_layers_unknown_type_raises():
    defs = [{"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 2}, {"type": "bogus"}]
    with pytest.raises(RuntimeError, match="UNRECOGNIZED LAYER TYPE"):
        node_make_layers(defs)


def test_forward_fc_matches_numpy():
    rng = np.random.default_rng(0)
    snapshot, (w1, b1, w2, b2) = tiny_classifier(rng)
    x = rng.normal(size=(6, 3))

    expected = softmax(np.tanh(x @ w1 + b1) @ w2 + b2)
    got = node_forward(snapshot, x)

    assert got.dtype == np.float64
    assert got.shape == (6, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_forward_layer_activations():
    rng = np.random.default_rng(1)
    snapshot, (w1, b1, _, _) = tiny_classifier(rng)
    x = rng.normal(size=(4, 3))

    outputs, activations = node_forward(snapshot, x, layers=True)

    assert [a.shape for a in activations] == [(4, 3), (4, 4), (4, 4), (4, 2), (4, 2)]
    np.testing.assert_array_equal(activations[0], x)
    np.testing.assert_allclose(activations[1], x @ w1 + b1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(activations[2], np.tanh(x @ w1 + b1), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(activations[-1], outputs)


def test_forward_conv_uses_nhwc_order():
    """A 2x2 conv on a 3x3x2 input, with ConvNetJS filters stored as (fy, fx, depth)."""
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(2, 2, 2))  # (fy, fx, in_depth) for the single filter
    bias = 0.25
    snapshot = {
        "layers": [
            shape_layer("input", 3, 3, 2),
            {
                "sx": 2,
                "sy": 2,
                "stride": 1,
                "pad": 0,
                "in_depth": 2,
                "out_depth": 1,
                "out_sx": 2,
                "out_sy": 2,
                "layer_type": "conv",
                "l1_decay_mul": 0,
                "l2_decay_mul": 1,
                "filters": [vol(2, 2, 2, kernel)],
                "biases": vol(1, 1, 1, [bias]),
            },
            shape_layer("regression", 1, 1, 4, num_inputs=4),
        ]
    }
    x = rng.normal(size=(3, 3, 3, 2))  # (N, y, x, depth)

    expected = np.empty((3, 2, 2))
    for oy in range(2):
        for ox in range(2):
            window = x[:, oy : oy + 2, ox : ox + 2, :]
            expected[:, oy, ox] = np.einsum("nyxd,yxd->n", window, kernel) + bias

    got = node_forward(snapshot, x)
    np.testing.assert_allclose(got, expected.reshape(3, 4), rtol=1e-12, atol=1e-14)


def test_forward_nonfinite_output_kept():
    snapshot = {
        "layers": [
            shape_layer("input", 1, 1, 1),
            fc_layer([[1e308]], [0.0]),
            shape_layer("regression", 1, 1, 1, num_inputs=1),
        ]
    }
    got = node_forward(snapshot, np.array([[10.0], [-10.0], [0.0]]))
    assert got[0, 0] == np.inf
    assert got[1, 0] == -np.inf
    assert got[2, 0] == 0.0


def test_forward_wrong_input_size_raises():
    snapshot, _ = tiny_classifier(np.random.default_rng(3))
    with pytest.raises(RuntimeError, match="expected 3"):
        node_forward(snapshot, np.zeros((1, 4)))


def test_forward_accepts_stringified_weights():
    """Snapshots saved by ConvNetJS store weights as {"0": ..} objects."""
    rng = np.random.default_rng(4)
    snapshot, _ = tiny_classifier(rng)
    x = rng.normal(size=(2, 3))
    keyed = {"layers": [dict(layer) for layer in snapshot["layers"]]}
    for layer in keyed["layers"]:
        if "filters" in layer:
            layer["filters"] = [
                {**f, "w": {str(i): v for i, v in enumerate(f["w"])}} for f in layer["filters"]
            ]

    np.testing.assert_array_equal(node_forward(keyed, x), node_forward(snapshot, x))


def test_train_softmax_stats():
    rng = np.random.default_rng(5)
    snapshot, _ = tiny_classifier(rng)
    xs = rng.normal(size=(8, 3))
    ys = (xs[:, 0] > 0).astype(np.int64)
    trainer = {"method": "sgd", "learning_rate": 0.1, "momentum": 0.0, "batch_size": 2,
               "l2_decay": 0.01}

    trained, stats = node_train(snapshot, trainer, xs, ys, epochs=3)

    assert len(stats) == 3 * 8
    for entry in stats:
        assert set(entry) == {"loss", "cost_loss", "softmax_loss", "l2_decay_loss",
                              "l1_decay_loss"}
        assert entry["loss"] == pytest.approx(
            entry["cost_loss"] + entry["l1_decay_loss"] + entry["l2_decay_loss"]
        )
    # Decay losses are only computed on update steps (every batch_size-th call).
    assert stats[0]["l2_decay_loss"] == 0.0
    assert stats[1]["l2_decay_loss"] > 0.0
    # The first cost is the softmax loss of the untrained net.
    start = node_forward(snapshot, xs[:1])[0]
    assert stats[0]["cost_loss"] == pytest.approx(-math.log(start[ys[0]]), rel=1e-12)

    first_epoch = np.mean([s["cost_loss"] for s in stats[:8]])
    last_epoch = np.mean([s["cost_loss"] for s in stats[-8:]])
    assert last_epoch < first_epoch
    assert vol_values(trained["layers"][1]["filters"][0]) != pytest.approx(
        snapshot["layers"][1]["filters"][0]["w"]
    )


def test_train_regression_array_labels():
    snapshot = {
        "layers": [
            shape_layer("input", 1, 1, 2),
            fc_layer(np.zeros((2, 2)), np.zeros(2)),
            shape_layer("regression", 1, 1, 2, num_inputs=2),
        ]
    }
    xs = np.array([[1.0, 2.0]])
    ys = np.array([[0.5, -1.5]])
    trainer = {"method": "sgd", "learning_rate": 0.1, "momentum": 0.0, "batch_size": 1}

    trained, stats = node_train(snapshot, trainer, xs, ys)

    # ConvNetJS reports loss 2 * sum(dy^2) for regression, though its gradient is dy.
    assert stats[0]["cost_loss"] == pytest.approx(2 * (0.5**2 + 1.5**2))
    # One SGD step from zero weights: w[:, j] = -lr * (0 - y_j) * x.
    w0 = vol_values(trained["layers"][1]["filters"][0])
    np.testing.assert_allclose(w0, 0.1 * 0.5 * xs[0])


def test_missing_node_modules_message(monkeypatch, tmp_path):
    monkeypatch.setattr(convnetjs_node, "CONVNETJS_PACKAGE", tmp_path / "convnetjs" / "package.json")
    with pytest.raises(RuntimeError, match="npm ci"):
        node_make_layers(MNIST_LIKE_DEFS)
