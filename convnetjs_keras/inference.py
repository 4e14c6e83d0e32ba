"""Fast prediction with a Keras model: the library's own predict path.

``model.predict`` sets up a data adapter, callbacks and a progress bar on
every call, which costs more than the forward pass itself for small
ConvNetJS networks and single examples. ``predict`` instead calls one
compiled forward function per model, traced once for any batch size and
cached for the model's lifetime:

- TensorFlow backend: the concrete function of a ``tf.function`` of
  ``model(x, training=False)`` whose input signature has batch dimension
  ``None``;
- JAX and PyTorch backends: ``model.predict_on_batch``, which Keras compiles
  (``jax.jit``) or runs eagerly and caches per model.

``reshape_inputs`` accepts the layouts ConvNetJS data comes in: NHWC
batches, flat rows in ConvNetJS's ``Vol`` order, and (N, 1, 1, D) for a
network whose input is 1 x 1 x D.
"""

from __future__ import annotations

import logging
import math
import weakref

import numpy as np

from convnetjs_keras.errors import DataError, KerasModelError, Problem

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 512

# One compiled forward function per model. The function holds the model only
# through a weak reference, so the cache entry goes away with the model.
_PREDICT_FUNCTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def predict(model, x, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Return ``model``'s outputs for the examples in ``x``, in inference mode.

    Computes what ``model.predict(x, batch_size=batch_size)`` computes
    (dropout off, ``training=False``), through a compiled function that is
    cached per model. The first call on a model traces it, which takes
    about as long as one ``model.predict`` call. Later calls with any number
    of examples reuse it.

    Args:
        model: a single-input Keras model, e.g. from ``from_snapshot``.
        x: the examples, in any layout ``reshape_inputs`` accepts.
        batch_size: examples per forward call, default 512. Larger batches
            use more memory for the activations.

    Returns:
        A numpy array of shape (N, *output shape), in the model's dtype.

    Raises:
        DataError: ``x`` cannot be shaped into the model's input, or
            ``batch_size`` is not a positive integer.
        KerasModelError: the model has more than one input.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(Problem(f"batch_size must be a positive integer, received {batch_size!r}.",
                                field="batch_size"))
    x = reshape_inputs(model, x)
    forward = _predict_function(model)
    count = x.shape[0]
    if count <= batch_size:
        return forward(x)
    outputs = [forward(x[start:start + batch_size]) for start in range(0, count, batch_size)]
    return np.concatenate(outputs)


def reshape_inputs(model, x) -> np.ndarray:
    """Return ``x`` as a C-contiguous array of shape (N, *model input shape) in the model's dtype.

    Accepted layouts, for a model whose input shape (without the batch) is
    ``S``, with ``D`` the product of ``S``:

    - (N, *S): used as given, e.g. (N, height, width, depth) NHWC;
    - (N, D): flat rows in ConvNetJS's ``Vol`` order, ``((sx * y) + x) *
      depth + d``, which is row-major NHWC, so a reshape suffices;
    - (N, 1, 1, D) when ``S`` is (D,), for a network with a 1 x 1 x D input.

    Raises:
        DataError: ``x`` has another shape, is not numeric, or has no batch
            dimension.
        KerasModelError: the model has more than one input.
    """
    expected, dtype = input_signature(model)
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise DataError(Problem(f"inputs have dtype {array.dtype}, expected numbers.",
                                hint="Convert them with np.asarray(x, dtype='float32')."))
    size = math.prod(expected)
    if array.shape[1:] == expected:
        shaped = array
    elif array.ndim == 2 and array.shape[1] == size:
        shaped = array.reshape((array.shape[0], *expected))
    elif len(expected) == 1 and array.ndim == 4 and array.shape[1:] == (1, 1, size):
        shaped = array.reshape((array.shape[0], size))
    else:
        layouts = [f"(N, {', '.join(map(str, expected))})"]
        if len(expected) > 1:
            layouts.append(f"(N, {size}) in ConvNetJS's Vol order")
        else:
            layouts.append(f"(N, 1, 1, {size})")
        hint = "Add the batch dimension with x[None] for a single example." if array.shape == expected else None
        raise DataError(Problem(f"inputs have shape {array.shape}, expected {' or '.join(layouts)}.", hint=hint))
    return np.ascontiguousarray(shaped, dtype=dtype)


def input_signature(model) -> tuple[tuple[int, ...], str]:
    """Return ``(input shape without the batch dimension, dtype)`` of a single-input model.

    Raises:
        KerasModelError: the model is not built, has several inputs, or an
            input size is unknown.
    """
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise KerasModelError(Problem(
            f"model {getattr(model, 'name', model)!r} has no defined input; expected a built model.",
            hint="Build it first, e.g. with keras.Input in a Sequential model."))
    if len(inputs) != 1:
        raise KerasModelError(Problem(f"model {model.name!r} has {len(inputs)} inputs, expected one.",
                                      hint="ConvNetJS networks take a single input volume."))
    shape = tuple(inputs[0].shape[1:])
    if any(dimension is None for dimension in shape):
        raise KerasModelError(Problem(f"model {model.name!r} has input shape {shape} with an unknown size.",
                                      hint="ConvNetJS networks have fixed input sizes."))
    return shape, inputs[0].dtype


# Earlier name, still imported by other modules.
_input_signature = input_signature


def _predict_function(model):
    """Return the cached forward function of ``model``: NumPy batch in, NumPy outputs out."""
    forward = _PREDICT_FUNCTIONS.get(model)
    if forward is None:
        forward = _make_predict_function(model)
        _PREDICT_FUNCTIONS[model] = forward
    return forward


def _make_predict_function(model):
    import keras

    if keras.backend.backend() != "tensorflow":
        logger.debug("predicting with model.predict_on_batch on the %s backend", keras.backend.backend())

        def forward_on_batch(batch):
            return np.asarray(model.predict_on_batch(batch))

        return forward_on_batch

    import tensorflow as tf

    shape, dtype = input_signature(model)
    model_ref = weakref.ref(model)

    @tf.function(input_signature=[tf.TensorSpec((None, *shape), dtype)], autograph=False)
    def forward(batch):
        return model_ref()(batch, training=False)

    # Calling the concrete function skips tf.function's argument matching: about 0.1 ms per call, which is
    # a third of the time for one CIFAR-10 image on one core.
    concrete = forward.get_concrete_function()

    def forward_numpy(batch):
        return concrete(batch).numpy()

    forward_numpy.tf_function = forward  # for inspection, e.g. experimental_get_tracing_count()
    return forward_numpy
