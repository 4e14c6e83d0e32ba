"""Trainer options, the optimizer for each ConvNetJS method, ConvNetJSAdam and compile_like_convnetjs."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import convnetjs_keras
from convnetjs_keras import TrainerOptionError, from_layer_defs, from_snapshot
from convnetjs_keras.keras_io import custom_objects, load_keras_model, save_keras_model
from convnetjs_keras.losses import ConvNetJSHingeLoss, ConvNetJSRegressionLoss, ConvNetJSSoftmaxLoss
from convnetjs_keras.optimizers import ConvNetJSAdam
from convnetjs_keras.regularizers import ConvNetJSDecay
from convnetjs_keras.training import TrainerOptions, compile_like_convnetjs, decay_loss, make_optimizer
from convnetjs_node import node_make_layers, node_train

FC_NET = [
    {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
    {"type": "fc", "num_neurons": 5, "activation": "relu", "l1_decay_mul": 0.5, "l2_decay_mul": 2.0},
    {"type": "softmax", "num_classes": 3},
]


# --- TrainerOptions -----------------------------------------------------------------------------

def test_options_defaults_match_convnetjs():
    options = TrainerOptions()

    assert options.to_dict() == {
        "method": "sgd", "learning_rate": 0.01, "momentum": 0.9, "ro": 0.95, "eps": 1e-8, "beta1": 0.9,
        "beta2": 0.999, "batch_size": 1, "l1_decay": 0.0, "l2_decay": 0.0,
    }


@pytest.mark.parametrize("version, eps", [("github", 1e-8), ("npm-0.3.0", 1e-6)])
def test_eps_default_depends_on_version(version, eps):
    assert TrainerOptions(version=version).resolved_eps == eps
    assert TrainerOptions(version=version, eps=1e-3).resolved_eps == 1e-3


def test_from_dict_reads_convnetjs_options():
    options = TrainerOptions.from_dict({"method": "adadelta", "batch_size": 20, "l2_decay": 0.001})

    assert (options.method, options.batch_size, options.l2_decay, options.ro) == ("adadelta", 20, 0.001, 0.95)


def test_integral_float_batch_size_accepted():
    assert TrainerOptions.from_dict({"batch_size": 4.0}).batch_size == 4


def test_misspelled_method_names_closest_method():
    with pytest.raises(TrainerOptionError,
                       match=r"field 'method': 'adadelata' is not a ConvNetJS github method\. "
                             r"Did you mean 'adadelta'\?.*fallback_to_sgd=True"):
        TrainerOptions.from_dict({"method": "adadelata"})


def test_fallback_to_sgd_reproduces_convnetjs():
    with pytest.warns(UserWarning, match=r"method 'Adagrad' is not a ConvNetJS github method; training with SGD "
                                         r"\(momentum 0.5\)"):
        options = TrainerOptions.from_dict({"method": "Adagrad", "momentum": 0.5}, fallback_to_sgd=True)

    assert (options.method, options.momentum) == ("sgd", 0.5)


@pytest.mark.parametrize("method", ["adam", "nesterov"])
def test_npm_version_rejects_github_only_methods(method):
    with pytest.raises(TrainerOptionError, match=rf"npm convnetjs 0.3.0 has no '{method}' and would silently "
                                                 r"train with SGD\. Use version='github'"):
        TrainerOptions.from_dict({"method": method}, version="npm-0.3.0")


def test_quoted_number_rejected_with_hint():
    with pytest.raises(TrainerOptionError, match=r"train.json, field 'learning_rate': is the string '0.01'; "
                                                 r"expected a number\. Write it without quotes: 0.01\."):
        TrainerOptions.from_dict({"learning_rate": "0.01"}, source="train.json")


def test_every_invalid_option_is_listed_at_once():
    with pytest.raises(TrainerOptionError) as caught:
        TrainerOptions.from_dict({"batch_size": 2.5, "momentum": -0.1, "l2_decay": None, "ro": True})

    fields = [problem.field for problem in caught.value.problems]
    assert sorted(fields) == ["batch_size", "l2_decay", "momentum", "ro"]
    assert "Use momentum 0 for plain SGD" in str(caught.value)
    assert str(caught.value).startswith("4 problems found:")


def test_unknown_option_warns_with_closest_key():
    with pytest.warns(UserWarning, match=r"unknown option 'learning_rte' is ignored.*Did you mean 'learning_rate'\?"):
        options = TrainerOptions.from_dict({"learning_rte": 0.5})

    assert options.learning_rate == 0.01


def test_option_unused_by_method_warns():
    with pytest.warns(UserWarning, match=r"method 'adadelta' does not use learning_rate, momentum; ConvNetJS "
                                         r"ignores them"):
        TrainerOptions.from_dict({"method": "adadelta", "learning_rate": 0.1, "momentum": 0.9})


def test_direct_construction_is_validated():
    with pytest.raises(TrainerOptionError, match=r"field 'version': is 'npm'; expected one of github, npm-0.3.0"):
        TrainerOptions(version="npm")


def test_non_mapping_options_are_rejected():
    with pytest.raises(TrainerOptionError, match=r"trainer options are a list; expected an object"):
        TrainerOptions.from_dict(["sgd"])


# --- make_optimizer -----------------------------------------------------------------------------

@pytest.mark.parametrize("options, optimizer_class, expected_config", [
    ({"method": "sgd", "momentum": 0.0}, keras.optimizers.SGD, {"momentum": 0.0, "nesterov": False}),
    ({"method": "sgd"}, keras.optimizers.SGD, {"momentum": 0.9, "nesterov": False}),
    ({"method": "nesterov", "momentum": 0.8}, keras.optimizers.SGD, {"momentum": 0.8, "nesterov": True}),
    ({"method": "adagrad", "eps": 1e-5}, keras.optimizers.Adagrad,
     {"initial_accumulator_value": 0.0, "epsilon": 1e-5}),
    ({"method": "windowgrad", "ro": 0.9}, keras.optimizers.RMSprop,
     {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-8, "centered": False}),
    ({"method": "adadelta", "ro": 0.9, "version": "npm-0.3.0"}, keras.optimizers.Adadelta,
     {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6}),
    ({"method": "adam", "batch_size": 5}, ConvNetJSAdam, {"batch_size": 5, "epsilon": 1e-8}),
    ({"method": "adam", "adam_variant": "keras", "beta1": 0.8}, keras.optimizers.Adam,
     {"beta_1": 0.8, "epsilon": 1e-8}),
], ids=["sgd-plain", "sgd-momentum", "nesterov", "adagrad", "windowgrad", "adadelta", "adam", "adam-keras"])
def test_make_optimizer_maps_each_method(options, optimizer_class, expected_config):
    optimizer = make_optimizer(options)

    assert type(optimizer) is optimizer_class
    config = optimizer.get_config()
    for key, value in expected_config.items():
        assert config[key] == pytest.approx(value), key


def test_accumulate_gradients_sets_accumulation_steps():
    optimizer = make_optimizer({"method": "adagrad", "batch_size": 6}, accumulate_gradients=True)

    assert optimizer.gradient_accumulation_steps == 6


# --- ConvNetJSAdam ------------------------------------------------------------------------------

def test_adam_correction_counts_examples():
    batch_size, lr, beta1, beta2, eps = 3, 0.05, 0.9, 0.999, 1e-8
    gradients = [np.array([0.3, -1.2]), np.array([0.1, 0.4]), np.array([-0.5, 2.0])]
    variable = keras.Variable(np.array([1.0, -2.0]), dtype="float64")
    optimizer = ConvNetJSAdam(lr, beta_1=beta1, beta_2=beta2, epsilon=eps, batch_size=batch_size)

    lr = float(optimizer.learning_rate)  # as Keras stores it: rounded to float32
    expected = np.array([1.0, -2.0])
    m = np.zeros(2)
    v = np.zeros(2)
    for update, gradient in enumerate(gradients, start=1):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient, "float64"), variable)])
        k = update * batch_size  # ConvNetJS's trainer.k counts examples
        m = beta1 * m + (1 - beta1) * gradient
        v = beta2 * v + (1 - beta2) * gradient ** 2
        expected -= lr * (m * (1 - beta1 ** k)) / (np.sqrt(v * (1 - beta2 ** k)) + eps)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), expected, rtol=1e-14)


def test_adam_config_round_trip():
    optimizer = ConvNetJSAdam(0.002, beta_1=0.8, beta_2=0.99, epsilon=1e-6, batch_size=7)

    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))

    assert type(restored) is ConvNetJSAdam
    assert (restored.beta_1, restored.beta_2, restored.epsilon, restored.batch_size) == (0.8, 0.99, 1e-6, 7)
    assert float(restored.learning_rate) == pytest.approx(0.002)


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, r"batch_size must be a positive integer\. Received: batch_size=0"),
    ({"beta_1": 1.5}, r"beta_1 must be between 0 and 1\. Received: beta_1=1.5"),
    ({"epsilon": -1.0}, r"epsilon must be non-negative\. Received: epsilon=-1.0"),
])
def test_adam_rejects_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvNetJSAdam(**kwargs)


# --- compile_like_convnetjs ---------------------------------------------------------------------

def test_compile_sets_rates_keeps_multipliers():
    model = from_layer_defs(FC_NET, seed=0)

    compile_like_convnetjs(model, {"l1_decay": 0.01, "l2_decay": 0.1, "batch_size": 8})

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    configs = [layer.kernel_regularizer.get_config() for layer in dense]
    assert configs == [
        {"l1_decay_mul": 0.5, "l2_decay_mul": 2.0, "l1_decay": 0.01, "l2_decay": 0.1, "batch_size": 8},
        {"l1_decay_mul": 0.0, "l2_decay_mul": 1.0, "l1_decay": 0.01, "l2_decay": 0.1, "batch_size": 8},
    ]
    assert all(layer.kernel.regularizer is layer.kernel_regularizer for layer in dense)


def test_compile_adds_decay_to_plain_layers():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Softmax()])

    compile_like_convnetjs(model, {"l2_decay": 0.5, "batch_size": 2})

    regularizer = model.layers[0].kernel_regularizer
    assert isinstance(regularizer, ConvNetJSDecay)
    assert (regularizer.l1_decay_mul, regularizer.l2_decay_mul, regularizer.l2_decay) == (0.0, 1.0, 0.5)
    kernel = np.asarray(model.layers[0].kernel)
    np.testing.assert_allclose(float(sum(model.losses)), 0.5 * np.sum(kernel ** 2) / 2 / 2, rtol=1e-6)


def test_compile_keeps_foreign_regularizer():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, kernel_regularizer="l2", name="d"),
                              keras.layers.Softmax()])

    with pytest.warns(UserWarning, match=r"layer 'd' has kernel_regularizer L2, which is kept; the trainer's "
                                         r"l1_decay and l2_decay are not applied"):
        compile_like_convnetjs(model, {"l2_decay": 0.5})

    assert isinstance(model.layers[0].kernel_regularizer, keras.regularizers.L2)


@pytest.mark.parametrize("tail, metric_names", [
    ([keras.layers.Softmax], ["accuracy"]),
    ([lambda: keras.layers.Activation("tanh"), convnetjs_keras.layers.ConvNetJSRegression], []),
], ids=["softmax", "regression"])
def test_compile_adds_accuracy_only_for_classifiers(tail, metric_names):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), *[make() for make in tail]])
    compile_like_convnetjs(model, {})

    logs = model.fit(np.zeros((2, 4)), np.zeros((2, 3)) if not metric_names else np.zeros(2), verbose=0)

    assert sorted(logs.history) == sorted(["loss", *metric_names])


def test_lazy_package_exports_training_api():
    assert convnetjs_keras.compile_like_convnetjs is compile_like_convnetjs
    assert convnetjs_keras.TrainerOptions is TrainerOptions


def test_custom_objects_include_training_classes():
    objects = custom_objects()

    assert objects["ConvNetJSAdam"] is ConvNetJSAdam
    assert objects["ConvNetJSSoftmaxLoss"] is ConvNetJSSoftmaxLoss


# --- decay_loss ---------------------------------------------------------------------------------

def test_decay_loss_matches_convnetjs_report():
    snapshot = node_make_layers(FC_NET, seed=3)
    trainer = {"method": "sgd", "batch_size": 2, "l1_decay": 0.01, "l2_decay": 0.1}
    rng = np.random.default_rng(0)
    _, stats = node_train(snapshot, trainer, rng.normal(size=(2, 4)), np.array([0, 1]))
    model = from_snapshot(snapshot, dtype="float64")

    reported = decay_loss(model, trainer)

    # The second train() call updates, reporting the decay of the initial weights.
    assert reported["l2_decay_loss"] == pytest.approx(stats[1]["l2_decay_loss"], rel=1e-12)
    assert reported["l1_decay_loss"] == pytest.approx(stats[1]["l1_decay_loss"], rel=1e-12)
    assert stats[0]["l2_decay_loss"] == 0.0


def test_decay_loss_reads_compiled_rates():
    model = from_layer_defs(FC_NET, seed=0, dtype="float64")
    compile_like_convnetjs(model, {"l2_decay": 0.2})

    assert decay_loss(model) == pytest.approx(decay_loss(model, {"l2_decay": 0.2}))
    assert decay_loss(model)["l2_decay_loss"] > 0


# --- saving -------------------------------------------------------------------------------------

@pytest.mark.parametrize("net_tail, trainer, loss_class", [
    ([{"type": "softmax", "num_classes": 3}], {"method": "adam", "batch_size": 2, "l2_decay": 0.01},
     ConvNetJSSoftmaxLoss),
    ([{"type": "svm", "num_classes": 3}], {"method": "windowgrad", "batch_size": 2}, ConvNetJSHingeLoss),
    ([{"type": "regression", "num_neurons": 3}], {"method": "sgd", "l1_decay": 0.01}, ConvNetJSRegressionLoss),
], ids=["softmax-adam", "svm-windowgrad", "regression-sgd"])
def test_compiled_model_resumes_after_reload(tmp_path, net_tail, trainer, loss_class):
    layer_defs = [{"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
                  {"type": "fc", "num_neurons": 5, "activation": "tanh"}, *net_tail]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 4))
    y = rng.normal(size=(8, 3)) if loss_class is ConvNetJSRegressionLoss else rng.integers(0, 3, size=8)
    model = compile_like_convnetjs(from_layer_defs(layer_defs, seed=0, dtype="float64"), trainer)
    model.fit(x, y, batch_size=2, shuffle=False, verbose=0)
    path = tmp_path / "model.keras"
    save_keras_model(model, path)

    restored = load_keras_model(path, compile=True)
    model.fit(x, y, batch_size=2, shuffle=False, verbose=0)
    restored.fit(x, y, batch_size=2, shuffle=False, verbose=0)

    assert type(restored.loss) is loss_class
    assert restored.loss.dtype == "float64"
    assert type(restored.optimizer) is type(model.optimizer)
    for got, want in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored.predict(x, verbose=0)


@pytest.mark.parametrize("method", ["sgd", "nesterov", "adagrad", "windowgrad", "adadelta", "adam", "adam-keras"])
def test_float32_model_trains_each_method(method):
    options = {"method": "adam", "adam_variant": "keras"} if method == "adam-keras" else {"method": method}
    model = from_layer_defs(FC_NET, seed=0)
    before = model.get_weights()
    compile_like_convnetjs(model, {**options, "batch_size": 2, "l2_decay": 0.01})

    model.fit(np.ones((4, 4), dtype="float32"), np.array([0, 1, 2, 0]), batch_size=2, verbose=0)

    after = model.get_weights()
    assert all(w.dtype == np.float32 for w in after)
    assert all(np.all(np.isfinite(w)) for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(after, before))
