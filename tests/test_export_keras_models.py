"""Hand-written Keras models -> ConvNetJS snapshots, checked against the real
ConvNetJS 0.3.0 in Node: every exported net must predict what Keras predicts.

Unsupported models must raise one UnsupportedLayerError that names every bad
layer, and the CLI must then write nothing.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from convnetjs_node import node_forward

from convnetjs_keras import UnsupportedLayerError, to_snapshot
from convnetjs_keras.cli import main
from convnetjs_keras.export import support_table
from convnetjs_keras.layers import ConvNetJSMaxPool
from convnetjs_keras.version import __version__

L = keras.layers
REPO_ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-5  # float32 Keras against float64 ConvNetJS


def randomize(model, seed=0):
    """Give every weight a random value; BatchNormalization statistics stay valid."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        path = variable.path
        if "moving_variance" in path:
            value = rng.uniform(0.5, 2.0, variable.shape)
        elif "gamma" in path:
            value = rng.uniform(0.5, 1.5, variable.shape)
        else:
            value = rng.normal(0.0, 0.4, variable.shape)
        variable.assign(value.astype(variable.dtype))
    return model


def seq(input_shape, *layers, name=None, dtype=None):
    return keras.Sequential([keras.Input(input_shape, dtype=dtype), *layers], name=name)


def functional_chain():
    inputs = keras.Input((6, 6, 2))
    x = L.Conv2D(3, 3, activation="relu")(inputs)
    x = L.Flatten()(x)
    return keras.Model(inputs, L.Dense(4, activation="softmax")(x))


def nested_sequential():
    block = keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(3, 3, padding="same"), L.ReLU()], name="block")
    inputs = keras.Input((6, 6, 2))
    x = L.Flatten()(block(inputs))
    return keras.Model(inputs, L.Dense(3)(x))


CF = "channels_first"

# (id, builder, channels_first, expected ConvNetJS layer types)
SUPPORTED = [
    ("dense_relu_softmax", lambda: seq((6,), L.Dense(5, activation="relu"), L.Dense(3, activation="softmax")), False,
     ["input", "fc", "relu", "fc", "softmax"]),
    ("dense_no_bias_tanh", lambda: seq((5,), L.Dense(4, activation="tanh", use_bias=False), L.Dense(2)), False,
     ["input", "fc", "tanh", "fc", "regression"]),
    ("dense_sigmoid_last", lambda: seq((4,), L.Dense(3), L.Activation("sigmoid")), False,
     ["input", "fc", "sigmoid", "regression"]),
    ("dense_float64", lambda: seq((4,), L.Dense(3, activation="relu", dtype="float64"),
                                  L.Dense(2, dtype="float64"), dtype="float64"), False,
     ["input", "fc", "relu", "fc", "regression"]),
    ("dense_on_1x1_volume", lambda: seq((1, 1, 5), L.Dense(3, activation="relu"), L.Dense(2)), False,
     ["input", "fc", "relu", "fc", "regression"]),
    ("conv_valid_relu", lambda: seq((7, 7, 2), L.Conv2D(3, 3, activation="relu"), L.Flatten(),
                                    L.Dense(4, activation="softmax")), False,
     ["input", "conv", "relu", "fc", "softmax"]),
    ("conv_same_stride1", lambda: seq((6, 5, 2), L.Conv2D(4, 3, padding="same", activation="tanh"), L.Flatten(),
                                      L.Dense(3)), False, ["input", "conv", "tanh", "fc", "regression"]),
    ("conv_same_stride2_odd_input", lambda: seq((7, 7, 1), L.Conv2D(3, 3, strides=2, padding="same"), L.Flatten(),
                                                L.Dense(2)), False, ["input", "conv", "fc", "regression"]),
    ("conv_same_even_kernel", lambda: seq((8, 8, 1), L.Conv2D(2, 4, strides=2, padding="same"), L.Flatten(),
                                          L.Dense(2)), False, ["input", "conv", "fc", "regression"]),
    ("conv_same_1x1", lambda: seq((4, 4, 3), L.Conv2D(2, 1, padding="same", activation="sigmoid")), False,
     ["input", "conv", "sigmoid", "regression"]),
    ("conv_rect_kernel_stride2", lambda: seq((9, 8, 2), L.Conv2D(3, (3, 2), strides=2), L.Flatten(), L.Dense(2)),
     False, ["input", "conv", "fc", "regression"]),
    ("zero_padding_then_conv", lambda: seq((5, 5, 2), L.ZeroPadding2D(2), L.Conv2D(3, 5), L.Flatten(), L.Dense(2)),
     False, ["input", "conv", "fc", "regression"]),
    ("conv_no_bias", lambda: seq((5, 5, 2), L.Conv2D(3, 3, use_bias=False), L.Flatten(), L.Dense(2)), False,
     ["input", "conv", "fc", "regression"]),
    ("activation_layers", lambda: seq((5, 5, 2), L.Conv2D(3, 3), L.Activation("sigmoid"), L.ReLU(),
                                      L.Activation("tanh"), L.Activation("linear"), L.Flatten(), L.Dense(2)), False,
     ["input", "conv", "sigmoid", "relu", "tanh", "fc", "regression"]),
    ("maxpool_valid_floor", lambda: seq((7, 7, 2), L.MaxPooling2D(3, strides=2), L.Flatten(), L.Dense(3)), False,
     ["input", "pool", "fc", "regression"]),
    ("maxpool_same_odd_input", lambda: seq((7, 7, 2), L.MaxPooling2D(3, strides=2, padding="same"), L.Flatten(),
                                           L.Dense(3)), False, ["input", "pool", "fc", "regression"]),
    ("maxpool_same_even_input", lambda: seq((8, 6, 1), L.MaxPooling2D(2, padding="same"), L.Flatten(), L.Dense(3)),
     False, ["input", "pool", "fc", "regression"]),
    ("convnetjs_pool_with_pad", lambda: seq((6, 6, 2), ConvNetJSMaxPool(3, 2, 1), L.Flatten(), L.Dense(2)), False,
     ["input", "pool", "fc", "regression"]),
    ("dropout_left_out", lambda: seq((6,), L.Dense(5, activation="relu"), L.Dropout(0.3),
                                     L.Dense(3, activation="softmax")), False, ["input", "fc", "relu", "fc", "softmax"]),
    ("noise_layers_left_out", lambda: seq((5, 5, 2), L.Conv2D(3, 3), L.SpatialDropout2D(0.2), L.GaussianNoise(0.1),
                                          L.Identity(), L.Flatten(), L.Dense(2)), False,
     ["input", "conv", "fc", "regression"]),
    ("bn_after_conv", lambda: seq((6, 6, 2), L.Conv2D(3, 3), L.BatchNormalization(), L.ReLU(), L.Flatten(),
                                  L.Dense(2)), False, ["input", "conv", "relu", "fc", "regression"]),
    ("bn_after_dense", lambda: seq((5,), L.Dense(4), L.BatchNormalization(), L.Activation("tanh"), L.Dense(2)), False,
     ["input", "fc", "tanh", "fc", "regression"]),
    ("bn_twice_after_conv", lambda: seq((5, 5, 2), L.Conv2D(3, 3, padding="same"), L.BatchNormalization(),
                                        L.BatchNormalization(epsilon=0.1), L.Flatten(), L.Dense(2)), False,
     ["input", "conv", "fc", "regression"]),
    ("bn_before_valid_conv", lambda: seq((7, 7, 2), L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(),
                                         L.Conv2D(2, 3), L.Flatten(), L.Dense(2)), False,
     ["input", "conv", "relu", "conv", "fc", "regression"]),
    ("bn_before_flatten_dense", lambda: seq((5, 5, 2), L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(),
                                            L.Flatten(), L.Dense(3, activation="softmax")), False,
     ["input", "conv", "relu", "fc", "softmax"]),
    ("bn_on_vector_input", lambda: seq((4,), L.BatchNormalization(center=False), L.Dense(3)), False,
     ["input", "fc", "regression"]),
    ("rescaling_first", lambda: seq((5, 5, 3), L.Rescaling(1 / 255, offset=-0.5), L.Conv2D(2, 3), L.Flatten(),
                                    L.Dense(2)), False, ["input", "conv", "fc", "regression"]),
    ("channels_first_flatten_cf", lambda: seq((2, 7, 6), L.Conv2D(3, 3, data_format=CF, activation="relu"),
                                              L.MaxPooling2D(2, data_format=CF), L.Flatten(data_format=CF),
                                              L.Dense(3)), True, ["input", "conv", "relu", "pool", "fc", "regression"]),
    ("channels_first_flatten_cl", lambda: seq((2, 6, 5), L.Conv2D(3, 3, padding="same", data_format=CF),
                                              L.Flatten(data_format="channels_last"), L.Dense(4)), True,
     ["input", "conv", "fc", "regression"]),
    ("channels_first_bn_axis1", lambda: seq((3, 5, 5), L.ZeroPadding2D(1, data_format=CF),
                                            L.Conv2D(2, 3, data_format=CF, use_bias=False),
                                            L.BatchNormalization(axis=1), L.ReLU(), L.Flatten(), L.Dense(2)), True,
     ["input", "conv", "relu", "fc", "regression"]),
    ("channels_first_reshape", lambda: seq((2, 4, 4), L.Conv2D(3, 3, data_format=CF), L.Reshape((-1,)), L.Dense(2)),
     True, ["input", "conv", "fc", "regression"]),
    ("reshape_to_vector", lambda: seq((5, 5, 2), L.Conv2D(3, 3), L.Reshape((27,)), L.Dense(2)), False,
     ["input", "conv", "fc", "regression"]),
    ("reshape_vector_to_1x1", lambda: seq((4,), L.Dense(6, activation="relu"), L.Reshape((1, 1, 6)),
                                          L.Conv2D(3, 1), L.Flatten(), L.Dense(2)), False,
     ["input", "fc", "relu", "conv", "fc", "regression"]),
    ("conv_softmax_on_1x1", lambda: seq((3, 3, 2), L.Conv2D(4, 3, activation="softmax")), False,
     ["input", "conv", "softmax"]),
    ("softmax_layer_last", lambda: seq((5,), L.Dense(4), L.Softmax()), False, ["input", "fc", "softmax"]),
    ("functional_chain", functional_chain, False, ["input", "conv", "relu", "fc", "softmax"]),
    ("nested_sequential", nested_sequential, False, ["input", "conv", "relu", "fc", "regression"]),
]


@pytest.mark.parametrize("builder, channels_first, layer_types",
                         [case[1:] for case in SUPPORTED], ids=[case[0] for case in SUPPORTED])
def test_export_matches_convnetjs(builder, channels_first, layer_types):
    model = randomize(builder())
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, *model.inputs[0].shape[1:])).astype(model.inputs[0].dtype)

    snapshot = to_snapshot(model)
    expected = np.asarray(model(x, training=False), np.float64).reshape(len(x), -1)
    # ConvNetJS takes volumes in (y, x, depth) order.
    node_x = x.transpose(0, 2, 3, 1) if channels_first else x
    found = node_forward(snapshot, node_x)

    assert [layer["layer_type"] for layer in snapshot["layers"]] == layer_types
    assert snapshot["convnetjs_keras_version"] == __version__
    np.testing.assert_allclose(found, expected, rtol=0, atol=TOLERANCE)


def test_svm_output_on_request():
    model = randomize(seq((5,), L.Dense(3, activation="relu"), L.Dense(3)))
    x = np.random.default_rng(2).normal(size=(3, 5)).astype("float32")

    snapshot = to_snapshot(model, output="svm")

    assert snapshot["layers"][-1]["layer_type"] == "svm"
    np.testing.assert_allclose(node_forward(snapshot, x), np.asarray(model(x)), atol=TOLERANCE)


def test_dropout_omission_logged(caplog):
    model = seq((4,), L.Dense(3), L.Dropout(0.5, name="drop"), L.Dense(2))

    with caplog.at_level(logging.INFO, logger="convnetjs_keras"):
        to_snapshot(model)

    assert any("'drop' (Dropout)" in record.getMessage() for record in caplog.records)


def _problems(error):
    return [str(problem) for problem in error.value.problems]


# (id, builder, export kwargs, fragments: each must occur in one listed problem)
UNSUPPORTED = [
    ("several_bad_layers", lambda: seq((8, 8, 2), L.Conv2D(3, 3, strides=2, padding="same", name="uneven"),
                                       L.LeakyReLU(name="leaky"), L.GlobalAveragePooling2D(name="gap"),
                                       L.Dense(3)), {},
     ["'uneven' (Conv2D): padding='same'", "'leaky' (LeakyReLU)", "'gap' (GlobalAveragePooling2D)"]),
    ("softmax_over_volume", lambda: seq((6, 6, 2), L.Conv2D(3, 3, activation="softmax", name="c")), {},
     ["'c' (Conv2D): softmax over the last axis"]),
    ("bn_before_padded_conv", lambda: seq((5, 5, 2), L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(name="bn"),
                                          L.Conv2D(2, 3, padding="same")), {}, ["'bn' (BatchNormalization): cannot"]),
    ("bn_after_relu_at_end", lambda: seq((4,), L.Dense(3, activation="relu"), L.BatchNormalization(name="bn")), {},
     ["'bn' (BatchNormalization): cannot be folded"]),
    ("bn_before_pool", lambda: seq((6, 6, 2), L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(name="bn"),
                                   L.MaxPooling2D(2), L.Flatten(), L.Dense(2)), {},
     ["'bn' (BatchNormalization): cannot be folded: a MaxPooling2D follows"]),
    ("strides_dilation", lambda: seq((9, 12, 1), L.Conv2D(2, 3, strides=(1, 2), name="s"),
                                     L.Conv2D(2, 3, dilation_rate=2, name="d")), {},
     ["'s' (Conv2D): strides (1, 2)", "'d' (Conv2D): dilation_rate"]),
    ("dense_on_volume", lambda: seq((4, 4, 2), L.Dense(3, name="dense")), {}, ["'dense' (Dense): Dense on a"]),
    ("asymmetric_padding_pool_padding", lambda: seq((6, 6, 1), L.ZeroPadding2D(((1, 0), (1, 0)), name="asym"),
                                                    L.Conv2D(2, 3), L.ZeroPadding2D(1, name="zp"),
                                                    L.MaxPooling2D(2)), {},
     ["'asym' (ZeroPadding2D): padding", "'zp' (ZeroPadding2D): zero padding before a MaxPooling2D"]),
    ("average_pooling", lambda: seq((4, 4, 1), L.AveragePooling2D(2, name="avg"), L.Flatten(), L.Dense(2)), {},
     ["'avg' (AveragePooling2D)"]),
    ("softmax_in_middle", lambda: seq((4,), L.Dense(3, activation="softmax"), L.Dense(2)), {},
     ["softmax layer is in the middle"]),
    ("svm_on_softmax_model", lambda: seq((4,), L.Dense(3, activation="softmax")), {"output": "svm"},
     ["ends in softmax, but output='svm'"]),
    ("channels_first_flat_output", lambda: seq((2, 3, 3), L.Conv2D(2, 1, data_format=CF), L.Flatten()), {},
     ["flattened channels_first volume"]),
    ("mixed_data_formats", lambda: seq((2, 6, 6), L.Conv2D(2, 3, data_format=CF),
                                       L.MaxPooling2D(2, data_format="channels_last", name="pool")), {},
     ["'pool' (MaxPooling2D): data_format='channels_last'"]),
]


@pytest.mark.parametrize("builder, kwargs, fragments", [case[1:] for case in UNSUPPORTED],
                         ids=[case[0] for case in UNSUPPORTED])
def test_unsupported_lists_every_layer(builder, kwargs, fragments):
    # Random weights: a freshly built BatchNormalization is the identity and folds anywhere.
    model = randomize(builder())

    with pytest.raises(UnsupportedLayerError) as error:
        to_snapshot(model, **kwargs)

    problems = _problems(error)
    for fragment in fragments:
        assert any(fragment in problem for problem in problems), (fragment, problems)


def test_residual_model_names_merge():
    inputs = keras.Input((4,))
    hidden = L.Dense(4, name="hidden")(inputs)
    outputs = L.Add(name="skip")([inputs, hidden])
    model = keras.Model(inputs, outputs)

    with pytest.raises(UnsupportedLayerError) as error:
        to_snapshot(model)

    problems = _problems(error)
    assert any("'skip' (Add): takes 2 inputs" in problem for problem in problems)
    assert any("'skip' (Add): Add has no ConvNetJS equivalent" in problem for problem in problems)


def test_two_inputs_rejected():
    first, second = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([first, second], L.Concatenate()([first, second]))

    with pytest.raises(UnsupportedLayerError, match="2 inputs and 1 outputs"):
        to_snapshot(model)


def test_unsupported_hint_says_what_to_use():
    model = seq((4, 4, 1), L.GlobalAveragePooling2D(), L.Dense(2))

    with pytest.raises(UnsupportedLayerError, match="Instead: use Flatten followed by Dense"):
        to_snapshot(model)


@pytest.mark.parametrize("builder", [
    lambda: seq((8, 8, 2), L.Conv2D(3, 3, strides=2, padding="same", name="uneven"), L.LeakyReLU(name="leaky")),
    lambda: seq((4,), L.Dense(3, activation="relu"), L.BatchNormalization(name="bn")),
], ids=["uneven_padding_and_leaky_relu", "unfoldable_batch_norm"])
def test_cli_export_writes_nothing_on_error(tmp_path, capsys, builder):
    model_path = tmp_path / "model.keras"
    builder().save(model_path)
    out = tmp_path / "net.json"

    status = main(["export", str(model_path), str(out)])

    assert status == 3
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [model_path]
    assert "UnsupportedLayerError" not in capsys.readouterr().err  # a message, not a traceback


def test_cli_export_lists_bad_layers(tmp_path, capsys):
    model_path = tmp_path / "model.keras"
    seq((8, 8, 2), L.Conv2D(3, 3, strides=2, padding="same", name="uneven"), L.LeakyReLU(name="leaky")).save(model_path)

    main(["export", str(model_path), str(tmp_path / "net.json")])

    err = capsys.readouterr().err
    assert "'uneven' (Conv2D)" in err
    assert "'leaky' (LeakyReLU)" in err


@pytest.fixture(scope="module")
def small_model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("export_cli") / "model.keras"
    randomize(seq((6, 6, 1), L.Conv2D(4, 3, activation="relu"), L.Flatten(), L.Dense(3, activation="softmax"))).save(path)
    return path


def _max_significant_digits(values):
    digits = 0
    for value in values:
        mantissa = repr(abs(value)).split("e")[0].replace(".", "").lstrip("0")
        digits = max(digits, len(mantissa))
    return digits


def test_cli_digits_rounds_and_reports(tmp_path, small_model_path, caplog):
    out = tmp_path / "net.json"

    with caplog.at_level(logging.INFO, logger="convnetjs_keras"):
        status = main(["export", str(small_model_path), str(out), "--digits", "3"])

    messages = "\n".join(record.getMessage() for record in caplog.records)
    snapshot = json.loads(out.read_text())
    weights = [w for layer in snapshot["layers"] for f in layer.get("filters", []) for w in f["w"]]
    assert status == 0
    assert _max_significant_digits(weights) <= 3
    assert re.search(r"kB with 3 significant digits \(\d+\.\d kB with all digits\)", messages)
    change = float(re.search(r"largest change in predictions from rounding: (\S+) ", messages).group(1))
    assert 0 < change < 0.05
    assert "32 random inputs" in messages
    assert snapshot["convnetjs_keras_version"] == __version__


def test_cli_digits_with_sample_file(tmp_path, small_model_path, caplog):
    sample = tmp_path / "sample.npz"
    np.savez(sample, x=np.random.default_rng(3).uniform(-0.5, 0.5, (7, 6, 6, 1)))

    with caplog.at_level(logging.INFO, logger="convnetjs_keras"):
        status = main(["export", str(small_model_path), str(tmp_path / "net.json"), "--digits", "5",
                       "--sample", str(sample)])

    assert status == 0
    assert any(f"over 7 inputs from {sample}" in record.getMessage() for record in caplog.records)


def test_cli_sample_of_wrong_shape(tmp_path, small_model_path, capsys):
    sample = tmp_path / "sample.npz"
    np.savez(sample, x=np.zeros((2, 5, 5, 1)))
    out = tmp_path / "net.json"

    status = main(["export", str(small_model_path), str(out), "--digits", "4", "--sample", str(sample)])

    assert status == 3
    assert "has shape (2, 5, 5, 1), expected (N, 6, 6, 1)" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("argv_tail", [["--digits", "0"], ["--digits", "18"], ["--sample", "x.npz"]],
                         ids=["digits_0", "digits_18", "sample_without_digits"])
def test_cli_digits_usage_errors(tmp_path, small_model_path, argv_tail):
    status = main(["export", str(small_model_path), str(tmp_path / "net.json"), *argv_tail])

    assert status == 2


def test_cli_typed_array_objects(tmp_path, small_model_path):
    out = tmp_path / "net.json"

    main(["export", str(small_model_path), str(out), "--typed-array-objects"])

    snapshot = json.loads(out.read_text())
    w = snapshot["layers"][1]["filters"][0]["w"]
    assert isinstance(w, dict)
    assert list(w) == [str(i) for i in range(9)]
    x = np.random.default_rng(4).normal(size=(2, 6, 6, 1))
    model = keras.saving.load_model(small_model_path)
    np.testing.assert_allclose(node_forward(snapshot, x), np.asarray(model(x.astype("float32"))), atol=TOLERANCE)


def test_support_table_in_docs_is_current():
    text = (REPO_ROOT / "docs" / "export.md").read_text(encoding="utf-8")
    start = text.index("<!-- support-table:start -->") + len("<!-- support-table:start -->")
    end = text.index("<!-- support-table:end -->")

    assert text[start:end].strip() == support_table(), (
        "docs/export.md's support table is stale; regenerate it with "
        "python3 -c 'from convnetjs_keras.export import support_table; print(support_table())'")
