"""Train a Keras model the way ConvNetJS's ``Trainer`` would.

``TrainerOptions`` contains the options of ``new convnetjs.Trainer(net,
options)``. ``make_optimizer`` and ``make_loss`` return the matching Keras
optimizer and loss, and ``compile_like_convnetjs`` compiles a model with both
and with ConvNetJS's weight decay. ``model.fit(x, y, batch_size=options.batch_size)``
then updates the weights as ConvNetJS's ``trainer.train(x, y)`` does, one
example per call, when the number of examples is a multiple of the batch
size (see "Batches" below).

Methods (``g`` is ConvNetJS's batch gradient, decay included, see below):

==============  ========================================  ==============================================
ConvNetJS       update                                    Keras optimizer
==============  ========================================  ==============================================
``sgd``         ``v = momentum * v - lr * g; w += v``     ``SGD(lr, momentum)``; momentum 0 is plain SGD
``nesterov``    Nesterov momentum (GitHub source only)    ``SGD(lr, momentum, nesterov=True)``
``adagrad``     ``G += g**2; w -= lr * g / sqrt(G + eps)`` ``Adagrad(lr, initial_accumulator_value=0,
                                                          epsilon=eps)``
``windowgrad``  ``E = ro * E + (1 - ro) * g**2;``         ``RMSprop(lr, rho=ro, momentum=0, epsilon=eps)``
                ``w -= lr * g / sqrt(E + eps)``
``adadelta``    Zeiler's AdaDelta; no learning rate       ``Adadelta(1.0, rho=ro, epsilon=eps)``
``adam``        Adam with a different bias correction     ``ConvNetJSAdam`` (or ``keras.optimizers.Adam``
                (GitHub source only)                      with ``adam_variant="keras"``)
==============  ========================================  ==============================================

``eps`` defaults to 1e-8 in the GitHub source and to 1e-6 in npm
``convnetjs`` 0.3.0; ``TrainerOptions.version`` picks the default.

Decay: ConvNetJS adds ``l2_decay * l2_decay_mul * w + l1_decay * l1_decay_mul
* sign(w)`` (``sign(w) = -1`` at 0) to each filter weight's summed gradient
once per update, then divides the sum by ``batch_size``. Biases never decay.
``ConvNetJSDecay`` (the kernel regularizer) adds that same term: its penalty
is divided by the trainer's ``batch_size``, and Keras averages the loss over
the batch.

Batches: ConvNetJS updates after every ``batch_size``-th example
(``k % batch_size == 0``), and examples left over at the end of a pass stay
in the gradient sum and join the next pass's first batch. Keras updates on a
final partial batch too, averaging its loss over fewer examples while the
decay term is still divided by the full ``batch_size``. Two ways to match
ConvNetJS exactly:

- use a number of examples that is a multiple of ``batch_size`` and call
  ``fit(..., batch_size=options.batch_size, shuffle=False)``; or
- compile with ``accumulate_gradients=True`` and call ``fit(...,
  batch_size=1)``. The optimizer then sums ``batch_size`` single-example
  gradients before each update, carrying leftovers across epochs as
  ConvNetJS does (slower, because every example is a Keras step).

Training with a Keras batch size ``b`` other than the trainer's ``B`` gives
updates of ``b`` examples whose decay is ``l2_decay / B`` per update instead
of ``l2_decay / b``. Compile again with ``batch_size=b`` in the options
(ConvNetJS's trainer would then also use ``b``) or fit with ``batch_size=B``.

Precision: ConvNetJS computes in float64, so build the model with
``dtype="float64"``. Keras keeps the learning rate in ``floatx`` and turns
Python-float hyperparameters (``rho``, ``eps``) into ``floatx`` tensors
inside its optimizers, so for exact parity also call
``keras.config.set_floatx("float64")`` before compiling. With float32
``floatx`` single weights drift by up to about 1e-4 relative over 40
updates (docs/training.md has the measurements).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import numbers
import warnings
from typing import Any, ClassVar, Mapping

from convnetjs_keras.errors import KerasModelError, Problem, TrainerOptionError

logger = logging.getLogger(__name__)

VERSIONS = ("github", "npm-0.3.0")

# Methods each ConvNetJS version implements. Any other string trains with SGD
# in ConvNetJS (the last branch of Trainer.train), silently.
METHODS = {
    "github": ("sgd", "adam", "adagrad", "adadelta", "windowgrad", "nesterov"),
    "npm-0.3.0": ("sgd", "adagrad", "adadelta", "windowgrad"),
}

# Trainer's eps default: `options.eps` in convnet_trainers.js (GitHub) and in
# build/convnet.js of npm convnetjs 0.3.0.
DEFAULT_EPS = {"github": 1e-8, "npm-0.3.0": 1e-6}

ADAM_VARIANTS = ("convnetjs", "keras")

# The options that each method reads; an option given for a method that
# ignores it gets a warning. learning_rate is unused by adadelta.
_OPTIONS_USED = {
    "sgd": {"learning_rate", "momentum"},
    "nesterov": {"learning_rate", "momentum"},
    "adagrad": {"learning_rate", "eps"},
    "windowgrad": {"learning_rate", "ro", "eps"},
    "adadelta": {"ro", "eps"},
    "adam": {"learning_rate", "beta1", "beta2", "eps"},
}


@dataclasses.dataclass(frozen=True)
class TrainerOptions:
    """The options of ``new convnetjs.Trainer(net, options)``, with ConvNetJS's defaults.

    Construct it directly or with ``from_dict``. Both check every field and
    raise ``TrainerOptionError`` listing each problem. ``version`` and
    ``adam_variant`` are this library's own options, which ConvNetJS does not
    read.
    """

    method: str = "sgd"  # sgd, adam, adagrad, adadelta, windowgrad, nesterov
    learning_rate: float = 0.01  # unused by adadelta
    momentum: float = 0.9  # sgd and nesterov; 0 is plain SGD
    ro: float = 0.95  # adadelta and windowgrad
    eps: float | None = None  # None: 1e-8 for "github", 1e-6 for "npm-0.3.0"
    beta1: float = 0.9  # adam
    beta2: float = 0.999  # adam
    batch_size: int = 1  # examples per update
    l1_decay: float = 0.0  # times each layer's l1_decay_mul
    l2_decay: float = 0.0  # times each layer's l2_decay_mul
    version: str = "github"  # ConvNetJS source whose defaults and methods apply
    adam_variant: str = "convnetjs"  # "keras" trains adam with keras.optimizers.Adam

    CONVNETJS_KEYS: ClassVar[tuple[str, ...]] = (
        "method", "learning_rate", "momentum", "ro", "eps", "beta1", "beta2", "batch_size", "l1_decay",
        "l2_decay",
    )

    def __post_init__(self):
        problems = _check_values({field.name: getattr(self, field.name) for field in dataclasses.fields(self)})
        problems += _check_method(self.method, self.version)
        if problems:
            raise TrainerOptionError(problems)
        # Store plain Python numbers, so that int 0 and numpy floats behave alike.
        for name in ("learning_rate", "momentum", "ro", "beta1", "beta2", "l1_decay", "l2_decay"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.eps is not None:
            object.__setattr__(self, "eps", float(self.eps))
        object.__setattr__(self, "batch_size", int(self.batch_size))

    @property
    def resolved_eps(self) -> float:
        """``eps``, or the default of ``version`` when ``eps`` is None."""
        return DEFAULT_EPS[self.version] if self.eps is None else self.eps

    @classmethod
    def from_dict(cls, options: Mapping[str, Any] | None, *, fallback_to_sgd: bool = False,
                  source: str | None = None, version: str | None = None) -> "TrainerOptions":
        """Read trainer options as ConvNetJS's ``Trainer`` constructor does, but strictly.

        Missing keys take ConvNetJS's defaults. Unknown keys are ignored with
        a warning that names the closest known key. Numbers written as
        strings, booleans and nulls are errors (ConvNetJS would compute with
        them). A method that the ``version`` lacks is an error naming the
        closest method, unless ``fallback_to_sgd`` is True. Then the
        options select SGD with the same momentum, as ConvNetJS does
        silently, and a warning is issued.

        Args:
            options: the options object; None means all defaults.
            fallback_to_sgd: reproduce ConvNetJS's fallback to SGD for an
                unknown method, default `False`.
            source: file or label named in messages, default `None`.
            version: overrides ``options["version"]``; default `None`.

        Raises:
            TrainerOptionError: listing every invalid option.
        """
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise TrainerOptionError(Problem(
                f"trainer options are a {type(options).__name__}; expected an object such as "
                "{\"method\": \"sgd\", \"learning_rate\": 0.01}.", source=source))
        values = dict(options)
        if version is not None:
            values["version"] = version
        known = {field.name for field in dataclasses.fields(cls)}

        for key in [key for key in values if key not in known]:
            suggestion = _closest(str(key), known)
            hint = f" Did you mean {suggestion!r}?" if suggestion else ""
            warnings.warn(f"{source or 'trainer options'}: unknown option {key!r} is ignored (ConvNetJS ignores "
                          f"it too).{hint} Known options: {', '.join(cls.CONVNETJS_KEYS)}.", stacklevel=2)
            del values[key]

        problems = _check_values(values, source)
        version_name = values.get("version", "github")
        method = values.get("method", "sgd")
        method_problems = _check_method(method, version_name, source) if version_name in VERSIONS else []
        if method_problems and fallback_to_sgd and isinstance(method, str):
            momentum = values.get("momentum", 0.9)
            warnings.warn(f"{source or 'trainer options'}: method {method!r} is not a ConvNetJS {version_name} "
                          f"method; training with SGD (momentum {momentum}), as ConvNetJS does.", stacklevel=2)
            values["method"] = "sgd"
            method_problems = []
        problems += method_problems
        if problems:
            raise TrainerOptionError(problems)

        method = values.get("method", "sgd")
        unused = sorted(key for key in values if key in _UNUSED_CANDIDATES and key not in _OPTIONS_USED[method])
        if unused:
            warnings.warn(f"{source or 'trainer options'}: method {method!r} does not use "
                          f"{', '.join(unused)}; ConvNetJS ignores {'it' if len(unused) == 1 else 'them'}.",
                          stacklevel=2)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the options as ConvNetJS's ``Trainer`` reads them, ``eps`` resolved."""
        values = {key: getattr(self, key) for key in self.CONVNETJS_KEYS}
        values["eps"] = self.resolved_eps
        return values


_UNUSED_CANDIDATES = {"learning_rate", "momentum", "ro", "eps", "beta1", "beta2"}


def _closest(word: str, choices) -> str | None:
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower().replace("-", "_"), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _check_method(method, version, source=None) -> list[Problem]:
    if version not in VERSIONS:
        return []  # reported by _check_values
    if not isinstance(method, str):
        return [Problem(f"is {method!r}; expected a method name such as 'sgd'.", source=source, field="method",
                        hint=f"ConvNetJS {version} methods: {', '.join(METHODS[version])}.")]
    if method in METHODS[version]:
        return []
    if method in METHODS["github"]:
        hint = (f"npm convnetjs 0.3.0 has no {method!r} and would silently train with SGD. Use version='github' "
                "for the current ConvNetJS source, or fallback_to_sgd=True (--fallback-to-sgd on the command line) "
                "to reproduce 0.3.0.")
    else:
        suggestion = _closest(method, METHODS[version])
        hint = (f"Did you mean {suggestion!r}? " if suggestion else "") + (
            f"ConvNetJS {version} methods: {', '.join(METHODS[version])}. ConvNetJS itself would silently "
            "train with SGD; pass fallback_to_sgd=True (--fallback-to-sgd on the command line) to do the same.")
    return [Problem(f"{method!r} is not a ConvNetJS {version} method.", source=source, field="method", hint=hint)]


# (name, lowest, highest, lowest allowed itself, highest allowed itself)
_RANGES = (
    ("learning_rate", 0.0, math.inf, True, False),
    ("momentum", 0.0, 1.0, True, True),
    ("ro", 0.0, 1.0, True, True),
    ("eps", 0.0, math.inf, True, False),
    ("beta1", 0.0, 1.0, True, False),
    ("beta2", 0.0, 1.0, True, False),
    ("l1_decay", 0.0, math.inf, True, False),
    ("l2_decay", 0.0, math.inf, True, False),
)

_RANGE_HINTS = {
    "momentum": "Use momentum 0 for plain SGD (ConvNetJS also treats a negative momentum as 0).",
}


def _describe(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _check_values(values: Mapping[str, Any], source=None) -> list[Problem]:
    """Check the type and range of each option present in ``values``."""
    problems = []

    def problem(field, message, hint=None):
        problems.append(Problem(message, source=source, field=field, hint=hint))

    for name, low, high, low_ok, high_ok in _RANGES:
        if name not in values or (name == "eps" and values[name] is None):
            continue
        value = values[name]
        if isinstance(value, str):
            try:
                float(value)
                hint = f"Write it without quotes: {value.strip()}."
            except ValueError:
                hint = None
            problem(name, f"is the string {value!r}; expected a number.", hint)
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            problem(name, f"is {_describe(value)}; expected a number.")
        elif not math.isfinite(value):
            problem(name, f"is {value}; expected a finite number.")
        elif value < low or value > high or (value == low and not low_ok) or (value == high and not high_ok):
            opening = "[" if low_ok else "("
            closing = "]" if high_ok else ")"
            interval = f"{opening}{low:g}, {high:g}{closing}"
            problem(name, f"is {value!r}; expected a number in {interval}.", _RANGE_HINTS.get(name))

    if "batch_size" in values:
        value = values["batch_size"]
        if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
                or value != int(value) or value < 1):
            hint = "Write it without quotes." if isinstance(value, str) else None
            problem("batch_size", f"is {_describe(value)}; expected a positive integer.", hint)
    if "version" in values and values["version"] not in VERSIONS:
        problem("version", f"is {_describe(values['version'])}; expected one of {', '.join(VERSIONS)}.")
    if "adam_variant" in values and values["adam_variant"] not in ADAM_VARIANTS:
        problem("adam_variant",
                f"is {_describe(values['adam_variant'])}; expected one of {', '.join(ADAM_VARIANTS)}.")
    return problems


def _as_options(trainer_options) -> TrainerOptions:
    if isinstance(trainer_options, TrainerOptions):
        return trainer_options
    return TrainerOptions.from_dict(trainer_options)


def make_optimizer(trainer_options, *, accumulate_gradients: bool = False):
    """Return the Keras optimizer that updates weights as ConvNetJS's method does.

    See the table in this module's docstring. The optimizer receives the
    batch mean of the gradients plus the decay term of ``ConvNetJSDecay``,
    which is ConvNetJS's ``(sum of gradients + decay) / batch_size``.

    Args:
        trainer_options: a ``TrainerOptions``, or a dict for
            ``TrainerOptions.from_dict``.
        accumulate_gradients: when True and ``batch_size`` > 1, the optimizer
            averages ``batch_size`` Keras steps per update (Keras'
            ``gradient_accumulation_steps``); fit with ``batch_size=1``.
            Default `False`.

    Raises:
        TrainerOptionError: the options are invalid.
    """
    import keras
    import numpy as np

    from convnetjs_keras.optimizers import ConvNetJSAdam

    options = _as_options(trainer_options)
    eps = options.resolved_eps
    extra = {}
    if accumulate_gradients and options.batch_size > 1:
        extra["gradient_accumulation_steps"] = options.batch_size

    # Keras' SGD and Adam pass momentum and betas through ops.cast(), which
    # rounds a Python float to float32 before casting it to a float64
    # variable's dtype. A numpy float64 (a float subclass) stays exact.
    # NOTE: a reloaded optimizer stores Python floats again.
    momentum = np.float64(options.momentum)
    method = options.method
    if method == "sgd":
        return keras.optimizers.SGD(options.learning_rate, momentum=momentum, **extra)
    if method == "nesterov":
        return keras.optimizers.SGD(options.learning_rate, momentum=momentum, nesterov=True, **extra)
    if method == "adagrad":
        return keras.optimizers.Adagrad(options.learning_rate, initial_accumulator_value=0.0, epsilon=eps, **extra)
    if method == "windowgrad":
        return keras.optimizers.RMSprop(options.learning_rate, rho=options.ro, momentum=0.0, epsilon=eps,
                                        centered=False, **extra)
    if method == "adadelta":
        # ConvNetJS's adadelta has no learning rate; Keras multiplies its step by 1.0.
        return keras.optimizers.Adadelta(1.0, rho=options.ro, epsilon=eps, **extra)
    if method == "adam":
        if options.adam_variant == "keras":
            return keras.optimizers.Adam(options.learning_rate, beta_1=np.float64(options.beta1),
                                         beta_2=np.float64(options.beta2), epsilon=eps, **extra)
        return ConvNetJSAdam(options.learning_rate, beta_1=options.beta1, beta_2=options.beta2, epsilon=eps,
                             batch_size=options.batch_size, **extra)
    raise AssertionError(f"unhandled method {method!r}")  # TrainerOptions rejects other methods


def _output_kind(layer) -> str | None:
    import keras

    from convnetjs_keras.layers import ConvNetJSRegression, ConvNetJSSVM

    if isinstance(layer, ConvNetJSSVM):
        return "svm"
    if isinstance(layer, ConvNetJSRegression):
        return "regression"
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is keras.activations.softmax or getattr(activation, "__name__", None) == "softmax":
        return "softmax"
    return None


def make_loss(model):
    """Return the ConvNetJS loss for ``model``'s last layer, in the model's output dtype.

    ``keras.layers.Softmax`` (or any last layer whose activation is softmax)
    gives ``ConvNetJSSoftmaxLoss``, ``ConvNetJSSVM`` gives
    ``ConvNetJSHingeLoss`` and ``ConvNetJSRegression`` gives
    ``ConvNetJSRegressionLoss``.

    Raises:
        KerasModelError: the last layer is not one of these.
    """
    from convnetjs_keras.losses import ConvNetJSHingeLoss, ConvNetJSRegressionLoss, ConvNetJSSoftmaxLoss

    if not model.layers:
        raise KerasModelError(Problem("has no layers, so it has no ConvNetJS loss layer.", source=model.name))
    last = model.layers[-1]
    kind = _output_kind(last)
    if kind is None:
        raise KerasModelError(Problem(
            f"ends in layer '{last.name}' ({type(last).__name__}); expected a ConvNetJS loss layer: "
            "keras.layers.Softmax, ConvNetJSSVM or ConvNetJSRegression.", source=model.name,
            hint="Append keras.layers.Softmax() for classification or "
                 "convnetjs_keras.layers.ConvNetJSRegression() for regression."))
    dtype = getattr(last, "compute_dtype", None)
    loss_class = {"softmax": ConvNetJSSoftmaxLoss, "svm": ConvNetJSHingeLoss,
                  "regression": ConvNetJSRegressionLoss}[kind]
    return loss_class(dtype=dtype)


def _dot_product_layers(model):
    """Yield every Conv2D and Dense layer of ``model``, nested models included."""
    import keras

    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            yield layer
        elif hasattr(layer, "layers"):
            yield from _dot_product_layers(layer)


def _set_decay(model, options: TrainerOptions) -> None:
    """Give each Conv2D and Dense kernel a ``ConvNetJSDecay`` with the trainer's rates."""
    from convnetjs_keras.regularizers import ConvNetJSDecay

    for layer in _dot_product_layers(model):
        current = layer.kernel_regularizer
        if current is not None and not isinstance(current, ConvNetJSDecay):
            warnings.warn(f"layer '{layer.name}' has kernel_regularizer {type(current).__name__}, which is kept; "
                          "the trainer's l1_decay and l2_decay are not applied to this layer.", stacklevel=3)
            continue
        if layer.bias_regularizer is not None:
            warnings.warn(f"layer '{layer.name}' has a bias_regularizer, which is kept, although ConvNetJS never "
                          "decays biases.", stacklevel=3)
        multipliers = ({} if current is None else
                       dict(l1_decay_mul=current.l1_decay_mul, l2_decay_mul=current.l2_decay_mul))
        decay = ConvNetJSDecay(**multipliers, l1_decay=options.l1_decay, l2_decay=options.l2_decay,
                               batch_size=options.batch_size)
        layer.kernel_regularizer = decay
        if layer.built:
            # Keras reads the regularizer from the variable once the layer is built.
            layer.kernel.regularizer = decay


def compile_like_convnetjs(model, trainer_options, *, accumulate_gradients: bool = False, **compile_kwargs):
    """Compile ``model`` to train as ``new convnetjs.Trainer(net, trainer_options)``.

    Sets the trainer's ``l1_decay``, ``l2_decay`` and ``batch_size`` on the
    ``ConvNetJSDecay`` kernel regularizer of every Conv2D and Dense layer.
    A kernel without a regularizer gets one with ConvNetJS's default
    multipliers (``l1_decay_mul=0``, ``l2_decay_mul=1``), and a layer with
    another regularizer keeps it, with a warning. Then compiles with
    ``make_optimizer`` and ``make_loss``, and a ``"accuracy"`` metric
    (``SparseCategoricalAccuracy``) for softmax and svm outputs. Fit with
    ``batch_size=options.batch_size`` and ``shuffle=False`` to visit
    examples as ConvNetJS does (see the module docstring about batches).

    Args:
        model: a Keras model ending in a ConvNetJS loss layer (see ``make_loss``).
        trainer_options: a ``TrainerOptions``, or a dict for ``TrainerOptions.from_dict``.
        accumulate_gradients: see ``make_optimizer``; default `False`.
        **compile_kwargs: passed to ``model.compile``; ``metrics`` replaces the default.

    Returns:
        The same model, compiled.

    Raises:
        TrainerOptionError: the options are invalid.
        KerasModelError: the model has no ConvNetJS loss layer.
    """
    import keras

    options = _as_options(trainer_options)
    loss = make_loss(model)
    _set_decay(model, options)
    optimizer = make_optimizer(options, accumulate_gradients=accumulate_gradients)
    if "metrics" in compile_kwargs:
        metrics = compile_kwargs.pop("metrics")
    elif _output_kind(model.layers[-1]) in ("softmax", "svm"):
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
        metrics = None
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, **compile_kwargs)
    logger.debug("compiled %s with %s (%s)", model.name, type(optimizer).__name__, options)
    return model


def decay_loss(model, trainer_options=None) -> dict[str, float]:
    """Return ConvNetJS's ``l2_decay_loss`` and ``l1_decay_loss`` for ``model``'s current weights.

    ``l2_decay_loss = sum(l2_decay * l2_decay_mul * w ** 2 / 2)`` and
    ``l1_decay_loss = sum(l1_decay * l1_decay_mul * |w|)`` over every kernel
    weight, not divided by the batch size: the values ConvNetJS's
    ``trainer.train()`` returns from a call that updates the weights (the
    other calls of a batch return 0). The multipliers come from each
    kernel's ``ConvNetJSDecay`` (ConvNetJS's defaults, 0 and 1, where a kernel
    has no regularizer; kernels with another regularizer are skipped). The
    rates come from ``trainer_options`` or, when it is None, from the
    regularizers (set by ``compile_like_convnetjs``).
    """
    import keras
    import numpy as np

    from convnetjs_keras.regularizers import ConvNetJSDecay

    options = None if trainer_options is None else _as_options(trainer_options)
    l2_total = 0.0
    l1_total = 0.0
    for layer in _dot_product_layers(model):
        regularizer = layer.kernel_regularizer
        if regularizer is None:
            regularizer = ConvNetJSDecay()
        elif not isinstance(regularizer, ConvNetJSDecay):
            continue
        l1_rate = regularizer.l1_decay if options is None else options.l1_decay
        l2_rate = regularizer.l2_decay if options is None else options.l2_decay
        kernel = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64)
        l2_total += l2_rate * regularizer.l2_decay_mul * float(np.sum(kernel * kernel)) / 2.0
        l1_total += l1_rate * regularizer.l1_decay_mul * float(np.sum(np.abs(kernel)))
    return {"l2_decay_loss": l2_total, "l1_decay_loss": l1_total}
