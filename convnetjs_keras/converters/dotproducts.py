"""``conv`` and ``fc``: the layers with filters and biases.

ConvNetJS stores one ``Vol`` per filter. A conv filter is a Vol of size
sx x sy x in_depth with ``w[((sx * fy) + fx) * in_depth + d]``; an fc filter is
a Vol of size 1 x 1 x num_inputs that is dotted with the whole input volume in
its storage order ``((in_sx * y) + x) * in_depth + d``, which is the order in
which ``keras.layers.Flatten`` flattens an NHWC tensor.
"""

from __future__ import annotations

import numpy as np

from convnetjs_keras.converters.base import (
    LayerConverter,
    LayerSpec,
    Shape,
    _describe,
    check_weight_count,
    randn,
    register,
)
from convnetjs_keras.vol import read_vol, vol_json


def _decay_multipliers(layer, ctx, default_l1):
    l1 = ctx.number(layer, "l1_decay_mul", default=default_l1)
    l2 = ctx.number(layer, "l2_decay_mul", default=1.0)
    return l1, l2


def _read_filters(layer, ctx, count, filter_shape):
    if "filters" not in layer:
        ctx.problem("is missing; expected an array of Vol objects, one per output channel.", field="filters")
        return None
    filters = layer["filters"]
    if not isinstance(filters, list):
        ctx.problem(f"must be an array of Vol objects, one per output channel, found {_describe(filters)}.",
                    field="filters")
        return None
    if len(filters) != count:
        ctx.problem(f"has {len(filters)} filters, expected out_depth = {count}.", field="filters")
        return None
    # Check every filter's declared size before allocating anything.
    rows = []
    for i, vol in enumerate(filters):
        values = read_vol(vol, ctx, "filters", element=i, expect=filter_shape)
        if values is None:
            return None
        rows.append(values)
    if not rows:
        return np.zeros((0, filter_shape.size))
    return np.stack(rows)


def _read_biases(layer, ctx, count):
    if "biases" not in layer:
        ctx.problem(f"is missing; expected a Vol of size 1x1x{count} (one bias per output channel).",
                    field="biases")
        return None
    return read_vol(layer["biases"], ctx, "biases", expect=Shape(1, 1, count))


def _kernel_regularizer(spec):
    from convnetjs_keras.regularizers import ConvNetJSDecay

    return ConvNetJSDecay(l1_decay_mul=spec.options["l1_decay_mul"], l2_decay_mul=spec.options["l2_decay_mul"])


@register
class ConvConverter(LayerConverter):
    """Field map (ConvNetJS -> Keras ``Conv2D``):

    required  filters (count; ``out_depth`` in snapshots) -> ``filters``
              sx                                          -> kernel width
    optional  sy = sx                                     -> kernel height
              stride = 1                                  -> ``strides``
              pad = 0                                     -> ``ZeroPadding2D(pad)``,
                                                             or ``padding='same'``
              l1_decay_mul = 0 (1 when read from JSON)    -> ``ConvNetJSDecay``
              l2_decay_mul = 1                            -> ``ConvNetJSDecay``
              bias_pref = 0 (0.1 before relu)             -> initial biases
    computed  out_sx = floor((in_sx + 2 * pad - sx) / stride + 1), likewise out_sy
    """

    keras_layers = "Conv2D ('same' when equal, else ZeroPadding2D + 'valid')"
    options_read = "sx, sy, filters, stride, pad, l1/l2_decay_mul, bias_pref"
    quirks = "fromJSON defaults a missing l1_decay_mul to 1, makeLayers to 0"
    layer_type = "conv"
    has_weights = True
    json_fields = ("sx", "sy", "stride", "in_depth", "out_depth", "out_sx", "out_sy", "layer_type",
                   "l1_decay_mul", "l2_decay_mul", "pad")

    @staticmethod
    def output_shape(in_shape, sx, sy, stride, pad, filters):
        out_sx = (in_shape.sx + 2 * pad - sx) // stride + 1
        out_sy = (in_shape.sy + 2 * pad - sy) // stride + 1
        return Shape(out_sx, out_sy, filters)

    def _geometry(self, layer, ctx, from_json):
        # Conv.fromJSON reads sx, sy and stride without defaults; makeLayers
        # defaults sy to sx and stride to 1. Both default pad to 0.
        sx = ctx.integer(layer, "sx")
        if from_json:
            sy = ctx.integer(layer, "sy")
            stride = ctx.integer(layer, "stride")
        else:
            sy = ctx.integer(layer, "sy", default=sx) if sx is not None else None
            stride = ctx.integer(layer, "stride", default=1)
        pad = ctx.integer(layer, "pad", default=0, minimum=0)
        return sx, sy, stride, pad

    def parse(self, layer, ctx, in_shape):
        sx, sy, stride, pad = self._geometry(layer, ctx, from_json=True)
        out_depth = ctx.integer(layer, "out_depth")
        in_depth = ctx.integer(layer, "in_depth")
        l1, l2 = _decay_multipliers(layer, ctx, default_l1=1.0)
        if None in (sx, sy, stride, pad, out_depth, in_depth, l1, l2) or in_shape is None:
            return None
        if in_depth != in_shape.depth:
            ctx.problem(f"is {in_depth}, but the previous layer outputs depth {in_shape.depth} ({in_shape}).",
                        field="in_depth", hint="The file is inconsistent; was a size edited by hand?")
            return None
        out_shape = self.output_shape(in_shape, sx, sy, stride, pad, out_depth)
        if out_shape.sx < 1 or out_shape.sy < 1:
            ctx.problem(f"a {sx}x{sy} filter with pad {pad} does not fit the {in_shape} input.", field="sx")
            return None
        for field, expected in (("out_sx", out_shape.sx), ("out_sy", out_shape.sy)):
            found = ctx.integer(layer, field)
            if found is not None and found != expected:
                ctx.problem(f"is {found}, but floor((in + 2*pad - size) / stride + 1) gives {expected} "
                            f"for the {in_shape} input.", field=field)
                return None
        filters = _read_filters(layer, ctx, out_depth, Shape(sx, sy, in_depth))
        biases = _read_biases(layer, ctx, out_depth)
        if filters is None or biases is None:
            return None
        options = dict(sx=sx, sy=sy, stride=stride, pad=pad, l1_decay_mul=l1, l2_decay_mul=l2)
        return LayerSpec("conv", in_shape, out_shape, options,
                         filters=filters.reshape(out_depth, sy, sx, in_depth), biases=biases)

    def from_definition(self, definition, in_shape, rng, ctx):
        filters = ctx.integer(definition, "filters")
        sx, sy, stride, pad = self._geometry(definition, ctx, from_json=False)
        l1, l2 = _decay_multipliers(definition, ctx, default_l1=0.0)
        bias = ctx.number(definition, "bias_pref", default=0.0)
        if None in (filters, sx, sy, stride, pad, l1, l2, bias):
            return None
        out_shape = self.output_shape(in_shape, sx, sy, stride, pad, filters)
        if out_shape.sx < 1 or out_shape.sy < 1:
            ctx.problem(f"a {sx}x{sy} filter with pad {pad} does not fit the {in_shape} input.", field="sx")
            return None
        fan_in = sx * sy * in_shape.depth
        if not check_weight_count(ctx, filters * fan_in, "filters"):
            return None
        options = dict(sx=sx, sy=sy, stride=stride, pad=pad, l1_decay_mul=l1, l2_decay_mul=l2)
        return LayerSpec("conv", in_shape, out_shape, options,
                         filters=randn(rng, (filters, sy, sx, in_shape.depth), fan_in),
                         biases=np.full(filters, bias))

    @staticmethod
    def same_padding_matches(spec) -> bool:
        """Return whether Keras' ``padding='same'`` pads exactly ``pad`` on every side.

        With stride 1 and an odd kernel, 'same' pads (k - 1) / 2 on each side.
        """
        o = spec.options
        return o["stride"] == 1 and o["sx"] % 2 == 1 and o["sy"] % 2 == 1 and \
            o["pad"] == (o["sx"] - 1) // 2 == (o["sy"] - 1) // 2 and o["pad"] > 0

    def to_keras(self, spec, builder):
        import keras

        builder.need_volume(spec)
        o = spec.options
        padding = "valid"
        if self.same_padding_matches(spec):
            padding = "same"  # measured faster than ZeroPadding2D + 'valid'
        elif o["pad"]:
            builder.add(keras.layers.ZeroPadding2D(o["pad"], name=builder.name(spec, "_pad"), dtype=builder.dtype))
        layer = keras.layers.Conv2D(
            spec.out_shape.depth, (o["sy"], o["sx"]), strides=o["stride"], padding=padding,
            kernel_regularizer=_kernel_regularizer(spec), name=builder.name(spec), dtype=builder.dtype)
        # (out_depth, sy, sx, in_depth) -> Keras kernel (sy, sx, in_depth, out_depth)
        kernel = np.transpose(spec.filters, (1, 2, 3, 0))
        builder.add(layer, [kernel, spec.biases])

    def to_json(self, spec, write_weights):
        out = super().to_json(spec, write_weights)
        sy, sx, depth = spec.filters.shape[1:]
        out["filters"] = [vol_json(f, Shape(sx, sy, depth), write_weights) for f in spec.filters]
        out["biases"] = vol_json(spec.biases, Shape(1, 1, spec.out_shape.depth), write_weights)
        return out

    def describe(self, spec):
        o = spec.options
        size = f"{o['sx']}x{o['sy']}" if o["sx"] != o["sy"] else f"{o['sx']}"
        text = f"filters={spec.out_shape.depth}, size={size}, stride={o['stride']}, pad={o['pad']}"
        if (o["l1_decay_mul"], o["l2_decay_mul"]) != (0.0, 1.0):
            text += f", l1_decay_mul={o['l1_decay_mul']:g}, l2_decay_mul={o['l2_decay_mul']:g}"
        return text


@register
class FullyConnConverter(LayerConverter):
    """Field map (ConvNetJS -> Keras ``Dense``, after ``Flatten`` if needed):

    required  num_neurons, or filters (``out_depth`` in snapshots) -> ``units``
    optional  l1_decay_mul = 0 (1 when read from JSON)           -> ``ConvNetJSDecay``
              l2_decay_mul = 1                                   -> ``ConvNetJSDecay``
              bias_pref = 0 (0.1 before relu)                    -> initial biases
    computed  num_inputs = in_sx * in_sy * in_depth; output 1 x 1 x num_neurons
    """

    keras_layers = "Flatten + Dense"
    options_read = "num_neurons/filters, l1/l2_decay_mul, bias_pref"
    quirks = "dots the whole input volume in [y][x][depth] order"
    layer_type = "fc"
    has_weights = True
    json_fields = ("out_depth", "out_sx", "out_sy", "layer_type", "num_inputs", "l1_decay_mul", "l2_decay_mul")

    def parse(self, layer, ctx, in_shape):
        out_depth = ctx.integer(layer, "out_depth")
        num_inputs = ctx.integer(layer, "num_inputs")
        l1, l2 = _decay_multipliers(layer, ctx, default_l1=1.0)
        for field in ("out_sx", "out_sy"):
            found = ctx.integer(layer, field, default=1)
            if found is not None and found != 1:
                ctx.problem(f"is {found}; an fc layer always outputs 1 x 1 x num_neurons.", field=field)
                return None
        if None in (out_depth, num_inputs, l1, l2) or in_shape is None:
            return None
        if num_inputs != in_shape.size:
            ctx.problem(f"is {num_inputs}, but the previous layer outputs {in_shape} = {in_shape.size} values.",
                        field="num_inputs", hint="The file is inconsistent; was a size edited by hand?")
            return None
        filters = _read_filters(layer, ctx, out_depth, Shape(1, 1, num_inputs))
        biases = _read_biases(layer, ctx, out_depth)
        if filters is None or biases is None:
            return None
        return LayerSpec("fc", in_shape, Shape(1, 1, out_depth), dict(l1_decay_mul=l1, l2_decay_mul=l2),
                         filters=filters, biases=biases)

    def from_definition(self, definition, in_shape, rng, ctx):
        name = "num_neurons" if "num_neurons" in definition else "filters"
        units = ctx.integer(definition, name)
        if units is None and name == "filters" and "filters" not in definition:
            ctx.problems.pop()
            ctx.problem("is missing; an fc layer needs num_neurons (or filters).", field="num_neurons")
        l1, l2 = _decay_multipliers(definition, ctx, default_l1=0.0)
        bias = ctx.number(definition, "bias_pref", default=0.0)
        if None in (units, l1, l2, bias):
            return None
        if not check_weight_count(ctx, units * in_shape.size, name):
            return None
        return LayerSpec("fc", in_shape, Shape(1, 1, units), dict(l1_decay_mul=l1, l2_decay_mul=l2),
                         filters=randn(rng, (units, in_shape.size), in_shape.size),
                         biases=np.full(units, bias))

    def to_keras(self, spec, builder):
        import keras

        builder.need_vector(spec)
        layer = keras.layers.Dense(spec.out_shape.depth, kernel_regularizer=_kernel_regularizer(spec),
                                   name=builder.name(spec), dtype=builder.dtype)
        # (out_depth, num_inputs) -> Keras kernel (num_inputs, out_depth)
        builder.add(layer, [spec.filters.T, spec.biases])

    def to_json(self, spec, write_weights):
        out = super().to_json(spec, write_weights)
        out["filters"] = [vol_json(f, Shape(1, 1, f.size), write_weights) for f in spec.filters]
        out["biases"] = vol_json(spec.biases, Shape(1, 1, spec.out_shape.depth), write_weights)
        return out

    def describe(self, spec):
        text = f"num_neurons={spec.out_shape.depth}, num_inputs={spec.in_shape.size}"
        o = spec.options
        if (o["l1_decay_mul"], o["l2_decay_mul"]) != (0.0, 1.0):
            text += f", l1_decay_mul={o['l1_decay_mul']:g}, l2_decay_mul={o['l2_decay_mul']:g}"
        return text
