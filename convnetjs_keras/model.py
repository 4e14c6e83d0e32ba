"""Building Keras models from ConvNetJS networks, and the public entry points.

``from_snapshot`` and ``from_layer_defs`` go ConvNetJS -> Keras;
``to_snapshot`` goes Keras -> ConvNetJS (see ``convnetjs_keras.export``).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from convnetjs_keras import converters
from convnetjs_keras.converters.base import KerasBuilder
from convnetjs_keras.snapshot import NetSpec, load_net_spec

logger = logging.getLogger(__name__)

DTYPES = ("float32", "float64")


def _check_dtype(dtype):
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}")


# Operations that Keras computes in float32 for float64 inputs on backends other
# than TensorFlow, checked with Keras 3.15.1, JAX 0.10.2 and PyTorch 2.13.0. Keras'
# type promotion (keras.backend.result_type) maps float64 to float32 there.
_FLOAT32_OPERATIONS = {"jax": "tanh", "torch": "matrix products, so every Dense layer,"}


def _warn_if_float64_is_partial(dtype: str) -> None:
    """Warn when the Keras backend computes a float64 model partly in float32."""
    import keras

    backend = keras.backend.backend()
    if dtype != "float64" or backend not in _FLOAT32_OPERATIONS:
        return
    reason = f"Keras {keras.__version__} computes {_FLOAT32_OPERATIONS[backend]} in float32 there"
    if backend == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            reason = "JAX's 64-bit types are disabled (JAX_ENABLE_X64 is not set), so it computes in float32"
    warnings.warn(f"dtype='float64' on Keras' {backend} backend: {reason}, so the model matches ConvNetJS only "
                  "to float32 precision. Use KERAS_BACKEND=tensorflow for float64 results.", stacklevel=4)


def build_model(net: NetSpec, dtype: str = "float32", name: str | None = None):
    """Return a ``keras.Sequential`` that computes what ``net`` computes.

    Inputs are NHWC arrays of shape (batch, sy, sx, depth); a network whose
    input is 1 x 1 x D takes (batch, D) instead.
    """
    import keras

    _check_dtype(dtype)
    _warn_if_float64_is_partial(dtype)
    shape = net.input_shape
    builder = KerasBuilder(shape, dtype)
    for spec in net.layers[1:]:
        converters.get_converter(spec.layer_type).to_keras(spec, builder)
    input_shape = (shape.depth,) if shape.is_vector else (shape.sy, shape.sx, shape.depth)
    model = keras.Sequential([keras.Input(input_shape, dtype=dtype), *builder.layers], name=name)
    for layer, weights in builder.weights:
        layer.set_weights([np.asarray(w, dtype=dtype) for w in weights])
    return model


def from_snapshot(snapshot, *, key: str | None = None, dtype: str = "float32"):
    """Convert a ConvNetJS snapshot to a ``keras.Sequential``.

    Args:
        snapshot: the ``net.toJSON()`` dict, a path to a JSON file, or JSON text.
            Snapshots wrapped in another object or list are found
            automatically; ``key`` chooses one (e.g. ``"brain"``,
            ``"0.network"``).
        dtype: ``"float32"`` (default) or ``"float64"``; ConvNetJS computes in
            float64.

    Raises:
        SnapshotFormatError: listing every problem found in the snapshot.
    """
    _check_dtype(dtype)
    net = load_net_spec(snapshot, key=key)
    return build_model(net, dtype)


def load_snapshot(path, *, key: str | None = None, dtype: str = "float32"):
    """Load a ConvNetJS snapshot file as a ``keras.Sequential``."""
    # A Path is never mistaken for JSON text, whatever the file name.
    return from_snapshot(Path(path), key=key, dtype=dtype)


def from_layer_defs(layer_defs, *, seed=None, dtype: str = "float32"):
    """Build an untrained ``keras.Sequential`` as ``net.makeLayers(layer_defs)`` does.

    The same desugaring (activations, dropout and the fc layer in front of
    softmax/svm/regression), the same output sizes, and ConvNetJS's
    initialisation: weights normal with std sqrt(1 / fan_in), biases equal to
    ``bias_pref`` (0.1 before relu, else 0).

    Raises:
        LayerDefinitionError: listing every problem found in ``layer_defs``.
    """
    from convnetjs_keras.layer_defs import net_spec_from_layer_defs

    _check_dtype(dtype)
    return build_model(net_spec_from_layer_defs(layer_defs, seed=seed), dtype)


def to_snapshot(model, *, output: str | None = None, digits: int | None = None,
                typed_array_objects: bool = False) -> dict:
    """Return the ``Net.toJSON()`` dict of a Keras model.

    Accepts models built by this library and hand-written Keras models made
    of layers ConvNetJS can express (see ``convnetjs_keras.export``).

    Args:
        output: ``"softmax"``, ``"svm"`` or ``"regression"`` for the loss
            layer when the model does not end in one; default: softmax if
            the model ends in a softmax, else regression.
        digits: write this many significant digits (smaller files).
        typed_array_objects: write ``w`` as ``{"0": ...}`` objects, the form
            ``JSON.stringify`` gives a ``Float64Array``.
    """
    from convnetjs_keras.export import model_to_net_spec
    from convnetjs_keras.snapshot import net_spec_to_json
    from convnetjs_keras.version import __version__

    net = model_to_net_spec(model, output=output)
    return net_spec_to_json(net, digits=digits, typed_array_objects=typed_array_objects,
                            extra={"convnetjs_keras_version": __version__})


def save_snapshot(model, path, *, overwrite: bool = True, output: str | None = None, digits: int | None = None,
                  typed_array_objects: bool = False) -> None:
    """Write ``to_snapshot(model, ...)`` to ``path`` atomically, as compact JSON.

    ``fastjson.write_snapshot`` streams the file one layer at a time, so the
    weights never exist as Python lists; the arguments are those of
    ``to_snapshot``.
    """
    from convnetjs_keras.export import model_to_net_spec
    from convnetjs_keras.fastjson import write_snapshot
    from convnetjs_keras.version import __version__

    net = model_to_net_spec(model, output=output)
    write_snapshot(path, net, digits=digits, typed_array_objects=typed_array_objects,
                   extra={"convnetjs_keras_version": __version__}, overwrite=overwrite)
