"""Keras models to ConvNetJS ``LayerSpec`` lists (the export direction).

Walks the layers of a ``keras.Sequential`` (or a functional model that is a
single chain) and turns each into ConvNetJS layers through a handler
registered for its Keras class. Structural layers (``InputLayer``,
``Flatten``, ``Reshape``, ``ZeroPadding2D``) produce no ConvNetJS layer but
change the tracked volume. Every layer that cannot be expressed is collected,
and one ``UnsupportedLayerError`` lists them all before anything is written.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from convnetjs_keras.converters.base import LayerSpec, Shape
from convnetjs_keras.errors import Problem, UnsupportedLayerError
from convnetjs_keras.snapshot import NetSpec

OUTPUT_TYPES = ("softmax", "svm", "regression")


class Unsupported(Exception):
    """Raised by a handler: the layer cannot be expressed; ``reason`` says why
    and ``fix`` what the user can do."""

    def __init__(self, reason: str, fix: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


@dataclasses.dataclass
class ExportState:
    shape: Shape
    is_vector: bool
    specs: list[LayerSpec]
    pending_pad: int = 0

    def emit(self, layer_type, out_shape, options=None, filters=None, biases=None):
        spec = LayerSpec(layer_type, self.shape, out_shape, options or {}, filters, biases)
        self.specs.append(spec)
        self.shape = out_shape
        return spec


HANDLERS: dict[str, Callable] = {}


def handles(*class_names):
    def decorate(function):
        for name in class_names:
            if name in HANDLERS:
                raise RuntimeError(f"Keras class {name!r} already has an export handler.")
            HANDLERS[name] = function
        return function

    return decorate


def _decay_options(layer):
    from convnetjs_keras.regularizers import ConvNetJSDecay

    regularizer = getattr(layer, "kernel_regularizer", None)
    if isinstance(regularizer, ConvNetJSDecay):
        return dict(l1_decay_mul=regularizer.l1_decay_mul, l2_decay_mul=regularizer.l2_decay_mul)
    # What ConvNetJS's constructors default to.
    return dict(l1_decay_mul=0.0, l2_decay_mul=1.0)


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    if activation is None:
        return "linear"
    return getattr(activation, "__name__", str(activation))


def _emit_activation(name, state, layer):
    if name == "linear":
        return
    if name in ("relu", "sigmoid", "tanh"):
        state.emit(name, state.shape)
        return
    if name == "softmax":
        _to_vector(state)
        state.emit("softmax", Shape(1, 1, state.shape.size))
        return
    raise Unsupported(f"activation {name!r} has no ConvNetJS layer",
                      "use relu, sigmoid, tanh or softmax")


def _to_vector(state):
    if not state.is_vector:
        state.shape = Shape(1, 1, state.shape.size)
        state.is_vector = True


def _channels_last(layer):
    fmt = getattr(layer, "data_format", "channels_last")
    if fmt != "channels_last":
        raise Unsupported(f"data_format={fmt!r}", "build the model with channels_last")


@handles("InputLayer")
def _input(layer, state):
    pass


@handles("Flatten")
def _flatten(layer, state):
    _channels_last(layer)
    _to_vector(state)


@handles("Reshape")
def _reshape(layer, state):
    target = tuple(layer.target_shape)
    if len(target) == 1 and target[0] in (state.shape.size, -1):
        _to_vector(state)
    elif len(target) == 3 and state.shape.size == int(np.prod(target)) and state.is_vector \
            and target[0] == 1 and target[1] == 1:
        state.is_vector = False
    elif len(target) == 3 and tuple(target) == (state.shape.sy, state.shape.sx, state.shape.depth):
        state.is_vector = False
    else:
        raise Unsupported(f"Reshape to {target} from {state.shape} reorders the volume",
                          "reshape only to a vector, or a vector to (1, 1, depth)")


@handles("ZeroPadding2D")
def _zero_padding(layer, state):
    _channels_last(layer)
    (top, bottom), (left, right) = layer.padding
    if not top == bottom == left == right:
        raise Unsupported(f"padding {layer.padding} is not the same on all four sides",
                          "ConvNetJS pads every side by one amount")
    state.pending_pad += top


@handles("Conv2D")
def _conv2d(layer, state):
    _channels_last(layer)
    kernel, *rest = layer.get_weights()
    sy, sx, in_depth, out_depth = kernel.shape
    sh, sw = layer.strides
    if sh != sw:
        raise Unsupported(f"strides {layer.strides} differ between the two axes", "use one stride for both")
    if tuple(layer.dilation_rate) != (1, 1):
        raise Unsupported(f"dilation_rate {layer.dilation_rate}", "ConvNetJS has no dilated convolution")
    if getattr(layer, "groups", 1) != 1:
        raise Unsupported(f"groups={layer.groups}", "ConvNetJS has no grouped convolution")
    stride = sh
    pad = state.pending_pad
    state.pending_pad = 0
    if layer.padding == "same":
        if pad:
            raise Unsupported("ZeroPadding2D followed by padding='same'", "use one or the other")
        pad = _symmetric_same_pad(state.shape, sx, sy, stride)
        if pad is None:
            raise Unsupported(
                f"padding='same' with stride {stride} and a {sy}x{sx} kernel on a {state.shape.sy}x"
                f"{state.shape.sx} input pads unevenly (Keras puts the extra cell at the bottom/right)",
                "use padding='valid' with a symmetric ZeroPadding2D, or change the input size")
    if state.is_vector:
        state.is_vector = False
    in_shape = state.shape
    if in_shape.depth != in_depth:
        raise Unsupported(f"expects depth {in_depth}, receives {in_shape.depth}")
    out = Shape((in_shape.sx + 2 * pad - sx) // stride + 1, (in_shape.sy + 2 * pad - sy) // stride + 1, out_depth)
    bias = rest[0] if rest else np.zeros(out_depth)
    # Keras kernel (sy, sx, in_depth, out_depth) -> ConvNetJS filters (out_depth, sy, sx, in_depth)
    filters = np.transpose(kernel, (3, 0, 1, 2)).astype(np.float64)
    options = dict(sx=sx, sy=sy, stride=stride, pad=pad, **_decay_options(layer))
    state.emit("conv", out, options, filters, np.asarray(bias, np.float64))
    _emit_activation(_activation_name(layer), state, layer)


def _symmetric_same_pad(shape, sx, sy, stride):
    """Return the ConvNetJS pad equal to Keras' 'same' padding, or None."""
    pads = []
    for size, k in ((shape.sy, sy), (shape.sx, sx)):
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        if total % 2:
            return None
        pad = total // 2
        if (size + 2 * pad - k) // stride + 1 != out:
            return None
        pads.append(pad)
    return pads[0] if pads[0] == pads[1] else None


@handles("Dense")
def _dense(layer, state):
    kernel, *rest = layer.get_weights()
    num_inputs, units = kernel.shape
    if not state.is_vector:
        if state.shape.sx == 1 and state.shape.sy == 1:
            _to_vector(state)
        else:
            raise Unsupported(f"Dense on a {state.shape} volume acts on the last axis only",
                              "add a Flatten layer before it")
    if num_inputs != state.shape.size:
        raise Unsupported(f"expects {num_inputs} inputs, receives {state.shape.size}")
    bias = rest[0] if rest else np.zeros(units)
    # Keras kernel (num_inputs, units) -> ConvNetJS filters (units, num_inputs)
    state.emit("fc", Shape(1, 1, units), _decay_options(layer), kernel.T.astype(np.float64),
               np.asarray(bias, np.float64))
    _emit_activation(_activation_name(layer), state, layer)


@handles("MaxPooling2D")
def _max_pooling(layer, state):
    _channels_last(layer)
    if layer.padding != "valid":
        raise Unsupported("padding='same'", "use padding='valid' or ConvNetJSMaxPool with a pad")
    (sy, sx), (sh, sw) = layer.pool_size, layer.strides
    if sh != sw:
        raise Unsupported(f"strides {layer.strides} differ between the two axes")
    _emit_pool(state, sx, sy, sh, 0)


@handles("ConvNetJSMaxPool")
def _convnetjs_pool(layer, state):
    sy, sx = layer.pool_size
    _emit_pool(state, sx, sy, layer.strides, layer.pad)


def _emit_pool(state, sx, sy, stride, pad):
    state.is_vector = False
    s = state.shape
    out = Shape((s.sx + 2 * pad - sx) // stride + 1, (s.sy + 2 * pad - sy) // stride + 1, s.depth)
    state.emit("pool", out, dict(sx=sx, sy=sy, stride=stride, pad=pad))


@handles("Activation")
def _activation(layer, state):
    _emit_activation(_activation_name(layer), state, layer)


@handles("ReLU")
def _relu(layer, state):
    if layer.max_value is not None or float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
        raise Unsupported("ReLU with max_value, negative_slope or threshold", "use a plain ReLU")
    state.emit("relu", state.shape)


@handles("Softmax")
def _softmax(layer, state):
    _to_vector(state)
    state.emit("softmax", Shape(1, 1, state.shape.size))


@handles("ConvNetJSDropout")
def _convnetjs_dropout(layer, state):
    state.emit("dropout", state.shape, dict(drop_prob=layer.drop_prob))


@handles("ConvNetJSMaxout")
def _maxout(layer, state):
    s = state.shape
    state.emit("maxout", Shape(s.sx, s.sy, s.depth // layer.group_size), dict(group_size=layer.group_size))


@handles("ConvNetJSLocalResponseNorm")
def _lrn(layer, state):
    state.emit("lrn", state.shape, dict(k=layer.k, n=layer.n, alpha=layer.alpha, beta=layer.beta))


@handles("ConvNetJSQuadTransform")
def _quad(layer, state):
    s = state.shape
    state.emit("quadtransform", Shape(s.sx, s.sy, s.depth + s.depth ** 2))


@handles("ConvNetJSSVM")
def _svm(layer, state):
    _to_vector(state)
    state.emit("svm", Shape(1, 1, state.shape.size))


@handles("ConvNetJSRegression")
def _regression(layer, state):
    _to_vector(state)
    state.emit("regression", Shape(1, 1, state.shape.size))


def chain_layers(model):
    """Return the layers of a Sequential or single-chain functional model in order."""
    import keras

    if isinstance(model, keras.Sequential):
        return list(model.layers)
    layers = list(model.layers)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedLayerError(Problem(
            f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; ConvNetJS networks "
            "are a single chain with one input and one output."))
    for layer in layers:
        if len(layer._inbound_nodes) > 1:
            raise UnsupportedLayerError(Problem(f"layer {layer.name!r} is used more than once; ConvNetJS "
                                                "networks are a single chain."))
    return layers


def _input_shape(model):
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if shape is None:
        raise UnsupportedLayerError(Problem("the model is not built; call it on data or give it a keras.Input."))
    if len(shape) == 1:
        return Shape(1, 1, int(shape[0])), True
    if len(shape) == 3 and None not in shape:
        return Shape(int(shape[1]), int(shape[0]), int(shape[2])), False
    raise UnsupportedLayerError(Problem(f"input shape {shape} is neither a vector nor (height, width, depth)."))


def model_to_net_spec(model, output: str | None = None) -> NetSpec:
    """Return the ``NetSpec`` of a Keras model, or raise ``UnsupportedLayerError``
    listing every layer ConvNetJS cannot express."""
    if output is not None and output not in OUTPUT_TYPES:
        raise ValueError(f"output must be one of {OUTPUT_TYPES}. Received: output={output!r}")
    shape, is_vector = _input_shape(model)
    state = ExportState(shape, is_vector, [LayerSpec("input", None, shape)])
    problems = []
    for position, layer in enumerate(chain_layers(model)):
        handler = HANDLERS.get(type(layer).__name__)
        try:
            if handler is None:
                raise Unsupported(f"{type(layer).__name__} has no ConvNetJS equivalent")
            handler(layer, state)
        except Unsupported as error:
            fix = f"; {error.fix}" if error.fix else ""
            problems.append(Problem(f"{error.reason}{fix}.", source=f"layer {layer.name!r} "
                                    f"({type(layer).__name__})"))
    if state.pending_pad:
        problems.append(Problem("the model ends in a ZeroPadding2D that no Conv2D follows."))
    if problems:
        problems.append(Problem("Only Conv2D, Dense, Flatten, Reshape, MaxPooling2D, ZeroPadding2D, relu, sigmoid, "
                                "tanh, softmax and the convnetjs_keras layers can be exported."))
        raise UnsupportedLayerError(problems)
    specs = state.specs
    for position, spec in enumerate(specs[:-1]):
        if spec.layer_type in OUTPUT_TYPES:
            raise UnsupportedLayerError(Problem(f"a {spec.layer_type} layer is in the middle of the network; "
                                                "ConvNetJS puts the loss layer last."))
    last = specs[-1].layer_type
    if last in OUTPUT_TYPES:
        if output is not None and output != last:
            raise UnsupportedLayerError(Problem(f"the model ends in {last}, but output={output!r} was requested."))
    else:
        wanted = output or "regression"
        state.is_vector = True
        state.shape = Shape(1, 1, state.shape.size)
        state.emit(wanted, Shape(1, 1, state.shape.size))
    for index, spec in enumerate(specs):
        spec.index = index
    return NetSpec(specs, getattr(model, "name", "<model>"))
