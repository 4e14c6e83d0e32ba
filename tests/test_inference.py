"""Tests of convnetjs_keras.inference: the cached, compiled predict path."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest

import convnetjs_keras as ck
from convnetjs_keras import inference
from convnetjs_keras.errors import DataError, KerasModelError

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus"

CONV_DEFS = [
    {"type": "input", "out_sx": 6, "out_sy": 5, "out_depth": 2},
    {"type": "conv", "sx": 3, "filters": 4, "pad": 1, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "dropout", "drop_prob": 0.5},
    {"type": "softmax", "num_classes": 3},
]
VECTOR_DEFS = [
    {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 7},
    {"type": "fc", "num_neurons": 5, "activation": "tanh"},
    {"type": "regression", "num_neurons": 2},
]


@pytest.fixture(scope="module")
def conv_model():
    return ck.from_layer_defs(CONV_DEFS, seed=1)


@pytest.fixture(scope="module")
def vector_model():
    return ck.from_layer_defs(VECTOR_DEFS, seed=2)


def random_inputs(count, shape, seed=0):
    return np.random.default_rng(seed).random((count, *shape), dtype=np.float32)


@pytest.mark.parametrize("count,batch_size", [(1, 512), (5, 512), (11, 4), (8, 4)],
                         ids=["one", "one-batch", "batches-with-remainder", "whole-batches"])
def test_predict_matches_model_predict(conv_model, count, batch_size):
    x = random_inputs(count, (5, 6, 2))
    expected = conv_model.predict(x, batch_size=batch_size, verbose=0)
    result = inference.predict(conv_model, x, batch_size=batch_size)
    assert result.shape == (count, 3)
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-7)


def test_predict_dropout_off(conv_model):
    x = random_inputs(4, (5, 6, 2))
    assert np.array_equal(inference.predict(conv_model, x), inference.predict(conv_model, x))


def test_predict_flat_rows_in_vol_order(conv_model):
    x = random_inputs(3, (5, 6, 2))
    # ConvNetJS's Vol order ((sx * y) + x) * depth + d is a row-major reshape of NHWC.
    flat = x.reshape(3, -1)
    assert np.array_equal(inference.predict(conv_model, flat), inference.predict(conv_model, x))


@pytest.mark.parametrize("layout", ["vector", "volume-1x1"])
def test_predict_vector_input_layouts(vector_model, layout):
    x = random_inputs(6, (7,))
    inputs = x if layout == "vector" else x.reshape(6, 1, 1, 7)
    np.testing.assert_allclose(inference.predict(vector_model, inputs), vector_model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-7)


def test_predict_float64_model_keeps_dtype():
    model = ck.from_layer_defs(VECTOR_DEFS, seed=2, dtype="float64")
    x = np.random.default_rng(0).random((3, 7))
    result = inference.predict(model, x)
    assert result.dtype == np.float64
    # model.predict would round the inputs to float32 first (Keras' data adapter casts to floatx).
    np.testing.assert_allclose(result, np.asarray(model(x, training=False)), rtol=1e-12)


def test_predict_lists_accepted(vector_model):
    x = random_inputs(2, (7,))
    assert np.array_equal(inference.predict(vector_model, x.tolist()), inference.predict(vector_model, x))


def test_predict_traces_once_for_any_batch_size(conv_model):
    for count in (1, 3, 700):
        inference.predict(conv_model, random_inputs(count, (5, 6, 2)))
    forward = inference._predict_function(conv_model)
    assert forward.tf_function.experimental_get_tracing_count() == 1


def test_predict_cache_released_with_model():
    model = ck.from_layer_defs(VECTOR_DEFS, seed=2)
    inference.predict(model, random_inputs(2, (7,)))
    reference = weakref.ref(model)
    del model
    gc.collect()
    assert reference() is None


def test_predict_other_backend_path(vector_model, monkeypatch):
    # JAX and PyTorch use model.predict_on_batch; exercise that branch on a fresh model.
    import keras

    model = ck.from_layer_defs(VECTOR_DEFS, seed=2)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    x = random_inputs(5, (7,))
    np.testing.assert_allclose(inference.predict(model, x, batch_size=2), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape,message", [
    ((4, 5, 6), r"inputs have shape \(4, 5, 6\), expected \(N, 5, 6, 2\) or \(N, 60\) in ConvNetJS's Vol order"),
    ((5, 6, 2), r"Add the batch dimension with x\[None\]"),
    ((3, 61), r"inputs have shape \(3, 61\)"),
], ids=["missing-depth", "no-batch-dimension", "wrong-flat-size"])
def test_predict_wrong_shape_raises(conv_model, shape, message):
    with pytest.raises(DataError, match=message):
        inference.predict(conv_model, np.zeros(shape, dtype=np.float32))


def test_predict_wrong_vector_shape_names_1x1_layout(vector_model):
    with pytest.raises(DataError, match=r"expected \(N, 7\) or \(N, 1, 1, 7\)"):
        inference.predict(vector_model, np.zeros((2, 8)))


def test_predict_strings_raise(vector_model):
    with pytest.raises(DataError, match="inputs have dtype <U1, expected numbers"):
        inference.predict(vector_model, np.array([["a"] * 7]))


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True], ids=["zero", "negative", "float", "bool"])
def test_predict_invalid_batch_size_raises(vector_model, batch_size):
    with pytest.raises(DataError, match="batch_size must be a positive integer"):
        inference.predict(vector_model, np.zeros((1, 7)), batch_size=batch_size)


def test_predict_two_input_model_raises():
    import keras

    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(KerasModelError, match="has 2 inputs, expected one"):
        inference.predict(model, np.zeros((1, 3)))


@pytest.mark.skipif(not (CORPUS_DIR / "karpathy_cifar10_conv.json").is_file(),
                    reason=f"the snapshot corpus is not at {CORPUS_DIR} (../shared/corpus)")
def test_predict_matches_convnetjs(tmp_path):
    from convnetjs_node import node_forward

    from convnetjs_keras.snapshot import read_json

    path = CORPUS_DIR / "karpathy_cifar10_conv.json"
    model = ck.load_snapshot(path, dtype="float64")
    x = np.random.default_rng(3).random((4, 32, 32, 3))
    expected = node_forward(read_json(path)[0], x)
    np.testing.assert_allclose(inference.predict(model, x), expected, rtol=1e-10, atol=1e-12)
