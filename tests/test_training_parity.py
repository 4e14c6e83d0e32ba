"""Training in Keras with compile_like_convnetjs against ConvNetJS's own Trainer.

The ConvNetJS side is the real npm convnetjs 0.3.0 run in Node
(``node_train``). Its adam and nesterov exist only in the GitHub source, so
those two are checked against a NumPy transcription of that source's update
rules instead. Both sides start from the same snapshot, see the same
examples in the same order, and every weight must agree to a relative
tolerance of 1e-6.

Most tests set Keras' floatx to float64. Keras keeps the learning rate and
the loss tracker in floatx, and rounds Python-float hyperparameters such as
``1 - rho`` to floatx inside its optimizers. With float32 those roundings
leave relative errors of about 1e-7 in the weights after 40 updates.
``test_default_floatx_matches_convnetjs`` checks that case separately.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from convnetjs_keras import from_layer_defs, from_snapshot
from convnetjs_keras.training import TrainerOptions, compile_like_convnetjs, make_optimizer
from convnetjs_node import node_make_layers, node_train

REPO_ROOT = Path(__file__).resolve().parent.parent
MNIST = REPO_ROOT / "convnetjs_keras" / "demo_data" / "mnist_heldout.npz"

RTOL = 1e-6
EXAMPLES = 40

NETS = {
    # The first fc layer has non-default decay multipliers.
    "fc": [
        {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 6},
        {"type": "fc", "num_neurons": 8, "activation": "relu", "l1_decay_mul": 0.5, "l2_decay_mul": 2.0},
        {"type": "softmax", "num_classes": 3},
    ],
    "conv": [
        {"type": "input", "out_sx": 24, "out_sy": 24, "out_depth": 1},
        {"type": "conv", "sx": 5, "filters": 4, "stride": 1, "pad": 2, "activation": "relu",
         "l1_decay_mul": 1.0, "l2_decay_mul": 0.5},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "softmax", "num_classes": 10},
    ],
    "regression": [
        {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
        {"type": "fc", "num_neurons": 6, "activation": "tanh"},
        {"type": "regression", "num_neurons": 2},
    ],
    "svm": [
        {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 5},
        {"type": "fc", "num_neurons": 6, "activation": "relu", "l2_decay_mul": 3.0},
        {"type": "svm", "num_classes": 3},
    ],
}

DECAY = {"l1_decay": 0.001, "l2_decay": 0.01}

# (net, trainer options, id). Each method runs with batch sizes 1 and 4 and
# with and without decay somewhere in the table, and each net with several methods.
CASES = [
    ("fc", {"method": "sgd", "momentum": 0.0, "batch_size": 1}, "fc-sgd-plain-b1"),
    ("fc", {"method": "sgd", "momentum": 0.9, "batch_size": 4, **DECAY}, "fc-sgd-momentum-b4-decay"),
    ("fc", {"method": "adagrad", "batch_size": 1, **DECAY}, "fc-adagrad-b1-decay"),
    ("fc", {"method": "adagrad", "batch_size": 4}, "fc-adagrad-b4"),
    ("fc", {"method": "adadelta", "batch_size": 4, **DECAY}, "fc-adadelta-b4-decay"),
    ("fc", {"method": "windowgrad", "batch_size": 1}, "fc-windowgrad-b1"),
    ("fc", {"method": "windowgrad", "batch_size": 4, **DECAY}, "fc-windowgrad-b4-decay"),
    ("conv", {"method": "sgd", "momentum": 0.9, "batch_size": 4, **DECAY}, "conv-sgd-momentum-b4-decay"),
    ("conv", {"method": "adadelta", "batch_size": 4, "l2_decay": 0.001}, "conv-adadelta-b4-decay"),
    ("conv", {"method": "adagrad", "batch_size": 1}, "conv-adagrad-b1"),
    ("regression", {"method": "sgd", "momentum": 0.9, "batch_size": 1, **DECAY}, "regression-sgd-b1-decay"),
    ("regression", {"method": "windowgrad", "batch_size": 4}, "regression-windowgrad-b4"),
    ("regression", {"method": "adadelta", "batch_size": 1, **DECAY}, "regression-adadelta-b1-decay"),
    ("svm", {"method": "sgd", "momentum": 0.0, "batch_size": 4, **DECAY}, "svm-sgd-plain-b4-decay"),
    ("svm", {"method": "adagrad", "batch_size": 1}, "svm-adagrad-b1"),
]


@pytest.fixture
def float64_floatx():
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(previous)


@pytest.fixture(scope="module")
def snapshots():
    """ConvNetJS's makeLayers output for each net, seeded, built once per module."""
    return {name: node_make_layers(defs, seed=index + 1) for index, (name, defs) in enumerate(NETS.items())}


def make_data(net: str, count: int = EXAMPLES):
    """Return (x, y) for ``net``: real MNIST digits for the conv net, else random numbers."""
    rng = np.random.default_rng(7)
    if net == "conv":
        digits = np.load(MNIST)
        return digits["x"][:count].astype(np.float64), digits["y"][:count].astype(np.int64)
    inputs = NETS[net][0]["out_depth"]
    x = rng.normal(size=(count, inputs))
    if net == "regression":
        y = np.stack([np.sin(x[:, 0] + x[:, 1]), np.cos(x[:, 2]) * x[:, 3]], axis=1)
        return x, y
    return x, rng.integers(0, 3, size=count)


class BatchLosses(keras.callbacks.Callback):
    """Records Keras' running mean of the loss after each batch of an epoch."""

    def __init__(self):
        super().__init__()
        self.running_means = []

    def on_train_batch_end(self, batch, logs=None):
        self.running_means.append(float(logs["loss"]))


def fit_keras(snapshot, trainer, x, y, *, epochs=1, batch_size=None, accumulate=False, callbacks=()):
    """Train a float64 Keras model from ``snapshot`` as npm convnetjs 0.3.0 would (eps 1e-6)."""
    model = from_snapshot(snapshot, dtype="float64")
    options = TrainerOptions.from_dict(trainer, version="npm-0.3.0")
    compile_like_convnetjs(model, options, accumulate_gradients=accumulate)
    model.fit(x, y, batch_size=batch_size or options.batch_size, epochs=epochs, shuffle=False, verbose=0,
              callbacks=list(callbacks))
    return model


def convnetjs_batch_losses(stats, batch_size, cost_scale=1.0):
    """Return the loss Keras reports for each batch, computed from ConvNetJS's per-example stats.

    Keras' batch loss is the batch mean of the cost plus the decay penalty
    divided by the batch size. ConvNetJS reports the decay losses only on the
    example that triggers the update, computed from the weights before it.
    """
    losses = []
    for start in range(0, len(stats) - batch_size + 1, batch_size):
        batch = stats[start:start + batch_size]
        cost = np.mean([entry["cost_loss"] for entry in batch]) * cost_scale
        decay = batch[-1]["l2_decay_loss"] + batch[-1]["l1_decay_loss"]
        losses.append(cost + decay / batch_size)
    return np.array(losses)


def assert_same_weights(model, reference_snapshot):
    expected = from_snapshot(reference_snapshot, dtype="float64").get_weights()
    actual = model.get_weights()
    assert len(actual) == len(expected)
    for index, (got, want) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-12, err_msg=f"weight array {index}")


def max_weight_change(model, initial_snapshot):
    """Guards the comparisons against passing because training moved nothing."""
    initial = from_snapshot(initial_snapshot, dtype="float64").get_weights()
    return max(np.max(np.abs(a - b)) for a, b in zip(model.get_weights(), initial))


@pytest.mark.usefixtures("float64_floatx")
@pytest.mark.parametrize("net, trainer, case_id", CASES, ids=[case[2] for case in CASES])
def test_keras_training_matches_convnetjs(snapshots, net, trainer, case_id):
    x, y = make_data(net)
    options = TrainerOptions.from_dict(trainer, version="npm-0.3.0")
    trained_snapshot, stats = node_train(snapshots[net], options.to_dict(), x, y)
    losses = BatchLosses()

    model = fit_keras(snapshots[net], trainer, x, y, callbacks=[losses])

    assert_same_weights(model, trained_snapshot)
    assert max_weight_change(model, snapshots[net]) > 1e-4
    # npm convnetjs 0.3.0 reports 2 * dy ** 2 per regression output, 4 times 0.5 * dy ** 2.
    cost_scale = 0.25 if net == "regression" else 1.0
    expected = convnetjs_batch_losses(stats, options.batch_size, cost_scale)
    running_means = np.cumsum(expected) / np.arange(1, len(expected) + 1)
    np.testing.assert_allclose(losses.running_means, running_means, rtol=RTOL)


@pytest.mark.usefixtures("float64_floatx")
def test_accumulated_gradients_carry_leftovers_across_epochs(snapshots):
    # 42 examples in batches of 4 leave 2 over after the first pass; ConvNetJS
    # adds them to the first batch of the second pass.
    x, y = make_data("fc", count=42)
    trainer = {"method": "sgd", "momentum": 0.9, "batch_size": 4, **DECAY}
    trained_snapshot, _ = node_train(snapshots["fc"], trainer, x, y, epochs=2)

    model = fit_keras(snapshots["fc"], trainer, x, y, epochs=2, batch_size=1, accumulate=True)

    assert_same_weights(model, trained_snapshot)


@pytest.mark.usefixtures("float64_floatx")
def test_keras_partial_batch_differs_from_convnetjs(snapshots):
    # Pins the documented difference: Keras also updates on the last 2 examples.
    x, y = make_data("fc", count=42)
    trainer = {"method": "sgd", "momentum": 0.9, "batch_size": 4}
    trained_snapshot, _ = node_train(snapshots["fc"], trainer, x, y)

    model = fit_keras(snapshots["fc"], trainer, x, y)

    expected = from_snapshot(trained_snapshot, dtype="float64").get_weights()
    assert not all(np.allclose(a, b, rtol=RTOL) for a, b in zip(model.get_weights(), expected))


def test_default_floatx_matches_convnetjs(snapshots):
    x, y = make_data("fc")
    trainer = {"method": "sgd", "momentum": 0.9, "batch_size": 4, **DECAY}
    trained_snapshot, _ = node_train(snapshots["fc"], trainer, x, y)

    model = fit_keras(snapshots["fc"], trainer, x, y)

    assert keras.config.floatx() == "float32"
    assert_same_weights(model, trained_snapshot)


# --- adam and nesterov: the GitHub source's update rules in NumPy -------------------------------

TINY_NET = [
    {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
    {"type": "fc", "num_neurons": 5, "activation": "relu", "l1_decay_mul": 0.5, "l2_decay_mul": 2.0},
    {"type": "softmax", "num_classes": 3},
]
# (l1_decay_mul, l2_decay_mul) of W1, b1, W2, b2; biases never decay, and
# makeLayers gives the last fc layer l1_decay_mul 0 and l2_decay_mul 1.
TINY_NET_DECAY_MULS = [(0.5, 2.0), (0.0, 0.0), (0.0, 1.0), (0.0, 0.0)]


def tiny_net_gradients(params, x, label):
    """Forward and backward of input -> fc -> relu -> fc -> softmax for one example."""
    w1, b1, w2, b2 = params
    hidden = np.maximum(x @ w1 + b1, 0.0)
    scores = hidden @ w2 + b2
    exps = np.exp(scores - scores.max())
    probs = exps / exps.sum()

    d_scores = probs.copy()
    d_scores[label] -= 1.0  # SoftmaxLayer.backward: -(indicator - p)
    d_hidden = (w2 @ d_scores) * (hidden > 0)  # ReluLayer.backward: 0 where the output is <= 0
    return [np.outer(x, d_hidden), d_hidden, np.outer(hidden, d_scores), d_scores]


def github_trainer_reference(params, xs, ys, options):
    """Train ``params`` as Trainer.train in the GitHub convnet_trainers.js does, one example per call."""
    params = [p.copy() for p in params]
    grads = [np.zeros_like(p) for p in params]
    gsum = [np.zeros_like(p) for p in params]
    xsum = [np.zeros_like(p) for p in params]
    batch_size, lr, eps = options["batch_size"], options["learning_rate"], options["eps"]
    k = 0
    for x, label in zip(xs, ys):
        for grad, example_grad in zip(grads, tiny_net_gradients(params, x, label)):
            grad += example_grad
        k += 1
        if k % batch_size:
            continue
        for p, g, gs, xs_, (l1_mul, l2_mul) in zip(params, grads, gsum, xsum, TINY_NET_DECAY_MULS):
            l1 = options["l1_decay"] * l1_mul
            l2 = options["l2_decay"] * l2_mul
            gij = (l2 * p + l1 * np.where(p > 0, 1.0, -1.0) + g) / batch_size
            if options["method"] == "adam":
                beta1, beta2 = options["beta1"], options["beta2"]
                gs[...] = gs * beta1 + (1 - beta1) * gij
                xs_[...] = xs_ * beta2 + (1 - beta2) * gij * gij
                bias_corr1 = gs * (1 - beta1 ** k)
                bias_corr2 = xs_ * (1 - beta2 ** k)
                dx = -lr * bias_corr1 / (np.sqrt(bias_corr2) + eps)
            else:  # nesterov
                momentum = options["momentum"]
                previous = gs.copy()
                gs[...] = gs * momentum + lr * gij
                dx = momentum * previous - (1.0 + momentum) * gs
            p += dx
            g[...] = 0.0
    return params


GITHUB_CASES = [
    ({"method": "adam", "batch_size": 1}, "adam-b1"),
    ({"method": "adam", "batch_size": 3, **DECAY}, "adam-b3-decay"),
    ({"method": "adam", "batch_size": 4, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}, "adam-b4-betas"),
    ({"method": "nesterov", "batch_size": 1, **DECAY}, "nesterov-b1-decay"),
    ({"method": "nesterov", "batch_size": 4, "momentum": 0.5}, "nesterov-b4"),
]


@pytest.mark.usefixtures("float64_floatx")
@pytest.mark.parametrize("trainer, case_id", GITHUB_CASES, ids=[case[1] for case in GITHUB_CASES])
def test_github_methods_match_numpy_reference(trainer, case_id):
    options = TrainerOptions.from_dict(trainer)
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(48, 4))
    ys = rng.integers(0, 3, size=48)
    model = from_layer_defs(TINY_NET, seed=5, dtype="float64")
    initial = model.get_weights()
    expected = github_trainer_reference(initial, xs, ys, options.to_dict())

    compile_like_convnetjs(model, options)
    model.fit(xs, ys, batch_size=options.batch_size, epochs=1, shuffle=False, verbose=0)

    for index, (got, want) in enumerate(zip(model.get_weights(), expected)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-12, err_msg=f"weight array {index}")
    moved = max(np.max(np.abs(a - b)) for a, b in zip(expected, initial))
    assert moved > 1e-3


def test_nesterov_is_keras_nesterov_sgd():
    optimizer = make_optimizer({"method": "nesterov", "momentum": 0.7, "learning_rate": 0.05})

    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.nesterov is True
    assert optimizer.momentum == pytest.approx(0.7)
