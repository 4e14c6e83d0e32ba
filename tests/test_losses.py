"""ConvNetJS's output-layer losses: values, gradients, dtype, make_loss and serialization."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from convnetjs_keras import KerasModelError, from_layer_defs
from convnetjs_keras.layers import ConvNetJSRegression, ConvNetJSSVM
from convnetjs_keras.losses import ConvNetJSHingeLoss, ConvNetJSRegressionLoss, ConvNetJSSoftmaxLoss
from convnetjs_keras.training import make_loss


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def per_example(loss, y_true, y_pred):
    return np.asarray(loss.call(tf.constant(y_true), tf.constant(y_pred)))


def gradient(loss, y_true, y_pred):
    """Gradient of the summed per-example loss with respect to ``y_pred``."""
    y_pred = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        total = tf.reduce_sum(loss.call(tf.constant(y_true), y_pred))
    return tape.gradient(total, y_pred).numpy()


def logit_gradient(loss, labels, logits):
    """Gradient of the batch-mean loss (``loss(...)``, dtype cast included) with respect to
    the logits feeding keras.layers.Softmax."""
    logits = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        probs = keras.layers.Softmax(dtype="float64")(logits)
        total = loss(tf.constant(labels), probs)
    return tape.gradient(total, logits).numpy()


# --- softmax ------------------------------------------------------------------------------------

def test_softmax_loss_is_true_class_nll():
    probs = softmax(np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]))
    labels = np.array([1.0, 0.0])

    values = per_example(ConvNetJSSoftmaxLoss(dtype="float64"), labels, probs)

    np.testing.assert_allclose(values, -np.log([probs[0, 1], probs[1, 0]]), rtol=1e-15)


def test_softmax_loss_accepts_column_labels():
    probs = softmax(np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]))
    loss = ConvNetJSSoftmaxLoss(dtype="float64")

    np.testing.assert_array_equal(per_example(loss, np.array([[2.0], [1.0]]), probs),
                                  per_example(loss, np.array([2.0, 1.0]), probs))


def test_softmax_gradient_not_clipped_near_one():
    # p[y] is within 1e-7 of 1, where a clipped crossentropy has no gradient.
    logits = np.array([[20.0, 0.0, 0.0]])
    labels = np.array([0.0])
    expected = softmax(logits) - np.array([[1.0, 0.0, 0.0]])  # ConvNetJS: -(indicator - p)

    grad = logit_gradient(ConvNetJSSoftmaxLoss(dtype="float64"), labels, logits)

    np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_builtin_crossentropy_clips_cast_probabilities():
    # Why ConvNetJSSoftmaxLoss exists: Keras' float32 loss on a float64 model's
    # softmax casts the probabilities, loses the logits and clips them.
    logits = np.array([[20.0, 0.0, 0.0]])

    grad = logit_gradient(keras.losses.SparseCategoricalCrossentropy(dtype="float32"), np.array([0.0]), logits)

    np.testing.assert_array_equal(grad, [[0.0, 0.0, 0.0]])


def test_softmax_loss_rejects_one_hot_labels():
    with pytest.raises(ValueError, match=r"class indices shaped \(batch,\) or \(batch, 1\)"):
        per_example(ConvNetJSSoftmaxLoss(), np.eye(3, dtype="float32"), np.full((3, 3), 1 / 3, dtype="float32"))


# --- svm ----------------------------------------------------------------------------------------

def test_hinge_loss_counts_true_class_margin():
    scores = np.array([[2.0, 0.0, 1.5]])
    # i=0 (true class) adds 1, i=1 adds max(0, 0 - 2 + 1) = 0, i=2 adds 1.5 - 2 + 1.
    values = per_example(ConvNetJSHingeLoss(dtype="float64"), np.array([0.0]), scores)

    np.testing.assert_allclose(values, [1.5], rtol=1e-15)


def test_hinge_gradient_is_multiclass_hinge():
    scores = np.array([[2.0, 0.0, 1.5, 2.5]])

    grad = gradient(ConvNetJSHingeLoss(dtype="float64"), np.array([0.0]), scores)

    # Classes 2 and 3 violate the margin: +1 each, and -2 on the true class.
    np.testing.assert_array_equal(grad, [[-2.0, 0.0, 1.0, 1.0]])


def test_hinge_zero_margin_has_no_gradient():
    # ConvNetJS tests `x[i] - x[y] + 1 > 0`, so a zero margin is not a violation.
    scores = np.array([[1.0, 0.0]])

    grad = gradient(ConvNetJSHingeLoss(dtype="float64"), np.array([0.0]), scores)

    np.testing.assert_array_equal(grad, [[0.0, 0.0]])


# --- regression ---------------------------------------------------------------------------------

def test_regression_loss_is_half_squared_error():
    outputs = np.array([[1.0, -2.0], [0.5, 0.0]])
    targets = np.array([[0.0, 1.0], [0.5, 2.0]])

    values = per_example(ConvNetJSRegressionLoss(dtype="float64"), targets, outputs)
    grad = gradient(ConvNetJSRegressionLoss(dtype="float64"), targets, outputs)

    np.testing.assert_allclose(values, [0.5 * (1 + 9), 0.5 * 4], rtol=1e-15)
    np.testing.assert_allclose(grad, outputs - targets, rtol=1e-15)


def test_regression_skips_nan_targets():
    # The Keras form of ConvNetJS's {dim: 1, val: 3} label.
    outputs = np.array([[1.0, -2.0, 4.0]])
    targets = np.array([[np.nan, 3.0, np.nan]])

    values = per_example(ConvNetJSRegressionLoss(dtype="float64"), targets, outputs)
    grad = gradient(ConvNetJSRegressionLoss(dtype="float64"), targets, outputs)

    np.testing.assert_allclose(values, [0.5 * 25], rtol=1e-15)
    np.testing.assert_array_equal(grad, [[0.0, -5.0, 0.0]])


def test_regression_accepts_flat_targets():
    outputs = np.array([[1.0], [2.0]])

    values = per_example(ConvNetJSRegressionLoss(dtype="float64"), np.array([0.0, 4.0]), outputs)

    np.testing.assert_allclose(values, [0.5, 2.0], rtol=1e-15)


# --- make_loss ----------------------------------------------------------------------------------

def dense_model(*tail, name=None):
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), *tail], name=name)


@pytest.mark.parametrize("model_factory, expected", [
    (lambda: dense_model(keras.layers.Softmax()), ConvNetJSSoftmaxLoss),
    (lambda: dense_model(keras.layers.Activation("softmax")), ConvNetJSSoftmaxLoss),
    (lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")]),
     ConvNetJSSoftmaxLoss),
    (lambda: dense_model(ConvNetJSSVM()), ConvNetJSHingeLoss),
    (lambda: dense_model(ConvNetJSRegression()), ConvNetJSRegressionLoss),
], ids=["softmax-layer", "softmax-activation", "dense-softmax", "svm", "regression"])
def test_make_loss_follows_last_layer(model_factory, expected):
    assert type(make_loss(model_factory())) is expected


def test_make_loss_uses_model_dtype():
    model = from_layer_defs([{"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 2},
                             {"type": "softmax", "num_classes": 2}], seed=0, dtype="float64")

    assert make_loss(model).dtype == "float64"


def test_make_loss_rejects_model_without_loss_layer():
    model = dense_model(name="plain")

    with pytest.raises(KerasModelError, match=r"plain: ends in layer '.*' \(Dense\); expected a ConvNetJS loss "
                                              r"layer.*Append keras.layers.Softmax\(\)"):
        make_loss(model)


# --- serialization ------------------------------------------------------------------------------

@pytest.mark.parametrize("loss_class", [ConvNetJSSoftmaxLoss, ConvNetJSHingeLoss, ConvNetJSRegressionLoss])
def test_loss_config_round_trip_keeps_dtype(loss_class):
    loss = loss_class(dtype="float64")

    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))

    assert type(restored) is loss_class
    assert restored.dtype == "float64"
    assert restored.name == loss.name
