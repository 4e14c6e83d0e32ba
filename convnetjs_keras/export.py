"""Keras models to ConvNetJS ``LayerSpec`` lists (the export direction).

The model must be a ``keras.Sequential`` or a functional model that is one
chain from its input to its output (nested chain models are expanded). Each
Keras layer is turned into ConvNetJS layers by the handler registered for its
class name:

- ``Conv2D`` and ``Dense`` become ``conv`` and ``fc``, followed by a
  ``relu``/``sigmoid``/``tanh``/``softmax`` layer for their activation.
- Structural layers (``Flatten``, ``Reshape``, ``ZeroPadding2D``) emit
  nothing but change the tracked volume; a ``ZeroPadding2D`` becomes the
  ``pad`` of the next ``conv``.
- ``BatchNormalization`` and ``Rescaling`` are folded into the ``conv``/``fc``
  before or after them (see ``_fold_into_previous`` and ``_fold_into_next``).
- Layers that are the identity at prediction (``Dropout`` and the noise
  layers) are left out, with a log message.

Every layer that cannot be expressed is collected, and one
``UnsupportedLayerError`` lists them all before anything is written.

ConvNetJS volumes are stored (y, x, depth). A ``channels_first`` model is
exported so that the ConvNetJS net takes the same image in that order: the
Keras input ``(depth, sy, sx)`` is the ConvNetJS input ``sx x sy x depth``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable

import numpy as np

from convnetjs_keras.converters.base import LayerSpec, Shape
from convnetjs_keras.errors import Problem, UnsupportedLayerError
from convnetjs_keras.snapshot import NetSpec

logger = logging.getLogger(__name__)

OUTPUT_TYPES = ("softmax", "svm", "regression")
CHANNELS_LAST = "channels_last"
CHANNELS_FIRST = "channels_first"

# Keras layers that are the identity at prediction. ConvNetJS's dropout layer
# multiplies by drop_prob at prediction, so these are left out instead.
IDENTITY_AT_PREDICTION = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
                          "GaussianDropout", "GaussianNoise", "ActivityRegularization")

# Keras layers between a BatchNormalization and the Conv2D/Dense it folds into
# that do not change values.
_PASS_THROUGH_NORM = ("Flatten", "Reshape", "ZeroPadding2D", "Identity", *IDENTITY_AT_PREDICTION)


class Unsupported(Exception):
    """Raised by a handler when a layer cannot be expressed in ConvNetJS.

    ``reason`` explains why and ``fix`` what the user can use instead.
    ``layer`` is the layer to report when it is not the one being handled,
    e.g. the BatchNormalization that a padded Conv2D cannot absorb.
    """

    def __init__(self, reason: str, fix: str = "", layer=None):
        super().__init__(reason)
        self.reason = reason
        self.fix = fix
        self.layer = layer


@dataclasses.dataclass
class PendingAffine:
    """A per-element ``x * scale + shift`` waiting for the next conv or fc.

    ``scale`` and ``shift`` have one value per channel (``per_channel``) or
    one per element of the current vector, in ConvNetJS order.
    """

    scale: np.ndarray
    shift: np.ndarray
    per_channel: bool
    layer: object


@dataclasses.dataclass
class ExportState:
    """The volume between two layers while a chain is exported.

    ``layout`` is the data format of the Keras tensor while it is a volume.
    ``flat_order`` is set after a ``Flatten`` that ordered the values
    differently from ConvNetJS: Keras position ``i`` contains ConvNetJS
    element ``flat_order[i]``.
    """

    shape: Shape
    is_vector: bool
    layout: str
    specs: list[LayerSpec]
    pending_pad: int = 0
    pad_layer: object = None
    flat_order: np.ndarray | None = None
    foldable: LayerSpec | None = None  # a conv/fc with nothing after it yet
    pending_affine: PendingAffine | None = None

    def emit(self, layer_type, out_shape, options=None, filters=None, biases=None):
        spec = LayerSpec(layer_type, self.shape, out_shape, options or {}, filters, biases)
        self.specs.append(spec)
        self.shape = out_shape
        self.foldable = None
        return spec


@dataclasses.dataclass(frozen=True)
class Handler:
    function: Callable
    becomes: str
    notes: str


HANDLERS: dict[str, Handler] = {}


def handles(*class_names, becomes: str, notes: str = ""):
    """Register the decorated function as the export handler of Keras classes.

    ``becomes`` and ``notes`` fill the support table in docs/export.md.
    """

    def decorate(function):
        for name in class_names:
            if name in HANDLERS:
                raise RuntimeError(f"Keras class {name!r} already has an export handler.")
            HANDLERS[name] = Handler(function, becomes, notes)
        return function

    return decorate


def support_table() -> str:
    """Return the Markdown table of exportable Keras layers, from ``HANDLERS``."""
    names_by_handler: dict[Handler, list[str]] = {}
    for name, handler in HANDLERS.items():
        names_by_handler.setdefault(handler, []).append(f"`{name}`")
    rows = ["| Keras layer | ConvNetJS layers | notes |", "|---|---|---|"]
    for handler, names in names_by_handler.items():
        rows.append(f"| {', '.join(names)} | {handler.becomes} | {handler.notes} |".replace("|  |", "| |"))
    return "\n".join(rows)


# --- helpers -----------------------------------------------------------------


def _decay_options(layer):
    from convnetjs_keras.regularizers import ConvNetJSDecay

    regularizer = getattr(layer, "kernel_regularizer", None)
    if isinstance(regularizer, ConvNetJSDecay):
        return dict(l1_decay_mul=regularizer.l1_decay_mul, l2_decay_mul=regularizer.l2_decay_mul)
    # What ConvNetJS's ConvLayer and FullyConnLayer constructors default to.
    return dict(l1_decay_mul=0.0, l2_decay_mul=1.0)


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    if activation is None:
        return "linear"
    return getattr(activation, "__name__", str(activation))


def _emit_activation(name, state):
    if name == "linear":
        return
    if name in ("relu", "sigmoid", "tanh"):
        state.emit(name, state.shape)
        return
    if name == "softmax":
        _emit_softmax(state)
        return
    raise Unsupported(f"activation {name!r} has no ConvNetJS layer",
                      "use relu, sigmoid, tanh or softmax, or no activation")


def _emit_softmax(state):
    if not state.is_vector and not state.shape.is_vector:
        raise Unsupported(
            f"softmax over the last axis of a {state.shape} volume normalizes each position separately, but "
            "ConvNetJS's softmax normalizes over the whole volume",
            "add a Flatten before the softmax")
    _to_vector(state)
    state.emit("softmax", Shape(1, 1, state.shape.size))


def _to_vector(state):
    if not state.is_vector:
        state.shape = Shape(1, 1, state.shape.size)
        state.is_vector = True


def _check_data_format(layer, state):
    fmt = getattr(layer, "data_format", None)
    if fmt is not None and fmt != state.layout:
        raise Unsupported(f"data_format={fmt!r}, but the model's other layers use {state.layout!r}",
                          "use one data_format in the whole model")


def _volume_shape(keras_shape, layout) -> Shape:
    """ConvNetJS ``Shape`` of a Keras volume shape without the batch axis."""
    if layout == CHANNELS_FIRST:
        depth, sy, sx = keras_shape
    else:
        sy, sx, depth = keras_shape
    return Shape(int(sx), int(sy), int(depth))


def _keras_flat_order(shape: Shape, layout: str, flatten_format: str) -> np.ndarray | None:
    """Return the ConvNetJS element at each position of a Keras ``Flatten``
    output, or None when both orders agree.

    ``layout`` is the tensor's data format; ``Flatten(data_format=
    'channels_first')`` moves axis 1 to the end before flattening.
    """
    index = np.arange(shape.size).reshape(shape.sy, shape.sx, shape.depth)  # ConvNetJS (y, x, d) order
    tensor = index if layout == CHANNELS_LAST else index.transpose(2, 0, 1)  # the Keras tensor's axes
    if flatten_format == CHANNELS_FIRST:
        tensor = np.moveaxis(tensor, 0, -1)
    order = tensor.ravel()
    return None if np.array_equal(order, np.arange(shape.size)) else order


def _same_pad(shape: Shape, sx, sy, stride):
    """Return the ConvNetJS ``pad`` that equals Keras' ``padding='same'``, or None.

    Keras pads ``total = max((out - 1) * stride + k - in, 0)`` cells per axis,
    ``total // 2`` before and the rest after. ConvNetJS's windows start at
    ``-pad``, so they match when ``pad = total // 2`` on both axes and the
    output sizes agree, which happens exactly when ``total`` is even.
    """
    pads = []
    for size, k in ((shape.sy, sy), (shape.sx, sx)):
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        pad = total // 2
        if (size + 2 * pad - k) // stride + 1 != out:
            return None
        pads.append(pad)
    return pads[0] if pads[0] == pads[1] else None


def _same_pad_or_raise(layer, state, sx, sy, stride, what):
    pad = _same_pad(state.shape, sx, sy, stride)
    if pad is None:
        raise Unsupported(
            f"padding='same' with stride {stride} and a {sy}x{sx} {what} on a {state.shape.sy}x{state.shape.sx} "
            "input pads unevenly (Keras puts the extra cell at the bottom or right, ConvNetJS pads every side "
            "by one amount)",
            "use padding='valid' with a symmetric ZeroPadding2D, or an input size for which 'same' pads evenly")
    return pad


def _array(variable) -> np.ndarray:
    return np.asarray(variable.numpy(), np.float64)


def _weights(layer):
    """Return ``(kernel, bias or None)`` as float64 arrays."""
    bias = getattr(layer, "bias", None)
    return _array(layer.kernel), None if bias is None else _array(bias)


def _fold_into_next(state, filters, biases, pad, layer):
    """Fold a pending affine (BatchNormalization/Rescaling before this layer)
    into ``filters`` (input on the last axis) and ``biases``.

    w * (scale * x + shift) + b = (w * scale) * x + (b + sum(w * shift)).
    """
    affine = state.pending_affine
    if affine is None:
        return filters, biases
    state.pending_affine = None
    if pad and np.any(affine.shift != 0):
        raise Unsupported(
            f"cannot be folded into {layer.name!r}, which pads with zeros: the padded cells would be "
            "normalized in Keras but stay 0 in ConvNetJS",
            "place it directly after a Conv2D/Dense without activation, or use padding='valid' in the next "
            "Conv2D", layer=affine.layer)
    scale, shift = affine.scale, affine.shift
    if affine.per_channel and filters.ndim == 2:
        # A per-channel affine on a volume that was flattened since: element j
        # of the ConvNetJS vector is channel j % depth.
        repeat = filters.shape[1] // scale.size
        scale, shift = np.tile(scale, repeat), np.tile(shift, repeat)
    axes = tuple(range(1, filters.ndim))
    return filters * scale, biases + (filters * shift).sum(axis=axes)


def _fold_into_previous(state, scale, shift, layer) -> bool:
    """Fold ``x * scale + shift`` (per output channel) into the conv/fc just
    emitted, when no other layer is between them. Returns whether it did."""
    spec = state.foldable
    if spec is None or spec.out_shape.depth != scale.size:
        return False
    # (out_depth, ...) filters: scale each output channel.
    spec.filters = spec.filters * scale.reshape((-1,) + (1,) * (spec.filters.ndim - 1))
    spec.biases = spec.biases * scale + shift
    logger.debug("folded %s into the preceding %s layer", layer.name, spec.layer_type)
    return True


def _add_affine(state, scale, shift, per_channel, layer):
    """Fold ``x * scale + shift`` backwards if possible, else keep it for the next conv/fc."""
    if _fold_into_previous(state, scale, shift, layer):
        return
    if state.pending_affine is not None:
        # Two affines in a row compose: (x * s1 + t1) * s2 + t2.
        first = state.pending_affine
        if first.per_channel != per_channel or first.scale.size != scale.size:
            raise Unsupported("follows another BatchNormalization or Rescaling over different axes",
                              "merge the two into one layer")
        scale, shift = first.scale * scale, first.shift * scale + shift
    state.pending_affine = PendingAffine(scale, shift, per_channel, layer)


# --- handlers ----------------------------------------------------------------


@handles("InputLayer", becomes="`input`", notes="`(sy, sx, depth)` or `(depth,)`; `(depth, sy, sx)` when the "
         "model is channels_first")
def _input(layer, state):
    pass


@handles("Identity", becomes="(nothing)")
def _identity(layer, state):
    pass


@handles(*IDENTITY_AT_PREDICTION, becomes="(nothing)",
         notes="the identity at prediction, so it is left out (ConvNetJS's dropout would multiply by drop_prob)")
def _identity_at_prediction(layer, state):
    logger.info("left out layer %r (%s): Keras applies it only in training, and the ConvNetJS net predicts "
                "exactly what the Keras model predicts without it", layer.name, type(layer).__name__)


@handles("Flatten", becomes="(nothing)", notes="any data_format; a Dense after it gets its rows reordered")
def _flatten(layer, state):
    if state.is_vector:
        return
    state.flat_order = _keras_flat_order(state.shape, state.layout, layer.data_format)
    _to_vector(state)


@handles("Reshape", becomes="(nothing)", notes="to a vector, or a vector to `(1, 1, depth)`")
def _reshape(layer, state):
    target = tuple(layer.target_shape)
    if len(target) == 1 and target[0] in (state.shape.size, -1):
        if not state.is_vector:
            # Reshape flattens in the tensor's own axis order.
            state.flat_order = _keras_flat_order(state.shape, state.layout, CHANNELS_LAST)
            _to_vector(state)
        return
    if len(target) == 3 and state.flat_order is None:
        shape = _volume_shape(target, state.layout)
        if shape == state.shape or (shape.is_vector and shape.depth == state.shape.size):
            state.shape = shape
            state.is_vector = False
            return
    raise Unsupported(f"Reshape to {target} from a {state.shape} volume reorders or regroups the values, which "
                      "ConvNetJS cannot express",
                      "reshape only to a vector, or a vector to (1, 1, depth)")


@handles("ZeroPadding2D", becomes="`pad` of the next `conv`", notes="the same on all four sides")
def _zero_padding(layer, state):
    _check_data_format(layer, state)
    (top, bottom), (left, right) = layer.padding
    if not top == bottom == left == right:
        raise Unsupported(f"padding {layer.padding} is not the same on all four sides",
                          "ConvNetJS pads every side by one amount")
    state.pending_pad += top
    state.pad_layer = layer


@handles("Conv2D", becomes="`conv` (+ activation layer)",
         notes="equal strides, dilation 1, groups 1; `'same'` where it pads evenly")
def _conv2d(layer, state):
    _check_data_format(layer, state)
    kernel, bias = _weights(layer)
    sy, sx, in_depth, out_depth = kernel.shape  # Keras' layout for both data formats
    sh, sw = layer.strides
    if sh != sw:
        raise Unsupported(f"strides {tuple(layer.strides)} differ between the two axes",
                          "use one stride for both axes")
    if tuple(layer.dilation_rate) != (1, 1):
        raise Unsupported(f"dilation_rate {tuple(layer.dilation_rate)}", "ConvNetJS has no dilated convolution")
    if getattr(layer, "groups", 1) != 1:
        raise Unsupported(f"groups={layer.groups}", "ConvNetJS has no grouped convolution")

    stride = sh
    pad = state.pending_pad
    state.pending_pad, state.pad_layer = 0, None
    if layer.padding == "same":
        if pad:
            raise Unsupported("ZeroPadding2D followed by padding='same'", "use one or the other")
        pad = _same_pad_or_raise(layer, state, sx, sy, stride, "kernel")
    state.is_vector = False
    in_shape = state.shape
    if in_shape.depth != in_depth:
        raise Unsupported(f"expects depth {in_depth}, receives {in_shape.depth}")
    out = Shape((in_shape.sx + 2 * pad - sx) // stride + 1, (in_shape.sy + 2 * pad - sy) // stride + 1, out_depth)

    # Keras kernel (sy, sx, in_depth, out_depth) -> ConvNetJS filters (out_depth, sy, sx, in_depth)
    filters = np.transpose(kernel, (3, 0, 1, 2))
    biases = bias if bias is not None else np.zeros(out_depth)
    filters, biases = _fold_into_next(state, filters, biases, pad, layer)
    options = dict(sx=sx, sy=sy, stride=stride, pad=pad, **_decay_options(layer))
    spec = state.emit("conv", out, options, filters, biases)
    activation = _activation_name(layer)
    _emit_activation(activation, state)
    if activation == "linear":
        state.foldable = spec


@handles("Dense", becomes="`fc` (+ activation layer)", notes="on a vector: after Flatten or Reshape, or on a "
         "vector input")
def _dense(layer, state):
    kernel, bias = _weights(layer)
    num_inputs, units = kernel.shape
    if not state.is_vector:
        if state.shape.is_vector and state.layout == CHANNELS_LAST:
            _to_vector(state)
        else:
            raise Unsupported(f"Dense on a {state.shape} volume acts on the last axis only",
                              "add a Flatten layer before it")
    if num_inputs != state.shape.size:
        raise Unsupported(f"expects {num_inputs} inputs, receives {state.shape.size}")
    # Keras kernel (num_inputs, units) -> ConvNetJS filters (units, num_inputs)
    filters = np.empty((units, num_inputs))
    if state.flat_order is None:
        filters[:] = kernel.T
    else:
        # Keras input i is ConvNetJS element flat_order[i].
        filters[:, state.flat_order] = kernel.T
        state.flat_order = None
    biases = bias if bias is not None else np.zeros(units)
    filters, biases = _fold_into_next(state, filters, biases, 0, layer)
    spec = state.emit("fc", Shape(1, 1, units), _decay_options(layer), filters, biases)
    activation = _activation_name(layer)
    _emit_activation(activation, state)
    if activation == "linear":
        state.foldable = spec


@handles("BatchNormalization", becomes="(folded into a `conv`/`fc`)",
         notes="folded into the Conv2D/Dense before it (no activation between) or after it; see below")
def _batch_normalization(layer, state):
    axis = layer.axis
    if not isinstance(axis, int):
        axis = list(axis)[0] if len(axis) == 1 else None
    rank = 2 if state.is_vector else 4
    channel_axis = 1 if state.is_vector or state.layout == CHANNELS_FIRST else 3
    if axis is None or axis % rank != channel_axis:
        raise Unsupported(f"normalizes over axis {layer.axis}, not the channel axis {channel_axis}",
                          "normalize over the channel axis only")
    mean, variance = _array(layer.moving_mean), _array(layer.moving_variance)
    gamma = np.ones_like(mean) if layer.gamma is None else _array(layer.gamma)
    beta = np.zeros_like(mean) if layer.beta is None else _array(layer.beta)
    # Keras at prediction: (x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta
    scale = gamma / np.sqrt(variance + layer.epsilon)
    shift = beta - mean * scale
    _add_affine_in_order(state, scale, shift, layer)


@handles("Rescaling", becomes="(folded into a `conv`/`fc`)", notes="`x * scale + offset`, folded like "
         "BatchNormalization")
def _rescaling(layer, state):
    scale = np.asarray(layer.scale, np.float64).ravel()
    offset = np.asarray(layer.offset, np.float64).ravel()
    channels = state.shape.size if state.is_vector else state.shape.depth
    if scale.size not in (1, channels) or offset.size not in (1, channels):
        raise Unsupported(f"scale/offset of sizes {scale.size}/{offset.size} do not broadcast over the channels",
                          "use a scalar or one value per channel")
    if scale.size > 1 and state.layout == CHANNELS_FIRST and not state.is_vector:
        raise Unsupported("per-channel scale on a channels_first volume broadcasts over the width",
                          "use scalar scale and offset")
    _add_affine_in_order(state, np.broadcast_to(scale, channels).copy(), np.broadcast_to(offset, channels).copy(),
                         layer)


def _add_affine_in_order(state, scale, shift, layer):
    if state.is_vector and state.flat_order is not None:
        # Keras element i is ConvNetJS element flat_order[i].
        reordered_scale, reordered_shift = np.empty_like(scale), np.empty_like(shift)
        reordered_scale[state.flat_order], reordered_shift[state.flat_order] = scale, shift
        scale, shift = reordered_scale, reordered_shift
    _add_affine(state, scale, shift, not state.is_vector, layer)


@handles("MaxPooling2D", becomes="`pool`", notes="equal strides; `'same'` where it pads evenly (ConvNetJS's "
         "pool ignores padded cells, as Keras does)")
def _max_pooling(layer, state):
    _check_data_format(layer, state)
    (sy, sx), (sh, sw) = layer.pool_size, layer.strides
    if sh != sw:
        raise Unsupported(f"strides {tuple(layer.strides)} differ between the two axes",
                          "use one stride for both axes")
    state.is_vector = False
    pad = 0
    if layer.padding == "same":
        pad = _same_pad_or_raise(layer, state, sx, sy, sh, "window")
    _emit_pool(state, sx, sy, sh, pad)


@handles("ConvNetJSMaxPool", becomes="`pool`", notes="with its `pad`")
def _convnetjs_pool(layer, state):
    _check_data_format(layer, state)
    sy, sx = layer.pool_size
    _emit_pool(state, sx, sy, layer.strides, layer.pad)


def _emit_pool(state, sx, sy, stride, pad):
    state.is_vector = False
    s = state.shape
    out = Shape((s.sx + 2 * pad - sx) // stride + 1, (s.sy + 2 * pad - sy) // stride + 1, s.depth)
    state.emit("pool", out, dict(sx=sx, sy=sy, stride=stride, pad=pad))


@handles("Activation", becomes="`relu`, `sigmoid`, `tanh`, `softmax` or nothing",
         notes="softmax only on a vector (Flatten first)")
def _activation(layer, state):
    _emit_activation(_activation_name(layer), state)


@handles("ReLU", becomes="`relu`", notes="without max_value, negative_slope or threshold")
def _relu(layer, state):
    if layer.max_value is not None or float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
        raise Unsupported("ReLU with max_value, negative_slope or threshold", "use a plain ReLU")
    state.emit("relu", state.shape)


@handles("Softmax", becomes="`softmax`", notes="on a vector, last layer")
def _softmax(layer, state):
    axis = layer.axis if isinstance(layer.axis, int) else None
    rank = 2 if state.is_vector else 4
    if axis is None or axis % rank != rank - 1:
        raise Unsupported(f"softmax over axis {layer.axis}", "use the last axis of a vector")
    _emit_softmax(state)


@handles("ConvNetJSDropout", becomes="`dropout`", notes="same drop_prob")
def _convnetjs_dropout(layer, state):
    state.emit("dropout", state.shape, dict(drop_prob=layer.drop_prob))


@handles("ConvNetJSMaxout", becomes="`maxout`")
def _maxout(layer, state):
    s = state.shape
    state.emit("maxout", Shape(s.sx, s.sy, s.depth // layer.group_size), dict(group_size=layer.group_size))


@handles("ConvNetJSLocalResponseNorm", becomes="`lrn`")
def _lrn(layer, state):
    state.emit("lrn", state.shape, dict(k=layer.k, n=layer.n, alpha=layer.alpha, beta=layer.beta))


@handles("ConvNetJSQuadTransform", becomes="`quadtransform`")
def _quad(layer, state):
    s = state.shape
    state.emit("quadtransform", Shape(s.sx, s.sy, s.depth + s.depth ** 2))


@handles("ConvNetJSSVM", becomes="`svm`", notes="last layer")
def _svm(layer, state):
    _to_vector(state)
    state.emit("svm", Shape(1, 1, state.shape.size))


@handles("ConvNetJSRegression", becomes="`regression`", notes="last layer")
def _regression(layer, state):
    _to_vector(state)
    state.emit("regression", Shape(1, 1, state.shape.size))


# --- the model graph ---------------------------------------------------------


@dataclasses.dataclass
class ChainStep:
    """One layer call on the path from the model input to its output."""

    layer: object
    output_shape: tuple  # Keras shape without the batch axis


def _layer_label(layer) -> str:
    return f"layer {getattr(layer, 'name', '?')!r} ({type(layer).__name__})"


def trace_chain(tensor, problems: list[Problem]) -> list[ChainStep]:
    """Return the layer calls from the model input to ``tensor``, in order.

    Nested models are expanded. A layer with several inputs (a merge) adds a
    problem to ``problems``. Tracing then follows its first input, so the
    other layers are still checked.
    """
    import keras

    steps: list[ChainStep] = []
    while True:
        operation, node_index, _ = tensor._keras_history
        if isinstance(operation, keras.layers.InputLayer):
            break
        node = operation._inbound_nodes[node_index]
        inputs = list(node.input_tensors)
        if isinstance(operation, keras.Model):
            inner = _model_chain(operation, problems)
            steps.extend(reversed(inner))
        else:
            steps.append(ChainStep(operation, tuple(tensor.shape[1:])))
        if len(inputs) != 1:
            problems.append(Problem(
                f"takes {len(inputs)} inputs; a ConvNetJS network is a single chain of layers.",
                source=_layer_label(operation),
                hint="Export each branch as its own network, or average branches as a MagicNet."))
            if not inputs:
                break
        tensor = inputs[0]
    steps.reverse()
    return steps


def _model_chain(model, problems) -> list[ChainStep]:
    inputs, outputs = list(model.inputs or []), list(model.outputs or [])
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedLayerError(Problem(
            f"the model has {len(inputs)} inputs and {len(outputs)} outputs; a ConvNetJS network has one of each.",
            source=_layer_label(model), hint="Export a model with a single input and a single output."))
    return trace_chain(outputs[0], problems)


def model_input_shape(model) -> tuple:
    """Return the Keras input shape of ``model`` without the batch axis."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise UnsupportedLayerError(Problem(
            "the model is not built, so its input shape is unknown.", source=f"model {model.name!r}",
            hint="Give it a keras.Input, or call model.build((None, ...)) first."))
    return tuple(inputs[0].shape[1:])


def model_layout(steps: list[ChainStep]) -> str:
    """Return the data format of the chain's volumes: the first ``data_format``
    of a spatial layer, else channels_last."""
    for step in steps:
        if type(step.layer).__name__ in ("Conv2D", "MaxPooling2D", "ZeroPadding2D"):
            return step.layer.data_format
    return CHANNELS_LAST


def input_layout(model) -> str:
    """Return ``"channels_first"`` or ``"channels_last"``: how ``model``'s
    volumes are laid out, and so how its inputs map to ConvNetJS volumes."""
    return model_layout(_model_chain(model, []))


def _input_state(keras_shape, layout) -> ExportState:
    if len(keras_shape) == 1 and keras_shape[0] is not None:
        shape = Shape(1, 1, int(keras_shape[0]))
        return ExportState(shape, True, layout, [LayerSpec("input", None, shape)])
    if len(keras_shape) == 3 and None not in keras_shape:
        shape = _volume_shape(keras_shape, layout)
        return ExportState(shape, False, layout, [LayerSpec("input", None, shape)])
    raise UnsupportedLayerError(Problem(
        f"the input shape {keras_shape} (without the batch axis) is neither a vector (depth,) nor a volume "
        "(height, width, depth) of known size.", hint="Give the model a keras.Input of a fixed size."))


def _resync(state, step):
    """Set ``state`` to the Keras output shape of a layer that failed, so
    that later layers are checked against the right volume."""
    shape = step.output_shape
    state.pending_pad, state.pending_affine, state.flat_order, state.foldable = 0, None, None, None
    if len(shape) == 1 and shape[0] is not None:
        state.shape, state.is_vector = Shape(1, 1, int(shape[0])), True
    elif len(shape) == 3 and None not in shape:
        state.shape, state.is_vector = _volume_shape(shape, state.layout), False


def _steps_to_net_spec(steps, keras_input_shape, output, name, problems) -> NetSpec:
    """Run the handlers over a chain; add every problem to ``problems``."""
    layout = model_layout(steps)
    state = _input_state(keras_input_shape, layout)
    for step in steps:
        layer = step.layer
        class_name = type(layer).__name__
        handler = HANDLERS.get(class_name)
        try:
            if handler is None:
                raise Unsupported(f"{class_name} has no ConvNetJS equivalent", _suggestion(class_name))
            if state.pending_pad and class_name not in ("Conv2D", "ZeroPadding2D"):
                raise Unsupported(f"zero padding before a {class_name} has no ConvNetJS equivalent (only a conv "
                                  "layer pads)", "put the ZeroPadding2D directly before a Conv2D",
                                  layer=state.pad_layer)
            if state.pending_affine is not None and class_name not in ("Conv2D", "Dense", "BatchNormalization",
                                                                        "Rescaling", *_PASS_THROUGH_NORM):
                raise Unsupported(
                    f"cannot be folded: a {class_name} follows it and no Conv2D or Dense precedes it directly",
                    "place it directly after a Conv2D/Dense without activation, or directly before one",
                    layer=state.pending_affine.layer)
            foldable = state.foldable
            handler.function(layer, state)
            if class_name in ("BatchNormalization", "Rescaling", "Identity", *IDENTITY_AT_PREDICTION):
                state.foldable = foldable if state.pending_affine is None else None
            elif class_name not in ("Conv2D", "Dense"):
                state.foldable = None
        except Unsupported as error:
            blamed = error.layer if error.layer is not None else layer
            problems.append(Problem(f"{error.reason}.", source=_layer_label(blamed),
                                    hint=f"Instead: {error.fix}." if error.fix else None))
            _resync(state, step)
    if state.pending_pad:
        problems.append(Problem("no Conv2D follows this zero padding.", source=_layer_label(state.pad_layer)))
    if state.pending_affine is not None:
        problems.append(Problem("cannot be folded: no Conv2D or Dense precedes it directly or follows it.",
                                source=_layer_label(state.pending_affine.layer),
                                hint="Place it directly after a Conv2D/Dense without activation."))
    if state.flat_order is not None:
        problems.append(Problem(
            "the model's output is a flattened channels_first volume, whose order differs from ConvNetJS's "
            "(y, x, depth) order.", hint="End the model with a Dense layer, or flatten with "
            "Flatten(data_format='channels_first')."))
    if problems:
        return None
    return _finish(state, output, name)


def _suggestion(class_name) -> str:
    suggestions = {
        "AveragePooling2D": "use MaxPooling2D, or a strided Conv2D",
        "GlobalAveragePooling2D": "use Flatten followed by Dense",
        "GlobalMaxPooling2D": "use MaxPooling2D over the whole volume, then Flatten",
        "LeakyReLU": "use ReLU",
        "PReLU": "use ReLU",
        "ELU": "use ReLU or tanh",
        "DepthwiseConv2D": "use Conv2D",
        "SeparableConv2D": "use Conv2D",
        "Conv2DTranspose": "use Conv2D (ConvNetJS has no transposed convolution)",
        "LayerNormalization": "use BatchNormalization next to a Conv2D/Dense",
        "Add": "ConvNetJS networks have no skip connections",
        "Concatenate": "ConvNetJS networks have no branches",
    }
    return suggestions.get(class_name, "replace it with layers from the support table in docs/export.md")


def _finish(state, output, name) -> NetSpec:
    specs = state.specs
    for spec in specs[:-1]:
        if spec.layer_type in OUTPUT_TYPES:
            raise UnsupportedLayerError(Problem(
                f"a {spec.layer_type} layer is in the middle of the network; ConvNetJS allows a loss layer "
                "(softmax, svm, regression) only at the end."))
    last = specs[-1].layer_type
    if last in OUTPUT_TYPES:
        if output is not None and output != last:
            raise UnsupportedLayerError(Problem(
                f"the model ends in {last}, but output={output!r} was requested.",
                hint=f"Drop the final {last} from the model, or ask for output={last!r}."))
    else:
        _to_vector(state)
        state.emit(output or "regression", Shape(1, 1, state.shape.size))
    for index, spec in enumerate(specs):
        spec.index = index
    return NetSpec(specs, name)


def _check_output(output):
    if output is not None and output not in OUTPUT_TYPES:
        raise ValueError(f"output must be one of {OUTPUT_TYPES} or None. Received: output={output!r}")


def model_to_net_spec(model, output: str | None = None) -> NetSpec:
    """Return the ``NetSpec`` of a Keras model.

    Args:
        model: a ``keras.Sequential`` or a single-chain functional model.
        output: the loss layer to end with: ``"softmax"`` (only when the
            model ends in a softmax), ``"svm"`` or ``"regression"``. The
            default is softmax when the model ends in a softmax, else
            regression, which outputs the raw values.

    Raises:
        UnsupportedLayerError: listing every layer ConvNetJS cannot express,
            with the reason and what to use instead.
    """
    _check_output(output)
    keras_shape = model_input_shape(model)
    problems: list[Problem] = []
    steps = _model_chain(model, problems)
    net = _steps_to_net_spec(steps, keras_shape, output, getattr(model, "name", "<model>"), problems)
    if problems:
        raise UnsupportedLayerError(problems)
    return net


def averaged_chains(model) -> list[list[ChainStep]] | None:
    """Return the chains of a model whose output averages several chains that
    all start at its input (a MagicNet), or None for any other model."""
    import keras

    inputs, outputs = list(getattr(model, "inputs", None) or []), list(getattr(model, "outputs", None) or [])
    if len(inputs) != 1 or len(outputs) != 1:
        return None
    operation, node_index, _ = outputs[0]._keras_history
    if type(operation) is not keras.layers.Average:
        return None
    chains = []
    for tensor in operation._inbound_nodes[node_index].input_tensors:
        problems: list[Problem] = []
        chain = trace_chain(tensor, problems)
        if problems:
            return None
        chains.append(chain)
    return chains


def chains_to_net_specs(model, chains, output=None) -> list[NetSpec]:
    """Return one ``NetSpec`` per chain of an averaging model; raise one
    ``UnsupportedLayerError`` listing the problems of every chain."""
    _check_output(output)
    problems: list[Problem] = []
    nets = []
    keras_shape = model_input_shape(model)
    for index, chain in enumerate(chains):
        found: list[Problem] = []
        try:
            net = _steps_to_net_spec(chain, keras_shape, output, f"{model.name} net {index}", found)
        except UnsupportedLayerError as error:
            found.extend(error.problems)
            net = None
        problems.extend(dataclasses.replace(p, source=f"net {index}, {p.source}" if p.source else f"net {index}")
                        for p in found)
        nets.append(net)
    if problems:
        raise UnsupportedLayerError(problems)
    return nets
